#!/usr/bin/env bash
# Serve with gunicorn, configured from the same settings as the CLI (config/gunicorn.conf.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export SOFTHSM2_CONF=${SOFTHSM2_CONF:-$PWD/var/softhsm2.conf}
exec .venv/bin/gunicorn -c config/gunicorn.conf.py 'app.web:create_app()'

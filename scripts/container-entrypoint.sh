#!/usr/bin/env bash
# Container start: the same set-up as `make run` (token, PINs, database, CA, all under the
# /app/var volume) without package or venv steps, which the image already did; then serve.
set -euo pipefail
cd "$(dirname "$0")/.."
KYSO_SETUP_SKIP_PACKAGES=1 KYSO_SETUP_SKIP_VENV=1 scripts/setup.sh
exec scripts/run.sh

#!/usr/bin/env bash
# The whole suite on SQLite and PostgreSQL. With CI=true PostgreSQL is required: start the
# local cluster if it is installed and down, and fail loudly if it cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."
export KYSO_TEST_DATABASE_URL=${KYSO_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
say() { printf 'kyso test: %s\n' "$*" >&2; }

pg_reachable() {
  .venv/bin/python - "$KYSO_TEST_DATABASE_URL" <<'PY'
import sys
from sqlalchemy import create_engine, text
try:
    with create_engine(sys.argv[1]).connect() as c:
        c.execute(text("select 1"))
except Exception as exc:
    print(f"{type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
    sys.exit(1)
PY
}

if [ "${CI:-}" = true ]; then
  export KYSO_TEST_REQUIRE_POSTGRES=1
  if ! pg_reachable 2>/dev/null; then
    if command -v pg_lsclusters >/dev/null; then
      say "PostgreSQL not reachable; starting local clusters"
      pg_lsclusters --no-header | while read -r ver name _; do
        pg_ctlcluster "$ver" "$name" start || true
      done
      for _ in $(seq 1 30); do pg_reachable 2>/dev/null && break; sleep 1; done
    fi
    if ! pg_reachable 2>/dev/null && command -v psql >/dev/null; then
      # The server answers but the test database may be missing: create it.
      psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null \
        | grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
    fi
    pg_reachable || { say "FAIL: PostgreSQL at $KYSO_TEST_DATABASE_URL is required in CI and cannot be reached"; exit 1; }
  fi
fi

# Two workers on two cores (pytest-xdist); each has its own SoftHSM2 token and PostgreSQL schemas.
if [[ " $* " != *" -n "* ]]; then set -- -n "${KYSO_TEST_WORKERS:-auto}" "$@"; fi
.venv/bin/pytest "$@"

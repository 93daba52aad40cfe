#!/usr/bin/env bash
# Idempotent set-up shared by `make run` and `make test`:
#   system packages (apt, when root) -> .venv from uv.lock -> SoftHSM2 token under var/
#   -> PINs in var/secrets/ (0600) -> database migrated -> CA created if absent.
# A second run reuses everything. Secrets are never printed.
set -euo pipefail
# Everything this script creates under var/ (token, PINs, database and its -wal/-shm, the
# SoftHSM2 configuration) is for the service user alone (issue 13, item 28).
umask 077
cd "$(dirname "$0")/.."
ROOT=$PWD
VAR=$ROOT/var
say() { printf 'kyso setup: %s\n' "$*" >&2; }
die() { printf 'kyso setup: error: %s\n' "$*" >&2; exit 1; }

# 1. System packages (the container image has them: KYSO_SETUP_SKIP_PACKAGES=1) ---------
missing=()
if [ "${KYSO_SETUP_SKIP_PACKAGES:-}" = 1 ]; then :; else
[ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null || missing+=(opensc)
command -v openssl >/dev/null || missing+=(openssl)
# Liberation Serif (Times New Roman's metrics, Vietnamese glyphs) for signature appearances;
# poppler's pdftotext finds anchor text on a page (and pdfsig/pdftoppm judge in the tests).
[ -e /usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf ] || missing+=(fonts-liberation2)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
# What only the tests and benches use (`make test` and `make bench` set KYSO_SETUP_TEST_TOOLS):
# nginx with njs answers OCSP from Kyso's response files.
if [ "${KYSO_SETUP_TEST_TOOLS:-}" = 1 ]; then
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  [ -e /usr/lib/nginx/modules/ngx_http_js_module.so ] || missing+=(libnginx-mod-http-js)
  # pdfsig judges signed PDFs against an NSS database made with certutil; Chromium shows the
  # public verification page to the browser test.
  command -v certutil >/dev/null || missing+=(libnss3-tools)
  command -v chromium >/dev/null || missing+=(chromium)
  # xmlsec1 judges Kyso's XML signatures.
  command -v xmlsec1 >/dev/null || missing+=(xmlsec1)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed; cannot install ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  else
    die "missing Debian package(s) ${missing[*]}: run 'sudo apt-get install ${missing[*]}' and try again"
  fi
fi
fi

# 2. Python environment from the lock (the image has it: KYSO_SETUP_SKIP_VENV=1) ----------
if [ "${KYSO_SETUP_SKIP_VENV:-}" != 1 ]; then
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "Python 3.11 or newer is required as python3"
UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  if [ ! -x "$ROOT/.tools/bin/uv" ]; then
    say "installing uv into .tools/ (uv is not on PATH)"
    python3 -m venv "$ROOT/.tools" >/dev/null || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$ROOT/.tools/bin/pip" install -q uv || die "could not install uv from the package index"
  fi
  UV=$ROOT/.tools/bin/uv
fi
"$UV" sync --frozen --quiet || die "uv sync --frozen failed (is uv.lock in step with pyproject.toml?)"
fi

# 3. SoftHSM2 token and PINs ------------------------------------------------------
mkdir -p "$VAR/tokens" "$VAR/secrets"
# var/ holds the token, the PINs and the database (API key hashes, the audit trail).
chmod 700 "$VAR" "$VAR/secrets" "$VAR/tokens"
if [ ! -f "$VAR/softhsm2.conf" ]; then
  cat >"$VAR/softhsm2.conf" <<CONF
# Project-local SoftHSM2 configuration (made by scripts/setup.sh).
directories.tokendir = $VAR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
fi
export SOFTHSM2_CONF=${SOFTHSM2_CONF:-$VAR/softhsm2.conf}
LABEL=${KYSO_HSM__TOKEN_LABEL:-kyso}

ensure_secret() {  # ensure_secret NAME ENVVAR: unless ENVVAR is set, a 0600 file holds the value.
  # The value never passes through a shell variable or a command line (ps shows those).
  local file=$VAR/secrets/$1 env=$2
  [ -n "${!env:-}" ] && return
  if [ ! -s "$file" ]; then
    python3 -c 'import secrets; print(secrets.token_hex(12))' >"$file"
  fi
  chmod 600 "$file"
}

if [ -n "${KYSO_HSM__MODULE:-}" ] && [ "$KYSO_HSM__MODULE" != /usr/lib/softhsm/libsofthsm2.so ]; then
  say "using PKCS#11 module $KYSO_HSM__MODULE; its token is managed outside this script"
elif softhsm2-util --show-slots 2>/dev/null | grep -Eq "^[[:space:]]*Label:[[:space:]]+$LABEL[[:space:]]*$"; then
  say "reusing SoftHSM2 token '$LABEL' in var/tokens"
  [ -n "${KYSO_HSM__PIN:-}" ] || [ -s "$VAR/secrets/user.pin" ] \
    || die "token '$LABEL' exists but var/secrets/user.pin is missing: set KYSO_HSM__PIN or restore the file"
else
  say "creating SoftHSM2 token '$LABEL' in var/tokens"
  ensure_secret user.pin KYSO_HSM__PIN
  ensure_secret so.pin KYSO_SETUP_SO_PIN
  # The PINs go to the module from the environment or the 0600 files, never on a command
  # line: `softhsm2-util --pin` would show them in ps (issue 13, item 28).
  "$ROOT/.venv/bin/python" -m hsm.tokeninit --module /usr/lib/softhsm/libsofthsm2.so --label "$LABEL" \
      --pin-file "$VAR/secrets/user.pin" --pin-env KYSO_HSM__PIN \
      --so-pin-file "$VAR/secrets/so.pin" --so-pin-env KYSO_SETUP_SO_PIN >/dev/null \
    || die "could not create the token"
fi

# 4. Database and CA ----------------------------------------------------------------
if [ "${KYSO_SETUP_SKIP_CA:-}" != 1 ]; then
  "$ROOT/.venv/bin/kyso" db upgrade >/dev/null
  "$ROOT/.venv/bin/kyso" ca init --if-absent
fi
say "ready"

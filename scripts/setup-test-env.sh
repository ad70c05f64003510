#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, idempotently:
#  - GDAL (gdal-bin, python3-gdal): the COG validator and the reference reader the tests compare against;
#  - chromium: the headless browser that checks the results page (driven by playwright-core);
#  - a Python virtualenv (.venv) with rio-cogeo, stac-api-validator, pystac-client and schemathesis.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(gdal-bin python3-gdal python3-venv python3-numpy chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

VENV=.venv
PY_REQUIREMENTS=scripts/requirements-test.txt
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$PY_REQUIREMENTS" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating $VENV with $(tr '\n' ' ' < "$PY_REQUIREMENTS")"
  [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$PY_REQUIREMENTS"
  echo "$want" > "$stamp"
fi
log "GDAL $(gdalinfo --version | cut -d, -f1 | cut -d' ' -f2), rio-cogeo $("$VENV/bin/rio" cogeo --version 2>/dev/null | awk '{print $NF}')"

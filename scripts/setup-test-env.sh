#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, idempotently:
#  - GDAL (gdal-bin, python3-gdal): the COG validator and the reference reader the tests compare against;
#  - chromium: the headless browser that checks the results page (driven by playwright-core);
#  - the Vulkan loader and Mesa's software Vulkan driver (lavapipe), so that the WebGPU runtime
#    (onnx-webgpu) runs in the tests without a GPU: Dawn needs a newer lavapipe than bookworm's Mesa
#    22.3 has, so Mesa 25's is unpacked from bookworm-backports into .cache/lavapipe (nothing
#    system-wide changes; bookworm's mesa-vulkan-drivers brings the libraries it links against);
#  - a Python virtualenv (.venv) with rio-cogeo, stac-api-validator, pystac-client and schemathesis.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(gdal-bin python3-gdal python3-venv python3-numpy chromium libvulkan1 mesa-vulkan-drivers)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

LVP=.cache/lavapipe
if [ ! -f "$LVP/lvp_icd.json" ]; then
  log "unpacking Mesa's lavapipe from bookworm-backports into $LVP"
  rm -rf "$LVP" && mkdir -p "$LVP/lists/partial" "$LVP/cache/archives/partial" "$LVP/debs"
  echo "deb http://deb.debian.org/debian bookworm-backports main" > "$LVP/sources.list"
  apt_lvp=(-oDir::Etc::SourceList="$PWD/$LVP/sources.list" -oDir::Etc::SourceParts=/dev/null
           -oDir::State::Lists="$PWD/$LVP/lists" -oDir::Cache="$PWD/$LVP/cache" -oDebug::NoLocking=1)
  apt-get "${apt_lvp[@]}" update -qq
  (cd "$LVP/debs" && apt-get "${apt_lvp[@]}" download -qq mesa-vulkan-drivers/bookworm-backports 2>&1 | { grep -v 'unsandboxed' || true; })
  dpkg -x "$LVP"/debs/mesa-vulkan-drivers_*.deb "$LVP/root"
  so="$PWD/$LVP/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
  [ -f "$so" ] || { echo "[setup] no lavapipe in the downloaded mesa-vulkan-drivers" >&2; exit 1; }
  sed "s#\"library_path\": *\"[^\"]*\"#\"library_path\": \"$so\"#" "$LVP/root/usr/share/vulkan/icd.d/lvp_icd.json" > "$LVP/lvp_icd.json.tmp"
  ls "$LVP"/debs/mesa-vulkan-drivers_*.deb | sed 's#.*/##' > "$LVP/package.txt"
  rm -rf "$LVP/debs" "$LVP/lists" "$LVP/cache"
  mv "$LVP/lvp_icd.json.tmp" "$LVP/lvp_icd.json"
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

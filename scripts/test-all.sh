#!/usr/bin/env bash
# The whole test suite, as CI runs it: install and start what the tests need, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-env.sh
# the Kafka broker for the streaming tests (fetched from Maven Central on first run); fails loudly if it
# cannot be fetched or started, and is stopped on exit only when this script started it
kafka_out="$(mktemp)"
bash scripts/kafka/start.sh | tee "$kafka_out"
grep -q 'already' "$kafka_out" || trap 'bash scripts/kafka/stop.sh' EXIT
rm -f "$kafka_out"
# the external STAC catalogue (PostgreSQL + PostGIS + pgstac + stac-fastapi-pgstac; installed on first run);
# stopped on exit only when this script started it, together with the broker (a second trap would replace the first)
pgstac_out="$(mktemp)"
bash scripts/pgstac/start.sh | tee "$pgstac_out"
if ! grep -q 'already' "$pgstac_out"; then
  prev_exit="$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")"
  trap "bash scripts/pgstac/stop.sh${prev_exit:+; $prev_exit}" EXIT
fi
rm -f "$pgstac_out"
npm run build
npx tsc -p tsconfig.json --noEmit
npx vitest run "$@"

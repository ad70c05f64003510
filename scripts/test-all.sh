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
npm run build
npx tsc -p tsconfig.json --noEmit
npx vitest run "$@"

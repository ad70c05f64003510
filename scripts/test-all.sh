#!/usr/bin/env bash
# The whole test suite, as CI runs it: install and start what the tests need, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-env.sh
npm run build
npx tsc -p tsconfig.json --noEmit
npx vitest run "$@"

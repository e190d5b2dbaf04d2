#!/usr/bin/env bash
# The README's test command: sets up (npm, WebGPU adapter, build; see setup.sh), type-checks
# under strict mode, then runs every test file. The last line is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/ivt-xdg-$(id -u)}"
echo "[test] tsc --noEmit (strict)" >&2
npx --no-install tsc -p tsconfig.json --noEmit
node scripts/run-tests.mjs "$@"

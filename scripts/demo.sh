#!/usr/bin/env bash
# The README's main job: setup, then `ivt demo` with any extra arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/ivt-xdg-$(id -u)}"
exec node dist/cli/ivt.js demo "$@"

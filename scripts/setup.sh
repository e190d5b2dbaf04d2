#!/usr/bin/env bash
# One-time, idempotent setup shared by the README's two commands:
#   1. npm dependencies (only when package.json / the lockfile changed),
#   2. a WebGPU adapter: if Dawn finds none and this is a Debian 12 machine we may
#      administer, install Mesa's software Vulkan driver (lavapipe) from bookworm-backports,
#   3. the TypeScript build (dist/).
# Never forces an adapter: on a machine with a real GPU, Dawn picks it and step 2 is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/ivt-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true

log() { echo "[setup] $*" >&2; }

# --- 1. npm dependencies -----------------------------------------------------------
stamp=node_modules/.ivt-install-stamp
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  log "installing npm dependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error >&2; else npm install --no-audit --no-fund --loglevel=error >&2; fi
  touch "$stamp"
fi

# --- 2. a WebGPU adapter -------------------------------------------------------------
probe() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }
if ! probe; then
  if [ -r /etc/debian_version ] && grep -q '^12' /etc/debian_version && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "no WebGPU adapter found: installing Mesa's software Vulkan driver (lavapipe) from bookworm-backports"
    src=/etc/apt/sources.list.d/ivt-bookworm-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      uri=$(grep -hm1 '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | awk '{print $2}')
      key=$(grep -hm1 '^Signed-By:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | awk '{print $2}')
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
        "${uri:-http://deb.debian.org/debian}" "${key:-/usr/share/keyrings/debian-archive-keyring.gpg}" > "$src"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >&2
  fi
  if ! probe; then
    node scripts/probe-adapter.mjs >&2 || true
    log "no WebGPU adapter. Install a Vulkan driver (Debian 12: mesa-vulkan-drivers from bookworm-backports, Mesa >= 23)"
    log "or try the OpenGL ES fallback: IVT_BACKEND=opengles EGL_PLATFORM=surfaceless"
    exit 1
  fi
fi

# --- 3. build ----------------------------------------------------------------------
if [ ! -f dist/.build-stamp ] || [ -n "$(find engine model train bench tests cli tsconfig.json -newer dist/.build-stamp -print -quit 2>/dev/null)" ]; then
  log "building TypeScript"
  npx --no-install tsc -p tsconfig.json
  touch dist/.build-stamp
fi

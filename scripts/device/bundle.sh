#!/usr/bin/env bash
# Prepares, on this machine, what a lent GPU machine needs to run the kernel benchmarks and the
# demo (scripts/device/run.sh): that machine has no Node.js, no npm registry and maybe no Vulkan
# loader. Writes three ignored folders the device tool carries (64 MiB in all):
#   .device/bundle.tar.xz  this machine's x86-64 node binary and node_modules, pruned to what
#                          runs (Dawn for linux-x64 only; no TypeScript, no type packages)
#   .gl/                   Debian's Vulkan/EGL loader packages (unpacked there only if it has none)
#   dist/                  the compiled project (npm run build)
# Then: device run with carry [".device", ".gl", "dist"] and command "bash scripts/device/run.sh".
set -euo pipefail
cd "$(dirname "$0")/../.."
# Dependencies and a dist/ built from the sources as they are now (setup.sh rebuilds only what changed).
bash scripts/setup.sh
[ "$(uname -m)" = x86_64 ] || { echo "device bundle: this machine is $(uname -m); the GPU machine is x86-64: build the bundle on an x86-64 machine" >&2; exit 2; }

mkdir -p .device
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
# The binary itself, also where `node` on PATH is a version manager's shim.
cp "$(node -p process.execPath)" "$stage/bin/node"
# What the GPU machine never runs: other platforms' Dawn builds, the compiler, type packages.
tar -C . -cf - \
  --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='node_modules/typescript' \
  --exclude='node_modules/@typescript' --exclude='node_modules/@types' \
  --exclude='node_modules/@tensorflow/*/dist/*.es2017.*' --exclude='*.map' \
  node_modules | tar -C "$stage" -xf -
tmp=.device/bundle.tar.xz.tmp
tar -C "$stage" -cf - bin node_modules | xz -T0 -6 > "$tmp"
mv "$tmp" .device/bundle.tar.xz

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  # The loaders the device README names, downloaded (not installed) for amd64.
  mkdir -p .gl /tmp/ivt-apt-amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/ivt-apt-amd64'
  apt-get $o update -qq
  (cd .gl && apt-get $o download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
echo "device bundle: $(du -h .device/bundle.tar.xz | cut -f1) bundle, $(du -sh .gl | cut -f1) loaders, $(du -sh dist | cut -f1) dist"
echo 'next: device run, carry [".device", ".gl", "dist"], command "bash scripts/device/run.sh" (timeout_s 560)'

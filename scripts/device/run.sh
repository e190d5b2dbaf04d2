#!/usr/bin/env bash
# Runs on a lent GPU machine (the device tool), over a copy of this tree with the folders
# scripts/device/bundle.sh made: the adapter report, the kernel benchmarks against
# TensorFlow.js on the same adapter, and the demo, each under its own time limit so that what
# finished comes back in $OUT even when a later step runs out of time. Eight files come back
# at most: run.log, device.json, kernels.{json,md,log}, demo.log, demo-report.md, demo-results.json.
#   IVT_DEVICE_STEPS  which steps, space separated (default "device kernels demo"; "quick" is
#                     the kernel benchmark's smoke run)
#   IVT_DEVICE_KERNELS_S, IVT_DEVICE_DEMO_S  their time limits in seconds (default 240, 270)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/ivt-device-out}
mkdir -p "$out"
log() { echo "[device] $*" | tee -a "$out/run.log"; }

# Vulkan loader: unpack Debian's only where the machine has none (the device README's recipe).
# (grep without -q: with pipefail, -q's early exit could kill ldconfig and read as "no loader".)
if ! ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null; then
  if ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    log "unpacked the Vulkan/EGL loaders from .gl"
  else
    log "no Vulkan loader on this machine and no .gl folder: run scripts/device/bundle.sh and carry .gl"
  fi
fi
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv_icd" ]; then
  export VK_DRIVER_FILES=$nv_icd
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi

# Node and node_modules from the bundle where this machine has none.
if ! command -v node >/dev/null 2>&1 || [ ! -d node_modules ]; then
  [ -f .device/bundle.tar.xz ] || { log "no node and no .device/bundle.tar.xz: run scripts/device/bundle.sh and carry .device"; exit 2; }
  mkdir -p /tmp/ivt-bundle
  xz -dc .device/bundle.tar.xz | tar -C /tmp/ivt-bundle -xf -
  export PATH=/tmp/ivt-bundle/bin:$PATH
  [ -e node_modules ] || ln -s /tmp/ivt-bundle/node_modules node_modules
fi
[ -f dist/cli/ivt.js ] || { log "no dist/: build here with npm run build and carry dist"; exit 2; }
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/ivt-xdg-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR"
log "node $(node --version) on $(uname -m); $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"

status=0
for step in ${IVT_DEVICE_STEPS:-device kernels demo}; do
  t0=$(date +%s)
  case $step in
    device)
      node dist/cli/ivt.js device --json > "$out/device.json" 2>> "$out/run.log"; rc=$?
      node dist/cli/ivt.js device 2>&1 | head -20 | tee -a "$out/run.log" ;;
    kernels|quick)
      # quick: smaller shapes only, a smoke run of the same benchmark (the bundle, TensorFlow.js, the adapter).
      quick=(); [ "$step" = quick ] && quick=(--quick)
      timeout -k 15 "${IVT_DEVICE_KERNELS_S:-240}" node dist/cli/ivt.js bench kernels "${quick[@]}" --json "$out/kernels.json" --md "$out/kernels.md" > "$out/kernels.log" 2>&1; rc=$? ;;
    demo)
      rm -rf /tmp/ivt-demo
      timeout -k 15 "${IVT_DEVICE_DEMO_S:-270}" node dist/cli/ivt.js demo --out /tmp/ivt-demo > "$out/demo.log" 2>&1; rc=$?
      for f in report.md results.json; do [ -f "/tmp/ivt-demo/report/$f" ] && cp "/tmp/ivt-demo/report/$f" "$out/demo-$f"; done ;;
    *) log "unknown step $step"; rc=2 ;;
  esac
  log "$step: exit $rc after $(( $(date +%s) - t0 )) s"
  [ "$rc" = 0 ] || status=1
done
exit $status

#!/bin/bash
# The latent stages again from each seed's stage-0 weights of an `ivt demo --seeds` folder, in
# one or more variants, with another data order for the latent stages (--seed S + OFFSET; the
# demo's own runs are offset 0). Everything else is the demo's: the epochs each stage trained in
# the seed's curriculum (from its results.json), k = 4, stage mixing 0.2. Then the test accuracy
# (ivt eval). Variants: full, no-vision (--no-latent-vision), random-vision
# (--random-latent-vision: k image tokens drawn at random, not by attention). A run already
# finished in OUT_DIR is not run again.
#   docs/latent-vision/replicates.sh SEEDS_DIR OUT_DIR "1 2 3 4 5" 100 ["full no-vision"]
set -euo pipefail
seeds_dir=$1 out=$2 seeds=$3 offset=$4 variants=${5:-"full no-vision"}
source "$(dirname "$0")/branch.sh"
mkdir -p "$out"
for s in $seeds; do
  demo=$seeds_dir/seed-$s
  for variant in $variants; do
    case $variant in
      full) flags=(); mode=ivt ;;
      no-vision) flags=(--no-latent-vision); mode=ivt-no-vision ;;
      random-vision) flags=(--random-latent-vision); mode=ivt-random-vision ;;
      *) echo "unknown variant $variant" >&2; exit 2 ;;
    esac
    run=$out/seed-$s/$variant
    if [ ! -f "$run/eval.json" ]; then
      rm -rf "$run"; mkdir -p "$out/seed-$s"
      train_latent_stages "$demo" "$run" $((s + offset)) ${flags[@]+"${flags[@]}"}
      "${ivt[@]}" eval --run "$run" --data "$demo/data" --split test --mode $mode --json "$run/eval.json" >> "$run.progress.txt" 2>&1
    fi
    echo "seed $s (order $((s + offset))), $variant: $(grep -m1 ': accuracy' "$run.progress.txt")"
  done
done

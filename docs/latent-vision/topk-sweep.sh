#!/bin/bash
# The paper's ablation over k (image embeddings inserted per latent step), on the demo's data:
# for each seed of an `ivt demo --seeds` folder, the latent stages again from that seed's
# stage-0 weights with --top-k K and everything else as the demo's latent stages (the epochs
# each stage trained in the seed's own curriculum, from its results.json). Then the test
# accuracy (ivt eval) and where latent vision looked (ivt diagnose).
#   docs/latent-vision/topk-sweep.sh SEEDS_DIR OUT_DIR "1 2 3 4 5" "1 2 4 5"
# A run already finished in OUT_DIR is not trained again; its diagnosis is redone if missing.
set -euo pipefail
seeds_dir=$1 out=$2 seeds=$3 ks=$4
source "$(dirname "$0")/branch.sh"
mkdir -p "$out"
for s in $seeds; do
  demo=$seeds_dir/seed-$s
  for k in $ks; do
    run=$out/seed-$s/k$k
    if [ ! -f "$run/eval.json" ]; then
      rm -rf "$run"; mkdir -p "$out/seed-$s"
      train_latent_stages "$demo" "$run" "$s" --top-k "$k"
      "${ivt[@]}" eval --run "$run" --data "$demo/data" --split test --mode ivt --json "$run/eval.json" >> "$run.progress.txt" 2>&1
    fi
    [ -f "$run/diagnose.json" ] || "${ivt[@]}" diagnose --run "$run" --data "$demo/data" --split test --json "$run/diagnose.json" > "$run.diagnose.txt" 2>&1
    echo "seed $s, k $k: $(grep -m1 '^ivt: accuracy' "$run.progress.txt")"
  done
done

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
ivt=(node "$(dirname "$0")/../../dist/cli/ivt.js")
mkdir -p "$out"
for s in $seeds; do
  demo=$seeds_dir/seed-$s
  epochs=$(node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).stage_epochs.join(','))" "$demo/report/results.json")
  for k in $ks; do
    run=$out/seed-$s/k$k
    if [ ! -f "$run/eval.json" ]; then
      rm -rf "$run"; mkdir -p "$out/seed-$s"
      "${ivt[@]}" train --data "$demo/data" --out "$run" --top-k "$k" --stages 3 --stage-epochs "$epochs" --batch 32 --lr 0.003 --latent-lr 0.001 \
        --reset-optimizer --mix-stages 0.2 --seed "$s" --checkpoint-every 0 --no-eval --log-every 50 --init-from "$demo/runs/ivt" --init-tag stage-0 --start-stage 1 > "$run.progress.txt" 2>&1
      "${ivt[@]}" eval --run "$run" --data "$demo/data" --split test --mode ivt --json "$run/eval.json" >> "$run.progress.txt" 2>&1
    fi
    [ -f "$run/diagnose.json" ] || "${ivt[@]}" diagnose --run "$run" --data "$demo/data" --split test --json "$run/diagnose.json" > "$run.diagnose.txt" 2>&1
    echo "seed $s, k $k: $(grep -m1 '^ivt: accuracy' "$run.progress.txt")"
  done
done

#!/bin/bash
# Adaptive latent steps against the fixed count, on mixed 2-3 step chains (seed 1), with the
# demo's recipe: an adaptive curriculum; a fixed-count curriculum branching off its stage-0
# weights (the count head dropped); and a fixed-count curriculum with its own stage 0. Each
# evaluated stage by stage on the test split and timed one question at a time; the reports
# land beside this script, then summarize.mjs writes results.md.
# Usage (from the repository root, after the build): bash docs/adaptive/run.sh [OUT]
set -e
OUT=${1:-out/adaptive}
DOCS=docs/adaptive
IVT="node dist/cli/ivt.js"
[ -f $OUT/data/problems.json ] || $IVT data synth --out $OUT/data --train 2400 --val 100 --test 200 --seed 1 --start-by cell --queries colour --wording cell-value --min-steps 2
LATENT="--preset small --stages 3 --epochs 2 --max-epochs 8 --batch 32 --lr 0.003 --latent-lr 0.001 --reset-optimizer --mix-stages 0.2 --seed 1 --checkpoint-every 0 --no-eval"
RECIPE="$LATENT --epochs0 9 --max-epochs0 18"
train() { local run=$1; shift; [ -f $OUT/$run/checkpoints/stage-3/model.safetensors ] || $IVT train --data $OUT/data --out $OUT/$run "$@" > $OUT/$run-train.txt 2>&1; }
train adaptive $RECIPE --adaptive-latents
train fixed $RECIPE
train fixed-branch $LATENT --init-from $OUT/adaptive --init-tag stage-0 --start-stage 1 --no-adaptive-latents
for run in adaptive fixed fixed-branch; do
  for s in 0 1 2 3; do
    [ $run = fixed-branch ] && [ $s = 0 ] && continue
    mode=ivt; [ $s = 0 ] && mode=cot
    $IVT eval --run $OUT/$run --data $OUT/data --split test --tag stage-$s --mode $mode --json $OUT/$run-stage$s.json > $OUT/$run-stage$s.txt 2>&1
  done
done
$IVT eval --run $OUT/adaptive --data $OUT/data --split test --tag stage-3 --mode ivt --fixed-latents --json $OUT/adaptive-stage3-fixed.json > $OUT/adaptive-stage3-fixed.txt 2>&1
for run in adaptive fixed-branch; do
  $IVT bench latency --run $OUT/$run --data $OUT/data --batch 1 --limit 100 --json $OUT/$run-latency.json > $OUT/$run-latency.txt 2>&1
done
for f in $OUT/*.json $OUT/*-train.txt; do cp $f $DOCS/; done
node $DOCS/summarize.mjs

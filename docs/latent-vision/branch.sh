# Sourced by topk-sweep.sh and replicates.sh: the demo's latent stages trained again from one
# seed's stage-0 weights of an `ivt demo --seeds` folder, with the demo's settings, so both
# experiments branch the same way.
ivt=(node "$(dirname "${BASH_SOURCE[0]}")/../../dist/cli/ivt.js")

# The epochs each stage trained in the seed's own curriculum ("13,2,3,2"), from its results.json.
stage_epochs() {
  node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).stage_epochs.join(','))" "$1/report/results.json"
}

# train_latent_stages DEMO RUN ORDER [FLAGS...]: stages 1-3 from DEMO's stage-0 weights into RUN,
# the latent stages' data order from seed ORDER, FLAGS added (e.g. --top-k 2); progress lines
# into RUN.progress.txt.
train_latent_stages() {
  local demo=$1 run=$2 order=$3
  shift 3
  "${ivt[@]}" train --data "$demo/data" --out "$run" "$@" --stages 3 --stage-epochs "$(stage_epochs "$demo")" --batch 32 --lr 0.003 --latent-lr 0.001 \
    --reset-optimizer --mix-stages 0.2 --seed "$order" --checkpoint-every 0 --no-eval --log-every 50 --init-from "$demo/runs/ivt" --init-tag stage-0 --start-stage 1 > "$run.progress.txt" 2>&1
}

set -e
export XDG_RUNTIME_DIR=/tmp/ivt-xdg-0
ivt="node /work/main/dist/cli/ivt.js"
for seed in 4 5; do
 D=/tmp/fc7/out/seeds/seed-$seed
 ep=$(node -e "process.stdout.write(JSON.parse(require('fs').readFileSync('$D/report/results.json','utf8')).stage_epochs.join(','))")
 for e3 in 4 6; do
  E=$(echo $ep | awk -F, -v e=$e3 '{print $1","$2","$3","e}')
  R=/tmp/s3x/s$seed-e$e3
  $ivt train --data $D/data --out $R --stages 3 --stage-epochs $E --batch 32 --lr 0.003 --latent-lr 0.001 --reset-optimizer --mix-stages 0.2 --seed $seed --checkpoint-every 0 --log-every 75 --init-from $D/runs/ivt --init-tag stage-2 --start-stage 3 > $R.progress.txt 2>&1
  $ivt eval --run $R --data $D/data --split test --mode ivt --json $R.test.json > $R.eval.txt 2>&1
  echo "seed $seed e3 $e3: $(grep -o '"accuracy": *[0-9.]*' $R.test.json | head -1)"
 done
done

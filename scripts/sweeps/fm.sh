#!/usr/bin/env bash
# Train and evaluate the FM model zoo (reference A.8), then gather one results table.
# Usage: scripts/sweeps/fm.sh [--quick] [extra Hydra overrides...]
#   --quick   a minutes-long CPU smoke run of the same commands (tiny epochs, sets and sampling)
# Pick models with MODELS="deter mog_full_k6_l1" scripts/sweeps/fm.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
quick=()
if [[ "${1:-}" == "--quick" ]]; then
  shift
  quick=(trainer.epochs=1 trainer.steps_per_epoch=3 trainer.batch_size=8 trainer.valid_batch_size=16
         trainer.progress=false synth.duration=0.1 data.valid_size=16 data.test_size=16
         evaluation.n_samples=16 evaluation.map_samples=64)
fi
zoo=(deter gauss_l0 mog_full_k6_l0 gauss_l1 gauss_l2 mog_full_k6_l1 mog_unif_k6_l1 mog_unif_k24_l1)
models=${MODELS:-"${zoo[*]} $(printf '%s_noann ' "${zoo[@]:1}")"}
for model in $models; do
  run_dir="outputs/fm/$model/$(date +%Y-%m-%d_%H-%M-%S)"
  "$PY" train_fm.py experiment="fm/$model" hydra.run.dir="$run_dir" "${quick[@]}" "$@"
  "$PY" evaluate.py run="$run_dir"
done
"$PY" scripts/results.py --out outputs/fm/results_fm

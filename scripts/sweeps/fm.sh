#!/usr/bin/env bash
# Train and evaluate the FM model zoo (reference A.8), then gather one results table.
# Usage: scripts/sweeps/fm.sh [--quick] [extra Hydra overrides...]
#   --quick   a minutes-long smoke run of the same commands: smoke=fm (conf/smoke/fm.yaml: tiny epochs,
#             sets and sampling; marked quick=true); add trainer.device=cpu to stay on the CPU
# Pick models with MODELS="deter mog_full_k6_l1" scripts/sweeps/fm.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
source scripts/sweeps/steps.sh  # step: stop on the first failed or interrupted run, say which
if smoke_mode fm "${1:-}"; then shift; fi  # --quick: smoke=fm, tables with --all
zoo=(deter gauss_l0 mog_full_k6_l0 gauss_l1 gauss_l2 mog_full_k6_l1 mog_unif_k6_l1 mog_unif_k24_l1)
models=${MODELS:-"${zoo[*]} $(printf '%s_noann ' "${zoo[@]:1}")"}
for model in $models; do
  run_dir="outputs/fm/$model/$(date +%Y-%m-%d_%H-%M-%S)"
  step "training of fm/$model (run folder $run_dir)" \
    "$PY" train_fm.py experiment="fm/$model" hydra.run.dir="$run_dir" "${quick[@]}" "$@"
  step "evaluation of fm/$model (run folder $run_dir)" "$PY" evaluate.py run="$run_dir"
done
step "the results table" "$PY" scripts/results.py "${results_all[@]}" --task fm --out outputs/fm/results_fm

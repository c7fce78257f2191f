#!/usr/bin/env bash
# Train the FM paper models. Usage: scripts/sweeps/fm.sh [--quick] [extra Hydra overrides...]
# --quick: a minutes-long CPU smoke run of the same commands.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
quick=()
if [[ "${1:-}" == "--quick" ]]; then
  shift
  quick=(trainer.epochs=1 trainer.steps_per_epoch=5 trainer.batch_size=8 data.valid_size=16 data.test_size=32)
fi
for experiment in fm/deter; do
  "$PY" train_fm.py experiment="$experiment" "${quick[@]}" "$@"
  run_dir=$(ls -td outputs/fm/"${experiment#fm/}"/*/ | head -n 1)
  "$PY" evaluate.py run="$run_dir"
done

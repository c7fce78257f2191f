#!/usr/bin/env bash
# Train and evaluate the timbre-remapping grid of the paper one model at a time (reference §9):
# every mapping model x onset window, every drum folder, every preset, plus the direct optimisation;
# then the 7 x 8 results table (scripts/results.py --task remap).
# Usage: scripts/sweeps/remap.sh [--quick] [extra Hydra overrides...]
#   --quick   a minutes-long smoke run of the same commands: smoke=remap (conf/smoke/remap.yaml: 2 tiny
#             epochs on short virtual performances; marked quick=true); add trainer.device=cpu for the CPU
# Real data: ROOT=/data/sdss_filtered scripts/sweeps/remap.sh   (one sub-folder per drum, SDSS layout)
# Narrow it: MODELS="mlp direct" PRESETS="snare_1" DRUMS="maple_14x5" scripts/sweeps/remap.sh
# Default drums: every sub-folder of ROOT, or the built-in virtual snares when ROOT is not set.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
source scripts/sweeps/steps.sh  # step: stop on the first failed or interrupted run, say which
if smoke_mode remap "${1:-}"; then shift; fi  # --quick: smoke=remap, tables with --all
models=${MODELS:-"linear linear2048 mlp mlp2048 mlp_lrg mlp_lrg2048 direct"}
presets=${PRESETS:-"snare_1 snare_2 snare_3 open_snare noisy_snare"}
drums=${DRUMS:-$("$PY" -c "
import sys
from ddspfx.data.drums import drum_folders
from ddspfx.data.virtual_drums import VIRTUAL_SNARES
print(' '.join(drum_folders(sys.argv[1]) if sys.argv[1] else VIRTUAL_SNARES))" "${ROOT:-}")}
for model in $models; do
  for drum in $drums; do
    for preset in $presets; do
      run_dir="outputs/remap/$model/${drum}_${preset}_$(date +%Y-%m-%d_%H-%M-%S)"
      step "training of remap/$model on $drum with $preset (run folder $run_dir)" \
        "$PY" train_remap.py experiment="remap/$model" data.drum="$drum" preset="$preset" \
        hydra.run.dir="$run_dir" "${root[@]}" "${quick[@]}" "$@"
      step "evaluation of remap/$model on $drum with $preset (run folder $run_dir)" \
        "$PY" evaluate.py run="$run_dir" progress=false
    done
  done
done
step "the results table" "$PY" scripts/results.py "${results_all[@]}" --task remap --out outputs/remap/results_remap

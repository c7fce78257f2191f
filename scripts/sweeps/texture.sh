#!/usr/bin/env bash
# Train and evaluate TexDSP on every texture (reference §6.2: one model per texture), then the results
# table (scripts/results.py --task texture): a row per texture and model, the paper's columns FAD-ours
# (fad_texstat), TexStat and MSS (mrstft), beside the noise and TexEnv-analysis references.
# Usage: scripts/sweeps/texture.sh [--quick] [extra Hydra overrides...]
#   --quick   a minutes-long smoke run of the same commands: smoke=texture (conf/smoke/texture.yaml: one tiny
#             epoch on short synthetic textures; marked quick=true); add trainer.device=cpu for the CPU
# Real recordings: ROOT=/data/textures scripts/sweeps/texture.sh   (one sub-folder of recordings per texture)
# Narrow it: EXPERIMENTS="texdsp_n16 texdsp_shallow" TEXTURES="rain fire" scripts/sweeps/texture.sh
# Default textures: every sub-folder of ROOT, or the built-in synthetic ones when ROOT is not set.
# P-VAE beside TexDSP on the same excerpts: EXPERIMENTS="texdsp pvae" scripts/sweeps/texture.sh
#   a pvae* experiment first trains and evaluates the texture's grain VAE (experiment=texture/grains, in
#   outputs/texture_grains/), with grains cut at onsets, or every grain length for the textures in REGULAR
#   (default: wind, which has no events).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
source scripts/sweeps/steps.sh  # step: stop on the first failed or interrupted run, say which
if smoke_mode texture "${1:-}"; then shift; fi  # --quick: smoke=texture, tables with --all
experiments=${EXPERIMENTS:-"texdsp_n16"}
textures=${TEXTURES:-$("$PY" -c "
import sys
from pathlib import Path
from ddspfx.data.synthetic_textures import TEXTURES
root = Path(sys.argv[1]) if sys.argv[1] else None
print(' '.join(sorted(p.name for p in root.iterdir() if p.is_dir()) if root else TEXTURES))" "${ROOT:-}")}
regular=" ${REGULAR-wind} "
grain_model() {  # grain_model <texture> [overrides...]: train and evaluate its grain VAE; sets grain_dir
  local texture=$1 align=onsets
  shift
  if [[ $regular == *" $texture "* ]]; then align=regular; fi
  grain_dir="outputs/texture_grains/grains/${texture}_$(date +%Y-%m-%d_%H-%M-%S)"
  step "training of the grain VAE on $texture (run folder $grain_dir)" \
    "$PY" train_texture.py experiment=texture/grains data.texture="$texture" grains.align="$align" \
    hydra.run.dir="$grain_dir" "${root[@]}" "${quick[@]}" "$@"
  step "evaluation of the grain VAE on $texture (run folder $grain_dir)" "$PY" evaluate.py run="$grain_dir" progress=false
}
for experiment in $experiments; do
  for texture in $textures; do
    extra=()
    if [[ $experiment == pvae* ]]; then
      grain_model "$texture" "$@"
      extra=(pvae.grains="$grain_dir")
    fi
    run_dir="outputs/texture/$experiment/${texture}_$(date +%Y-%m-%d_%H-%M-%S)"
    step "training of texture/$experiment on $texture (run folder $run_dir)" \
      "$PY" train_texture.py experiment="texture/$experiment" data.texture="$texture" "${extra[@]}" \
      hydra.run.dir="$run_dir" "${root[@]}" "${quick[@]}" "$@"
    step "evaluation of texture/$experiment on $texture (run folder $run_dir)" \
      "$PY" evaluate.py run="$run_dir" progress=false
  done
done
step "the results table" "$PY" scripts/results.py "${results_all[@]}" --task texture --out outputs/texture/results_texture

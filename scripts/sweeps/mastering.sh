#!/usr/bin/env bash
# Train and evaluate the mastering presets (reference part B and A.13).
# Usage: scripts/sweeps/mastering.sh [--quick] [extra Hydra overrides...]
#   --quick   a minutes-long smoke run of the same commands: smoke=mastering (conf/smoke/mastering.yaml:
#             tiny epochs, crops and sets, a few synthetic tracks unless source=... is given; marked
#             quick=true); add trainer.device=cpu to stay on the CPU
# Pick models with MODELS="icassp_peq_mel taslp_deter" scripts/sweeps/mastering.sh
# The hybrid-proxy presets need a proxy: PROXY=checkpoints/proxy_compressor.pt (scripts/train_proxy.py).
# Real data: append source=folder source.root=/data/musdb18hq (or any folder of music).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
source scripts/sweeps/steps.sh  # step: stop on the first failed or interrupted run, say which
if smoke_mode mastering "${1:-}"; then shift; fi  # --quick: smoke=mastering, tables with --all
icassp=(icassp_peq_params icassp_peq_mel icassp_geq icassp_comp icassp_dist icassp_taylor icassp_chebyshev icassp_full)
taslp=(taslp_deter taslp_gauss_l0 taslp_mog_full_k6_l0 taslp_gauss_l1 taslp_gauss_l2 taslp_mog_full_k6_l1
       taslp_mog_unif_k6_l1 taslp_mog_unif_k24_l1)
default_models="${icassp[*]} ${taslp[*]} $(printf '%s_noann ' "${taslp[@]:3}")"
if [[ -n "${PROXY:-}" ]]; then default_models="$default_models icassp_comp_hybrid icassp_full_hybrid"; fi
models=${MODELS:-$default_models}
for model in $models; do
  extra=()
  if [[ "$model" == *hybrid* ]]; then extra=(fx_options.comphybrid.checkpoint="${PROXY:?set PROXY=<proxy checkpoint>}"); fi
  run_dir="outputs/mastering/$model/$(date +%Y-%m-%d_%H-%M-%S)"
  step "training of mastering/$model (run folder $run_dir)" \
    "$PY" train_mastering.py experiment="mastering/$model" hydra.run.dir="$run_dir" "${quick[@]}" "${extra[@]}" "$@"
  step "evaluation of mastering/$model (run folder $run_dir)" "$PY" evaluate.py run="$run_dir"
done
step "the results table" "$PY" scripts/results.py "${results_all[@]}" --task mastering --out outputs/mastering/results_mastering

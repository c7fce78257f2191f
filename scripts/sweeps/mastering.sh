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
# Stop the sweep on the first failed or interrupted run and say which (exit status kept):
# 130 = Ctrl-C (SIGINT), 143 = SIGTERM (last.pt saved: resume with trainer.resume=true
# hydra.run.dir=<run folder>), 1 = training stopped or failed, 2 = a config error.
current=""
child=""
on_signal() {  # Ctrl-C or SIGTERM to the sweep: stop the run in progress (it saves last.pt), then the sweep
  if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  echo "sweep interrupted${current:+ during $current}: later models are not run" >&2
  exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
step() {  # step <what> <command...>
  local what=$1 status=0 why
  shift
  current=$what
  "$@" &  # in the background, so that a signal to the sweep is handled at once and passed on
  child=$!
  wait "$child" || status=$?
  child=""
  if (( status != 0 )); then
    case $status in
      130) why="was interrupted (SIGINT, Ctrl-C)" ;;
      143) why="was terminated (SIGTERM)" ;;
      *) why="failed" ;;
    esac
    echo "sweep stopped: $what $why with exit status $status; later models are not run" >&2
    exit "$status"
  fi
  current=""
}
quick=()
results_all=()  # quick runs are not comparable: results.py shows them only with --all
if [[ "${1:-}" == "--quick" ]]; then
  shift
  quick=(smoke=mastering)  # conf/smoke/mastering.yaml: the tiny-run overrides (shared with the tests)
  results_all=(--all)
fi
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

#!/usr/bin/env bash
# Train and evaluate the FM model zoo (reference A.8), then gather one results table.
# Usage: scripts/sweeps/fm.sh [--quick] [extra Hydra overrides...]
#   --quick   a minutes-long smoke run of the same commands: smoke=fm (conf/smoke/fm.yaml: tiny epochs,
#             sets and sampling; marked quick=true); add trainer.device=cpu to stay on the CPU
# Pick models with MODELS="deter mog_full_k6_l1" scripts/sweeps/fm.sh
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
  quick=(smoke=fm)  # conf/smoke/fm.yaml: the tiny-run overrides (shared with the tests)
  results_all=(--all)
fi
zoo=(deter gauss_l0 mog_full_k6_l0 gauss_l1 gauss_l2 mog_full_k6_l1 mog_unif_k6_l1 mog_unif_k24_l1)
models=${MODELS:-"${zoo[*]} $(printf '%s_noann ' "${zoo[@]:1}")"}
for model in $models; do
  run_dir="outputs/fm/$model/$(date +%Y-%m-%d_%H-%M-%S)"
  step "training of fm/$model (run folder $run_dir)" \
    "$PY" train_fm.py experiment="fm/$model" hydra.run.dir="$run_dir" "${quick[@]}" "$@"
  step "evaluation of fm/$model (run folder $run_dir)" "$PY" evaluate.py run="$run_dir"
done
step "the results table" "$PY" scripts/results.py "${results_all[@]}" --task fm --out outputs/fm/results_fm

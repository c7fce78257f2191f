# Sourced by the sweep scripts: `step <what> <command...>` runs one step of a sweep.
# Stop the sweep on the first failed or interrupted run and say which (exit status kept):
# 130 = Ctrl-C (SIGINT), 143 = SIGTERM (last.pt saved: resume with trainer.resume=true
# hydra.run.dir=<run folder>), 1 = training stopped or failed, 2 = a config error.
current=""
child=""
on_signal() {  # Ctrl-C or SIGTERM to the sweep: stop the run in progress (it saves last.pt), then the sweep
  local running
  running=$(jobs -p)  # also a run started just before the signal, whose pid is not in $child yet
  if [[ -n $child || -n $running ]]; then
    kill -TERM $child $running 2>/dev/null || true
    wait $child $running 2>/dev/null || true
  fi
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
results_all=()
smoke_mode() {  # smoke_mode <task> <first argument>: with --quick, runs get smoke=<task> (conf/smoke/<task>.yaml,
  # the tiny-run overrides shared with the tests) and the results table shows them (--all: quick runs are not
  # comparable). The caller shifts its arguments when this returns 0.
  if [[ "${2:-}" == "--quick" ]]; then
    quick=(smoke="$1")
    results_all=(--all)
    return 0
  fi
  return 1
}
root=()  # data.root=$ROOT when the caller sets ROOT (a folder of recordings), else nothing
if [[ -n "${ROOT:-}" ]]; then root=(data.root="$ROOT"); fi

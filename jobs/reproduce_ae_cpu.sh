#!/usr/bin/env bash
# The full-data autoencoder study on a CPU (issue 20), as jobs/reproduce_fcp_cpu.sh did fcp: the
# paper's budgets on all 50,000 training images, SGD and L-BFGS-GSS with the default (authors')
# line search, n = 8 each, then paths between 6 pairs of every set on both landscapes.
# Resumable: every finished run is skipped, an interrupted one resumes from its checkpoint, a path
# job skips finished pairs. Records (result.json, float32 w_*.npy, path pair-*.json) go under
# $ROOT/ae-authors and are committed as they finish, so the next session goes on where this
# one stopped.
#
#   WORKER=0 WORKERS=2 OMP_NUM_THREADS=1 nice -n 19 bash jobs/reproduce_ae_cpu.sh >> outputs/ae0.log 2>&1 &
#   WORKER=1 WORKERS=2 OMP_NUM_THREADS=1 nice -n 19 bash jobs/reproduce_ae_cpu.sh >> outputs/ae1.log 2>&1 &
#
# Two workers split the runs (run i goes to worker i mod WORKERS). The paths follow in a plain
# `bash jobs/reproduce_ae_cpu.sh` (one worker) once both are done: it skips every finished run.
# PATH_ARGS adds finder settings (the exact finder by default).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-records}
DATA=${LOSSLAND_DATA_ROOT:-outputs/data}
SEEDS=${SEEDS:-"0 1 2 3 4 5 6 7"}
WORKER=${WORKER:-0}
WORKERS=${WORKERS:-1}
N_SELECT=5   # the paper's selection ratio 48/75, applied to 8 runs
N_RUNS=8
N_PAIRS=6
PATH_ARGS=${PATH_ARGS:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
out=$ROOT/ae-authors   # SGD and conf/opt/lbfgs_authors.yaml side by side

i=0
for opt in sgd lbfgs_authors; do   # SGD first (minutes each), then L-BFGS-GSS (~50 min each)
  for seed in $SEEDS; do
    if [ $((i % WORKERS)) = "$WORKER" ]; then
      echo "== $(date -u +%H:%M:%S) train ae $opt seed=$seed"
      $PY -m lossland.train arch=ae "opt=$opt" "seed=$seed" "out_dir=$out" "dataset.root=$DATA"
    fi
    i=$((i + 1))
  done
done
[ "$WORKERS" = 1 ] || exit 0   # split training only: the paths need every run

paths() {  # set landscape
  echo "== $(date -u +%H:%M:%S) paths ae $1 $2 $PATH_ARGS"
  # shellcheck disable=SC2086
  $PY -m lossland.paths arch=ae "set=$1" "landscape=$2" "out_dir=$out" "dataset.root=$DATA" \
    n_select=$N_SELECT n_runs=$N_RUNS n_pairs=$N_PAIRS shard_size=$N_PAIRS $PATH_ARGS
}
for landscape in train test; do
  for set in bfgs-test sgd-test bfgs-train sgd-train; do
    [ "$landscape" = test ] && [[ $set == *-train ]] && continue  # the paper: test sets only
    paths "$set" "$landscape"
  done
done
echo "== $(date -u +%H:%M:%S) done"

#!/usr/bin/env bash
# The full-data fcp study on a CPU (issue 10): the paper's budgets on all 50,000 training
# images, both L-BFGS-GSS line searches, then the paths. Resumable: every finished run is
# skipped, an interrupted one resumes from its checkpoint, a path job skips finished pairs.
# Records (result.json, float32 w_*.npy, path pair-*.json) go under $ROOT and are committed, so
# the next session goes on where this one stopped and n grows.
#
#   OMP_NUM_THREADS=1 nice -n 5 jobs/reproduce_fcp_cpu.sh > outputs/reproduce_fcp.log 2>&1 &
#   python analysis/reproduction.py         # regenerates docs/reproduction.md from the records
#
# ROOT=... moves the records (one variable: a later layout change only changes this line).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-records}
DATA=${LOSSLAND_DATA_ROOT:-outputs/data}
SEEDS=${SEEDS:-"0 1 2 3 4 5 6 7"}
N_SELECT=5   # the paper's selection ratio 48/75, applied to 8 runs
N_RUNS=8
N_PAIRS=6
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's lossland (analysis/)
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python

spec=$ROOT/fcp-spec         # opt.line_search=spec: the golden section search of docs/decisions.md#training
authors=$ROOT/fcp-authors   # conf/opt/lbfgs_authors.yaml: the authors' notebook
f64=$ROOT/fcp-spec-float64  # the spec search in float64: does float32 stop it early?

train() {  # out_dir opt seed [overrides...]
  local out=$1 opt=$2 seed=$3
  shift 3
  echo "== $(date -u +%H:%M:%S) train $out $opt seed=$seed $*"
  $PY -m lossland.train arch=fcp "opt=$opt" "seed=$seed" "out_dir=$out" "dataset.root=$DATA" "$@"
}

# SGD is trained once (in fcp-spec); the authors' tree links to those runs and their paths.
mkdir -p "$authors/train/fcp" "$authors/paths/fcp"
[ -L "$authors/train/fcp/sgd" ] || ln -s ../../../fcp-spec/train/fcp/sgd "$authors/train/fcp/sgd"
for s in sgd-train sgd-test; do
  [ -L "$authors/paths/fcp/$s" ] || ln -s "../../../fcp-spec/paths/fcp/$s" "$authors/paths/fcp/$s"
done

# 1. The line-search choice first: 2 seeds of each search, float32 vs float64, SGD's rate.
for seed in 0 1; do
  train "$spec" lbfgs "$seed" opt.line_search=spec
  if [ "$seed" = 0 ] && [ ! -f "$spec/precision_check.json" ]; then  # float32 vs float64
    echo "== $(date -u +%H:%M:%S) precision check"
    $PY analysis/precision_check.py "root=$ROOT" variant=fcp-spec iters=50 "data=$DATA"
  fi
  train "$spec" sgd "$seed"
  train "$authors" lbfgs_authors "$seed"
  [ "$seed" = 0 ] && ARCHS=fcp NO_TABLE=1 jobs/sgd_lr_study.sh
done

# 2. n grows to 8 for SGD and the chosen search (the authors'), then their paths: 6 pairs of
#    each set (5 of 8 runs), on the train and the test landscape.
for seed in $SEEDS; do
  train "$spec" sgd "$seed"
  train "$authors" lbfgs_authors "$seed"
done
paths() {  # out_dir set landscape
  echo "== $(date -u +%H:%M:%S) paths $1 $2 $3"
  $PY -m lossland.paths arch=fcp "set=$2" "landscape=$3" "out_dir=$1" "dataset.root=$DATA" \
    n_select=$N_SELECT n_runs=$N_RUNS n_pairs=$N_PAIRS shard_size=$N_PAIRS
}
all_paths() {  # out_dir sets...
  local out=$1
  shift
  for landscape in train test; do
    for set in "$@"; do
      [ "$landscape" = test ] && [[ $set == *-train ]] && continue  # the paper: test sets only
      paths "$out" "$set" "$landscape"
    done
  done
}
all_paths "$spec" sgd-test sgd-train  # SGD's paths live in fcp-spec (fcp-authors links them)
all_paths "$authors" bfgs-test bfgs-train

# 3. The rest: ae's SGD rate, the spec search to n = 8 and its paths, the float64 spec run.
ARCHS=ae NO_TABLE=1 jobs/sgd_lr_study.sh
for seed in $SEEDS; do
  train "$spec" lbfgs "$seed" opt.line_search=spec
done
all_paths "$spec" bfgs-test bfgs-train
train "$f64" lbfgs 0 precision=float64 opt.line_search=spec
echo "== $(date -u +%H:%M:%S) done"

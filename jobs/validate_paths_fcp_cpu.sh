#!/usr/bin/env bash
# Issue 19's validation of the path finder's fast modes, on a CPU: the committed full-data fcp
# pairs of the default (authors') line search's sets and the SGD sets (jobs/reproduce_fcp_cpu.sh,
# $ROOT/fcp-authors, whose SGD links fcp-spec's), found again
#   fast:      the paper's 100 Adam steps, each on 5,000 random training images
#              (finder.images_per_step=5000, conf/preset/fast_paths.yaml);
#   converged: the stopping rule on (conf/preset/converged_paths.yaml), 2 pairs per set
#              (CONVERGED_SIZE=6 for all).
# JOBS="set:landscape ..." picks the sets (default: all six, each comparison's two in turn).
# Records go under $OUT/<mode>/ (committed); its train/ links to the committed training records,
# so the sets, their hashes and the pairs are the committed ones. Resumable: every finished
# record is skipped. Then `python analysis/path_validation.py` prints the comparison.
#
#   OMP_NUM_THREADS=1 nice -n 10 jobs/validate_paths_fcp_cpu.sh > outputs/validate_paths.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-records}
OUT=${OUT:-records/fcp-modes}
DATA=${LOSSLAND_DATA_ROOT:-outputs/data}
MODES=${MODES:-"fast converged"}
CONVERGED_SIZE=${CONVERGED_SIZE:-2}
JOBS=${JOBS:-"bfgs-train:train sgd-train:train bfgs-test:test sgd-test:test bfgs-test:train sgd-test:train"}
FINDER=${FINDER:-}  # more finder overrides for every mode, e.g. finder.steps=600
SETTINGS="arch=fcp n_select=5 n_runs=8 n_pairs=6 dataset.root=$DATA"  # as reproduce_fcp_cpu.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python

for mode in $MODES; do
  mkdir -p "$OUT/$mode"
  [ -L "$OUT/$mode/train" ] || ln -s "$(realpath --relative-to="$OUT/$mode" "$ROOT/fcp-authors/train")" "$OUT/$mode/train"
done
paths() {  # mode set landscape
  local size=6
  [ "$1" = converged ] && size=$CONVERGED_SIZE
  echo "== $(date -u +%H:%M:%S) $1 paths $2 $3"
  # shellcheck disable=SC2086  # SETTINGS and FINDER hold several overrides
  $PY -m lossland.paths "set=$2" "landscape=$3" "out_dir=$OUT/$1" $SETTINGS "preset=$1_paths" \
    shard=0 "shard_size=$size" $FINDER
}
for mode in $MODES; do  # each Fig. 4 comparison's two sets in turn
  for job in $JOBS; do
    paths "$mode" "${job%%:*}" "${job#*:}"
  done
done
echo "== $(date -u +%H:%M:%S) done"

#!/usr/bin/env bash
# Full-data fcp modulo permutation symmetry (issue 21), on a CPU: the committed solutions of
# jobs/reproduce_fcp_cpu.sh ($ROOT/fcp-spec, $ROOT/fcp-authors), each pair's second endpoint
# permuted to match its first by weight matching (lossland.nets.matching). Resumable: every finished
# record is skipped. Records go under $OUT/<variant>/ (committed); its train/ links to the
# variant's training records, so the sets (and their hashes) are the committed ones.
#
# 1. (cheap, minutes) the interpolation barrier of every committed pair, unaligned and aligned
#    (the interp probe, alpha in [0, 1], full train and test data): probes/fcp/<set>/interp/.
# 2. (~4.6 CPU-min a pair with the exact finder) the aligned paths: paths/fcp/<set>@weight/.
#    SHARD_SIZE=1 SHARD=k does the k-th pair only; FINDER="finder.x=..." passes finder
#    settings (e.g. a validated fast path mode). STEPS="probes" or "paths" runs one step.
#
#   OMP_NUM_THREADS=1 nice -n 5 jobs/align_fcp_cpu.sh > outputs/align_fcp.log 2>&1 &
#   python analysis/aligned_fcp.py          # prints the Markdown section of these records
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-records}
OUT=${OUT:-records/fcp-aligned}
DATA=${LOSSLAND_DATA_ROOT:-outputs/data}
STEPS=${STEPS:-"probes paths"}
SHARD=${SHARD:-0}
SHARD_SIZE=${SHARD_SIZE:-6}
FINDER=${FINDER:-}
SETTINGS="arch=fcp n_select=5 n_runs=8 dataset.root=$DATA"  # as jobs/reproduce_fcp_cpu.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python

for variant in fcp-spec fcp-authors; do  # train/ -> the variant's committed training records
  mkdir -p "$OUT/$variant"
  [ -L "$OUT/$variant/train" ] || ln -s "$(realpath --relative-to="$OUT/$variant" "$ROOT/$variant/train")" "$OUT/$variant/train"
done
# SGD is trained once (fcp-spec): the authors' tree links to its records, as in $ROOT.
mkdir -p "$OUT/fcp-authors/probes/fcp" "$OUT/fcp-authors/paths/fcp"
for s in sgd-train sgd-test; do
  p=$OUT/fcp-authors/probes/fcp/$s a=$OUT/fcp-authors/paths/fcp/$s@weight
  [ -L "$p" ] || ln -s "../../../fcp-spec/probes/fcp/$s" "$p"
  [ -L "$a" ] || ln -s "../../../fcp-spec/paths/fcp/$s@weight" "$a"
done

interp() {  # out_dir set align
  echo "== $(date -u +%H:%M:%S) interp $1 $2 align=$3"
  $PY -m lossland.probes probe=interp "set=$2" "out_dir=$1" $SETTINGS probe.n_pairs=6 \
    probe.alpha_min=0 probe.alpha_max=1 probe.n_alpha=11 probe.cross=false "probe.align=$3"
}
paths() {  # out_dir set landscape
  echo "== $(date -u +%H:%M:%S) aligned paths $1 $2 $3 shard $SHARD (size $SHARD_SIZE)"
  # shellcheck disable=SC2086  # FINDER holds several overrides
  $PY -m lossland.paths "set=$2" "landscape=$3" "out_dir=$1" $SETTINGS n_pairs=6 \
    align=weight "shard=$SHARD" "shard_size=$SHARD_SIZE" $FINDER
}
each() {  # step: over the committed sets (SGD's in fcp-spec only)
  for landscape in train test; do
    for pair in fcp-spec:sgd-train fcp-spec:sgd-test fcp-spec:bfgs-train fcp-spec:bfgs-test \
      fcp-authors:bfgs-train fcp-authors:bfgs-test; do
      local variant=${pair%%:*} set=${pair#*:}
      [ "$landscape" = test ] && [[ $set == *-train ]] && continue  # the paper: test sets only
      "$@" "$OUT/$variant" "$set" "$landscape"
    done
  done
}
probes() {  # out_dir set landscape: both landscapes are in one interp record
  [ "$3" = train ] || return 0
  interp "$1" "$2" none
  interp "$1" "$2" weight
}
for step in $STEPS; do
  case $step in
    probes) each probes ;;
    paths) each paths ;;
    *) echo "unknown step $step (probes, paths)" >&2; exit 2 ;;
  esac
done
echo "== $(date -u +%H:%M:%S) done"

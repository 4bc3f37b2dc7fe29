#!/usr/bin/env bash
# SGD's learning rate against the paper's SGD columns of Table 1 (train and test): one
# full-data seed per net and rate, 100 epochs; every shorter budget is read off the same curves.
# Resumable (finished runs are skipped). Then prints the "SGD defaults" table (docs/training.md):
#
#   ARCHS="fcp ae lenet lstm" jobs/sgd_lr_study.sh   # per rate on 1 core: fcp ~1 min, ae ~3,
#                                                    # lstm ~7, lenet ~17
#   LRS="1.0" ARCHS=lstm jobs/sgd_lr_study.sh        # another rate
#   python analysis/sgd_table.py                     # the table alone, from the records
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-records/sgd-lr}
DATA=${LOSSLAND_DATA_ROOT:-outputs/data}
ARCHS=${ARCHS:-fcp}
LRS=${LRS:-"0.03 0.1 0.3"}
EPOCHS=${EPOCHS:-100}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's lossland
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
for arch in $ARCHS; do
  for lr in $LRS; do
    echo "== $(date -u +%H:%M:%S) sgd $arch lr=$lr"
    $PY -m lossland.train "arch=$arch" opt=sgd "opt.lr=$lr" "opt.epochs=$EPOCHS" seed=0 \
      "out_dir=$ROOT/lr$lr" "dataset.root=$DATA"
  done
done
[ "${NO_TABLE:-0}" = 1 ] || $PY analysis/sgd_table.py "$ROOT"

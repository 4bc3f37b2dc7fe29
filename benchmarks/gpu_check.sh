#!/usr/bin/env bash
# The GPU half of the checks, in one command (at most ~8 minutes on one CUDA GPU):
#   bash benchmarks/gpu_check.sh
# 1. the CUDA tests (tests/test_cuda.py: pack = seeds alone, batched path loss = loop, resume);
# 2. a tiny `python -m lossland.train -m ... device=cuda` sweep with packs, end to end;
# 3. benchmarks/train_throughput.py, benchmarks/pathfinder.py and benchmarks/study_cost.py;
# then one summary table with the GPU's name. On a machine without a GPU it runs the (skipped)
# CUDA tests, says it found no GPU and stops.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
ROOT="${LOSSLAND_DATA_ROOT:-outputs/data}"
export LOSSLAND_DATA_ROOT="$ROOT"
LOGS="$(mktemp -d)"
declare -a ROWS=()
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python  # README's virtualenv

step() {  # step NAME TIMEOUT_S COMMAND...: run, keep its log, add a summary row
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  local status=ok
  [ $rc -eq 124 ] && status="timeout (${limit}s)"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && status="FAILED (rc $rc)"
  ROWS+=("$(printf '%-18s %-16s %6ds' "$name" "$status" $((SECONDS - start)))")
  echo "---- $name: $status; last lines of $LOGS/$name.log:"
  tail -n 25 "$LOGS/$name.log"
}

if ! GPU=$($PY -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"); then
  echo "gpu_check: $PY cannot import torch: install lossland first (README, pip install -e '.[dev]')"
  exit 1
fi
if [ -z "$GPU" ]; then
  step cuda-tests 120 $PY -m pytest -q -rs tests/test_cuda.py
  echo "gpu_check: no CUDA GPU found (torch.cuda.is_available() is False): the CUDA tests were"
  echo "skipped and nothing else was run. Run this script on a machine with one GPU."
  exit 0
fi

step cuda-tests 120 $PY -m pytest -q -x tests/test_cuda.py
step cuda-sweep 60 $PY -m lossland.train -m arch=fcp,lstm opt=sgd,lbfgs seed=0 seeds_per_task=4 \
  device=cuda "dataset.root=$ROOT" dataset.n_train=2000 dataset.n_eval=1000 opt.epochs=5 \
  "out_dir=$LOGS/sweep"
step train-throughput 140 $PY benchmarks/train_throughput.py --root "$ROOT" --ks 1,16,75 \
  --epochs 1 --opts sgd,lbfgs --denormal-iters 0
step pathfinder 50 $PY benchmarks/pathfinder.py --root "$ROOT" --images 10000 --reps 2
step study-cost 80 $PY benchmarks/study_cost.py --root "$ROOT" --reps 1

echo
echo "gpu_check on $GPU ($($PY -c 'import torch; print("torch", torch.__version__)'))"
printf '%-18s %-16s %7s\n' step status time
for row in "${ROWS[@]}"; do echo "$row"; done
grep -h "whole study" "$LOGS/study-cost.log" || true
echo "logs: $LOGS"

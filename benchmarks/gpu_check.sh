#!/usr/bin/env bash
# The GPU half of the checks, in one command, on a machine with one CUDA GPU:
#   bash benchmarks/gpu_check.sh
# Every step has a time limit; the limits add up to 8 minutes (a step that hits its limit is
# reported as such and the next one runs):
#  cuda-tests        tests/test_cuda.py: CUDA against the CPU's reference values
#                    (tests/data/cuda_refs.npz), packs = seeds alone for every optimizer, path
#                    and probe jobs = the CPU's, resume on CUDA and across devices;
#  cuda-sweep        `python -m lossland.train -m` on all four nets x both optimizers, 75 seeds
#                    per task (one pack of 75 each: 600 records), 2,000 images, 5 epochs;
#  paths-exact       path jobs (the paper's finder) between the sweep's runs, all four nets;
#  paths-fast        the same in the fast mode (preset=fast_paths, issue 19);
#  paths-tf32        the exact paths again with tf32=true, and benchmarks/tf32_paths.py: how
#                    far TF32 moves the heights (docs/decisions.md#numerics: off until measured);
#  train-throughput  benchmarks/train_throughput.py: packs of 1 and 75, all nets, both optimizers;
#  pathfinder        benchmarks/pathfinder.py: a path step as jobs run it against the loop;
#  probes            benchmarks/probes.py: every probe per solution, batched against the loop;
#  study-cost        benchmarks/study_cost.py: the device-hours of the whole study;
# then one summary table with the GPU's name (each step's full output stays in its log). On a
# machine without a GPU it runs the (skipped) CUDA tests, says it found no GPU and stops.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
ROOT="${LOSSLAND_DATA_ROOT:-outputs/data}"
export LOSSLAND_DATA_ROOT="$ROOT"
LOGS="$(mktemp -d)"
SWEEP="$LOGS/sweep"
declare -a ROWS=()
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python  # README's virtualenv
SMALL=("dataset.root=$ROOT" dataset.n_train=2000 dataset.n_eval=1000 "out_dir=$SWEEP")

row() {  # row NAME STATUS SECONDS NOTE: one line of the summary table
  ROWS+=("$(printf '%-17s %-16s %6ss  %s' "$1" "$2" "$3" "$4")")
}

step() {  # step NAME TIMEOUT_S COMMAND...: run it, keep its log, add a summary row
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  local status=ok
  [ $rc -eq 124 ] && status="timeout (${limit}s)"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && status="FAILED (rc $rc)"
  row "$name" "$status" $((SECONDS - start)) "$(note "$name")"
  echo "---- $name: $status; last lines of $LOGS/$name.log:"
  tail -n 25 "$LOGS/$name.log"
}

note() {  # what a step's log says in one line
  case $1 in
    cuda-tests) grep -E "passed|failed|skipped" "$LOGS/$1.log" | tail -n 1 ;;
    cuda-sweep) echo "$(find "$SWEEP/train" -name result.json 2>/dev/null | wc -l) records" ;;
    paths-*) echo "$(find "$SWEEP/paths" -name 'pair=*.json' 2>/dev/null | wc -l) path records so far" ;;
    study-cost) grep -h "whole study" "$LOGS/$1.log" | tail -n 1 | tr -s ' ' ;;
    tf32-heights) tail -n +2 "$LOGS/$1.log" | awk '{print $1, $2, "dH/H", $6}' | tr '\n' ';' ;;
    *) echo "table in $LOGS/$1.log" ;;
  esac
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

step cuda-tests 125 $PY -m pytest -q tests/test_cuda.py
step cuda-sweep 75 $PY -m lossland.train -m arch=fcp,lenet,lstm,ae opt=sgd,lbfgs seed=0 \
  seeds_per_task=75 device=cuda opt.epochs=5 checkpoint_every=2 "${SMALL[@]}"
PATHS=(-m arch=fcp,lenet,lstm,ae set=bfgs-train,sgd-train landscape=train n_runs=75 n_select=4
  n_pairs=1 device=cuda "${SMALL[@]}")
step paths-exact 40 $PY -m lossland.paths "${PATHS[@]}"
step paths-fast 25 $PY -m lossland.paths "${PATHS[@]}" preset=fast_paths finder.images_per_step=500
step paths-tf32 25 $PY -m lossland.paths "${PATHS[@]}" tf32=true
step tf32-heights 10 $PY benchmarks/tf32_paths.py "$SWEEP"
step train-throughput 60 $PY benchmarks/train_throughput.py --root "$ROOT" --ks 1,75 \
  --epochs 1 --images 5000 --denormal-iters 0
step pathfinder 35 $PY benchmarks/pathfinder.py --root "$ROOT" --images 5000 --reps 2
step probes 35 $PY benchmarks/probes.py --root "$ROOT" --timed-images 5000 --reps 1
step study-cost 50 $PY benchmarks/study_cost.py --root "$ROOT" --reps 1 --images 10000 \
  --path-images 5000

echo
echo "gpu_check on $GPU ($($PY -c 'import torch; print("torch", torch.__version__)'))"
printf '%-17s %-16s %7s  %s\n' step status time note
for line in "${ROWS[@]}"; do echo "$line"; done
echo "logs: $LOGS"

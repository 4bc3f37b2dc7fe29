#!/usr/bin/env bash
# The paper's whole study on a Slurm GPU cluster (docs/cluster.md): 600 trainings (24 tasks
# of 25 seeds), the paths of every set on both landscapes, then the report. Run it from the
# repository root on the login node, inside tmux: each sweep waits for its job array.
# Resubmitting skips every finished task.
#
#   PARTITION=gpu bash jobs/paper_study_slurm.sh [extra hydra.launcher.KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=(hydra/launcher=slurm "hydra.launcher.partition=${PARTITION:?set PARTITION=<your GPU partition>}" "$@")
python -m lossland.data download root=outputs/data
python -m lossland.train -m "${launcher[@]}" preset=gpu  # 4 archs x 2 opts x 75 seeds, packs of 25
python -m lossland.paths -m "${launcher[@]}" arch=fcp,lenet,lstm,ae \
  set=bfgs-train,bfgs-test,sgd-train,sgd-test landscape=train shard='range(12)' shard_size=25
python -m lossland.paths -m "${launcher[@]}" arch=fcp,lenet,lstm,ae \
  set=bfgs-test,sgd-test landscape=test shard='range(12)' shard_size=25
python -m lossland.probes -m "${launcher[@]}" arch=fcp,lenet,lstm,ae \
  set=bfgs-train,bfgs-test,sgd-train,sgd-test probe=hessian,noise,perturb,interp,slice
python -m lossland.paths.toy out=outputs/toy  # Fig. 3 (seconds, on the login node)
python analysis/aggregate.py out_dir=outputs

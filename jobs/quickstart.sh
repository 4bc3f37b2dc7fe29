#!/usr/bin/env bash
# The small local study of README's quickstart, after the install: all four nets x both
# optimizers x 3 seeds (conf/preset/small.yaml, sized per net in conf/sized/), the paths of all
# four nets on the train and test landscapes (and the train sets' pairs aligned), the toy landscape
# (Fig. 3), then the report (outputs/small/report/index.html).
# Rerunning it skips everything that is finished.
#
#   bash jobs/quickstart.sh            # from the repository root, in the project's virtualenv
set -euo pipefail
cd "$(dirname "$0")/.."
python -m lossland.data download
python -m lossland.train -m preset=small
python -m lossland.paths -m preset=small_paths
python -m lossland.paths -m preset=small_paths set=bfgs-test,sgd-test landscape=test
# the same train-set pairs with each pair's second solution aligned to its first (weight matching):
# the report's "Does the comparison survive alignment?" table
python -m lossland.paths -m preset=small_paths set=bfgs-train,sgd-train align=weight
# Fig. 3: the paper's 2-D toy landscape (seconds); the report reads it from outputs/small/toy/
python -m lossland.paths.toy out=outputs/small/toy
python analysis/aggregate.py out_dir=outputs/small

"""`python analysis/sgd_table.py [root=records/sgd-lr]`: the "SGD defaults" table (docs/training).

Reads the runs of jobs/sgd_lr_study.sh (one full-data seed per net and learning rate, under
<root>/lr<lr>/train/<arch>/sgd/seed=0/) and prints, per net and rate, the paper's quantities
(min train loss; test loss at w_test, the minimum of the test curve) at the run's budget and at
shorter ones read off the same curves, beside the paper's SGD means (Table 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from lossland.core import storage
from lossland.report.tables import paper_table1

BUDGETS = (30, 100)  # epochs; each read off the recorded curves


def rows(root: Path) -> list[str]:
    out = []
    tasks = [t for lr_dir in sorted(root.glob("lr*")) for t in storage.train_task_dirs(lr_dir)]
    for _, opt, _, _, task in tasks:
        path = task / storage.RESULT_FILE
        if opt != "sgd" or not path.exists():
            continue
        rec = storage.read_json(path)
        if rec["config"]["dataset"].get("n_train") is not None:
            continue  # full data only
        arch, lr = rec["arch"], rec["config"]["opt"]["lr"]
        train, test = np.array(rec["curves"]["train"]), np.array(rec["curves"]["test"])
        paper = paper_table1(arch)  # {} for a net the paper lacks: its columns show a dash
        sgd = [paper.get(f"{split} SGD", float("nan")) for split in ("train", "test")]
        for budget in BUDGETS:
            if budget > rec["epochs_run"]:
                continue
            tr, te = train[: budget + 1], test[: budget + 1]
            out.append(
                f"| {arch} | {lr:g} | {budget} | {tr.min():.3g} ({tr.argmin()}) | "
                f"{te.min():.4f} ({te.argmin()}) | {dash(sgd[0], '.3g')} | {dash(sgd[1], '.4f')} |"
            )
    return out


def dash(value: float, spec: str) -> str:
    return "—" if value != value else format(value, spec)


def main(argv: list[str]) -> None:
    settings = dict(a.split("=", 1) for a in argv if "=" in a)
    root = Path(settings.get("root", argv[0] if argv and "=" not in argv[0] else ""))
    root = root if str(root) not in ("", ".") else Path("records/sgd-lr")
    print("| arch | lr | epochs | min train loss (epoch) | test loss at w_test (epoch) "
          "| paper SGD train | paper SGD test |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows(root)) or "| (no full-data runs yet) |")


if __name__ == "__main__":
    main(sys.argv[1:])

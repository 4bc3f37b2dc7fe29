"""`python analysis/precision_check.py [root=records] [iters=100] [variant=fcp-spec]`
(also seed=, data=, n_train=)

Does float32 stop L-BFGS-GSS early at full scale? Starts from a finished full-data fcp run's
w_train (the lowest train loss it reached) and runs the same optimizer for `iters` more
iterations twice, once in float32 and once in float64, from the same point with an empty
history: only the dtype differs. If float64 keeps lowering the loss where float32 cannot, the
float32 run froze because of its resolution (a per-image cross-entropy below ~6e-8 rounds to
0 next to 1), not because it reached a minimum. Writes <root>/<variant>/precision_check.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from lossland import data
from lossland.core import storage
from lossland.nets.modules import build_model, loss_from_outputs, set_flat
from lossland.train.lbfgs_gss import LBFGSGSS


def continue_run(w: np.ndarray, x, y, dtype, iters: int, line_search: str) -> dict:
    model = build_model("fcp").to(dtype)
    set_flat(model, torch.tensor(w, dtype=dtype))  # a copy: set_flat may alias its input
    xd = x.to(dtype)
    opt = LBFGSGSS(model.parameters(), line_search=line_search)

    def closure():
        return loss_from_outputs("fcp", model(xd), xd, y)

    with torch.no_grad():
        start = float(closure())
    curve, t0 = [], time.perf_counter()
    for _ in range(iters):
        curve.append(float(opt.step(closure)))
    return {
        "dtype": str(dtype).removeprefix("torch."),
        "start_loss": start,
        "min_loss": min(curve),
        "final_loss": curve[-1],
        "seconds": time.perf_counter() - t0,
        "curve": curve,
        **opt.diagnostics(),
    }


def main(argv: list[str]) -> None:
    s = dict(a.split("=", 1) for a in argv if "=" in a)
    root = Path(s.get("root", "records"))
    variant, iters = s.get("variant", "fcp-spec"), int(s.get("iters", 100))
    seed = int(s.get("seed", 0))
    runs = [
        task
        for arch, opt, _, n, task in storage.train_task_dirs(root / variant)
        if (arch, opt, n) == ("fcp", "lbfgs", seed)
    ]
    if len(runs) != 1:
        raise SystemExit(f"error: expected one lbfgs seed={s.get('seed', 0)} run, found {runs}")
    run_dir = runs[0]
    rec = storage.read_json(run_dir / storage.RESULT_FILE)
    torch.set_flush_denormal(True)
    limit = int(s["n_train"]) if "n_train" in s else None  # tests: a few images
    train = data.load_split(s.get("data", "outputs/data"), "train", "cpu", limit)
    w = np.load(run_dir / rec["files"]["w_train"])
    line_search = rec["config"]["opt"].get("line_search", "spec")
    result = {
        "run": str(run_dir),
        "run_min_train_loss": rec["min_train_loss"],
        "run_w_train_epoch": rec["w_train_epoch"],
        "run_lbfgs": rec.get("lbfgs"),
        "iters": iters,
        "line_search": line_search,
        "continued": [
            continue_run(w, train.x, train.y, dt, iters, line_search)
            for dt in (torch.float32, torch.float64)
        ],
    }
    storage.write_json(root / variant / "precision_check.json", result)
    for c in result["continued"]:
        print(
            f"{c['dtype']}: start {c['start_loss']:.4g}, min {c['min_loss']:.4g} after {iters} "
            f"iterations, last decrease at {c['last_decrease_iter']}, {c['n_failed']} failed"
        )


if __name__ == "__main__":
    main(sys.argv[1:])

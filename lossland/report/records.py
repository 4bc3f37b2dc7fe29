"""Read outputs/ into tidy pandas tables; a corrupt record is named and skipped, never fatal.

Everything here works from a notebook:

    runs = load_runs("outputs/small")        # Records: .table, .curves, .diagnostics, .problems
    paths = load_paths("outputs/small")      # Records: .table, .expected, .problems

`problems` collects every file that could not be read (path + reason), so the report can list
it; nothing in this module raises for a bad record.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lossland.core.identity import code_label
from lossland.core.storage import (
    PAIR_FILE,
    PAIRS_FILE,
    RESULT_FILE,
    path_task_dirs,
    read_json,
    train_task_dirs,
)
from lossland.report.types import Problem, Records

# Columns of the tidy tables (one row per run / per path record).
RUN_COLUMNS = [
    "arch",
    "opt",
    "seed",
    "status",
    "min_train_loss",
    "w_train_epoch",
    "min_test_loss",
    "test_loss_at_w_test",
    "w_test_epoch",
    "stop_on",
    "epochs_run",
    "epochs",
    "n_train",
    "n_eval",
    "train_seconds",
    "seconds_per_epoch",
    "device",
    "device_name",
    "sig",
    "code",
    "dir",
    "detail",
]
PATH_COLUMNS = [
    "arch",
    "set",
    "landscape",
    "finder",
    "i",
    "j",
    "seed_i",
    "seed_j",
    "status",
    "height",
    "straight_height",
    "higher_end",
    "length",
    "straight_length",
    "steps",
    "best_step",
    "converged",
    "best_objective",
    "wall_seconds",
    "device",
    "n_select",
    "sig",
    "train_sig",
    "set_hash",
    "code",
    "file",
    "detail",
]
CURVE_COLUMNS = ["arch", "opt", "seed", "split", "epoch", "loss", "sig"]


# ---------------------------------------------------------------------------------- runs


def load_runs(out_dir: str | Path) -> Records:
    """Every `train/<arch>/<opt>/<sig>/seed=<n>/` directory as one row.

    status: `done` / `diverged` / `stalled` (from result.json; its reason in `detail`), `corrupt`
    (unreadable result.json), `failed` (no result, an error in train.log), `incomplete` (no
    result yet: running or killed).
    """
    out_dir = Path(out_dir)
    rows, curves, problems, configs, diagnostics = [], [], [], {}, {}
    for arch, opt, sig, seed, task in train_task_dirs(out_dir):
        row: dict[str, Any] = {"arch": arch, "opt": opt, "seed": seed, "dir": str(task)}
        row["sig"] = sig
        result_path = task / RESULT_FILE
        if result_path.exists():
            try:
                rec = read_json(result_path)
                row |= run_row(rec)
                configs.setdefault((arch, opt, sig), rec.get("config", {}))
                if rec.get("lbfgs"):
                    diagnostics[(arch, opt, sig, seed)] = rec["lbfgs"]
                curves.extend(curve_rows(arch, opt, seed, rec.get("curves", {}), sig))
            except Exception as e:  # noqa: BLE001 - any bad record is named and skipped
                row |= {"status": "corrupt", "detail": str(e)}
                problems.append(Problem(str(result_path), reason(e)))
        else:
            row |= unfinished_status(task)
        rows.append(row)
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    table = table.sort_values(["arch", "opt", "seed"], ignore_index=True)
    expected, notes = expected_runs(out_dir, table)
    return Records(
        table=table,
        problems=problems,
        curves=pd.DataFrame(curves, columns=CURVE_COLUMNS),
        expected=expected,
        notes=notes,
        configs=configs,
        diagnostics=diagnostics,
    )


def run_row(rec: dict[str, Any]) -> dict[str, Any]:
    """The scalar fields of a result.json; raises on a record missing what the report needs."""
    status = rec["status"]
    if status not in ("done", "diverged", "stalled"):
        raise ValueError(f"unknown status {status!r}")
    cfg = rec.get("config", {})
    dataset, opt = cfg.get("dataset", {}), cfg.get("opt", {})
    row = {
        "status": status,
        "min_train_loss": float(rec["min_train_loss"]),
        "w_train_epoch": int(rec["w_train_epoch"]),
        "min_test_loss": float(rec["min_test_loss"]),
        "test_loss_at_w_test": float(rec["test_loss_at_w_test"]),
        "w_test_epoch": int(rec["w_test_epoch"]),
        "stop_on": rec.get("stop_on"),
        "epochs_run": rec.get("epochs_run"),
        "epochs": opt.get("epochs"),
        "n_train": dataset.get("n_train"),
        "n_eval": dataset.get("n_eval"),
        "train_seconds": rec.get("train_seconds"),
        "seconds_per_epoch": rec.get("seconds_per_epoch"),
        "device": rec.get("device"),
        "device_name": rec.get("device_name"),
        "code": code_label(rec.get("code")),
        "detail": rec.get("reason", ""),
    }
    if status == "done" and not math.isfinite(row["min_train_loss"]):
        raise ValueError("status done but min_train_loss is not finite")
    return row


def curve_rows(
    arch: str, opt: str, seed: int, curves: dict[str, list[float]], sig: str = ""
) -> list[tuple]:
    return [
        (arch, opt, seed, split, epoch, float(loss), sig)
        for split, values in curves.items()
        for epoch, loss in enumerate(values)
    ]


def unfinished_status(task: Path) -> dict[str, Any]:
    """No result.json: `failed` when its log shows an error, else `incomplete`."""
    log = task / "train.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    for line in reversed(text.splitlines()):
        if "[ERROR]" in line or line.startswith("Traceback"):
            return {"status": "failed", "detail": line.strip()[-300:]}
    where = "checkpoint saved" if (task / "checkpoint.pt").exists() else "no checkpoint"
    return {"status": "incomplete", "detail": f"no {RESULT_FILE} yet ({where})"}


def expected_runs(out_dir: Path, table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """arch x opt x seed that should exist: the sweep in multirun.yaml, union the grid seen.

    The grid seen is every arch x every opt x every seed that has a task directory anywhere
    in train/ (so one finished seed of one arch makes it expected for all the others).
    """
    archs, opts, seeds = set(table.arch), set(table.opt), set(table.seed)
    notes = [
        f"grid seen in train/: {len(archs)} archs x {len(opts)} optimizers x {len(seeds)} seeds"
    ]
    sweep = sweep_from_multirun(out_dir / "multirun.yaml")
    if sweep is not None:
        archs |= set(sweep.get("arch", ()))
        opts |= set(sweep.get("opt", ()))
        seeds |= {int(s) for s in sweep.get("seed", ())}
        notes.append(
            "last sweep launched into this out_dir (multirun.yaml): "
            + ", ".join(f"{k}={len(v)} values" for k, v in sorted(sweep.items()))
        )
    grid = pd.MultiIndex.from_product(
        [sorted(archs), sorted(opts), sorted(seeds)], names=["arch", "opt", "seed"]
    )
    return grid.to_frame(index=False), notes


def sweep_from_multirun(path: Path) -> dict[str, list[str]] | None:
    """The arch / opt / seed values of the multirun recorded by Hydra, or None."""
    if not path.exists():
        return None
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from omegaconf import OmegaConf

        cfg = OmegaConf.load(path)
        if OmegaConf.select(cfg, "hydra.job.name") != "train":
            return None  # the path jobs' multirun writes the same file
        lines = list(OmegaConf.select(cfg, "hydra.overrides.task", default=[]) or [])
        params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None) or {}
        lines += [f"{k}={v}" for k, v in params.items()]
        parsed = OverridesParser.create().parse_overrides(lines)
    except Exception:  # noqa: BLE001 - an unreadable multirun.yaml only loses a hint
        return None
    sweep: dict[str, list[str]] = {}
    for o in parsed:
        key = o.get_key_element()
        if key in ("arch", "opt", "seed"):
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.value()]
            sweep[key] = [str(v) for v in values]
    return sweep


# ---------------------------------------------------------------------------------- paths


def load_paths(out_dir: str | Path, finder: str | None = "fourier") -> Records:
    """Every `paths/<arch>/<set>/<landscape>/<finder>/<sig>/pair=<i>-<j>.json` as one row; by
    default only the paper's finder's (`finder=None`: every finder's, for comparing them).

    status: `done` (finite height), `diverged` (non-finite height), `corrupt` (unreadable);
    `expected` lists each pair of each pairs.json with whether its record exists.
    """
    out_dir = Path(out_dir)
    rows, expected, problems, configs = [], [], [], {}
    for arch, set_name, landscape, found_by, sig, land_dir in path_task_dirs(out_dir):
        if finder is not None and found_by != finder:
            continue
        key = {
            "arch": arch,
            "set": set_name,
            "landscape": landscape,
            "finder": found_by,
            "sig": sig,
        }
        have = set()
        for f in sorted(land_dir.glob("pair=*.json")):
            m = PAIR_FILE.match(f.name)
            if m is None:
                continue
            i, j = int(m.group(1)), int(m.group(2))
            have.add((i, j))
            row = key | {"i": i, "j": j, "file": str(f)}
            try:
                rec = read_json(f)
                row |= path_row(rec)
                configs.setdefault((arch, set_name, sig), rec.get("config") or {})
            except Exception as e:  # noqa: BLE001 - any bad record is named and skipped
                row |= {"status": "corrupt", "detail": str(e)}
                problems.append(Problem(str(f), reason(e)))
            rows.append(row)
        pairs_file = land_dir / PAIRS_FILE
        if pairs_file.exists():
            try:
                pairs = pair_list(json.loads(pairs_file.read_text()))
            except Exception as e:  # noqa: BLE001
                problems.append(Problem(str(pairs_file), reason(e)))
                pairs = []
            expected += [key | {"i": i, "j": j, "present": (i, j) in have} for i, j in pairs]
    table = pd.DataFrame(rows, columns=PATH_COLUMNS)
    table = table.sort_values(["arch", "set", "landscape", "i", "j"], ignore_index=True)
    columns = ["arch", "set", "landscape", "finder", "sig", "i", "j", "present"]
    exp = pd.DataFrame(expected, columns=columns)
    return Records(table=table, problems=problems, expected=exp, configs=configs)


def path_row(rec: dict[str, Any]) -> dict[str, Any]:
    height = float(rec["height"])
    return {
        "seed_i": rec.get("seed_i"),
        "seed_j": rec.get("seed_j"),
        "status": "done" if math.isfinite(height) else "diverged",
        "height": height,
        "straight_height": float(rec.get("straight_height", np.nan)),
        "higher_end": higher_end(rec.get("profile")),
        "length": float(rec.get("length", np.nan)),
        "straight_length": float(rec.get("straight_length", np.nan)),
        "steps": rec.get("steps"),
        "best_step": rec.get("best_step"),
        "converged": rec.get("converged"),  # None: a record from before the stopping rule
        "best_objective": rec.get("best_objective"),
        "wall_seconds": rec.get("wall_seconds"),
        "device": rec.get("device"),
        "n_select": (rec.get("config") or {}).get("n_select"),
        "train_sig": rec.get("train_sig"),
        "set_hash": (rec.get("inputs") or {}).get("set"),
        "code": code_label(rec.get("code")),
        "detail": "",
    }


def higher_end(profile: list[float] | None) -> float:
    """The loss of the path's higher endpoint (its profile's first or last point; NaN without
    a profile): the height minus it is the barrier above the endpoints (report.claims)."""
    return float(max(profile[0], profile[-1])) if profile else math.nan


def pair_list(obj: Any) -> list[tuple[int, int]]:
    """pairs.json: a list of [i, j], or an object holding one under `pairs`."""
    if isinstance(obj, dict):
        obj = obj["pairs"]
    return [(int(p[0]), int(p[1])) for p in obj]


def reason(e: Exception) -> str:
    """One line: what is wrong with the record."""
    text = str(e) or type(e).__name__
    if isinstance(e, KeyError):
        text = f"missing field {e}"
    return f"{type(e).__name__}: {text}".splitlines()[0][:300]

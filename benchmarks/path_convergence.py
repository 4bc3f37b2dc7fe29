"""How fast the Fourier finder converges on one committed full-data fcp pair, per setting.

    python benchmarks/path_convergence.py [--out-dir records/fcp-authors] [--set bfgs-train]
        [--pair 0] [--steps 1000] [--eval-every 100] [--max-seconds S] [--images N]
        [--candidate lr=1e-2,images_per_step=5000 ...]

Issue 19 item 3: the cheapest way to converge a path (Adam's rate, images per step, Fourier
terms). The pair is the set's `--pair`-th in its committed pairs.json (the order the path job
drew them); the landscape is the whole training split (`--images` limits it, for a smoke test).
Each candidate is one run of the finder itself (`find_path`, with its `images_per_step`,
`tol`/`window` stopping rule and `eval_every` full-landscape evaluations), the same draw seed
for all; a candidate is a comma-separated list of `find_paths` keywords over the defaults
lr=1e-2, images_per_step=5000 (N_F = 10, M = 50, lambda = 1e-4: the paper's). At every full
evaluation (every `--eval-every` steps) the table records the full-landscape objective, the
height (max of the profile) of the current iterate and the wall seconds since the run began.
With the stopping rule on (`--tol`, default 1% over `--window` 200 steps, the preset's), a run
stops when it converges; `--max-seconds` stops a run at the first evaluation past it.

The summary gives, per candidate, the step and seconds at which the rule held (the objective's
best fell by less than tol over the window) and at which the height came within 5% of the
lowest height any candidate reached. Timings are whatever this machine gives: say its load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from lossland.data import load_split
from lossland.paths.basis_loss import basis_loss_fn
from lossland.paths.finders import fourier
from lossland.study.sets import build_set

DEFAULTS = {"lr": 1e-2, "images_per_step": 5000}
CANDIDATES = ["lr=1e-2", "lr=3e-2", "lr=3e-2,images_per_step=1000", "lr=1e-2,n_fourier=20"]
INTS = {"images_per_step", "points_per_step", "n_fourier", "n_points"}


class Stop(Exception):
    """Raised from the finder's callback: the run's wall-clock budget is spent."""


def parse_candidate(text: str) -> dict:
    """`lr=3e-2,images_per_step=1000` -> find_paths keywords over DEFAULTS ('none': null)."""
    settings = dict(DEFAULTS)
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        key = key.strip()
        if value.strip().lower() in ("none", "null"):
            settings[key] = None
        else:
            settings[key] = int(value) if key in INTS else float(value)
    return settings


@contextlib.contextmanager
def recorded_profiles(store: list[torch.Tensor]) -> Iterator[None]:
    """Keep each full-landscape profile the finder computes (its `full_objective`), so the
    callback, which sees only the objective, can report the height."""
    original = fourier.full_objective

    def recording(*args, **kwargs):
        objective, profile = original(*args, **kwargs)
        store.append(profile.detach())
        return objective, profile

    fourier.full_objective = recording
    try:
        yield
    finally:
        fourier.full_objective = original


def run(loss, w_i, w_j, settings: dict, args: argparse.Namespace) -> dict:
    """One candidate: the finder's checkpoints [(step, seconds, objective, height)] and end."""
    profiles: list[torch.Tensor] = []
    rows: list[tuple[int, float, float, float]] = []
    start = time.perf_counter()

    def callback(k: int, objective: torch.Tensor) -> None:
        seconds = time.perf_counter() - start
        rows.append((k, seconds, float(objective[0]), float(profiles[-1][0].max())))
        print(f"  step {k}: {seconds:.0f} s, L {rows[-1][2]:.4g}, height {rows[-1][3]:.4g}")
        if args.max_seconds is not None and seconds > args.max_seconds and k < args.steps:
            raise Stop

    result = None
    with recorded_profiles(profiles), contextlib.suppress(Stop):
        result = fourier.find_path(
            loss,
            w_i,
            w_j,
            steps=args.steps,
            tol=args.tol,
            window=args.window,
            eval_every=args.eval_every,
            seed=args.seed,
            callback=callback,
            **settings,
        )
    return {
        "rows": rows,
        "converged": None if result is None else result.converged,
        "stopped_by": "time" if result is None else ("rule" if result.converged else "steps"),
        "height": None if result is None else result.height,
    }


def rule_step(rows: list, tol: float, window: int) -> tuple[int, float] | None:
    """The first checkpoint at which the best objective fell by less than tol over window
    steps (the finder's `Stopping` rule), as (step, seconds)."""
    best, seen = float("inf"), []
    for k, seconds, objective, _ in rows:
        best = min(best, objective)
        seen.append((k, best))
        before = [b for s, b in seen if s <= k - window]
        if before and (before[-1] - best) / abs(before[-1]) < tol:
            return k, seconds
    return None


def at(hit: tuple[int, float] | None) -> str:
    return "not reached" if hit is None else f"{hit[0]}, {hit[1]:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default="records/fcp-authors")
    parser.add_argument("--set", default="bfgs-train")
    parser.add_argument("--n-select", type=int, default=5)
    parser.add_argument("--n-runs", type=int, default=8)
    parser.add_argument("--pair", type=int, default=0, help="index in the set's pairs.json")
    parser.add_argument("--root", default="outputs/data")
    parser.add_argument("--images", type=int, default=None, help="landscape size (all: null)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-2)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=None, help="per candidate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-chunk", type=int, default=5000)
    parser.add_argument("--point-chunk", type=int, default=10)
    parser.add_argument("--candidate", action="append", help=f"default: {CANDIDATES}")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    solution = build_set(args.out_dir, "fcp", args.set, args.n_select, args.n_runs, write=False)
    pairs_files = sorted(
        Path(args.out_dir, "paths/fcp", args.set, "train/fourier").glob("*/pairs.json")
    )
    drawn = json.loads(pairs_files[0].read_text())
    if drawn["seeds"] != solution.seeds:
        raise SystemExit(f"{pairs_files[0]} was drawn for other runs than the set's")
    i, j = drawn["pairs"][args.pair]
    split = load_split(args.root, "train", "cpu", args.images)
    loss = basis_loss_fn("fcp", solution.act, split.x, split.y, args.image_chunk, args.point_chunk)
    weights = torch.from_numpy(solution.weights)
    print(
        f"fcp {args.set} pair {i}-{j} ({pairs_files[0]}), {len(split.y)} images, "
        f"{torch.get_num_threads()} thread(s)"
    )

    results = {}
    for text in args.candidate or CANDIDATES:
        settings = parse_candidate(text)
        print(f"{text}: {settings}")
        results[text] = run(loss, weights[i], weights[j], settings, args)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))

    lowest = min(r[3] for res in results.values() for r in res["rows"])
    print("\n| setting | step | seconds | objective | height |\n|---|---:|---:|---:|---:|")
    for text, res in results.items():
        for k, seconds, objective, height in res["rows"]:
            print(f"| {text} | {k} | {seconds:.0f} | {objective:.4g} | {height:.4g} |")
    print(
        f"\n| setting | stopped by | rule ({args.tol:g} over {args.window}): step, s "
        f"| height within 5% of {lowest:.4g}: step, s | s/step | last height |"
        "\n|---|---|---|---|---:|---:|"
    )
    for text, res in results.items():
        rows = res["rows"]
        rule = rule_step(rows, args.tol, args.window)
        near = next(((k, s) for k, s, _, h in rows if h <= 1.05 * lowest), None)
        per_step = rows[-1][1] / max(rows[-1][0], 1)
        print(
            f"| {text} | {res['stopped_by']} | {at(rule)} | {at(near)} | {per_step:.2f} "
            f"| {rows[-1][3]:.4g} |"
        )


if __name__ == "__main__":
    main()

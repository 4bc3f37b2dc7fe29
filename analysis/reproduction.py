"""`python analysis/reproduction.py [root=records] [page=docs/reproduction.md]`

How close is lossland to the paper? Reads the committed full-data records that
jobs/reproduce_fcp_cpu.sh and jobs/reproduce_ae_cpu.sh write (one out_dir per net and L-BFGS-GSS
variant; a net's SGD runs shared by its variants) and writes one Markdown page: per net, Table 1
and Table S1 beside the paper's, Fig. 4 medians with the test whose unit is the solution, Fig. 5
distances, Fig. 6 separation, the L-BFGS diagnostics, the paper's claims judged by
lossland.report.claims (the words of the report's findings), and every committed record with n.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from aligned_fcp import section as aligned_section  # analysis/, beside this script
from path_validation import section as path_modes_section

from lossland.core import storage
from lossland.report import claims, stats
from lossland.report.records import load_paths, load_runs
from lossland.report.sets import load_sets
from lossland.report.tables import PAPER_TABLE1, PAPER_TABLE_S1
from lossland.report.types import LoadedSet
from lossland.study.design import load_study

PAPER = load_study("paper")  # its sets, height tests and weight-space comparisons

VARIANTS = {  # out_dir under root -> what it is
    "fcp-spec": "L-BFGS-GSS, the spec golden section search (opt.line_search=spec), float32",
    "fcp-authors": "L-BFGS-GSS, the authors' line search (opt=lbfgs, the default), float32",
    "fcp-spec-float64": "L-BFGS-GSS, the spec search, precision=float64 (opt.line_search=spec)",
    "ae-authors": "L-BFGS-GSS, the authors' line search (opt=lbfgs, the default), float32",
}
NETS = {  # net -> (title, the out_dir holding its SGD runs, the job that writes its records)
    "fcp": ("FCP", "fcp-spec", "jobs/reproduce_fcp_cpu.sh"),
    "ae": ("Autoencoder", "ae-authors", "jobs/reproduce_ae_cpu.sh"),
}


def arch_of(variant: str) -> str:
    return variant.split("-", 1)[0]


SELECT = 48 / 75  # the paper keeps the 48 of 75 runs of lowest train loss


@dataclass
class Runs:
    """One net's runs of one optimizer in one out_dir as the report loads them
    (lossland.report.records.load_runs: the full-data ones unless full_only is off), and their
    sets as the report selects them (lossland.report.sets.load_sets), of the round(48/75 n)
    finished runs of lowest train loss."""

    table: pd.DataFrame  # every run (any status), by seed
    curves: pd.DataFrame  # their loss curves, long (lossland.report.records.CURVE_COLUMNS)
    diagnostics: dict[tuple[str, int], dict]  # (sig, seed) -> the optimizer's (L-BFGS-GSS)
    sets: dict[tuple[str, str], LoadedSet]  # (arch, set name) -> this optimizer's sets
    precision: str

    @property
    def done(self) -> pd.DataFrame:
        return self.table[self.table.status == "done"]

    @property
    def selected(self) -> pd.DataFrame:
        """The runs the sets hold (every set of one optimizer holds the same), best first."""
        seeds = next(iter(self.sets.values())).seeds if self.sets else []
        return self.done.set_index("seed").loc[seeds].reset_index()

    def diagnosed(self) -> list[tuple[pd.Series, dict]]:
        """The finished runs with their optimizer's diagnostics (runs that have them)."""
        done = (r for _, r in self.done.iterrows())
        return [(r, d) for r in done if (d := self.diagnostics.get((r.sig, r.seed)))]

    def curve(self, run: pd.Series, split: str) -> list[float]:
        c = self.curves
        c = c[(c.sig == run.sig) & (c.seed == run.seed) & (c.split == split)]
        return c.sort_values("epoch").loss.tolist()


def runs(out_dir: Path, opt: str, net: str = "fcp", full_only: bool = True) -> Runs:
    """One net's runs of one optimizer under out_dir, and the sets of its finished runs."""
    recs = load_runs(out_dir)
    t = recs.table
    mine = t[(t.arch == net) & (t.opt == opt)]
    if full_only:
        mine = mine[mine.n_train.isna()]
    mine = mine.sort_values("seed", ignore_index=True)
    sigs = sorted(set(mine.sig))
    c = recs.curves
    curves = c[(c.arch == net) & (c.opt == opt) & c.sig.isin(sigs)]
    n_done = int((mine.status == "done").sum())
    sets: dict[tuple[str, str], LoadedSet] = {}
    if n_done:
        pin = {(net, opt): sigs[0]} if len(sigs) == 1 else None  # the full-data config
        found, _ = load_sets(out_dir, [net], PAPER, max(1, round(SELECT * n_done)), pin)
        sets = {k: v for k, v in found.items() if PAPER.sets[k[1]].opt == opt}
    diagnostics = {k[2:]: d for k, d in recs.diagnostics.items() if k[:2] == (net, opt)}
    config = recs.configs.get((net, opt, sigs[0]), {}) if sigs else {}
    precision = config.get("precision", "float32")
    return Runs(mine, curves, diagnostics, sets, precision)


def e(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2e}"


def md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(map(str, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def readable(tests: pd.DataFrame) -> pd.DataFrame:
    """Numbers to 3-4 significant digits, intervals as [low, high]."""
    out = tests.copy()
    for col in out.columns:
        if col.endswith("_ci"):
            out[col] = [f"[{lo:.3g}, {hi:.3g}]" for lo, hi in out[col]]
        elif out[col].dtype.kind == "f":
            out[col] = [f"{x:.4g}" for x in out[col]]
    return out


def run_table(recs: Runs) -> str:
    rows = []
    for r in recs.done.itertuples():
        d = recs.diagnostics.get((r.sig, r.seed), {})
        rows.append(
            {
                "seed": r.seed,
                "min train loss (epoch)": f"{e(r.min_train_loss)} ({int(r.w_train_epoch)})",
                "test loss at w_test (epoch)": f"{r.test_loss_at_w_test:.4f} "
                f"({int(r.w_test_epoch)})",
                "last decrease": d.get("last_decrease_iter", ""),
                "failed searches": d.get("n_failed", ""),
                "resets": d.get("n_resets", ""),
                "evaluations": d.get("n_evals", ""),
                "last step": e(d["last_step"]) if d else "",
                "s/epoch (noisy)": f"{r.seconds_per_epoch:.2f}",
            }
        )
    return md_table(pd.DataFrame(rows))


def variant_section(
    root: Path, name: str, sgd: Runs, lines: list[str], full_only: bool = True
) -> dict:
    """Tables and tests of one variant; returns the numbers the default's choice needs."""
    out_dir, arch = root / name, arch_of(name)
    title = NETS[arch][0]
    bfgs = runs(out_dir, "lbfgs", arch, full_only)
    n_b, n_s = len(bfgs.done), len(sgd.done)
    lines += [f"### {title}: {VARIANTS[name]}", "", f"Records: `{out_dir}/train/{arch}/`.", ""]
    if not n_b:
        lines += ["No finished full-data run yet.", ""]
        return {}
    sel_b, sel_s = bfgs.selected, sgd.selected
    lines += [f"L-BFGS-GSS runs (n = {n_b}):", "", run_table(bfgs), ""]
    out: dict = {"n_b": n_b}

    p1 = PAPER_TABLE1[arch]
    tr_b = np.mean(sel_b.min_train_loss.to_numpy(float))
    te_b = np.mean(sel_b.test_loss_at_w_test.to_numpy(float))
    tr_s = np.mean(sel_s.min_train_loss.to_numpy(float)) if len(sel_s) else math.nan
    te_s = np.mean(sel_s.test_loss_at_w_test.to_numpy(float)) if len(sel_s) else math.nan
    t1 = pd.DataFrame(
        [
            ["ours", e(tr_b), e(tr_s), e(te_b), e(te_s), f"{len(sel_b)} of {n_b}",
             f"{len(sel_s)} of {n_s}"],
            ["paper", e(p1[0]), e(p1[1]), e(p1[2]), e(p1[3]), "48 of 75", "48 of 75"],
        ],
        columns=[title, "train L-BFGS", "train SGD", "test L-BFGS", "test SGD", "n L-BFGS",
                 "n SGD"],
    )  # fmt: skip
    score = abs(math.log10(tr_b / p1[0])) + abs(math.log10(te_b / p1[2]))
    out["score"] = score
    lines += [
        "Table 1 (mean min train loss of the train set, mean test loss at w_test of the test "
        "set, over the selected runs; the claims below test the same runs):",
        "",
        md_table(t1),
        "",
        f"Distance to the paper's L-BFGS row: |log10 ratio| train + test = {score:.2f} "
        "(0 = identical; used to choose the default line search).",
        "",
    ]
    if not len(sel_s):
        return out
    loaded = sgd.sets | bfgs.sets
    sets = {n: loaded[(arch, n)].weights.astype(np.float64) for n in PAPER.table_s1}
    ours = [v for name in sets for v in stats.weight_stats(sets[name])]
    s1 = pd.DataFrame(
        [["ours", *map(e, ours)], ["paper", *map(e, PAPER_TABLE_S1[arch])]],
        columns=[title, "train SGD mu", "sigma", "train L-BFGS mu", "sigma", "test SGD mu",
                 "sigma", "test L-BFGS mu", "sigma"],
    )  # fmt: skip
    lines += ["Table S1 (mean and std of the concatenated vectors of each set):", "",
              md_table(s1), ""]  # fmt: skip

    rows = []
    for label, c in zip(("Fig. 5", "Fig. S3"), PAPER.weight_comparisons, strict=True):
        a_name, b_name = c.a, c.b
        a, b = sets[a_name], sets[b_name]
        ln = stats.lengths(a, b)
        proj = stats.project(a, b)
        kpca = stats.separation_test(proj.kpca, proj.labels)
        pca = stats.separation_test(proj.pca, proj.labels)
        rows.append(
            {
                "figure": label,
                "sets": f"{a_name} vs {b_name}",
                "n": f"{len(a)} + {len(b)}",
                "median distance BFGS": f"{np.median(ln.a):.2f}",
                "median distance SGD": f"{np.median(ln.b):.2f}",
                "centroid distance": f"{ln.centroid_distance:.2f}",
                "P(BFGS longer)": f"{stats.superiority(ln.a, ln.b):.2f}",
                "kPCA separation (Fig. 6)": f"{kpca[0]:.2f} (p = {kpca[1]:.2g})",
                "PCA separation": f"{pca[0]:.2f} (p = {pca[1]:.2g})",
            }
        )
    lines += [
        "Fig. 5 / S3 (distances from the midpoint of the two centroids) and Fig. 6 / S4 "
        "(cross-validated accuracy of a linear classifier on PC1-PC2; 0.5 = chance, NaN when a "
        f"set has fewer than 2 vectors; p: the share of {stats.SEPARATION_PERMUTATIONS} label "
        "permutations that separate as well):",
        "",
        md_table(pd.DataFrame(rows)),
        "",
    ]

    paths = all_paths(root, name)
    if paths.empty or not (paths.status == "done").any():
        lines += ["Fig. 4 (path heights): no path records yet (n = 0).", ""]
        return out
    med = stats.height_medians(paths)
    tests = stats.solution_height_tests(paths, PAPER.height_tests)
    lines += [path_finders(paths), "", "Fig. 4 medians:", "", md_table(med.round(5)), ""]
    if tests.empty:
        lines += ["BFGS vs SGD heights: no landscape has paths of both sets yet.", ""]
        return out
    lines += ["BFGS vs SGD heights, the solution as the unit (two-sided permutation p; "
              "p_paths_descriptive: the Mann-Whitney test over paths, descriptive only; "
              "intervals: 95% bootstrap over solutions):", "", md_table(readable(tests)),
              ""]  # fmt: skip
    return out


def all_paths(root: Path, name: str) -> pd.DataFrame:
    """One variant's path records: its L-BFGS-GSS sets' from its out_dir, the SGD sets' from
    the net's SGD out_dir (never another variant's L-BFGS-GSS paths)."""
    arch = arch_of(name)
    found = []
    for d, opt in ((root / name, "lbfgs"), (root / NETS[arch][1], "sgd")):
        t = load_paths(d).table
        prefix = PAPER.optimizers[opt].label
        found.append(t[(t.arch == arch) & t.set.str.startswith(f"{prefix}-")])
    paths = pd.concat([t for t in found if not t.empty] or found[:1], ignore_index=True)
    return paths.astype({"height": float, "higher_end": float})


MEMORY_ONLY = ("_target_", "name", "image_chunk", "point_chunk", "pairs_per_batch")


def path_finders(paths: pd.DataFrame) -> str:
    """Which finder settings made the path records (those that change results; a faster
    path mode shows as its own setting)."""
    kinds: dict[str, int] = {}
    fast = False
    for f in paths.file.dropna():
        finder = (storage.read_json(Path(f)).get("config") or {}).get("finder") or {}
        fast |= finder.get("images_per_step") is not None
        shown = ", ".join(f"{k} {v}" for k, v in finder.items() if k not in MEMORY_ONLY)
        key = f"{finder.get('name', '?')} ({shown})"
        kinds[key] = kinds.get(key, 0) + 1
    line = "Path records by finder: " + "; ".join(f"{k}: n = {n}" for k, n in kinds.items())
    if fast:
        line += (
            ". These paths were found in the **fast mode** (`preset=fast_paths`, random images "
            "per step), not the paper's full batch: on the full-data fcp pairs its heights were "
            "a median 3.7% higher than full batch with every Fig. 4 verdict kept, short of the "
            "3% the default needs (section 'Fast and converged paths')."
        )
    return line


def net_evidence(root: Path, name: str, full_only: bool = True) -> claims.Evidence:
    """The claims' evidence of one variant: its L-BFGS-GSS runs, the net's SGD runs, the
    selected round(48/75 n) of each (the runs Table 1 averages), their sets and paths."""
    arch = arch_of(name)
    dirs = {"lbfgs": root / name, "sgd": root / NETS[arch][1]}
    found = [runs(d, opt, arch, full_only) for opt, d in dirs.items()]
    sets = {k: v for r in found for k, v in r.sets.items()}
    tables, curves = (pd.concat([getattr(r, f) for r in found]) for f in ("table", "curves"))
    return claims.evidence(arch, tables, curves, sets, all_paths(root, name))


def claims_lines(root: Path, name: str, full_only: bool = True) -> list[str]:
    """One variant's claims (lossland.report.claims: the words of the report's findings)."""
    ev = net_evidence(root, name, full_only)
    if ev.runs["lbfgs"].empty:
        return ["Not testable: no L-BFGS-GSS run (n = 0)."]
    return [f"Runs and paths judged: {claims.summary(ev)}.", "",
            md_table(claims.table(claims.judge(ev)))]  # fmt: skip


def curves_figure(
    root: Path, page: Path, sgd: Runs, arch: str = "fcp", full_only: bool = True
) -> list[str]:
    """Fig. 2's (S1's) panel of one net for our runs: train and test loss per epoch, every run,
    log scale."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    colors = ("C0", "C2", "C4")
    styles = dict(zip([n for n in VARIANTS if arch_of(n) == arch], colors, strict=False))
    drawn = False
    for name, color in styles.items():
        bfgs = runs(root / name, "lbfgs", arch, full_only)
        for k, (_, run) in enumerate(bfgs.done.iterrows()):
            for ax, split in zip(axes, ("train", "test"), strict=True):
                ax.plot(bfgs.curve(run, split), color=color, lw=1, label=None if k else name)
            drawn = True
    for k, (_, run) in enumerate(sgd.done.iterrows()):
        for ax, split in zip(axes, ("train", "test"), strict=True):
            ax.plot(sgd.curve(run, split), color="C3", lw=1, label=None if k else "SGD")
    if not (drawn or len(sgd.done)):
        return []
    for ax, split, paper in zip(axes, ("train", "test"), ((0, 1), (2, 3)), strict=True):
        for i, ls in zip(paper, ("--", ":"), strict=True):
            ax.axhline(PAPER_TABLE1[arch][i], color="k", ls=ls, lw=0.8)
        ax.set(yscale="log", xscale="symlog", xlim=(0, None), xlabel="epoch (L-BFGS: iteration)",
               ylabel=f"{split} loss", title=f"{arch}, full data: {split} loss")  # fmt: skip
    axes[0].legend(title="dashed: paper L-BFGS, dotted: paper SGD", fontsize=8)
    file = "reproduction_curves.png" if arch == "fcp" else f"reproduction_curves_{arch}.png"
    out = page.parent / "figures" / file  # docs/ holds prose and figures
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    return [f"![loss curves]({Path(os.path.relpath(out, page.parent)).as_posix()})", ""]


def precision_section(root: Path) -> list[str]:
    """analysis/precision_check.py's result: float32 vs float64 from the same frozen point."""
    lines = ["## Does float32 stop L-BFGS-GSS early?", ""]
    found = sorted(root.glob("*/precision_check.json"))
    if not found:
        return lines + ["Not measured yet (`python analysis/precision_check.py`).", ""]
    for path in found:
        r = storage.read_json(path)
        d = r.get("run_lbfgs") or {}
        lines += [
            f"`{r['run']}` ({r['line_search']} search): its lowest train loss "
            f"{e(r['run_min_train_loss'])} at iteration {r['run_w_train_epoch']}; the last "
            f"iteration that lowered the loss: {d.get('last_decrease_iter', 'n/a')}, failed "
            f"searches: {d.get('n_failed', 'n/a')} of {d.get('n_iter', 'n/a')}. From its "
            f"w_train, {r['iters']} more iterations with an empty history:",
            "",
            md_table(
                pd.DataFrame(
                    [
                        [
                            c["dtype"],
                            e(c["start_loss"]),
                            e(c["min_loss"]),
                            c["last_decrease_iter"],
                            c["n_failed"],
                            f"{c['seconds']:.0f}",
                        ]
                        for c in r["continued"]
                    ],
                    columns=[
                        "dtype",
                        "loss at start",
                        "lowest loss",
                        "last decrease",
                        "failed searches",
                        "seconds (noisy)",
                    ],
                )  # fmt: skip
            ),
            "",
        ]
    return lines


FROZEN = 0.9  # a run froze when its loss last fell before this fraction of its budget


def whole_runs_section(root: Path, full_only: bool = True) -> list[str]:
    """Whole runs per variant: does float32 leave iterations unused (the loss frozen)?"""
    rows, summary = [], {}
    for name in VARIANTS:
        found = runs(root / name, "lbfgs", arch_of(name), full_only)
        diagnosed = found.diagnosed()
        diags = [d for _, d in diagnosed]
        if not diags:
            continue
        lowest = float(np.median([r.min_train_loss for r, _ in diagnosed]))
        last = float(np.median([d["last_decrease_iter"] / d["n_iter"] for d in diags]))
        failed = np.median([d["n_failed"] / d["n_iter"] for d in diags])
        summary[name] = (lowest, last, len(diags))
        rows.append(
            {
                "variant": name,
                "precision": found.precision,
                "n": len(diags),
                "median lowest train loss": e(lowest),
                "median last decrease (share of budget)": f"{last:.2f}",
                "median failed searches (share)": f"{failed:.2f}",
                "froze early": "yes" if last < FROZEN else "no",
            }
        )
    if not rows:
        return []
    lines = [
        f"Whole full-data runs (a run froze early when its loss last fell before "
        f"{FROZEN:.0%} of its iterations):",
        "",
        md_table(pd.DataFrame(rows)),
        "",
    ]
    for name, (lowest, last, _) in summary.items():
        paper = PAPER_TABLE1[arch_of(name)][0]
        if name.endswith("float64"):
            continue
        if last >= FROZEN:
            lines.append(f"- {name}: float32 does not stop this search early (its loss "
                         f"last falls at {last:.0%} of the budget); float64 is not needed "
                         "for it.")  # fmt: skip
            continue
        text = (f"- {name}: float32 stops this search early (its loss last falls at {last:.0%} "
                f"of the budget, at {e(lowest)}); ")  # fmt: skip
        if f"{name}-float64" not in summary:
            lines.append(text + "the float64 run has not finished yet.")
            continue
        low64, last64, n64 = summary[f"{name}-float64"]
        lines.append(
            text + f"in float64 the same search goes on to {e(low64)} (n = {n64}) and stops "
            f"in turn at {last64:.0%}. The paper's mean is {e(paper)}: float64 takes this "
            + ("search closer to it." if abs(math.log10(low64 / paper))
               < abs(math.log10(lowest / paper)) else "search further from it.")
        )  # fmt: skip
    return lines + [""]


def inventory(root: Path) -> list[str]:
    """Every committed record under root, with n: runs per out_dir, net, optimizer and config
    (done of found), path records per out_dir, net, set and landscape."""
    rows = []
    for d in sorted({p.parents[5] for p in root.glob("**/train/*/*/*/seed=*/result.json")}):
        t = load_runs(d).table
        for (arch, opt, sig), g in t.groupby(["arch", "opt", "sig"]):
            n_train = g.n_train.dropna().unique()
            rows.append([d.relative_to(root).as_posix(), "runs", f"{arch}/{opt}/{sig}",
                         "full" if not len(n_train) else f"{int(n_train[0])} images",
                         f"{int((g.status == 'done').sum())} done of {len(g)}"])  # fmt: skip
        p = load_paths(d, finder=None).table
        for (arch, set_name, land, finder), g in p.groupby(["arch", "set", "landscape", "finder"]):
            rows.append([d.relative_to(root).as_posix(), "paths",
                         f"{arch}/{set_name}/{land} landscape/{finder}", "",
                         f"{int((g.status == 'done').sum())} done of {len(g)}"])  # fmt: skip
    if not rows:
        return []
    table = pd.DataFrame(rows, columns=["out_dir", "kind", "what", "data", "n"])
    return ["## Every committed record", "",
            f"Under `{root.as_posix()}/` (the sections above use the full-data ones):", "",
            md_table(table), ""]  # fmt: skip


def main(argv: list[str]) -> None:
    settings = dict(a.split("=", 1) for a in argv if "=" in a)
    full_only = settings.get("full_only", "true") != "false"  # the tests' records are small
    root = Path(settings.get("root", "records"))
    page = Path(settings.get("page", "docs/reproduction.md"))
    lines = [
        "# How close is lossland to the paper? fcp and the autoencoder at full data on a CPU",
        "",
        "Generated by `python analysis/reproduction.py` from the records that "
        "`jobs/reproduce_fcp_cpu.sh` and `jobs/reproduce_ae_cpu.sh` commit under "
        f"`{root.as_posix()}/` (50,000 training images, 1,000 L-BFGS-GSS iterations, SGD as in "
        "conf/opt/sgd.yaml, CPU, 1 thread, a machine shared with other jobs: timings are "
        "noisy). Rerun a job to resume its study; rerun this to refresh the page. The paper's "
        "means are over 48 of 75 runs; ours over the round(48/75 n) runs of lowest train loss "
        "of the n that finished, and the claims test those same runs.",
        "",
    ]
    found = {}
    for arch, (title, sgd_dir, job) in NETS.items():
        sgd = runs(root / sgd_dir, "sgd", arch, full_only)
        lines += [f"## {title} ({arch})", "", f"Records: `{job}`.", "",
                  f"SGD runs (n = {len(sgd.done)}, shared by every {arch} variant):", "",
                  run_table(sgd) if len(sgd.done) else "none yet", ""]  # fmt: skip
        for name in (n for n in VARIANTS if arch_of(n) == arch):
            found[name] = variant_section(root, name, sgd, lines, full_only)
        lines += curves_figure(root, page, sgd, arch, full_only)
    lines += precision_section(root)
    lines += whole_runs_section(root, full_only)
    lines += aligned_section(root, Path(settings.get("aligned", "records/fcp-aligned")))
    lines += path_modes_section(root, root / "fcp-modes")  # issue 19
    lines += [
        "## The paper's claims, judged",
        "",
        "The same words as the report's findings (`lossland/report/claims.py`; "
        "[the report](report.md)). One row per distinct claim, quoting where the paper makes "
        "it. Tests are one-sided in the paper's direction, over runs or solutions (never "
        f"paths); Holm's correction over the tested claims of each variant at {claims.ALPHA}. "
        "Verdicts: reproduced (corrected p below it, direction holds); consistent, "
        "underpowered (the direction holds but even the smallest p this n allows would not "
        "pass Holm); consistent, not significant (it could have, and did not); not "
        "reproduced (the direction does not hold); descriptive (a threshold or a claim of no "
        "effect, outside the family); not testable here (and why). Declared before looking: "
        f"comparable = a test-loss ratio within [1/{claims.COMPARABLE}, {claims.COMPARABLE}] "
        "(the widest gap the paper calls comparable is LSTM's, 1.21); a sharp rise = a test "
        f"curve ending more than {claims.SHARP_RISE:.0%} above its minimum; a small centroid "
        f"distance = under {claims.SMALL_CENTROID} of the median vector length. Barriers are "
        "judged above the endpoints (height minus the higher endpoint's loss), the height "
        "beside them, so a path whose maximum is an endpoint shows as such.",
        "",
    ]
    for name in VARIANTS:
        lines += [f"### {NETS[arch_of(name)][0]}: {VARIANTS[name]}", "",
                  *claims_lines(root, name, full_only), ""]  # fmt: skip
    scored = {k: v["score"] for k, v in found.items() if v and v["n_b"] >= 2 and "score" in v}
    lines += ["## Which line search is the default", ""]
    if {"fcp-spec", "fcp-authors"} <= scored.keys():
        best = min(("fcp-spec", "fcp-authors"), key=scored.get)
        lines.append(
            f"Closer to the paper's L-BFGS row (fcp): {VARIANTS[best]} (distances: spec "
            f"{scored['fcp-spec']:.2f}, authors {scored['fcp-authors']:.2f})."
        )
    else:
        lines.append("Not measured yet: needs at least 2 full-data seeds of each variant.")
    lines += ["", *inventory(root)]
    storage.write_bytes(page, ("\n".join(lines) + "\n").encode())
    print(f"wrote {page}")


if __name__ == "__main__":
    main(sys.argv[1:])

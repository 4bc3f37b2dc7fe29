"""Table 1 and Table S1, laid out like the paper, with the paper's values on the row below ours.

Their columns follow the study (one per optimizer, one pair per Table S1 set) and their rows the
nets with records; the paper's values fill the cells it has, the others show a dash."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from lossland.core.storage import write_bytes
from lossland.nets import archs as arch_registry
from lossland.report.sets import LoadedSet
from lossland.report.stats import weight_stats
from lossland.study.design import Study

# Paper Table 1: mean min train loss (train set) and mean test loss (test set) of 48 runs.
PAPER_TABLE1 = {  # arch: (train L-BFGS, train SGD, test L-BFGS, test SGD, N_prm)
    "fcp": (1.26e-08, 6.21e-04, 9.69e-02, 8.25e-02, 42200),
    "lenet": (3.35e-08, 1.76e-05, 4.17e-02, 3.89e-02, 61706),
    "ae": (1.69e-02, 4.57e-02, 1.65e-02, 4.52e-02, 52224),
    "lstm": (1.63e-06, 1.35e-02, 1.55e-01, 1.28e-01, 15456),
}
# Paper Table S1: (mu, sigma) of train SGD, train L-BFGS, test SGD, test L-BFGS.
PAPER_TABLE_S1 = {
    "fcp": (-1.44e-03, 1.39e-01, -2.47e-03, 2.34e-01, -3.17e-03, 1.03e-01, -4.11e-03, 1.22e-01),
    "lenet": (-3.57e-03, 8.77e-02, 1.04e-03, 1.08e-01, -2.83e-03, 7.06e-02, 2.33e-04, 8.00e-02),
    "ae": (-7.06e-03, 8.54e-02, -3.65e-02, 1.60e-01, -7.07e-03, 8.54e-02, -3.65e-02, 1.61e-01),
    "lstm": (1.35e-02, 3.24e-01, 1.06e-02, 7.33e-01, 1.16e-02, 2.59e-01, 2.92e-03, 4.76e-01),
}
PAPER_OPT_COLUMNS = {"lbfgs": ("L-BFGS", "L-BFGS-GSS"), "sgd": ("SGD", "SGD")}  # Table 1, S1
PAPER_N = 48  # runs behind each of the paper's means
TABLE1_COLUMNS = ["train L-BFGS", "train SGD", "test L-BFGS", "test SGD", "N_prm"]
TABLE_S1_COLUMNS = [  # the paper's Table S1 columns, in its order
    f"{split} {opt} {stat}"
    for split in ("train", "test")
    for opt in ("SGD", "L-BFGS-GSS")
    for stat in ("mu", "sigma")
]


def paper_table1(arch: str) -> dict[str, float]:
    """The paper's Table 1 row of `arch` by column ({} for a net the paper lacks)."""
    return (
        dict(zip(TABLE1_COLUMNS, PAPER_TABLE1[arch], strict=True)) if arch in PAPER_TABLE1 else {}
    )


def paper_table_s1(arch: str) -> dict[str, float]:
    """The paper's Table S1 row of `arch` by column ({} for a net the paper lacks)."""
    row = PAPER_TABLE_S1.get(arch)
    return dict(zip(TABLE_S1_COLUMNS, row, strict=True)) if row else {}


def registered_n_prm(arch: str) -> int | None:
    """N_prm of a registered net; None for records of a net this install does not know."""
    return arch_registry.get(arch).n_prm if arch in arch_registry.names() else None


def table1(
    runs: pd.DataFrame, sets: dict[tuple[str, str], LoadedSet], study: Study, archs: list[str]
) -> pd.DataFrame:
    """Per arch: ours (mean over the selected runs) then the paper's row (NaN, shown as a dash,
    where the paper has no value: another net or optimizer).

    train = mean min_train_loss of the runs in each optimizer's train set; test = mean test
    loss at w_test (the test set's vectors) of the same runs; n = runs averaged, per optimizer.
    """
    # a diverged run may be in a set (ranked last, when too few converged): count it too
    done = runs[runs.status.isin(["done", "diverged"])].set_index(["arch", "opt", "seed"])
    titles = {opt: study.opt_title(opt) for opt in study.optimizers}
    metric_cols = [f"{split} {t}" for split in ("train", "test") for t in titles.values()]
    rows = []
    for arch in archs:
        ours: dict[str, object] = {"NN": study.net_title(arch), "source": "ours"}
        paper_values = paper_table1(arch)
        paper: dict[str, object] = {"NN": study.net_title(arch), "source": "paper"}
        for opt, title in titles.items():
            s = sets.get((arch, study.set_name(opt, study.representative)))
            sel = done.loc[[(arch, opt, seed) for seed in s.seeds]] if s else done.iloc[:0]
            ours[f"train {title}"] = sel.min_train_loss.mean() if len(sel) else math.nan
            ours[f"test {title}"] = sel.test_loss_at_w_test.mean() if len(sel) else math.nan
            ours[f"n {title}"] = len(sel)
            paper_title = PAPER_OPT_COLUMNS.get(opt, (None,))[0]
            for split in ("train", "test"):
                paper[f"{split} {title}"] = paper_values.get(f"{split} {paper_title}", math.nan)
            paper[f"n {title}"] = PAPER_N if paper_values and paper_title else None
        n_prm = [s.n_prm for (a, _), s in sets.items() if a == arch]
        ours["N_prm"] = n_prm[0] if n_prm else registered_n_prm(arch)
        paper["N_prm"] = paper_values.get("N_prm")
        rows += [ours, paper]
    counts = [f"n {t}" for t in titles.values()]
    df = pd.DataFrame(rows, columns=["NN", "source", *metric_cols, "N_prm", *counts])
    return df.astype({c: "Int64" for c in [*counts, "N_prm"]})


def table_s1(
    sets: dict[tuple[str, str], LoadedSet], study: Study, archs: list[str]
) -> pd.DataFrame:
    """Per arch: mean and std of each set's concatenated vectors (ours), then the paper's row
    (a dash where the paper has no value); the sets and their order are the study's."""
    names = study.table_s1
    columns, paper_columns = [], []
    for name in names:
        spec = study.sets[name]
        title = study.opt_title(spec.opt, full=True)
        columns += [f"{spec.kind} {title} {stat}" for stat in ("mu", "sigma")]
        paper_title = PAPER_OPT_COLUMNS.get(spec.opt, (None, None))[1]
        paper_columns += [f"{spec.kind} {paper_title} {stat}" for stat in ("mu", "sigma")]
    counts = [f"n {name}" for name in names]
    rows = []
    for arch in archs:
        ours: dict[str, object] = {"NN": study.net_title(arch), "source": "ours"}
        paper_values = paper_table_s1(arch)
        paper: dict[str, object] = {"NN": study.net_title(arch), "source": "paper"}
        for k, name in enumerate(names):
            s = sets.get((arch, name))
            mu, sigma = weight_stats(s.weights) if s else (math.nan, math.nan)
            ours[columns[2 * k]], ours[columns[2 * k + 1]] = mu, sigma
            ours[counts[k]] = len(s.seeds) if s else 0
            for c in (2 * k, 2 * k + 1):
                paper[columns[c]] = paper_values.get(paper_columns[c], math.nan)
            paper[counts[k]] = PAPER_N if paper_values.get(paper_columns[2 * k]) else None
        rows += [ours, paper]
    df = pd.DataFrame(rows, columns=["NN", "source", *columns, *counts])
    return df.astype({c: "Int64" for c in counts})


def fmt(value: object, style: str = "e") -> str:
    """Floats as the paper prints them (style e: 1.26e-08) or short (style g: 0.367, 1.2e-05);
    integers as integers; missing as a dash."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{value:.2e}" if style == "e" else f"{value:.3g}"
    return str(value)


def formatted(df: pd.DataFrame, style: str = "e") -> pd.DataFrame:
    """Every cell as display text (see fmt)."""
    return df.astype(object).map(lambda v: fmt(v, style))


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    text = formatted(df)
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, report_dir: str | Path, name: str) -> list[Path]:
    """<name>.csv (full precision) and <name>.md (formatted like the paper), atomically."""
    report_dir = Path(report_dir)
    csv, md = report_dir / f"{name}.csv", report_dir / f"{name}.md"
    write_bytes(csv, df.to_csv(index=False).encode())
    write_bytes(md, to_markdown(df).encode())
    return [csv, md]

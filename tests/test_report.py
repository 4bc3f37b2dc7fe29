"""The report (analysis/aggregate.py, lossland.report) on a real tiny sweep, plus its numbers.

The sweep fixture trains fcp and lstm with both optimizers on 3 seeds (500 images, 5 epochs)
and joins every pair of each fcp set on both landscapes. MNIST comes
from conftest's mnist_root ($LOSSLAND_DATA_ROOT, default outputs/data, fetched on first use);
the sweep tests skip when it cannot be had.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lossland.core.errors import LosslandError
from lossland.report import build_report
from lossland.report.stats import (
    height_tests,
    lengths,
    longer_fraction,
    project,
    separation_test,
)
from lossland.report.status import seed_ranges
from lossland.report.tables import fmt, to_markdown
from lossland.study.design import load_study

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SEEDS = (0, 1, 2)
TINY = ["dataset.n_train=500", "dataset.n_eval=500"]


@pytest.fixture(scope="session")
def data_root(request) -> Path:
    """MNIST from conftest's mnist_root ($LOSSLAND_DATA_ROOT or outputs/data, fetched once)."""
    try:
        root = Path(request.getfixturevalue("mnist_root"))
    except Exception as e:  # noqa: BLE001 - no data and no way to fetch it: skip, say why
        pytest.skip(f"no MNIST ({e}): set LOSSLAND_DATA_ROOT to a prepared data root")
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST not under {root}: run python -m lossland.data download root={root}")
    return root


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600, **kw
    )


def check(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="session")
def sweep(tmp_path_factory, data_root) -> Path:
    """A real training sweep, then a path sweep over every set and landscape and the toy
    (Fig. 3), into a temp dir."""
    root = data_root
    out = tmp_path_factory.mktemp("sweep")
    common = [f"dataset.root={root}", *TINY, f"out_dir={out}"]
    seeds = ",".join(map(str, SEEDS))
    check(
        run(
            ["-m", "lossland.train", "-m", "arch=fcp,lstm", "opt=sgd,lbfgs", f"seed={seeds}"]
            + ["opt.epochs=5", *common]
        )
    )
    # fcp only: an LSTM path takes about a minute on a CPU
    finder = ["n_select=3", "n_runs=3", "n_pairs=3", "finder.n_points=8", "finder.steps=3"]
    small = [f"dataset.root={root}", "dataset.n_train=200", "dataset.n_eval=200"]
    for sets, landscape in (
        ("bfgs-train,bfgs-test,sgd-train,sgd-test", "train"),
        ("bfgs-test,sgd-test", "test"),
    ):
        check(
            run(
                ["-m", "lossland.paths", "-m", "arch=fcp", f"set={sets}"]
                + [f"landscape={landscape}", *finder, *small, f"out_dir={out}"]
            )
        )
    check(run(["-m", "lossland.paths.toy", f"out={out / 'toy'}"]))  # Fig. 3's records
    return out


def task(out: Path, arch: str, opt: str, seed: int) -> Path:
    """The one task dir of arch/opt/seed (train/<arch>/<opt>/<sig>/seed=<n>)."""
    (found,) = out.glob(f"train/{arch}/{opt}/*/seed={seed}")
    return found


@pytest.fixture(scope="session")
def report(sweep, tmp_path_factory):
    return build_report(sweep, tmp_path_factory.mktemp("report"))


# ---------------------------------------------------------------------- the real sweep


@pytest.mark.slow
def test_report_tables_match_the_records(sweep, report):
    runs = report.runs.table
    assert len(runs) == 12 and set(runs.status) == {"done"}
    assert report.problems == []
    status = report.tables["run_status"].set_index(["arch", "opt"])
    assert (status.expected == 3).all() and (status.done == 3).all()

    t1 = report.tables["table1"].set_index(["NN", "source"])
    for arch, nn in (("fcp", "FCP"), ("lstm", "LSTM")):
        for opt, label in (("lbfgs", "L-BFGS"), ("sgd", "SGD")):
            recs = [
                json.loads((task(sweep, arch, opt, s) / "result.json").read_text()) for s in SEEDS
            ]
            want_train = np.mean([r["min_train_loss"] for r in recs])
            want_test = np.mean([r["test_loss_at_w_test"] for r in recs])
            assert t1.loc[(nn, "ours"), f"train {label}"] == pytest.approx(want_train)
            assert t1.loc[(nn, "ours"), f"test {label}"] == pytest.approx(want_test)
            assert t1.loc[(nn, "ours"), f"n {label}"] == 3
    assert t1.loc[("FCP", "ours"), "N_prm"] == 42200
    assert t1.loc[("LSTM", "ours"), "N_prm"] == 15456
    assert np.isnan(t1.loc[("LeNet", "ours"), "train SGD"])  # not trained: a dash, no crash
    assert t1.loc[("FCP", "paper"), "train L-BFGS"] == 1.26e-08

    s1 = report.tables["table_s1"].set_index(["NN", "source"])
    w = np.stack([np.load(task(sweep, "fcp", "lbfgs", s) / "w_test.npy") for s in SEEDS])
    assert s1.loc[("FCP", "ours"), "test L-BFGS-GSS mu"] == pytest.approx(w.mean(), rel=1e-6)
    assert s1.loc[("FCP", "ours"), "test L-BFGS-GSS sigma"] == pytest.approx(w.std(), rel=1e-6)

    files = {p.name for p in report.report_dir.iterdir()}
    assert {"table1.csv", "table1.md", "table_s1.csv", "table_s1.md", "index.html"} <= files
    assert {"runs.csv", "paths.csv", "curves.csv.gz", "separation.csv"} <= files
    md = (report.report_dir / "table1.md").read_text()
    assert "| FCP | paper | 1.26e-08 | 6.21e-04 | 9.69e-02 | 8.25e-02 | 42200 |" in md
    curves = pd.read_csv(report.report_dir / "curves.csv.gz")
    assert len(curves) == 12 * 2 * 6  # 12 runs x (train, test) x epochs 0..5


@pytest.mark.slow
def test_report_figures_and_numbers(sweep, report):
    figs = report.figures
    expected = {"fig2", "figS1", "fig3", "fig4", "figS2", "fig5", "figS3", "fig6", "figS4"}
    toy = report.tables["toy_heights"].set_index("path")
    assert toy.loc["straight", "height"] == pytest.approx(1.102, abs=0.01)
    assert expected <= set(figs)
    for path in figs.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    page = report.index.read_text()
    for path in figs.values():
        assert f'src="{path.name}"' in page
    sep = report.tables["separation"]
    assert set(sep.arch) == {"fcp", "lstm"} and len(sep) == 4
    assert sep.kpca_cv_accuracy.between(0, 1).all() and sep.kpca_p.between(0, 1).all()
    solutions = report.tables["height_tests_solutions"]  # the test the page shows
    assert len(solutions) == 3 and (solutions.n_solutions_a == 3).all()
    assert (solutions.median_diff_lo <= solutions.median_diff_hi).all()
    tests = report.tables["height_tests"]  # descriptive: paths as units
    assert len(tests) == 3  # fcp: train landscape 2 pairings, test landscape 1
    assert (tests.n_a == 3).all() and tests.p_value.between(0, 1).all()
    ps = report.tables["path_status"].set_index("arch")
    assert (ps.loc["fcp"].done == 3).all() and (ps.loc["fcp"].missing == 0).all()
    assert not ps.loc["lstm"].started.any()  # listed as not started, no crash


@pytest.mark.slow
def test_aggregate_cli_builds_the_report(sweep, tmp_path):
    proc = run(["analysis/aggregate.py", f"out_dir={sweep}", f"report_dir={tmp_path}"])
    check(proc)
    assert "| FCP | ours |" in proc.stdout  # prints Table 1
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "fig4_heights_train_landscape.png").exists()


@pytest.mark.slow
def test_partial_sweep_with_corrupt_and_diverged_records(sweep, data_root, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(sweep, out)
    bad = task(out, "fcp", "sgd", 1) / "result.json"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated mid-write (by hand: a real record cut)
    shutil.rmtree(task(out, "lstm", "lbfgs", 2))  # never started: missing
    (task(out, "lstm", "sgd", 0) / "result.json").unlink()  # running: incomplete
    shutil.rmtree(task(out, "fcp", "sgd", 2))
    check(  # a real diverged run in its place: weights overflow at once
        run(
            ["-m", "lossland.train", "arch=fcp", "opt=sgd", "seed=2", "opt.epochs=2"]
            + ["opt.lr=1e38", f"dataset.root={data_root}", *TINY, f"out_dir={out}"]
        )
    )
    garbled = sorted(out.glob("paths/*/*/*/*/*/pair=*.json"))[0]
    garbled.write_text(garbled.read_text().replace('"height"', '"hei\x00ght', 1))

    rep = build_report(out, tmp_path / "report")
    named = {p.path for p in rep.problems}
    assert str(bad) in named
    status = rep.tables["run_status"].set_index(["arch", "opt"])
    assert status.loc[("fcp", "sgd"), "corrupt"] == 1
    assert status.loc[("lstm", "lbfgs"), "missing"] == 1
    assert status.loc[("lstm", "sgd"), "incomplete"] == 1
    # the diverged run (another opt.lr: another config) is left out of every number, and named
    assert status.loc[("fcp", "sgd"), "diverged"] == 0
    assert any(
        p.path.startswith("train/fcp/sgd/")
        and p.reason.startswith("left out 1 record(s) with ")
        and "opt.lr=1e+38" in p.reason
        for p in rep.problems
    )
    assert rep.sets[("fcp", "sgd-test")].seeds == [0]  # the one good run still makes a set
    assert np.isnan(rep.tables["separation"].query("arch == 'fcp'").kpca_cv_accuracy).all()
    assert np.isnan(rep.tables["separation"].query("arch == 'fcp'").kpca_p).all()
    page = rep.index.read_text()
    assert str(bad) in page and "incomplete" in page and "missing" in page
    assert str(garbled) in named and str(garbled) in page
    for path in rep.figures.values():
        assert path.exists()


def test_no_records_is_one_clear_error(tmp_path):
    with pytest.raises(LosslandError, match="no training or path records"):
        build_report(tmp_path)
    proc = run(["analysis/aggregate.py", f"out_dir={tmp_path}"])
    assert proc.returncode == 2
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "no training or path records" in lines[0]
    sys.path.insert(0, str(REPO / "analysis"))
    try:
        from aggregate import parse
    finally:
        sys.path.pop(0)
    assert parse(["out_dir=a", "n_select=3"]) == {"out_dir": "a", "n_select": "3"}
    with pytest.raises(LosslandError, match="unknown argument"):
        parse(["outdir=x"])


# ---------------------------------------------------------------------- the browser

CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const toc = [...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'));
  const out = document.createElement('pre');
  out.id = 'imgcheck';
  out.textContent = JSON.stringify({
    n: imgs.length, bad: bad,
    width: window.innerWidth, scroll_width: document.documentElement.scrollWidth,
    toc: toc, unresolved: toc.filter(h => !document.getElementById(h.slice(1))),
    sections: [...document.querySelectorAll('body > section')].map(s => s.id),
    status_open: (document.querySelector('#status details') || {}).open,
  });
  document.body.appendChild(out);
});
</script>"""


def images_in_chromium(page: Path) -> dict:
    """Open `page` in headless Chromium, 1280 px wide; return how many <img> it has and which
    failed to load, the page's scroll width, its table of contents (and the links that point
    nowhere), the order of its sections and whether the status is unfolded."""
    probe = page.with_name("_imgcheck.html")
    probe.write_text(page.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"]
            + ["--no-first-run", "--disable-background-networking", "--disable-component-update"]
            + ["--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000"]
            + ["--window-size=1280,900", "--hide-scrollbars"]
            + ["--dump-dom", probe.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    probe.unlink()
    m = re.search(r'<pre id="imgcheck">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"no result from chromium (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"'))


def assert_reads_well(seen: dict) -> None:
    """Every image loads, no horizontal scroll at 1280 px, every contents link resolves, the
    findings (when there) first and the status last."""
    assert seen["bad"] == []
    assert seen["width"] == 1280 and seen["scroll_width"] <= 1280, seen
    assert seen["unresolved"] == [] and seen["toc"] == [f"#{s}" for s in seen["sections"]]
    sections = seen["sections"]
    assert sections[-1] == "status"
    assert sections[0] == "findings" if "findings" in sections else sections[0] == "table1"
    assert sections.index("table1") < sections.index("figures") < sections.index("probes")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium")
def test_index_html_reads_well_in_chromium(report, tmp_path):
    seen = images_in_chromium(report.index)
    assert seen["n"] == len(report.figures) >= 8
    assert_reads_well(seen)
    assert seen["sections"][0] == "findings"  # the paper's claims, judged, first of all
    findings = report.index.read_text().split('<section id="findings">')[1].split("</section>")[0]
    assert "FCP (L-BFGS-GSS: 3 selected of 3 finished runs" in findings
    assert "the average test loss values are comparable" in findings and "Holm p" in findings
    # the sweep's lstm has no paths: the status is open, the missing sets first
    assert seen["status_open"] is True
    page = report.index.read_text()
    status = page[page.index('<section id="status">') :]
    assert status.index("<td>lstm</td>") < status.index("<td>fcp</td>")
    # the checks themselves see a broken image, a page wider than the window, a dead link
    wide = '<img src="nope.png"><div style="width:3000px">x</div></body>'
    broken = tmp_path / "index.html"
    broken.write_text(page.replace("</body>", wide).replace('href="#figures"', 'href="#nowhere"'))
    seen = images_in_chromium(broken)
    assert seen["bad"][-1] == "nope.png" and seen["scroll_width"] > 1280
    assert seen["unresolved"] == ["#nowhere"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium")
def test_a_complete_sweeps_status_is_folded_away_at_the_end(sweep, tmp_path):
    """fcp alone: every run and path is there, so the status is one closed line at the end."""
    out = tmp_path / "out"
    shutil.copytree(sweep, out)
    shutil.rmtree(out / "train" / "lstm")
    rep = build_report(out, tmp_path / "report")
    seen = images_in_chromium(rep.index)
    assert_reads_well(seen)
    assert seen["status_open"] is False
    assert "<summary>complete:" in rep.index.read_text()


# ---------------------------------------------------------------------- the numbers


def test_lengths_use_the_midpoint_of_the_centroids():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, (20, 50)), rng.normal(-1.0, 0.5, (30, 50))
    ln = lengths(a, b)
    w_bar = (a.mean(0) + b.mean(0)) / 2
    np.testing.assert_allclose(ln.a, np.linalg.norm(a - w_bar, axis=1))
    assert ln.centroid_distance == pytest.approx(np.linalg.norm(b.mean(0) - w_bar))
    assert ln.centroid_distance == pytest.approx(np.linalg.norm(a.mean(0) - b.mean(0)) / 2)
    assert longer_fraction(ln.a, ln.b) > 0.9
    assert longer_fraction(np.array([1.0, 2.0]), np.array([1.5])) == 0.5


def test_separation_sees_clusters_and_chance():
    rng = np.random.default_rng(0)
    n_prm = 400
    a = rng.normal(0, 0.1, (24, n_prm)) + 0.5  # shifted along one direction: kPCA PC1 splits
    b = rng.normal(0, 0.1, (24, n_prm))
    p = project(a, b)
    assert p.gamma == 1 / n_prm and p.kpca.shape == (48, 2) and p.pca.shape == (48, 2)
    acc, p_value = separation_test(p.kpca, p.labels, n_permutations=99)
    assert acc > 0.95 and p_value == 0.01
    same = project(rng.normal(0, 0.1, (24, n_prm)), rng.normal(0, 0.1, (24, n_prm)))
    acc, p_value = separation_test(same.kpca, same.labels, n_permutations=99)
    assert acc < 0.8 and p_value > 0.05


def test_separation_test_p_value_is_the_permutation_rank():
    rng = np.random.default_rng(1)
    labels = np.r_[np.zeros(10, int), np.ones(10, int)]
    apart = np.r_[rng.normal(0, 0.1, (10, 2)), rng.normal(5, 0.1, (10, 2))]
    # no permuted labeling of 10 + 10 far-apart points is classified perfectly, so the observed
    # accuracy 1.0 ranks first of 1 + 99: p = 1 / 100
    assert separation_test(apart, labels, n_permutations=99) == (1.0, 0.01)
    mixed = rng.normal(0, 1, (20, 2))
    assert separation_test(mixed, labels, n_permutations=99)[1] > 0.05
    assert all(np.isnan(separation_test(np.zeros((3, 2)), np.array([0, 0, 1]))))


def test_height_tests_compare_bfgs_with_sgd():
    rows = [("fcp", s, "train", h) for s in ("bfgs-train",) for h in (5.0, 6.0, 7.0, 8.0)]
    rows += [("fcp", "sgd-train", "train", h) for h in (1.0, 2.0, 3.0)]
    rows += [("fcp", "bfgs-test", "test", np.nan)]  # a diverged path counts nowhere
    df = pd.DataFrame(rows, columns=["arch", "set", "landscape", "height"])
    df["status"] = np.where(np.isfinite(df.height), "done", "diverged")
    t = height_tests(df, load_study("paper").height_tests)
    row = t[t.a_set == "bfgs-train"].iloc[0]
    assert (row.n_a, row.n_b, row.median_a, row.median_b) == (4, 3, 6.5, 2.0)
    assert row.U == 12 and row.p_value == pytest.approx(0.0571, abs=1e-3) and row.a_higher
    assert len(t) == 1  # no test-landscape heights yet


def test_formatting_helpers():
    assert seed_ranges([5, 0, 1, 2, 7, 8]) == "0-2, 5, 7-8"
    assert (fmt(1.26e-08), fmt(42200), fmt(np.int64(3)), fmt(float("nan"))) == (
        "1.26e-08",
        "42200",
        "3",
        "–",
    )
    assert fmt(0.36666, "g") == "0.367"
    md = to_markdown(pd.DataFrame({"NN": ["FCP"], "x": [0.0969]}))
    assert md.splitlines() == ["| NN | x |", "|---|---|", "| FCP | 9.69e-02 |"]

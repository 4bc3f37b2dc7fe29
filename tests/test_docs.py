"""README is a landing page and the documentation site is whole (CI also runs
`mkdocs build --strict`, which fails on a broken link or anchor; these checks need no mkdocs)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO

README = REPO / "README.md"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)")  # markdown links and images: ](target)


def nav_pages(nav) -> list[str]:
    """The .md files that mkdocs.yml's nav names, in order (nested sections flattened)."""
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += nav_pages(value) if isinstance(value, list) else [value]
    return out


def code_lines(text: str) -> list[str]:
    """The lines inside the ``` blocks of a Markdown text."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    return [line for block in blocks for line in block.splitlines()]


def test_readme_is_a_landing_page():
    text = README.read_text()
    assert len(text) <= 12_000, f"README.md has {len(text)} characters: move detail to docs/"
    for target in LINK.findall(text):
        if "://" not in target:
            assert (REPO / target).exists(), f"README links {target}, which does not exist"


def test_readme_commands_are_one_line_each_and_ci_runs_the_test_command():
    lines = code_lines(README.read_text())
    install = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]'"
    quickstart, tests = (f"{install} && bash jobs/quickstart.sh", f"{install} && pytest")
    assert quickstart in lines and tests in lines
    assert (REPO / "jobs" / "quickstart.sh").exists()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must run README's test command as written"


def test_every_docs_page_is_in_the_nav_and_exists():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    docs = REPO / config.get("docs_dir", "docs")
    pages = nav_pages(config["nav"])
    assert len(pages) == len(set(pages))
    missing = [p for p in pages if not (docs / p).is_file()]
    assert not missing, f"mkdocs.yml names pages that do not exist: {missing}"
    on_disk = sorted(str(p.relative_to(docs)) for p in docs.rglob("*.md"))
    assert sorted(pages) == on_disk, "a docs page is missing from mkdocs.yml's nav"
    for page in pages:  # relative links between pages and to figures
        for target in LINK.findall((docs / page).read_text()):
            if "://" not in target:
                assert (docs / page).parent.joinpath(target).exists(), f"{page} -> {target}"


def test_docs_hold_prose_and_figures_only():
    kinds = {p.suffix for p in (REPO / "docs").rglob("*") if p.is_file()}
    assert kinds <= {".md", ".png"}, kinds


@pytest.mark.skipif(shutil.which("mkdocs") is None, reason="mkdocs not installed (dev extra)")
def test_mkdocs_build_strict(tmp_path):
    done = subprocess.run(
        ["mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "reproduction" / "index.html").exists()

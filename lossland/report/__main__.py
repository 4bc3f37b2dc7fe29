"""`python -m lossland.report [out_dir=outputs] [report_dir=<out_dir>/report] [n_select=N]
[study=paper] [prefer=KEY=VALUE ...]`: the report of the records under out_dir.

Writes the paper's tables and figures and one page, <report_dir>/index.html
(lossland.report.build_report), and prints Table 1. The settings are written KEY=VALUE, as in
the other commands' Hydra overrides; `python analysis/aggregate.py` is the same command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from lossland.core.errors import LosslandError
from lossland.launch.cli import run_reporting_errors
from lossland.report.build import build_report
from lossland.report.tables import to_markdown

KEYS = {  # key -> what it sets (the --help text)
    "out_dir": "the sweeps' out_dir whose records are read (default: outputs)",
    "report_dir": "where the page, figures and CSVs go (default: <out_dir>/report)",
    "n_select": "the runs per set (default: the path jobs', else the probe jobs', else the "
    "study's)",
    "study": "the sets and comparisons of conf/study/NAME.yaml (default: paper)",
    "prefer": "KEY=VALUE, repeatable: report the records made under these settings where "
    "records were made under several (default: the study's defaults; docs/report.md)",
}


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are LosslandErrors: one line, not usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise LosslandError(f"{message}: see {self.prog} --help")


def parser(prog: str = "python -m lossland.report") -> argparse.ArgumentParser:
    width = max(map(len, KEYS)) + 4
    keys = "\n".join(f"  {k + '=...':<{width}}  {what}" for k, what in KEYS.items())
    p = OneLineParser(
        prog=prog,
        description=(__doc__ or "").split("\n\n", 1)[1].strip(),
        epilog=f"settings:\n{keys}\n\nexample: {prog} out_dir=outputs/small "
        "prefer=finder.n_points=2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="see settings below")
    return p


def parse(argv: Sequence[str], prog: str = "python -m lossland.report") -> dict[str, str]:
    """The settings but `prefer` (repeatable: `prefers`), checked; --help prints and exits."""
    args = parser(prog).parse_args(list(argv)).settings
    settings = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("prefer="))
    bad = [a for a in args if "=" not in a] + [k for k in settings if k not in KEYS]
    if bad:
        raise LosslandError(f"unknown argument(s) {', '.join(bad)}: use {'=... '.join(KEYS)}=...")
    if "n_select" in settings and not settings["n_select"].isdigit():
        raise LosslandError(f"n_select={settings['n_select']}: expected a whole number")
    return settings


def prefers(argv: Sequence[str]) -> list[str]:
    """The values of every prefer=KEY=VALUE, in order."""
    return [a.split("=", 1)[1] for a in argv if a.startswith("prefer=")]


def main(argv: Sequence[str] | None = None, prog: str = "python -m lossland.report") -> None:
    """Build the report; a bad argument or an out_dir without records ends in one line."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = list(sys.argv[1:] if argv is None else argv)

    def job() -> None:
        s = parse(args, prog)
        report = build_report(
            s.get("out_dir", "outputs"),
            s.get("report_dir"),
            int(s["n_select"]) if "n_select" in s else None,
            s.get("study", "paper"),
            prefer=prefers(args),
        )
        print("Table 1 (mean min train loss of the train set, mean test loss of the test set):")
        print(to_markdown(report.tables["table1"]))
        print(f"open {report.index}")

    run_reporting_errors(job)


if __name__ == "__main__":
    main()

"""`python analysis/aggregate.py [out_dir=outputs] [report_dir=<out_dir>/report] [n_select=N]
[study=paper] [prefer=KEY=VALUE ...]`

Reads the training and path records under out_dir, writes the paper's tables and figures and
one page, <report_dir>/index.html (thin over lossland.report.build_report), prints Table 1.
`study=NAME` reads the sets and comparisons of conf/study/NAME.yaml (the paper's by default).
`prefer=finder.n_points=2` (repeatable) reports the records made under those settings where
records were made under several (default: the study's defaults; docs/report.md).
A partial sweep is fine: the page says what is missing; an out_dir with no records ends in one
error line.
"""

from __future__ import annotations

import logging
import sys

from lossland.core.errors import LosslandError
from lossland.launch.cli import run_reporting_errors
from lossland.report import build_report
from lossland.report.tables import to_markdown

KEYS = ("out_dir", "report_dir", "n_select", "study", "prefer")


def parse(argv: list[str]) -> dict[str, str]:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        raise SystemExit(0)
    settings = dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith("prefer="))
    bad = [a for a in argv if "=" not in a] + [k for k in settings if k not in KEYS]
    if bad:
        raise LosslandError(f"unknown argument(s) {', '.join(bad)}: use {'=... '.join(KEYS)}=...")
    return settings


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def job() -> None:
        args = sys.argv[1:] if argv is None else argv
        s = parse(args)
        n_select = int(s["n_select"]) if "n_select" in s else None
        report = build_report(
            s.get("out_dir", "outputs"),
            s.get("report_dir"),
            n_select,
            s.get("study", "paper"),
            prefer=[a.split("=", 1)[1] for a in args if a.startswith("prefer=")],
        )
        print("Table 1 (mean min train loss of the train set, mean test loss of the test set):")
        print(to_markdown(report.tables["table1"]))
        print(f"open {report.index}")

    run_reporting_errors(job)


if __name__ == "__main__":
    main()

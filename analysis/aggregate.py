"""`python analysis/aggregate.py [out_dir=outputs] [report_dir=<out_dir>/report] [n_select=N]
[study=paper] [prefer=KEY=VALUE ...]`

The design's name for `python -m lossland.report` (the same arguments; --help lists them):
reads the training and path records under out_dir, writes the paper's tables and figures and
one page, <report_dir>/index.html, prints Table 1.
"""

from __future__ import annotations

from lossland.report.__main__ import main, parse, prefers

__all__ = ["main", "parse", "prefers"]

if __name__ == "__main__":
    main(prog="python analysis/aggregate.py")

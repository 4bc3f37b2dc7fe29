"""The report: outputs/ -> outputs/report/ (tables, figures, numbers, index.html).

    from lossland.report import build_report
    build_report("outputs/small")

or `python -m lossland.report out_dir=outputs/small` (__main__; --help). Modules: types (the
shared types: Report, Records, LoadedSet, FigureSpec, Problem; imports no other report
module), build (loads the records and sets, puts the rest together), records (runs and paths
as tidy tables), configs (never pool two configs), sets (the study's solution sets), status
(what is missing, failed, diverged, corrupt), stats (the numbers), weight_space (Fig. 5/6),
tidy (the numbers as tables and CSVs), tables (Table 1, S1), figures (one PNG per paper
figure), figure_specs (which figures, captions), probes and probe_figures (the probes' part),
page and html (index.html). What is compared comes from the study (lossland.study.design).
"""

from lossland.report.build import build_report
from lossland.report.types import Report

__all__ = ["Report", "build_report"]

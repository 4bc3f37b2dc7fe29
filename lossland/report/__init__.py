"""The report: outputs/ -> outputs/report/ (tables, figures, numbers, index.html).

    from lossland.report import build_report
    build_report("outputs/small")

Modules: records (read runs and paths into tidy tables), sets (the solution sets), status
(what is missing, failed, diverged, corrupt), stats (the numbers), tables (Table 1, S1),
figures (one PNG per paper figure), html (the page), build (puts them together).
"""

from lossland.report.build import Report, build_report

__all__ = ["Report", "build_report"]

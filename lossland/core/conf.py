"""Where conf/ is: the one place every entry point, registry and the report look it up."""

from __future__ import annotations

from pathlib import Path


def find_conf_dir() -> Path:
    """conf/: shipped inside the package (lossland/conf, a non-editable install) or, from the
    source tree and an editable install, at the top of the repository."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "train.yaml").exists():
            return candidate
    return package.parent / "conf"


CONF_DIR = find_conf_dir()  # every @hydra.main and the report read their configs here

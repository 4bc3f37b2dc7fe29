"""The packages: lossland* and conf/, which stays at the top of the repository and ships inside
the package as lossland/conf, so the entry points find their configs in a non-editable install
too (lossland.core.config.find_conf_dir). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["lossland*"]), "lossland.conf"],
    package_dir={"lossland.conf": "conf"},
)

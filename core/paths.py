"""Where the shipped data lives."""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path

from bess_duos.core.settings import config_dir_setting, current

# The checkout this module sits in (meaningful in a development install only).
REPO_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """The shipped `config/` data: `$BESS_DUOS_CONFIG` if set, else the installed package data."""
    override = config_dir_setting()
    return override if override else _shipped()


@functools.cache
def _shipped() -> Path:
    return Path(str(files("bess_duos.config")))


def reference_data_dir() -> Path:
    """The shared reference data (`../shared/reference-data`), used by importers and tests."""
    override = current().reference_data_dir
    return override if override else REPO_ROOT.parent / "shared" / "reference-data"


def writable_config_dir(given: Path | None = None) -> Path:
    """Where an importer may write: `given`, else `$BESS_DUOS_CONFIG`, else the checkout's
    `config/` in a development install. Never the data inside an installed package: there
    `ValueError` says to give a folder."""
    if given is not None:
        return Path(given)
    override = config_dir_setting()
    if override:
        return override
    shipped = config_dir().resolve()
    if (REPO_ROOT / "pyproject.toml").is_file() and shipped == (REPO_ROOT / "config").resolve():
        return shipped
    raise ValueError("give --config DIR (a copy of the config folder to write into): the data "
                     "shipped inside an installed package is never written")

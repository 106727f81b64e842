"""Where the shipped data lives."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from bess_duos.core.settings import current

# The checkout this module sits in (meaningful in a development install only).
REPO_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """The shipped `config/` data: `$BESS_DUOS_CONFIG` if set, else the installed package data."""
    override = current().config_dir
    return override if override else Path(str(files("bess_duos.config")))


def reference_data_dir() -> Path:
    """The shared reference data (`../shared/reference-data`), used by importers and tests."""
    override = current().reference_data_dir
    return override if override else REPO_ROOT.parent / "shared" / "reference-data"

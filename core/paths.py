"""Where the shipped data lives."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """The `config/` folder: `$BESS_DUOS_CONFIG` if set, else the one beside `core/`."""
    override = os.environ.get("BESS_DUOS_CONFIG")
    return Path(override) if override else REPO_ROOT / "config"


def reference_data_dir() -> Path:
    """The shared reference data (`../shared/reference-data`), used by importers and tests."""
    override = os.environ.get("BESS_DUOS_REFERENCE_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "reference-data"

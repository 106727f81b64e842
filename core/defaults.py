"""The defaults used where an input is blank: `config/defaults.yaml`, read in this one place.

Read again only when the file changes (its modification time), checked once, so every module
sees the same values: `voltage`, `flex_fraction`, `assumed_power_factor`,
`timestamp_convention`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from bess_duos.core.paths import config_dir

DEFAULTS_FILE = "defaults.yaml"


class DefaultsError(ValueError):
    """config/defaults.yaml holds a value the code cannot use; the message names it."""


@dataclass(frozen=True)
class Defaults:
    """The values of config/defaults.yaml."""

    voltage: str
    flex_fraction: float
    assumed_power_factor: float
    timestamp_convention: Literal["start", "end"]


def defaults() -> Defaults:
    """The current defaults (cached until the file changes)."""
    path = _path(config_dir())
    return _read(path, os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _path(config: Path) -> str:
    return str(config / DEFAULTS_FILE)


@functools.lru_cache(maxsize=4)
def _read(path: str, _mtime_ns: int) -> Defaults:
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    convention = raw.get("timestamp_convention", "start")
    if convention not in ("start", "end"):
        raise DefaultsError(f"config/defaults.yaml timestamp_convention {convention!r}: use "
                            "start or end")
    try:
        flex = float(raw["flex_fraction"])
        power_factor = float(raw["assumed_power_factor"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DefaultsError(f"config/defaults.yaml: flex_fraction and assumed_power_factor "
                            f"must be numbers ({exc})") from None
    if not 0 <= flex <= 1 or not 0 < power_factor <= 1:
        raise DefaultsError("config/defaults.yaml: flex_fraction must be 0..1 and "
                            "assumed_power_factor above 0 and at most 1")
    return Defaults(str(raw.get("voltage", "LV")), flex, power_factor, convention)

"""Every `BESS_DUOS_*` environment variable, read in one place into one frozen `Settings`.

`Settings.from_env()` reads the environment once; the webhook builds one at start-up and passes
it down, the CLI and the library read `current()` where they need a value. The table of
variables is in docs/settings.md; `VARIABLES` below is the same list, checked by a test.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

MIN_SECRET_BYTES = 32

VARIABLES: dict[str, str] = {
    "BESS_DUOS_WEBHOOK_SECRET": "the webhook's master signing secret (at least 32 bytes)",
    "BESS_DUOS_SPREADSHEET_ALLOWLIST": "comma-separated spreadsheet IDs the master key may write",
    "BESS_DUOS_WORKBOOK": "the local workbook standing in for the sheet (default bess_sheet.xlsx)",
    "BESS_DUOS_COMPUTE_PROCESSES": "worker processes for the CPU-bound part of a lookup",
    "BESS_DUOS_SHEETS_API_URL": "another base URL for the Sheets API (the local test server)",
    "BESS_DUOS_TEST_ALLOW_LOOPBACK_PORTS": "test only: loopback ports profile links may use",
    "BESS_DUOS_CONFIG": "another config/ folder instead of the shipped data",
    "BESS_DUOS_REFERENCE_DATA": "the reference data folder (importers and tests)",
    "BESS_DUOS_CACHE_DIR": "the postcode answers' disk cache (default ~/.cache/bess-duos)",
    "BESS_DUOS_AREA_CACHE_DAYS": "how long a cached postcode answer is kept, days (default 30)",
    "BESS_DUOS_OCTOPUS_URL": "base URL of the Octopus postcode -> GSP group service",
    "BESS_DUOS_CARBONINTENSITY_URL": "base URL of the Carbon Intensity postcode -> region service",
}


class SettingsError(ValueError):
    """A variable is set to something unusable; `variable` names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str) -> int | None:
    text = _text(env, name)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 4:
        raise SettingsError(name, f"{text[:20]!r} is not a whole number from 0 to 9999")
    return int(text)


def _days(env: Mapping[str, str], name: str) -> float | None:
    text = _text(env, name)
    if text is None:
        return None
    try:
        days = float(text[:32])
    except ValueError:
        raise SettingsError(name, f"{text[:20]!r} is not a number of days") from None
    if not days > 0 or days == float("inf"):
        raise SettingsError(name, f"{text[:20]!r} must be a number of days above 0")
    return days


def _ids(env: Mapping[str, str], name: str) -> frozenset[str] | None:
    text = _text(env, name)
    if text is None:
        return None
    ids = frozenset(part.strip() for part in text.split(",") if part.strip())
    return ids or None


@dataclass(frozen=True)
class Settings:
    """The process's settings (None: not set, the documented default applies)."""

    webhook_secret: str | None = field(default=None, repr=False)
    spreadsheet_allowlist: frozenset[str] | None = None
    workbook: Path | None = None
    compute_processes: int | None = None
    sheets_api_url: str | None = None
    test_loopback_ports: frozenset[int] = frozenset()
    config_dir: Path | None = None
    reference_data_dir: Path | None = None
    cache_dir: Path | None = None
    area_cache_days: float | None = None
    octopus_url: str | None = None
    carbonintensity_url: str | None = None
    google_credentials_file: str | None = None
    on_cloud_run: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every variable once; `SettingsError` names a variable set to nonsense."""
        env = os.environ if env is None else env
        ports = _text(env, "BESS_DUOS_TEST_ALLOW_LOOPBACK_PORTS") or ""
        path = lambda name: Path(v).expanduser() if (v := _text(env, name)) else None  # noqa: E731
        return cls(
            webhook_secret=_text(env, "BESS_DUOS_WEBHOOK_SECRET"),
            spreadsheet_allowlist=_ids(env, "BESS_DUOS_SPREADSHEET_ALLOWLIST"),
            workbook=path("BESS_DUOS_WORKBOOK"),
            compute_processes=_int(env, "BESS_DUOS_COMPUTE_PROCESSES"),
            sheets_api_url=_text(env, "BESS_DUOS_SHEETS_API_URL"),
            test_loopback_ports=frozenset(
                int(p) for p in ports.split(",") if p.strip().isdigit() and len(p.strip()) <= 5
            ),
            config_dir=path("BESS_DUOS_CONFIG"),
            reference_data_dir=path("BESS_DUOS_REFERENCE_DATA"),
            cache_dir=path("BESS_DUOS_CACHE_DIR"),
            area_cache_days=_days(env, "BESS_DUOS_AREA_CACHE_DAYS"),
            octopus_url=_text(env, "BESS_DUOS_OCTOPUS_URL"),
            carbonintensity_url=_text(env, "BESS_DUOS_CARBONINTENSITY_URL"),
            google_credentials_file=_text(env, "GOOGLE_APPLICATION_CREDENTIALS"),
            on_cloud_run=bool(_text(env, "K_SERVICE")),
        )

    @property
    def google_configured(self) -> bool:
        """True when Google credentials are configured (a key file, or running on Cloud Run)."""
        return bool(self.google_credentials_file or self.on_cloud_run)


_READ = (*VARIABLES, "GOOGLE_APPLICATION_CREDENTIALS", "K_SERVICE")


def current() -> Settings:
    """The settings of the environment as it is now (parsed once per distinct environment:
    a few microseconds when nothing changed)."""
    return _parsed(tuple(os.environ.get(name) for name in _READ))


@functools.lru_cache(maxsize=8)
def _parsed(values: tuple[str | None, ...]) -> Settings:
    return Settings.from_env({k: v for k, v in zip(_READ, values, strict=True) if v is not None})


def config_dir_setting() -> Path | None:
    """`current().config_dir`, reading only its one variable (every config read asks for it)."""
    return _config_dir(os.environ.get("BESS_DUOS_CONFIG"))


@functools.lru_cache(maxsize=8)
def _config_dir(value: str | None) -> Path | None:
    return Settings.from_env({} if value is None else {"BESS_DUOS_CONFIG": value}).config_dir

"""Settings: every BESS_DUOS_* variable read in one place, documented in one table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bess_duos.core.settings import VARIABLES, Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]


def test_every_variable_is_read_only_by_the_settings_module() -> None:
    readers = []
    for path in [*REPO.glob("core/**/*.py"), *REPO.glob("webhook/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        if path.name != "settings.py" and re.search(r"environ(\.get)?\(?\[?\s*['\"]BESS_DUOS",
                                                    text):
            readers.append(str(path.relative_to(REPO)))
    assert readers == []


def test_every_variable_is_in_the_documented_table() -> None:
    table = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(BESS_DUOS_[A-Z_]+)`", table, flags=re.M))
    assert documented == set(VARIABLES)


def test_values_are_parsed_once_and_nonsense_names_its_variable(tmp_path: Path) -> None:
    env = {
        "BESS_DUOS_SPREADSHEET_ALLOWLIST": " a-1 , b_2,, ",
        "BESS_DUOS_COMPUTE_PROCESSES": "3",
        "BESS_DUOS_TEST_ALLOW_LOOPBACK_PORTS": "8080, x, 99999999",
        "BESS_DUOS_CONFIG": str(tmp_path),
        "BESS_DUOS_AREA_CACHE_DAYS": "2.5",
        "K_SERVICE": "bess",
    }
    settings = Settings.from_env(env)
    assert settings.spreadsheet_allowlist == frozenset({"a-1", "b_2"})
    assert settings.compute_processes == 3
    assert settings.test_loopback_ports == frozenset({8080})
    assert settings.config_dir == tmp_path
    assert settings.area_cache_days == 2.5
    assert settings.google_configured and settings.webhook_secret is None
    with pytest.raises(SettingsError, match="BESS_DUOS_COMPUTE_PROCESSES"):
        Settings.from_env({"BESS_DUOS_COMPUTE_PROCESSES": "-1"})
    with pytest.raises(SettingsError, match="BESS_DUOS_AREA_CACHE_DAYS"):
        Settings.from_env({"BESS_DUOS_AREA_CACHE_DAYS": "0"})
    assert "secret" not in repr(Settings.from_env({"BESS_DUOS_WEBHOOK_SECRET": "secret" * 8}))


def test_importers_never_write_into_an_installed_package(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from bess_duos.core import paths

    monkeypatch.delenv("BESS_DUOS_CONFIG", raising=False)
    assert paths.writable_config_dir() == (REPO / "config").resolve()  # a development checkout
    assert paths.writable_config_dir(tmp_path) == tmp_path
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site-packages" / "bess_duos")
    with pytest.raises(ValueError, match="give --config DIR"):
        paths.writable_config_dir()  # the shipped data of an installed package
    monkeypatch.setenv("BESS_DUOS_CONFIG", str(tmp_path))
    assert paths.writable_config_dir() == tmp_path


def test_defaults_are_read_in_one_place_and_checked(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from bess_duos.core.defaults import DefaultsError, defaults
    from bess_duos.core.duos import default_power_factor
    from bess_duos.core.profiles import ProfileError, default_timestamp_convention

    assert (defaults().voltage, defaults().flex_fraction) == ("LV", 0.30)
    assert default_power_factor() == 0.95 and default_timestamp_convention() == "start"
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "defaults.yaml").write_text("voltage: LV\nflex_fraction: 0.3\n"
                                          "assumed_power_factor: 0.9\ntimestamp_convention: end\n")
    monkeypatch.setenv("BESS_DUOS_CONFIG", str(config))
    assert default_power_factor() == 0.9 and default_timestamp_convention() == "end"
    (config / "defaults.yaml").write_text("flex_fraction: 0.3\nassumed_power_factor: 0.9\n"
                                          "timestamp_convention: middle\n")
    with pytest.raises(DefaultsError, match="timestamp_convention 'middle'"):
        defaults()
    with pytest.raises(ProfileError, match="use start or end"):
        default_timestamp_convention()
    readers = [p.name for p in (REPO / "core").rglob("*.py")
               if 'defaults.yaml"' in p.read_text(encoding="utf-8") and p.name != "defaults.py"]
    assert readers == []  # only core/defaults.py names the file (as DEFAULTS_FILE)

"""Synthetic archetype profiles and the `profile generate` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.synthetic import ARCHETYPES, generate_profile
from bess_duos.webhook.cli import main


@pytest.mark.parametrize("name", list(ARCHETYPES))
def test_a_full_year_holds_exactly_the_annual_energy(name):
    p = generate_profile(name, 123_456.0, "2025-01-01", seed=7)
    assert len(p) == 365 * 48
    assert str(p.index.tz) == "UTC"
    assert p.index[0] == pd.Timestamp("2025-01-01 00:00", tz="UTC")
    assert p.sum() == pytest.approx(123_456.0, rel=1e-12)
    assert (p > 0).all()


def test_seeded_and_reproducible():
    a = generate_profile("domestic", 4_000, "2025-01-01", "2025-02-01", seed=1)
    b = generate_profile("domestic", 4_000, "2025-01-01", "2025-02-01", seed=1)
    c = generate_profile("domestic", 4_000, "2025-01-01", "2025-02-01", seed=2)
    pd.testing.assert_series_equal(a, b)
    assert not np.allclose(a, c)


def test_clock_change_days_and_office_hours_in_clock_time():
    p = generate_profile("office", 500_000, "2025-03-24", "2025-04-07", seed=0)
    local = p.index.tz_convert("Europe/London")
    per_day = pd.Series(1, index=local).groupby(local.date).size()
    assert per_day.loc[pd.Timestamp("2025-03-30").date()] == 46
    assert len(p) == 14 * 48 - 2
    # a weekday after the change: opens at 08:00 clock = 07:00 UTC
    day = p["2025-04-01 00:00+01:00":"2025-04-01 23:30+01:00"]
    hours = day.index.tz_convert("Europe/London").hour
    assert day[hours == 11].mean() > 2.5 * day[hours == 4].mean()


def test_range_energy_follows_the_seasonal_shape():
    year = generate_profile("office", 500_000, "2025-01-01", seed=0)
    january = generate_profile("office", 500_000, "2025-01-01", "2025-02-01", seed=0)
    july = generate_profile("office", 500_000, "2025-07-01", "2025-08-01", seed=0)
    assert january.sum() > july.sum()
    assert 0.05 < july.sum() / year.sum() < january.sum() / year.sum() < 0.12


def test_unknown_archetype_names_the_choices():
    with pytest.raises(ValueError, match="choose one of: office, retail"):
        generate_profile("castle", 1_000)
    assert generate_profile("24/7 industrial", 1_000, "2025-01-01", "2025-01-02").size == 48


def test_cli_writes_timestamp_kwh_csv(tmp_path):
    out = tmp_path / "site.csv"
    status = main(["profile", "generate", "--archetype", "office", "--kwh-per-year", "500000",
                   "--year", "2025", "--seed", "3", "--out", str(out)])
    assert status == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["timestamp", "kwh"]
    assert frame["timestamp"].iloc[0] == "2025-01-01T00:00:00+00:00"
    assert len(frame) == 17520
    assert frame["kwh"].sum() == pytest.approx(500_000, rel=1e-5)
    assert main(["profile", "generate", "--archetype", "castle", "--kwh-per-year", "1",
                 "--out", str(out)]) == 2


def test_cli_bad_dates_and_unwritable_out_name_the_flag(tmp_path, capsys):
    base = ["profile", "generate", "--archetype", "office", "--kwh-per-year", "5000"]
    assert main([*base, "--start", "2025-13-01", "--out", str(tmp_path / "p.csv")]) == 2
    assert "--start '2025-13-01' is not a date: give it as YYYY-MM-DD" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "no" / "dir" / "p.csv")]) == 4  # not written
    err = capsys.readouterr().err
    assert "--out " in err and "cannot write it" in err and "Traceback" not in err


def test_cli_features_bad_files_are_named(tmp_path, capsys):
    assert main(["profile", "features", str(tmp_path / "none.csv")]) == 2
    assert "none.csv': cannot read it (No such file or directory)" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["profile", "features", str(empty)]) == 2
    assert "empty.csv: the file is empty" in capsys.readouterr().err
    text = tmp_path / "text.csv"
    text.write_text("timestamp,kwh\n2025-01-01T00:00:00Z,1\n2025-01-01T00:30:00Z,abc\n")
    assert main(["profile", "features", str(text)]) == 2
    assert "column 'kwh' row 2 (line 3): 'abc' is not a number" in capsys.readouterr().err

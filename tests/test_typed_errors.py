"""Errors carry typed attributes (what to retry with, which field has no tariff), so callers
never match message text; and `TariffQuery` is the one value a tariff is resolved from."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.duos import tariffs_for_site
from bess_duos.core.lookup import read_profile
from bess_duos.core.profiles import ProfileError, load_profile
from bess_duos.core.tariffs import (
    TariffNotFoundError,
    TariffQuery,
    resolve_query,
    resolve_tariff,
)

DAY = dt.date(2026, 11, 24)


def _csv(path: Path, minutes: int, periods: int = 200) -> Path:
    times = pd.date_range("2025-06-02", periods=periods, freq=f"{minutes}min")
    pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M"),
                  "kwh": np.ones(periods)}).to_csv(path, index=False)
    return path


def test_hourly_and_quarter_hour_data_say_what_to_retry_with(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as hourly:
        load_profile(_csv(tmp_path / "h.csv", 60))
    assert hourly.value.retry_with == {"resample": "split"}
    with pytest.raises(ProfileError) as quarter:
        load_profile(_csv(tmp_path / "q.csv", 15))
    assert quarter.value.retry_with == {"resample": "aggregate"}
    copy = pickle.loads(pickle.dumps(hourly.value))
    assert copy.retry_with == {"resample": "split"} and str(copy) == str(hourly.value)


def test_a_step_no_option_fixes_is_not_retried(tmp_path: Path) -> None:
    """45-minute data: the message mentions resample='split', but no retry is offered, so
    `read_profile` reports the step rather than retrying and failing on 'split'."""
    with pytest.raises(ProfileError) as info:
        read_profile(_csv(tmp_path / "odd.csv", 45))
    assert info.value.retry_with == {}
    assert "median step is 45 minutes" in str(info.value)


def test_march_gap_in_naive_times_suggests_utc(tmp_path: Path) -> None:
    times = pd.date_range("2025-03-30 00:00", periods=96, freq="30min")  # UTC written naive
    path = tmp_path / "utc.csv"
    pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M"), "kwh": 1.0}).to_csv(path,
                                                                                      index=False)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.retry_with == {"tz": "UTC"}
    assert len(read_profile(path).data) == 96


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"llfc": "999"}, "llfc"),
    ({"on": dt.date(2019, 6, 1)}, "year"),
    ({"voltage": "EHV"}, "llfc"),
    ({"residual_band": "7"}, "residual_band"),
])
def test_tariff_not_found_names_its_field(kwargs: dict, field: str) -> None:
    query = TariffQuery(14, **{"on": DAY, **kwargs})
    with pytest.raises(TariffNotFoundError) as info:
        resolve_query(query)
    assert info.value.field == field
    assert pickle.loads(pickle.dumps(info.value)).field == field


def test_tariff_query_is_the_keyword_form() -> None:
    query = TariffQuery(14, voltage="HV", kva=1500, on=DAY)
    assert resolve_query(query) == resolve_tariff(14, on=DAY, voltage="HV", kva=1500)
    assert query.area == 14 and TariffQuery(24, 14).area == 14
    assert query.for_year(2025).on == dt.date(2025, 4, 1)
    by_year = tariffs_for_site(query)
    assert by_year(2025).year == 2025 and by_year(2026) == resolve_query(query)
    # MIDE 2026 'Residual Charging Bands' row 16: HV band 3 is 1100 < kVA <= 2000.
    assert by_year(2026).tariff_name == "HV Site Specific Band 3"

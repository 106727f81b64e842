"""The seed toolkit's quick-start guide, run as written (issue 14).

Every ```python block of ../shared/seed/000_c0839ee9dffbfd94.txt is extracted verbatim and
executed in order in one namespace, in a temporary folder, as a user pasting the guide into
one session would. Its CSV files come from the guide's own "Generate Test Profile" block
(test_profile.csv, copied to the profile.csv the DUoS example reads) and a small sites.csv.
The session starts with the three modules' names imported, because the guide uses two names
it never imports (`generate_batch_valid_mpans` in its first block, `get_tariff_for_mpan` in
the portfolio block).

Printed figures are checked against values worked by hand from the guide's profile
(kWh = 100 + 50 sin((hour - 12) pi / 12), Wed 1 - Tue 7 January 2025, UK clock = UTC in
January) and the shipped tariffs and bands.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.tariffs import UnitWarning

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_c0839ee9dffbfd94.txt"
if not SEED.is_file():
    pytest.skip(f"seed quick-start guide not found at {SEED}", allow_module_level=True)

BLOCKS = re.findall(r"```python\n(.*?)```", SEED.read_text(encoding="utf-8"), flags=re.S)
PRELUDE = (
    "from mpan_generator_validator import *\n"
    "from duos_cost_calculator import *\n"
    "from profile_clustering_features import *\n"
)
PRIMES = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)


def _kwh(hour: int) -> float:
    """The guide's test profile: kWh in each half hour of clock hour `hour`."""
    return 100 + 50 * math.sin((hour - 12) * math.pi / 12)


def _day(hours: range | list[int]) -> float:
    """kWh in the given clock hours of one day (two half hours each)."""
    return 2 * sum(_kwh(h) for h in hours)


# One weekday of the profile in UKPN Eastern's (area 10) 2024/25 bands, config/timebands/
# 2024/10.yaml (IPNL 2024-2025 workbook, Annex 1 rows 5-7): red 16:00-19:00, amber 07:00-16:00
# and 19:00-23:00, green 00:00-07:00 and 23:00-24:00 Mon-Fri; all green at weekends.
RED = _day(range(16, 19))
AMBER = _day([*range(7, 16), *range(19, 23)])
GREEN = _day([*range(0, 7), 23])
DAY = _day(range(24))
WEEKDAYS, WEEKEND_DAYS = 5, 2  # Wed 1 - Tue 7 January 2025


def _check_digit(first12: str) -> int:
    return sum(int(d) * p for d, p in zip(first12, PRIMES, strict=True)) % 11 % 10


def _core(first12: str) -> str:
    return first12 + str(_check_digit(first12))


def _week_unit_gbp(red: float, amber: float, green: float) -> float:
    """Unit £ of the guide's week at p/kWh rates in area 10's bands."""
    weekday = RED * red + AMBER * amber + GREEN * green
    return (WEEKDAYS * weekday + WEEKEND_DAYS * DAY * green) / 100


# Sites: area 10 cores at LV and HV. Their tariffs, config/tariffs/2024/10.csv (IPNL 2024-2025
# Annex 1), residual band 1 (no kVA given to the resolver): red, amber, green p/kWh, fixed
# p/day, capacity p/kVA/day, exceeded capacity p/kVA/day.
TARIFFS_2024_10 = {
    "LV": (9.93, 0.746, 0.149, 246.32, 4.15, 8.23),
    "HV": (5.598, 0.354, 0.067, 1470.22, 4.34, 5.93),
}
SITES = [
    ("site_a", _core("100000000001"), "LV"),
    ("site_b", _core("100000000002"), "HV"),
    ("site_c", _core("100000000003"), "HV"),
    ("site_d", _core("100000000004"), "LV"),
    ("site_e", _core("100000000005"), "HV"),
]


def _site_week_gbp(voltage: str) -> tuple[float, float]:
    """(week's total £, red unit £) of one site at 300 kVA agreed capacity."""
    red, amber, green, fixed, capacity, exceeded = TARIFFS_2024_10[voltage]
    # Max demand 150 kWh in a half hour = 300 kW / 0.95 assumed power factor = 315.79 kVA,
    # 15.79 kVA over the agreed 300 for the one month (January), 7 days of it.
    over_kva = 2 * 150 / 0.95 - 300
    total = (_week_unit_gbp(red, amber, green) + 7 * fixed / 100 + 7 * capacity * 300 / 100
             + over_kva * exceeded * 7 / 100)
    return total, WEEKDAYS * RED * red / 100


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run every block in order; returns each block's output and the names defined after it
    (later blocks reuse names such as `df` and `batch`), and the warnings given."""
    folder = tmp_path_factory.mktemp("quickstart")
    generate = next(b for b in BLOCKS if "test_profile.csv" in b)
    with contextlib.chdir(folder):
        exec(compile(generate, "generate-test-profile", "exec"), {})
        shutil.copy("test_profile.csv", "profile.csv")
        pd.DataFrame(SITES, columns=["site_id", "mpan", "voltage"]).assign(
            profile_path=str(folder / "test_profile.csv")
        ).to_csv("sites.csv", index=False)
        namespace: dict = {}
        exec(PRELUDE, namespace)
        outputs, names = [], []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for number, block in enumerate(BLOCKS, 1):
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    exec(compile(block, f"guide block {number}", "exec"), namespace)
                outputs.append(out.getvalue())
                names.append(dict(namespace))
    return {"ns": namespace, "out": outputs, "names": names, "warnings": caught,
            "folder": folder}


def _block(session: dict, marker: str) -> int:
    return next(i for i, b in enumerate(BLOCKS) if marker in b)


def _output(session: dict, marker: str) -> str:
    return session["out"][_block(session, marker)]


def _names(session: dict, marker: str) -> dict:
    """The session's names just after the block containing `marker`."""
    return session["names"][_block(session, marker)]


def test_the_guide_has_its_python_blocks() -> None:
    assert len(BLOCKS) == 13
    assert sum("from duos_cost_calculator import" in b for b in BLOCKS) == 2


def test_every_block_completes_without_a_unit_warning(session: dict) -> None:
    assert len(session["out"]) == len(BLOCKS)
    assert not [w for w in session["warnings"] if issubclass(w.category, UnitWarning)]


def test_generated_mpans(session: dict) -> None:
    lines = _output(session, "generate_valid_mpan_core(dno_id='10')").splitlines()
    generated = re.fullmatch(r"Generated: (10\d{11})", lines[0]).group(1)
    assert int(generated[-1]) == _check_digit(generated[:12])
    assert lines[1] == "Valid: True"
    batch = _names(session, "generate_valid_mpan_core(dno_id='10')")["batch"]
    assert len(set(batch)) == 100
    assert all(c[:2] == "14" and int(c[-1]) == _check_digit(c[:12]) for c in batch)
    mpans = pd.read_csv(session["folder"] / "test_mpans.csv", dtype=str)["mpan"]
    assert len(mpans) == 700 and mpans.str[:2].value_counts().eq(50).all()
    assert all(int(c[-1]) == _check_digit(c[:12]) for c in mpans)


def test_duos_example_figures(session: dict) -> None:
    # £0.04837/0.00457/0.00038 per kWh = 4.837/0.457/0.038 p/kWh; 120 p/day; 5 p/kVA/day x 300.
    unit = _week_unit_gbp(4.837, 0.457, 0.038)
    total = unit + 7 * 120 / 100 + 7 * 5 * 300 / 100
    red = WEEKDAYS * RED * 4.837 / 100
    assert (round(total, 2), round(red, 2)) == (395.09, 213.60)
    assert _output(session, "result = calculate_duos_costs(df, tariff, kva_capacity=300)") == (
        f"Total: £{total:.2f}\nRed band: £{red:.2f}\n"
    )


def test_features_example_figures(session: dict) -> None:
    # max 150 / mean 100; every day alike; day 07-23 / night 23-07 mean per half hour.
    day_mean = _day(range(7, 23)) / 32
    night_mean = _day([23, *range(7)]) / 16
    assert day_mean / night_mean == pytest.approx(1.5065, abs=1e-4)
    # Pattern rules (docs/analytics.md): not 24/7 (day/night 1.51 > 1.25), not night load,
    # not office (weekend factor 1.0), peak at 18:00 with weekend factor >= 0.9 -> domestic-like;
    # flags: weekend 1.0 >= 0.5 continuous, peak ratio 1.5 <= 2 flat, load factor 0.67 variable.
    assert _output(session, "extract_profile_features(df, site_id='site_001')") == (
        "Peak Ratio: 1.50\nLoad Factor: 0.67\nWeekend Factor: 1.00\n"
        "Type: domestic-like pattern (continuous, flat, variable)\n"
    )
    features = _names(session, "extract_profile_features(df, site_id='site_001')")["features"]
    assert features.peak_kw == pytest.approx(300.0) and features.mean_kw == pytest.approx(200.0)
    assert features.evening_peak_factor == pytest.approx(RED / 6 / 100)


def test_flexibility_example_figures(session: dict) -> None:
    # Each day: 30% of 4,800 kWh = 1,440 kWh may move; the red half hours (16:00-19:00 at
    # £0.15) hold 883.2 kWh, all of it moved to £0.05 half hours (headroom under the 150 kWh
    # peak: 42 x 150 - 3,916.8 = 2,383.2 kWh): £0.10 x 883.2 a day, 7 days.
    saving = 7 * RED * 0.10
    base = 7 * (RED * 0.15 + (DAY - RED) * 0.05)
    assert (round(saving, 2), round(100 * saving / base, 1)) == (618.24, 26.9)
    assert _output(session, "calculate_flexibility_value(") == (
        f"Savings: £{saving:.2f} ({100 * saving / base:.1f}%)\n"
    )
    flex = _names(session, "calculate_flexibility_value(")["flex"]
    assert flex["energy_reduced_red_kwh"] == pytest.approx(7 * RED)
    assert flex["red_periods_count"] == 7 * 6 and flex["avg_red_price"] == pytest.approx(0.15)


def test_custom_band_column_is_honoured(session: dict) -> None:
    from duos_cost_calculator import DuosTariff, calculate_duos_costs

    df = _names(session, "def custom_tou_band")["df"]  # the guide's profile + its custom bands
    assert (df["band"] == "red").sum() == WEEKDAYS * 8  # 16:00-20:00 on 5 weekdays
    tariff = DuosTariff("10", "custom", "HV", 0.04837, 0.00457, 0.00038)
    out = calculate_duos_costs(df, tariff)
    custom_red = WEEKDAYS * _day(range(16, 20)) * 4.837 / 100
    assert out.loc[out["band"] == "red", "duos_unit_cost"].sum() == pytest.approx(custom_red)
    assert list(out["band"].astype(str)) == list(df["band"])


def test_portfolio_figures(session: dict) -> None:
    weeks = [_site_week_gbp(voltage) for _, _, voltage in SITES]
    total_year = sum(total for total, _ in weeks) * 52  # the guide's own x 52
    assert _output(session, "Total portfolio DUoS") == (
        f"Total portfolio DUoS: £{total_year:,.0f}/year\n"
    )
    portfolio = session["ns"]["portfolio_df"]
    assert portfolio["annual_duos"].to_numpy() == pytest.approx([t * 52 for t, _ in weeks])
    assert portfolio["red_cost"].to_numpy() == pytest.approx([r for _, r in weeks])


def test_clustering_example(session: dict) -> None:
    features_df = session["ns"]["features_df"]
    assert list(features_df["site_id"]) == [s for s, _, _ in SITES]
    assert features_df["peak_ratio"].to_numpy() == pytest.approx(np.full(5, 1.5))
    assert features_df["weekend_factor"].to_numpy() == pytest.approx(np.full(5, 1.0))
    text = _output(session, "KMeans(n_clusters=5")
    sizes = [int(n) for n in re.findall(r"Cluster \d \((\d+) sites\)", text)]
    assert len(sizes) == 5 and sum(sizes) == 5
    # Every site has the same profile, so every non-empty cluster has the same means.
    assert set(re.findall(r"Avg peak ratio: (\S+)", text)) <= {"1.50", "nan"}
    assert "Avg load factor: 0.67" in text


def test_troubleshooting_example(session: dict) -> None:
    extract = session["ns"]["extract_core_from_full_mpan"]
    lookup = session["ns"]["mpan_core_lookup"]
    assert extract("00800999932 1405566778899") == "1405566778899"
    info = lookup("1405566778899")
    assert int(info["dno_id"]) == 14 and info["is_valid"] is False
    assert (info["checksum"], info["expected_checksum"]) == ("9", "8")

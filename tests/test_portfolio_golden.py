"""The portfolio's results on the demo portfolio are pinned: a refactor must reproduce them.

`tests/data/portfolio_golden_*.csv` were written by this module (``python
tests/test_portfolio_golden.py --write``) from the code before the site valuation was shared
with the single-site lookup, and written again when the flexibility began to move the smallest
of equally good quantities (only `flex_shifted_kwh` changed, always down; every £ figure
equal to 1e-12). The run: 60 demo sites over 120 days from 2026-01-05 (so every
profile spans 1 April and is charged with two charging years' tariffs), 15% broken on
purpose, plus five hand-made sites for the rules the demo does not reach (an LLFC deciding the
tariff with and without a voltage, an LLFC that is not published, an IDNO site placed by its
postcode, an unreadable postcode on a DNO site). Every numeric column is compared to 1e-9
relative (far below a penny), and the identifying text columns and each error's stage exactly.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.area_resolver import AreaResult
from bess_duos.core.mpan import generate_cores
from bess_duos.core.portfolio import iter_site_batches, result_dtypes, run_batch
from bess_duos.core.portfolio_demo import make_demo_portfolio
from bess_duos.core.synthetic import generate_profile

DATA = Path(__file__).parent / "data"
RESULTS = DATA / "portfolio_golden_results.csv"
ERRORS = DATA / "portfolio_golden_errors.csv"
EXACT_TEXT = ("site_id", "mpan_core", "dno_short_code", "area_source", "voltage", "llfc",
              "tariff_name", "residual_band", "tariffs", "charging_years", "first_utc",
              "last_utc", "pattern")


def _b1_lookup(postcode):
    return AreaResult(postcode, "_E", ("_E",), "test", "test", "postcode", "high", False,
                      dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def _run(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    demo = make_demo_portfolio(folder, 60, seed=12, start="2026-01-05", days=120,
                               broken_share=0.15, sites_per_file=20)
    profile = generate_profile("office", 3e5, "2026-01-05", "2026-05-05", seed=4)
    profile.rename_axis("timestamp").reset_index().to_csv(folder / "extra.csv", index=False)
    dno = generate_cores(1, 14, seed=8)[0]
    idno = generate_cores(1, 24, seed=8)[0]
    extra = [
        f"X_LLFC,00800L03 {dno},,,,extra.csv",  # the LLFC decides (LV band 3)
        f"X_LLFC_HV,00800L03 {dno},,HV,200,extra.csv",  # the LLFC wins over the voltage
        f"X_LLFC_BAD,00800999 {dno},,LV,200,extra.csv",  # an LLFC no tariff lists
        f"X_IDNO,{idno},B1 1AA,LV,150,extra.csv",  # an IDNO site: the postcode decides
        f"X_BADPC,{dno},NOT A PC,LV Sub,300,extra.csv",  # reported, the MPAN decides
    ]
    with demo.sites_csv.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(extra) + "\n")
    parts = [run_batch(batch, area_lookup=_b1_lookup)
             for batch in iter_site_batches(demo.sites_csv, batch_size=25)]
    results = pd.concat([p[0] for p in parts], ignore_index=True)
    errors = pd.concat([p[1] for p in parts], ignore_index=True)
    return results, errors[["site_id", "row", "stage"]]


def _write(folder: Path) -> None:
    results, errors = _run(folder)
    DATA.mkdir(exist_ok=True)
    results.to_csv(RESULTS, index=False, float_format="%.17g")
    errors.to_csv(ERRORS, index=False)


def _numeric(columns: list[str]) -> list[str]:
    dtypes = result_dtypes()
    return [c for c in columns if dtypes[c] != "str"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _run(tmp_path_factory.mktemp("golden"))


def test_golden_fixture_covers_what_it_claims() -> None:
    results = pd.read_csv(RESULTS, dtype=str, keep_default_na=False).set_index("site_id")
    errors = pd.read_csv(ERRORS, dtype=str, keep_default_na=False).set_index("site_id")
    assert len(results) + len(errors) == 65 and len(errors) >= 9
    assert (results["charging_years"] == "2025 2026").sum() == len(results)
    assert results.loc["X_LLFC", "tariff_name"] == "LV Site Specific Band 3"
    assert results.loc["X_LLFC_HV", "tariff_name"] == "LV Site Specific Band 3"
    assert (results.loc["X_IDNO", "distributor_id"], results.loc["X_IDNO",
            "area_distributor_id"]) == ("24", "14")
    assert errors.loc["X_LLFC_BAD", "stage"] == "tariff"


def test_results_are_unchanged_to_the_penny(run) -> None:
    results, errors = run
    expected = pd.read_csv(RESULTS, dtype=str, keep_default_na=False)
    assert results["site_id"].tolist() == expected["site_id"].tolist()
    for column in EXACT_TEXT:
        assert results[column].tolist() == expected[column].tolist(), column
    numeric = _numeric(list(expected.columns))
    assert len(numeric) >= 30
    got = results[numeric].to_numpy(np.float64)
    want = expected[numeric].apply(pd.to_numeric).to_numpy(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0.0, equal_nan=True)
    expected_errors = pd.read_csv(ERRORS, dtype={"site_id": str, "row": "int64", "stage": str})
    pd.testing.assert_frame_equal(errors.reset_index(drop=True), expected_errors,
                                  check_dtype=False)


if __name__ == "__main__":  # regenerate the fixture from the current code
    import tempfile

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_portfolio_golden.py --write")
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp))

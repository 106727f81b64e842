"""The batch path (`run_batch` over 100 sites: one read of the Parquet parts, sites split by
slices, features of a band group stacked in one 2-D array) gives the same numbers as valuing
each of 200 demo sites on its own (`run_batch` of that one site: its own read, its own
features), every numeric column to 1e-9 relative, the text columns and error stages exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.portfolio import iter_site_batches, result_dtypes, run_batch
from bess_duos.core.portfolio_demo import make_demo_portfolio

SITES = 200


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 60 days across 1 April (two charging years per site), 5% broken on purpose, parts of 50
    # sites so a batch of 100 reads two parts.
    folder = tmp_path_factory.mktemp("batch_vs_single")
    return make_demo_portfolio(folder, SITES, seed=18, start="2026-03-02", days=60,
                               broken_share=0.05, sites_per_file=50).sites_csv


def _concat(parts: list[tuple[pd.DataFrame, pd.DataFrame]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    results = pd.concat([p[0] for p in parts], ignore_index=True)
    errors = pd.concat([p[1] for p in parts], ignore_index=True)
    return results, errors


def test_batch_path_equals_single_site_path(demo: Path) -> None:
    batched = _concat([run_batch(b) for b in iter_site_batches(demo, batch_size=100)])
    single = _concat([run_batch(b) for b in iter_site_batches(demo, batch_size=1)])
    (got, got_errors), (want, want_errors) = batched, single
    assert len(got) + len(got_errors) == SITES and len(got) >= 180 and len(got_errors) >= 5
    assert got["site_id"].tolist() == want["site_id"].tolist()
    dtypes = result_dtypes()
    text = [c for c in got.columns if dtypes[c] == "str"]
    numeric = [c for c in got.columns if dtypes[c] != "str"]
    assert len(numeric) >= 30
    for column in text:
        assert got[column].tolist() == want[column].tolist(), column
    assert (got["charging_years"] == "2025 2026").all()
    np.testing.assert_allclose(got[numeric].to_numpy(np.float64),
                               want[numeric].to_numpy(np.float64),
                               rtol=1e-9, atol=0.0, equal_nan=True)
    pd.testing.assert_frame_equal(got_errors[["site_id", "row", "stage"]],
                                  want_errors[["site_id", "row", "stage"]])

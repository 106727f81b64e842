"""A batch's SITES rows are read as records a column at a time (`core.portfolio._records`):
the same records, keys, values and Python types as `DataFrame.to_dict("records")`, on seeded
random SITES frames (blank, numeric and odd text cells, the row numbers and duplicates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from bess_duos.core import portfolio

_CELLS = ["", " ", "S1", "S2", "abc", "12", "-3", "1e3", "nan", "inf", "0", "LV", "hv", "EHV",
          "Ynys Môn", "1326144636147", "profiles/part-00000.parquet"]


def test_records_equal_to_dict() -> None:
    for seed in range(100):
        rng = np.random.default_rng(80_000 + seed)
        n = int(rng.integers(1, 40))
        frame = portfolio._as_frame(pd.DataFrame(
            {c: rng.choice(_CELLS, n) for c in portfolio.SITES_COLUMNS}))
        expected = frame.to_dict("records")
        found = portfolio._records(frame)
        assert found == expected
        assert [list(r) for r in found] == [list(r) for r in expected]  # key order
        assert [[type(v) for v in r.values()] for r in found] == [
            [type(v) for v in r.values()] for r in expected]

"""`load_sliced_profiles` of a table split into many Arrow chunks (boundaries inside sites):
where every row is a usable site's, the kWh are copied in one call and each site reads a view
of its part; where some are not, site by site. Either way each site's profile is exactly
`read_profile` of its own rows, on seeded tables (in kW too, with kvarh, a site with a gap)."""

from __future__ import annotations

from functools import partial
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from bess_duos.core.profile_loader import read_profile
from bess_duos.core.profiles import Profile, load_sliced_profiles

from tests.profile_outcomes import assert_same, outcome


def _table(rng: np.random.Generator, sites: int, value: str, kvarh: bool, gap: bool
           ) -> tuple[pa.Table, np.ndarray, list[pd.DataFrame]]:
    frames = []
    for _ in range(sites):
        n = int(rng.integers(48, 400))
        start = pd.Timestamp("2026-03-20", tz="UTC") + int(rng.integers(0, 200)) * pd.Timedelta(
            minutes=30)
        frame = pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq="30min"),
                              value: rng.lognormal(0.0, 1.0, n)})
        if kvarh:
            frame["kvarh"] = rng.normal(0.0, 1.0, n)
        frames.append(frame)
    if gap:
        at = int(rng.integers(0, sites))
        frames[at] = frames[at].drop(index=5).reset_index(drop=True)
    whole = pd.concat(frames, ignore_index=True)
    cuts = np.sort(rng.choice(np.arange(1, len(whole)), size=int(rng.integers(1, 12)),
                              replace=False))
    edges = [0, *cuts.tolist(), len(whole)]
    pieces = [pa.Table.from_pandas(whole.iloc[a:b], preserve_index=False)
              for a, b in pairwise(edges)]
    table = pa.concat_tables(pieces)
    bounds = np.cumsum([0, *(len(f) for f in frames)])
    return table, bounds, frames


@pytest.mark.parametrize("seed", range(8))
def test_sliced_profiles_over_many_chunks_equal_each_site_read_alone(seed: int) -> None:
    rng = np.random.default_rng(700 + seed)
    table, bounds, frames = _table(rng, int(rng.integers(2, 9)), "kw" if seed % 4 == 3 else "kwh",
                                   kvarh=seed % 3 == 1, gap=seed % 2 == 1)
    assert table.column("timestamp").num_chunks > 1
    loaded = load_sliced_profiles(table, bounds)
    assert len(loaded) == len(frames)
    for profile, frame in zip(loaded, frames, strict=True):
        expected = outcome(partial(read_profile, frame))
        if profile is None:  # read alone (the site with a gap)
            assert seed % 2 == 1 and expected[0] == "ok" and expected[1].quality.warnings
            continue
        assert isinstance(profile, Profile)
        assert_same(("ok", profile), expected)
    assert sum(p is None for p in loaded) == seed % 2

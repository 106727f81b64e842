"""`charge_many(all_columns=False)` puts the sites in blocks in order of their bands and rates
(each block's sites of one band set a slice of its rows): every site's result is still exactly
what `charge_arrays` gives it alone, whatever the order and mix of tariffs, on seeded sites
(runs of one tariff, interleaved tariffs, runs of consecutive sites of different tariffs, more
sites than one block, blocks of a few sites, with and without kVArh)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import duos
from bess_duos.core.duos import charge_arrays, charge_many, tariffs_for_site
from bess_duos.core.tariffs import TariffQuery

POOL = [TariffQuery(dno, voltage=voltage, kva=200.0)
        for dno in (10, 14, 14, 19, 23) for voltage in ("LV", "HV")]


@pytest.mark.parametrize("seed", range(12))
def test_lean_batch_equals_each_site_alone_in_any_order(seed: int, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    if seed >= 6:  # small blocks: many blocks, each a different mix of tariffs
        monkeypatch.setattr(duos, "_CHUNK_SITES", int(rng.integers(2, 8)))
    start = ("2026-03-20", "2025-10-20 13:30", "2026-01-05")[seed % 3]
    index = pd.date_range(start, periods=48 * int(rng.integers(3, 30)), freq="30min", tz="UTC")
    sites = int(rng.integers(duos._CHUNK_SITES + 1, 3 * duos._CHUNK_SITES))
    pool = [tariffs_for_site(q) for q in POOL]
    if seed % 2:  # runs of one tariff, in a shuffled order of runs
        which = np.repeat(rng.integers(0, len(pool), sites), rng.integers(1, 6, sites))[:sites]
    else:  # interleaved at random
        which = rng.integers(0, len(pool), sites)
    tariffs = [pool[i] for i in which]
    kwh = rng.gamma(2.0, 20.0, (sites, index.size)) * rng.uniform(0.2, 5.0, (sites, 1))
    kwh[rng.random(kwh.shape) < 0.03] *= -0.5
    kvarh = rng.normal(0.0, 15.0, kwh.shape) if seed % 3 == 2 else None
    kva = [None if rng.random() < 0.3 else float(rng.choice([60.0, 400.0])) for _ in range(sites)]
    pf = [None if i % 4 else 0.9 for i in range(sites)]
    got = charge_many(index, kwh, tariffs, kvarh=kvarh, agreed_kva=kva, power_factor=pf,
                      all_columns=False)
    assert len(got) == sites
    for site, (columns, summary) in enumerate(got):
        want_columns, want_summary = charge_arrays(
            index, kwh[site], tariffs[site], kvarh=None if kvarh is None else kvarh[site],
            agreed_kva=kva[site], power_factor=pf[site], all_columns=False)
        assert summary == want_summary, site  # every field, floats compared exactly
        assert columns.keys() == want_columns.keys()
        for name, column in want_columns.items():
            np.testing.assert_array_equal(columns[name], column, err_msg=name, strict=True)

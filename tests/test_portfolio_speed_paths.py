"""The portfolio's quicker paths give what the plain ones give: worker-written spool files, the
libyaml loader of the config YAML, time bands built once per file version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from bess_duos.core import tariffs
from bess_duos.core.paths import config_dir
from bess_duos.core.portfolio_demo import make_demo_portfolio
from bess_duos.core.portfolio_engines import MemorySink, SpoolSink, run_portfolio
from bess_duos.core.timebands import BandPeriod, TimeBands


@pytest.mark.parametrize("seed", [11, 12])
def test_worker_written_spool_equals_the_in_process_run(tmp_path: Path, seed: int) -> None:
    """Two workers writing their own spool files (and sending back counts) give the frames,
    counts and progress of one process keeping them in memory; sites broken on purpose keep
    their reasons. Seeded demos with a random batch size (batches finish out of order)."""
    rng = np.random.default_rng(seed)
    demo = make_demo_portfolio(tmp_path / "demo", 90, seed=seed, days=10, broken_share=0.1,
                               sites_per_file=int(rng.integers(15, 40)))
    batch_size = int(rng.integers(7, 25))
    memory = run_portfolio(demo.sites_csv, workers=1, batch_size=batch_size)
    ticks: list[int] = []
    spooled = run_portfolio(demo.sites_csv, workers=2, batch_size=batch_size,
                            sink=SpoolSink(tmp_path / "spool"), progress=ticks.append)
    assert sum(ticks) == 90 and len(ticks) == spooled.batches == -(-90 // batch_size)
    assert (spooled.sink.n_results, spooled.sink.n_errors) == (81, 9)
    assert (memory.sink.n_results, memory.sink.n_errors) == (81, 9)
    assert len(list((tmp_path / "spool").glob("errors-*.parquet"))) >= 1
    pd.testing.assert_frame_equal(memory.results, spooled.results, check_exact=True)
    pd.testing.assert_frame_equal(memory.errors, spooled.errors, check_exact=True)


class _Renaming(SpoolSink):
    """A SpoolSink whose `add` does more: the engine must call it, not write for it."""

    def add(self, index: int, results: pd.DataFrame, errors: pd.DataFrame) -> None:
        super().add(index, results.assign(site_id=results["site_id"] + "!"), errors)


def test_a_sink_overriding_add_still_gets_the_frames(tmp_path: Path) -> None:
    demo = make_demo_portfolio(tmp_path / "demo", 30, seed=4, days=7, sites_per_file=15)
    plain = run_portfolio(demo.sites_csv, workers=2, batch_size=10, sink=MemorySink())
    renamed = run_portfolio(demo.sites_csv, workers=2, batch_size=10,
                            sink=_Renaming(tmp_path / "spool"))
    assert renamed.results["site_id"].tolist() == [s + "!" for s in plain.results["site_id"]]


def _config_yaml() -> list[Path]:
    return sorted(config_dir().rglob("*.yaml"))


def test_every_config_yaml_reads_the_same_with_the_quick_loader() -> None:
    """The loader `core.tariffs` uses (libyaml's CSafeLoader where PyYAML has it) gives the
    pure-Python safe loader's documents, value for value and type for type."""
    paths = _config_yaml()
    assert len(paths) > 50  # time bands of every area and year, residual bands, defaults
    for path in paths:
        text = path.read_text(encoding="utf-8")
        quick = yaml.load(text, Loader=tariffs._SAFE_LOADER)
        plain = yaml.safe_load(text)
        assert quick == plain and repr(quick) == repr(plain), path


def test_time_bands_built_once_equal_ones_built_from_the_file() -> None:
    """`load_time_bands` (built once per file version) equals `TimeBands` built afresh from the
    file read with the plain safe loader, for every area and year bundled; asked twice it
    gives the same object."""
    checked = 0
    for path in sorted((config_dir() / "timebands").glob("*/*.yaml")):
        year, area = int(path.parent.name), int(path.stem)
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        fresh = TimeBands(
            distributor_id=area, year=year,
            periods=tuple(BandPeriod(p["band"], p["days"], str(p["start"]), str(p["end"]),
                                     tuple(p["months"])) for p in doc["periods"]),
            source=doc.get("source", ""), notes=tuple(doc.get("notes") or ()),
        )
        loaded = tariffs.load_time_bands(area, year)
        assert loaded == fresh, path
        assert tariffs.load_time_bands(area, year) is loaded
        checked += 1
    assert checked >= 14 * 4


def test_dask_workers_on_loopback_write_the_spool(tmp_path: Path, monkeypatch) -> None:
    """Dask workers on loopback write the spool files themselves (the client's `add` is never
    called) and the frames equal the local engine's."""
    distributed = pytest.importorskip("distributed")
    demo = make_demo_portfolio(tmp_path / "demo", 40, seed=6, days=7, broken_share=0.1,
                               sites_per_file=20)
    calls: list[int] = []
    plain_add = SpoolSink.add
    monkeypatch.setattr(SpoolSink, "add", lambda self, index, *frames: (
        calls.append(index), plain_add(self, index, *frames)))
    local = run_portfolio(demo.sites_csv, workers=1, batch_size=15)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1", dashboard_address=None
                                  ) as cluster, distributed.Client(cluster) as client:
        ticks: list[int] = []
        remote = run_portfolio(demo.sites_csv, engine="dask", scheduler=client, batch_size=15,
                               sink=SpoolSink(tmp_path / "spool"), progress=ticks.append)
    assert calls == [] and sum(ticks) == 40 and remote.batches == 3
    assert len(list((tmp_path / "spool").glob("results-*.parquet"))) == 3
    pd.testing.assert_frame_equal(local.results, remote.results, check_exact=True)
    pd.testing.assert_frame_equal(local.errors, remote.errors, check_exact=True)


@pytest.mark.parametrize("seed", range(4))
def test_results_frame_built_by_columns_equals_rows_then_astype(seed: int) -> None:
    """`_results_frame` (a column at a time, in the fixed dtypes) equals the frame made from
    the rows with the features merged in and then cast, on seeded random rows: NaN and None
    figures, blank and non-ASCII text, integers of any size."""
    from bess_duos.core.features import FEATURES
    from bess_duos.core.portfolio import _results_frame, result_columns, result_dtypes

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    words = ["", " ", "LV", "a; b", "Ünïcode £", "2025-03-31 23:00", "x" * 50]
    rows: list[dict] = []
    for _ in range(n):
        row: dict = {}
        for name, dtype in result_dtypes().items():
            if dtype == "int64":
                row[name] = int(rng.integers(-(2**40), 2**40))
            elif dtype == "float64":
                row[name] = [float(rng.normal() * 1e6), np.nan, None, 0.0][int(rng.integers(4))]
            else:
                row[name] = words[int(rng.integers(len(words)))]
        rows.append(row)
    ids = [f"s{i}" for i in range(n)]
    features = pd.DataFrame({name: rng.normal(size=n) for name in FEATURES}, index=ids)
    features.loc[ids[0], FEATURES[0]] = np.nan
    features["pattern"] = [words[int(i)] for i in rng.integers(len(words), size=n)]
    features["notes"] = [words[int(i)] for i in rng.integers(len(words), size=n)]
    merged = []
    for row, site in zip(rows, ids, strict=True):
        row = {k: v for k, v in row.items() if k not in (*FEATURES, "pattern", "feature_notes")}
        row.update({name: float(features.loc[site, name]) for name in FEATURES})
        row["pattern"] = str(features.loc[site, "pattern"])
        row["feature_notes"] = str(features.loc[site, "notes"])
        merged.append(row)
    expected = pd.DataFrame(merged, columns=result_columns()).astype(result_dtypes())
    pd.testing.assert_frame_equal(_results_frame(rows, features), expected, check_exact=True)
    assert _results_frame([], features.iloc[:0]).dtypes.equals(expected.dtypes)

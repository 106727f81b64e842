"""Portfolio runs: SITES validation, streaming, per-site errors, results = the core functions."""

from __future__ import annotations

import datetime as dt
import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.area_resolver import AreaResult
from bess_duos.core.duos import charge_arrays, tariffs_for_site
from bess_duos.core.features import create_features_dataframe
from bess_duos.core.flexibility import calculate_flexibility_value
from bess_duos.core.mpan import generate_cores
from bess_duos.core.portfolio import (
    SITES_COLUMNS,
    SitesFileError,
    count_sites,
    iter_site_batches,
    run_batch,
)
from bess_duos.core.portfolio_demo import BROKEN_KINDS, make_demo_portfolio
from bess_duos.core.portfolio_engines import SpoolSink, run_local, run_portfolio
from bess_duos.core.synthetic import generate_profile
from bess_duos.core.tariffs import TariffQuery
from bess_duos.core.timebands import BANDS
from bess_duos.webhook.cli import main as cli_main

HEADER = ",".join(SITES_COLUMNS)


def _sites_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """160 two-week sites, 5% broken (8 sites: one of each broken kind)."""
    out = tmp_path_factory.mktemp("demo")
    return make_demo_portfolio(out, 160, seed=3, days=14, broken_share=0.05, sites_per_file=40)


# ---------------------------------------------------------------- SITES file


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = _sites_csv(tmp_path / "s.csv", ["a,1405566778899,,LV,100,p.csv"],
                      header="site_id,mpan,postcode,voltage,profile_path,")
    with pytest.raises(SitesFileError, match=r"missing column\(s\) kva") as info:
        next(iter_site_batches(path))
    assert "site_id,mpan,postcode,voltage,kva,profile_path" in str(info.value)


def test_extra_column_is_named(tmp_path: Path) -> None:
    path = _sites_csv(tmp_path / "s.csv", ["a,1405566778899,,LV,100,p.csv,x"],
                      header=HEADER + ",notes")
    with pytest.raises(SitesFileError, match=r"unexpected column\(s\) 'notes'"):
        next(iter_site_batches(path))


def test_cli_bad_header_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _sites_csv(tmp_path / "s.csv", ["a,b"], header="site,mpan")
    assert cli_main(["portfolio", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) site_id, postcode, voltage, kva, profile_path" in err
    assert "unexpected column(s) 'site'" in err


def test_cli_missing_sites_file_exits_2_and_makes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "o"
    assert cli_main(["portfolio", str(tmp_path / "none.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "none.csv' not found: give a CSV or Parquet file with columns site_id," in err
    assert not out.exists()


def test_cli_out_that_is_a_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    assert cli_main(["portfolio", "demo", "--sites", "3", "--out", str(taken)]) == 4  # output
    err = capsys.readouterr().err
    assert f"--out {taken}: cannot write there" in err and "Traceback" not in err


def test_bom_and_spreadsheet_files(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("\ufeff" + HEADER + "\na,1405566778899,,LV,100,p.csv\n", encoding="utf-8")
    assert next(iter_site_batches(path))["site_id"].tolist() == ["a"]
    (tmp_path / "s.xlsx").write_bytes(b"PK")
    with pytest.raises(SitesFileError, match="must be CSV or Parquet"):
        next(iter_site_batches(tmp_path / "s.xlsx"))


def test_a_failing_batch_is_reported_not_raised() -> None:
    batch = pd.DataFrame({c: ["x1", "x2"] if c == "site_id" else ["", ""] for c in SITES_COLUMNS})
    outcome = run_local([batch], workers=1, flex_fraction="lots")
    assert outcome.results.empty
    assert outcome.errors["stage"].tolist() == ["internal", "internal"]
    assert outcome.errors["reason"].iloc[0].startswith("the batch failed: ValueError")
    with pytest.raises(ValueError, match="flex_fraction must be between 0 and 1"):
        run_portfolio("unused.csv", flex_fraction=1.5)


def test_reader_streams_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches come one at a time: the file's bad tail is only met at the third batch (the
    file is read 100 rows at a time here: 5,000 in service)."""
    import bess_duos.core.portfolio as portfolio

    monkeypatch.setattr(portfolio, "_SITES_READ_ROWS", 100)
    rows = [f"s{i},1405566778899,,LV,100,p.csv" for i in range(250)]
    path = _sites_csv(tmp_path / "s.csv", [*rows, 'bad,"unclosed quote'])
    batches = iter_site_batches(path, batch_size=100)
    assert inspect.isgenerator(batches)
    first, second = next(batches), next(batches)
    assert len(first) == len(second) == 100
    assert first["row"].tolist() == list(range(1, 101))
    assert second["row"].iloc[0] == 101
    assert first["profile_path"].iloc[0] == str(tmp_path / "p.csv")
    with pytest.raises(SitesFileError, match="cannot read the rows after data row 200"):
        list(batches)  # the malformed tail is parsed only now
    assert count_sites(path) == 251


def test_batches_are_the_same_whatever_the_rows_read_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows read 5,000 at a time and handed out in batches give the batches read a batch at a
    time gave: row numbers, duplicates across batches, stripped cells, absolute paths."""
    import bess_duos.core.portfolio as portfolio

    rows = [f" s{i % 170} , 1405566778899 ,,LV, {100 + i} ,{'sub/' if i % 3 else ''}p{i % 7}.csv"
            for i in range(437)]
    csv = _sites_csv(tmp_path / "s.csv", rows)
    parquet = tmp_path / "s.parquet"
    pd.read_csv(csv, dtype=str, keep_default_na=False).to_parquet(parquet)
    for path in (csv, parquet):
        for size in (1, 64, 100, 437, 1000):
            big = list(iter_site_batches(path, size))
            with monkeypatch.context() as patch:
                patch.setattr(portfolio, "_SITES_READ_ROWS", 1)  # a batch at a time
                small = list(iter_site_batches(path, size))
            assert [len(b) for b in big] == [len(b) for b in small]
            assert sum(len(b) for b in big) == 437
            for one, other in zip(big, small, strict=True):
                pd.testing.assert_frame_equal(one, other, check_exact=True)
    last = list(iter_site_batches(csv, 100))[-1]
    assert last["row"].tolist() == list(range(401, 438))
    assert last["duplicate_of_row"].iloc[0] == 401 - 340  # s60, first seen in row 61
    assert last["site_id"].iloc[0] == "s60" and last["kva"].iloc[0] == "500"


def test_local_engine_keeps_batches_in_flight_bounded() -> None:
    """The pool never holds more than max_pending batches: memory is bounded by batch size."""
    pulled = 0
    gaps = []

    def batches():
        nonlocal pulled
        for i in range(12):
            pulled += 1
            yield pd.DataFrame({c: [f"x{i}" if c == "site_id" else ""] for c in SITES_COLUMNS})

    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += 1
        gaps.append(pulled - done)

    outcome = run_local(batches(), workers=2, max_pending=3, progress=progress)
    assert outcome.batches == 12 and len(outcome.errors) == 12
    assert max(gaps) <= 3  # pulled but unfinished batches never exceed max_pending
    assert set(outcome.errors["stage"]) == {"mpan"}


# ---------------------------------------------------------------- per-site errors


def test_every_broken_site_is_reported(demo) -> None:
    outcome = run_portfolio(demo.sites_csv, batch_size=50, workers=1)
    assert len(demo.broken) == 8 and set(demo.broken["kind"]) == set(BROKEN_KINDS)
    assert outcome.sites == 160 and len(outcome.results) == 152
    errors = outcome.errors.set_index("site_id")
    expected = demo.broken.set_index("site_id")
    assert sorted(errors.index) == sorted(expected.index)
    assert (errors.loc[expected.index, "stage"] == expected["stage"]).all()
    reasons = dict(zip(expected["kind"], errors.loc[expected.index, "reason"], strict=True))
    assert "wrong check digit" in reasons["bad_check_digit"]
    assert "non-digit character 'O'" in reasons["mpan_letters"]
    assert "missing.parquet' not found" in reasons["missing_file"]
    assert "EHV (EDCM) charges are site-specific" in reasons["ehv_without_llfc"]
    assert "charging year 2019/20" in reasons["no_tariff_year"]
    assert "half hours must be regular" in reasons["profile_gap"]
    assert "column kva: 'lots'" in reasons["bad_kva"]
    assert "no rows for site_id" in reasons["no_profile_rows"]
    assert not set(outcome.results["site_id"]) & set(expected.index)


def test_a_batch_is_freed_when_its_results_are_returned(demo) -> None:
    """Nothing a batch makes is left in a reference cycle (a nested function that called
    itself, a site's error holding its traceback's frames, which held the batch's outcomes):
    refcounting frees each batch's runs, frames and results as soon as the batch returns, not
    the garbage collector's next full pass. Only threadpoolctl's own few objects are left."""
    import gc

    for batch in iter_site_batches(demo.sites_csv, 40):  # every broken kind among them
        run_batch(batch)
        gc.collect()
        gc.disable()
        try:
            results, errors = run_batch(batch)
            left = gc.collect()
        finally:
            gc.enable()
        assert len(results) + len(errors) == 40 and left < 10  # before: 1,850-2,470


def test_batches_run_with_one_blas_thread_found_once(monkeypatch) -> None:
    """`run_batch` limits BLAS to one thread while it runs and restores it after; the loaded
    libraries are scanned once (~1.3 ms a batch before), again only once a module has been
    imported since (it may have loaded a library)."""
    import sys
    import types

    from bess_duos.core import portfolio
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    monkeypatch.setattr(portfolio._OneBlasThread, "_controller", None)
    before, found = blas_threads(), []
    for _ in range(3):
        with portfolio._OneBlasThread():
            assert blas_threads() and set(blas_threads()) == {1}
        found.append(portfolio._OneBlasThread._controller)
    assert blas_threads() == before
    assert found[0] is not None and found[0] is found[1] is found[2]
    monkeypatch.setitem(sys.modules, "bess_duos_test_new_module", types.ModuleType("new"))
    with portfolio._OneBlasThread():
        pass
    assert portfolio._OneBlasThread._controller is not found[0]


def test_parquet_sites_file_gives_the_same_results(demo, tmp_path: Path) -> None:
    table = pd.read_csv(demo.sites_csv, dtype=str, keep_default_na=False)
    table["profile_path"] = [str(demo.sites_csv.parent / p) for p in table["profile_path"]]
    table.to_parquet(tmp_path / "sites.parquet", index=False)
    from_csv = run_portfolio(demo.sites_csv, workers=1, batch_size=40)
    from_parquet = run_portfolio(tmp_path / "sites.parquet", workers=1, batch_size=40)
    pd.testing.assert_frame_equal(from_csv.results, from_parquet.results, check_exact=True)
    pd.testing.assert_frame_equal(from_csv.errors, from_parquet.errors, check_exact=True)
    assert count_sites(tmp_path / "sites.parquet") == 160


def test_spooled_batches_equal_the_in_memory_run(demo, tmp_path: Path) -> None:
    """SpoolSink writes each batch to disk as it finishes (out of order) and reads back in order."""
    memory = run_portfolio(demo.sites_csv, workers=1, batch_size=40)
    spooled = run_portfolio(demo.sites_csv, workers=2, batch_size=40, sink=SpoolSink(tmp_path))
    assert len(list(tmp_path.glob("results-*.parquet"))) == 4
    assert spooled.sites == 160 and spooled.sink.n_errors == 8
    pd.testing.assert_frame_equal(memory.results, spooled.results, check_exact=True)
    pd.testing.assert_frame_equal(memory.errors, spooled.errors, check_exact=True)
    few = spooled.sink.read_results_columns(["site_id", "load_factor"])
    assert few["site_id"].tolist() == memory.results["site_id"].tolist()


def test_input_rows_are_checked_per_site(tmp_path: Path) -> None:
    core = generate_cores(1, 14, seed=1)[0]
    profile = generate_profile("office", 1e5, "2025-06-02", "2025-06-09", seed=1)
    profile.rename_axis("timestamp").reset_index().to_csv(tmp_path / "p.csv", index=False)
    path = _sites_csv(tmp_path / "s.csv", [
        f"a,{core},,LV,100,p.csv",
        f",{core},,LV,100,p.csv",
        f"a,{core},,LV,100,p.csv",
        f"b,{core},,MV,100,p.csv",
        f"c,{core},,LV,-5,p.csv",
        "d,,,LV,100,p.csv",
        f"e,{core},,,,",
    ])
    outcome = run_portfolio(path, workers=1)
    assert outcome.results["site_id"].tolist() == ["a"]
    reasons = dict(zip(outcome.errors["row"], outcome.errors["reason"], strict=True))
    assert reasons[2].startswith("row 2, column site_id: blank")
    assert reasons[3] == "row 3, column site_id: 'a' repeats row 1: site_id must be unique"
    assert reasons[4].startswith("row 4, column voltage: voltage 'MV' is not one of")
    assert reasons[5].startswith("row 5, column kva: '-5' is not a positive number")
    assert reasons[6].startswith("row 6, column mpan: blank")
    assert reasons[7].startswith("row 7, column profile_path: blank")


# ---------------------------------------------------------------- results are the core's


def test_results_equal_the_core_functions(tmp_path: Path) -> None:
    """One site, per-site CSV file with kVArh: every number comes from the core functions."""
    core = generate_cores(1, 11, seed=5)[0]
    profile = generate_profile("retail", 4e5, "2026-03-16", "2026-04-13", seed=9)  # spans 1 April
    frame = profile.rename_axis("timestamp").reset_index()
    frame["kvarh"] = frame["kwh"] * 0.4
    frame.to_csv(tmp_path / "retail.csv", index=False)
    path = _sites_csv(tmp_path / "s.csv", [f"r1,{core},,HV,250,retail.csv"])
    results, errors = run_batch(next(iter_site_batches(path)), flex_fraction=0.25)
    assert errors.empty
    row = results.iloc[0]

    tariffs = tariffs_for_site(TariffQuery(11, voltage="HV", kva=250.0))
    kwh = profile.to_numpy()
    columns, summary = charge_arrays(profile.index, kwh, tariffs, kvarh=kwh * 0.4,
                                     agreed_kva=250.0)
    assert row["charging_years"] == "2025 2026"
    assert row["annual_duos_gbp"] == pytest.approx(summary.annualised_total_gbp, rel=1e-12)
    assert row["reactive_gbp"] == pytest.approx(summary.reactive_gbp, rel=1e-12)
    assert row["reactive_gbp"] > 0
    for band in BANDS:
        assert row[f"unit_gbp_{band}"] == pytest.approx(summary.unit_gbp_by_band[band], rel=1e-12)
    flex = calculate_flexibility_value(profile, 0.25, columns["unit_rate_p_per_kwh"])
    assert row["flex_annual_value_gbp"] == pytest.approx(flex.annual_value_gbp, rel=1e-12)
    names = np.asarray(BANDS)[columns["band"]]
    features = create_features_dataframe({"r1": profile}, {"r1": names}).loc["r1"]
    assert row["red_share"] == pytest.approx(features["red_share"], rel=1e-12)
    assert row["load_factor"] == pytest.approx(features["load_factor"], rel=1e-12)
    assert row["pattern"] == features["pattern"]
    assert row["tariff_name"] == tariffs(2025).tariff_name


def _b1_lookup(postcode):
    return AreaResult(postcode, "_E", ("_E",), "test", "test", "postcode", "high", False,
                      dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_idno_site_takes_its_area_from_the_postcode(tmp_path: Path) -> None:
    core = generate_cores(1, 24, seed=2)[0]  # IPNL, an IDNO
    profile = generate_profile("office", 2e5, "2025-06-02", "2025-06-16", seed=2)
    long = profile.rename_axis("timestamp").reset_index()
    long.insert(0, "site_id", "i1")
    long.to_csv(tmp_path / "all.csv", index=False)
    path = _sites_csv(tmp_path / "s.csv", [f"i1,{core},B1 1AA,LV,60,all.csv",
                                           f"i2,{core},,LV,60,all.csv"])
    results, errors = run_batch(next(iter_site_batches(path)), area_lookup=_b1_lookup)
    row = results.set_index("site_id").loc["i1"]
    assert (row["distributor_id"], row["area_distributor_id"]) == (24, 14)
    assert row["area_source"] == "postcode"
    expected = tariffs_for_site(
        TariffQuery(24, voltage="LV", kva=60.0, area_distributor_id=14))(2025)
    assert row["tariff_name"] == expected.tariff_name
    assert errors.set_index("site_id").loc["i2", "stage"] == "area"
    assert "enter the site's postcode" in errors.set_index("site_id").loc["i2", "reason"]


# ---------------------------------------------------------------- the command line


def test_cli_issue_form_writes_every_output(demo, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    status = cli_main(["portfolio", str(demo.sites_csv), "--out", str(out), "--workers", "2",
                       "--batch-size", "30", "--clusters", "4"])
    assert status == 0
    captured = capsys.readouterr()
    assert "160 sites: 152 valued, 8 failed" in captured.out
    assert "portfolio: 100%" in captured.err  # the progress bar
    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == 152 and results["cluster"].nunique() == 4
    assert pd.read_csv(out / "results.csv")["site_id"].tolist() == results["site_id"].tolist()
    errors = pd.read_csv(out / "errors.csv")
    assert list(errors.columns) == ["site_id", "row", "stage", "reason"]
    assert sorted(errors["site_id"]) == sorted(demo.broken["site_id"])
    clusters = pd.read_csv(out / "clusters.csv")
    assert clusters["sites"].sum() == 152 and len(clusters) == 4
    means = results.groupby("cluster")["annual_duos_gbp"].mean()
    assert np.allclose(clusters.set_index("cluster")["mean_annual_duos_gbp"], means)
    assert not list(out.glob(".batches-*"))  # the spooled batches are cleaned up
    for png in ("cost_by_band.png", "feature_scatter.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_run_form_and_demo(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    assert cli_main(["portfolio", "demo", "--sites", "12", "--days", "7", "--out", str(out),
                     "--run", "--no-progress", "--workers", "1"]) == 0
    assert "12 sites: 12 valued, 0 failed" in capsys.readouterr().out
    again = tmp_path / "again"
    assert cli_main(["portfolio", "run", str(out / "sites.csv"), "--out", str(again),
                     "--workers", "1", "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["sites"], summary["valued"], summary["failed"]) == (12, 12, 0)
    assert summary["written"][:3] == ["results.csv", "results.parquet", "errors.csv"]
    first = pd.read_parquet(out / "output" / "results.parquet")
    pd.testing.assert_frame_equal(first, pd.read_parquet(again / "results.parquet"))


def test_idno_lookups_stop_going_online_once_the_services_are_down(monkeypatch) -> None:
    from bess_duos.core import area_resolver, portfolio

    calls: list[tuple[str, bool]] = []

    class FakeLookup:
        def lookup(self, postcode, online=True):
            calls.append((str(postcode), online))
            if online:
                raise area_resolver.ServiceUnavailableError("services down")
            raise area_resolver.NoOfflineDataError(f"nothing cached for {postcode}")

    monkeypatch.setattr(area_resolver, "AreaLookup", FakeLookup)
    lookup = portfolio._PortfolioLookup()
    for postcode in ("B1 1AA", "B2 4QA", "B1 1AA", "B2 4QA"):
        with pytest.raises(area_resolver.AreaLookupError):
            lookup(postcode)
    assert calls == [("B1 1AA", True), ("B2 4QA", False)]


@pytest.mark.parametrize("layout", ["one file", "interleaved", "int ids", "null ids", "folder"])
def test_keyed_parquet_rows_are_each_sites_own(tmp_path: Path, layout: str) -> None:
    """The rows read for each wanted site are exactly that site's rows, in file order, however
    the file is laid out; unwanted and unknown sites give no entry."""
    from bess_duos.core.portfolio import _Source

    from tests.keyed_reference import read_keyed

    times = pd.date_range("2026-01-01", periods=6, freq="30min", tz="UTC")
    frames = [pd.DataFrame({"site_id": sid, "timestamp": times, "kwh": np.arange(6.0) + 10 * n})
              for n, sid in enumerate(["11", "22", "33"])]
    rows = pd.concat(frames, ignore_index=True)
    if layout == "interleaved":
        rows = rows.iloc[np.argsort(np.arange(len(rows)) % 6, kind="stable")]
    if layout == "int ids":
        rows["site_id"] = rows["site_id"].astype(int)
    if layout == "null ids":
        rows.loc[rows.index[[2, 9]], "site_id"] = None
    path = tmp_path / "p.parquet"
    if layout == "folder":
        path.mkdir()
        for n, part in enumerate(frames):
            part.to_parquet(path / f"part-{n}.parquet", index=False)
    else:
        rows.to_parquet(path, index=False)
    got = read_keyed(_Source(str(path)), ["11", "33", "44"], layout == "folder")
    assert sorted(got) == ["11", "33"]
    for sid, frame in got.items():
        mine = rows[rows["site_id"].astype(str) == sid].drop(columns="site_id")
        assert frame["kwh"].tolist() == mine["kwh"].tolist()
        assert frame["timestamp"].tolist() == mine["timestamp"].tolist()
    assert got["33"]["kwh"].iloc[0] == 20.0


def test_profiles_behind_a_uri_are_read_with_pyarrows_filesystems(demo, tmp_path: Path) -> None:
    """profile_path may be a URI (s3://, gs://, ...: pyarrow's own filesystems; here file://,
    the same code path without a network): the results equal those of the plain paths, and a
    URI that names nothing, or names a CSV, fails those sites with the reason."""
    sites = pd.read_csv(demo.sites_csv, dtype=str, keep_default_na=False).head(120)
    sites["profile_path"] = [str((demo.sites_csv.parent / p).resolve())
                             for p in sites["profile_path"]]
    local = tmp_path / "local.csv"
    sites.to_csv(local, index=False)
    as_uri = sites.copy()
    as_uri["profile_path"] = [Path(p).as_uri() for p in sites["profile_path"]]
    bad = as_uri.tail(2).assign(site_id=["X1", "X2"], profile_path=[
        (tmp_path / "absent.parquet").as_uri(), (tmp_path / "one.csv").as_uri()])
    as_uri = pd.concat([as_uri, bad], ignore_index=True)
    (tmp_path / "one.csv").write_text("timestamp,kwh\n", encoding="utf-8")
    uri = tmp_path / "uri.csv"
    as_uri.to_csv(uri, index=False)
    from_paths = run_portfolio(local, workers=1, batch_size=50)
    from_uris = run_portfolio(uri, workers=1, batch_size=50)
    assert len(from_paths.results) > 100
    pd.testing.assert_frame_equal(from_paths.results, from_uris.results, check_exact=True)
    reasons = dict(zip(from_uris.errors["site_id"], from_uris.errors["reason"], strict=True))
    assert "absent.parquet' not found" in reasons["X1"]
    assert "only Parquet is read from a URI" in reasons["X2"]


def test_google_cloud_storage_uris_get_a_bound_on_retries() -> None:
    """pyarrow retries a GCS request for 15 minutes by default (no credentials, no network: a
    site would hang that long); a gs:// URI is opened with a 30 s retry limit unless it gives
    its own. (Checked by hand offline: the site then fails in ~12 s with a 5 s limit.)"""
    from bess_duos.core.portfolio import _bounded

    assert _bounded("gs://b/parts/p.parquet") == "gs://b/parts/p.parquet?retry_limit_seconds=30"
    assert _bounded("gcs://b/p.parquet?project_id=x") == \
        "gcs://b/p.parquet?project_id=x&retry_limit_seconds=30"
    assert _bounded("gs://b/p.parquet?retry_limit_seconds=5") == \
        "gs://b/p.parquet?retry_limit_seconds=5"
    assert _bounded("s3://b/p.parquet") == "s3://b/p.parquet"
    assert _bounded("file:///tmp/p.parquet") == "file:///tmp/p.parquet"

"""One profile, one answer: the same awkward profiles fed to the CLI (`duos`, `lookup`), the
webhook (the real app on loopback, the file served from a loopback HTTP server) and the
workbook sheet (`lookup --sheet`) give the same outcome, the same warning words and the same
figures (issue 20; the policy is `core.profile_loader`, docs/duos.md "One reading policy").

Every profile lies in charging year 2026/27 and the lookup date is in it too, so `duos` (each
charging year's tariff) and `lookup` (the tariff in force on the date) charge the same rates.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.duos import duos_charges
from bess_duos.core.profiles import load_profile
from bess_duos.core.tariffs import TariffQuery, resolve_query
from bess_duos.webhook.cli import main
from bess_duos.webhook.profile_links import FetchPolicy
from bess_duos.webhook.workbook_sheet import WorkbookSheet

from tests.loopback import FileServer, Webhook
from tests.test_end_to_end import SECRET

DAY = dt.date(2026, 11, 24)
MPAN = "1405566778898"  # area 14, check digit right
SITE = ["--voltage", "HV", "--kva", "300"]
RNG = np.random.default_rng(20)


def _long(times: pd.DatetimeIndex, values: np.ndarray, column: str = "kwh") -> bytes:
    frame = pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M"), column: values})
    return frame.to_csv(index=False).encode()


def _days(start: str, days: int, freq: str = "30min") -> pd.DatetimeIndex:
    end = pd.Timestamp(start) + pd.Timedelta(days=days)
    return pd.date_range(start, end, freq=freq, inclusive="left")


def _loads(n: int) -> np.ndarray:
    return np.round(RNG.uniform(1.0, 3.0, n), 3)


def _steady(days: int, freq: str = "30min", column: str = "kwh", rows: int | None = None
            ) -> Callable[[], bytes]:
    """Naive readings from Monday 4 May 2026 for `days` days (the first `rows` only)."""
    def content() -> bytes:
        times = _days("2026-05-04", days, freq)[:rows]
        return _long(times, _loads(times.size), column)
    return content


def _naive_uk_clock() -> bytes:
    """UK clock times over both clock changes (25 Oct 2026: 50 half hours, 28 Mar 2027: 46)."""
    local = pd.date_range("2026-10-20", "2027-03-31 23:30", freq="30min", tz="Europe/London")
    return _long(local.tz_localize(None), _loads(local.size))


def _naive_utc() -> bytes:
    """Naive times that do not skip 01:00-01:59 on 28 March 2027: UTC, 11 days (ending
    before 1 April BST, so all in charging year 2026/27)."""
    times = _days("2027-03-20", 11)
    return _long(times, _loads(times.size))


def _with_gap() -> bytes:
    times = _days("2026-05-04", 60)
    keep = np.ones(times.size, bool)
    keep[500:700] = False
    return _long(times[keep], _loads(times.size)[keep])


def _with_duplicates() -> bytes:
    times = _days("2026-05-04", 60)
    loads = _loads(times.size)
    return _long(times.append(times[100:110]), np.concatenate([loads, loads[100:110]]))


def _excel_serials() -> bytes:
    times = _days("2026-05-04", 30)
    serials = (times - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
    return pd.DataFrame({"timestamp": serials, "kwh": _loads(times.size)}).to_csv(
        index=False).encode()


@dataclass(frozen=True)
class Case:
    """A profile and what every way in must say about it: `error` words (refused), or the
    warning words and whether the annual figures are blank."""

    content: Callable[[], bytes]
    warnings: tuple[str, ...] = ()
    error: str | None = None
    annual_blank: bool = False


CASES: dict[str, Case] = {
    "min15.csv": Case(_steady(30, "15min"),
                      ("15-minute data summed into half hours",)),
    "hourly.csv": Case(_steady(30, "h"),
                       ("hourly data split into half hours",)),
    "naive_clock_changes.csv": Case(_naive_uk_clock),
    "naive_utc_march.csv": Case(_naive_utc, (
        "naive timestamps read as UTC (they skip no hour at the March clock change",
        "only 11 day(s) of data: annual figures extrapolated from under 28 days")),
    "ten_rows.csv": Case(_steady(1, rows=10), (
        "only 0.208 day(s) of data: annual DUoS £ and flexibility £/yr and saving % left "
        "blank",), annual_blank=True),
    "gaps.csv": Case(_with_gap, ("200 half hour(s) missing in 1 gap(s)",)),
    "duplicates.csv": Case(_with_duplicates,
                           ("10 duplicated row(s) with identical values dropped",)),
    "excel_serial.csv": Case(_excel_serials, error=(
        "timestamp column holds numbers such as 46146: these are Excel serial dates (days since "
        "1899-12-30; 46146 is 2026-05-04 00:00)")),
    "kw.csv": Case(_steady(30, column="kW"),
                   ("kW converted to kWh as kW x 0.5 h per 30-minute reading",)),
    "empty.csv": Case(lambda: b"", error="profile file 'empty.csv' is empty (0 bytes)"),
    "six_days.csv": Case(_steady(6), (
        "only 6 day(s) of data: annual DUoS £ and flexibility £/yr and saving % left blank",),
        annual_blank=True),
    "twenty_days.csv": Case(_steady(20), (
        "only 20 day(s) of data: annual figures extrapolated from under 28 days",)),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every profile as a file (the same bytes are served to the webhook)."""
    path = tmp_path_factory.mktemp("awkward")
    for name, case in CASES.items():
        (path / name).write_bytes(case.content())
    return path


@pytest.fixture(scope="module")
def webhook(folder: Path) -> Iterator[Webhook]:
    files = FileServer()
    for name in CASES:
        files.serve_bytes(f"/files/{name}", (folder / name).read_bytes())
    hook = Webhook({"WEBHOOK_SECRET": SECRET, "LOOKUP_DATE": DAY,
                    "FETCH_POLICY": FetchPolicy(allow_loopback_ports=frozenset({files.port}))})
    hook.files = files  # type: ignore[attr-defined]
    yield hook
    hook.close()
    files.close()


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@dataclass
class Answers:
    """What the three ways in said about one profile."""

    duos: tuple[int, str, str]
    lookup: tuple[int, str, str]
    webhook: tuple[int, dict[str, Any]]
    cells: dict[str, list[list[Any]]] | None


def _ask(name: str, folder: Path, webhook: Webhook, tmp_path: Path) -> Answers:
    path = str(folder / name)
    book = tmp_path / "bess_sheet.xlsx"
    duos = _cli(["duos", path, "--dno", "14", *SITE, "--json"])
    lookup = _cli(["lookup", "--mpan", MPAN, *SITE, "--profile", path, "--date", DAY.isoformat(),
                   "--sheet", str(book), "--json"])
    link = webhook.files.url(f"/files/{name}")  # type: ignore[attr-defined]
    answer = webhook.post({"mpan": MPAN, "voltage": "HV", "kva": 300, "profile_url": link,
                           "write": False})
    cells = None
    if book.exists():
        sheet = WorkbookSheet(book)
        cells = {a1: sheet.read_range(a1) for a1 in ("A4:H4", "E15:H15", "E16:F16")}
    return Answers(duos, lookup, (answer.status_code, answer.json()), cells)


@pytest.mark.parametrize("name", list(CASES))
def test_cli_webhook_and_sheet_agree(name: str, folder: Path, webhook: Webhook,
                                     tmp_path: Path) -> None:
    case = CASES[name]
    got = _ask(name, folder, webhook, tmp_path)
    (duos_code, duos_out, duos_err), (look_code, look_out, look_err) = got.duos, got.lookup
    hook_code, hook = got.webhook
    if case.error:
        # The same refusal: exit 2 from both commands, 422 from the webhook, the sheet's status
        # cell says it; the same words everywhere (the link names the file as the CLI does).
        assert (duos_code, look_code, hook_code) == (2, 2, 422)
        for said in (duos_err, look_err, hook["error"], got.cells["A4:H4"][0][1]):
            assert case.error in said, said
        return
    assert (duos_code, look_code, hook_code) == (0, 0, 200), (duos_err, look_err, hook)
    summary = json.loads(duos_out)
    looked = json.loads(look_out)
    status = got.cells["A4:H4"][0]
    expected_status = "warning" if case.warnings else "ok"
    assert looked["status"] == hook["status"] == status[0] == expected_status
    # The same warning words: in duos' JSON (its text mode prints them on stderr), in
    # lookup's and the webhook's warnings, and in the sheet's status row.
    for words in case.warnings:
        assert any(words in w for w in summary["warnings"]), summary["warnings"]
        for warnings in (looked["warnings"], hook["warnings"]):
            assert any(words in w for w in warnings), warnings
        assert words in status[1]
    assert looked["warnings"] == hook["warnings"]
    # The same figures: duos' annual £ is the lookup's, the webhook's and the sheet's E15.
    annual = summary["summary"]["annualised_total_gbp"]
    assert looked["duos"]["annualised_total_gbp"] == hook["duos"]["annualised_total_gbp"]
    assert looked["fields"] == {**hook["fields"], "request_id": looked["fields"]["request_id"],
                                "time": looked["fields"]["time"]}
    fields = looked["fields"]
    e15, e16 = got.cells["E15:H15"][0], got.cells["E16:F16"][0]
    sheet = {"annual_duos_gbp": e15[0], "peak_ratio": e15[1], "load_factor": e15[2],
             "weekend_factor": e15[3], "flex_value_gbp_per_year": e16[0],
             "flex_saving_pct": e16[1]}
    for field, cell in sheet.items():
        assert cell == (fields[field] if fields[field] is not None else None), field
    if case.annual_blank:
        # Not computed is blank (null, empty cell) with the reason, never 0.
        assert annual is None and looked["duos"]["annualised_total_gbp"] is None
        assert fields["flex_value_gbp_per_year"] is None and fields["flex_saving_pct"] is None
        assert looked["flexibility"]["annual_value_gbp"] is None
        assert sheet["annual_duos_gbp"] is None and sheet["flex_value_gbp_per_year"] is None
        assert "not extrapolated" in summary["summary"]["annualisation_method"]
    else:
        assert annual == pytest.approx(looked["duos"]["annualised_total_gbp"], abs=1e-9)
        assert fields["annual_duos_gbp"] == round(annual, 2)
        assert fields["flex_value_gbp_per_year"] > 0


def test_the_figures_are_the_core_charge_worked_independently(folder: Path) -> None:
    """The 15-minute file's annual £ from `duos` is the charge of its half-hour sums, loaded
    the strict way (no policy) and charged at the 2026/27 HV band-1 tariff."""
    code, out, _ = _cli(["duos", str(folder / "min15.csv"), "--dno", "14", *SITE, "--json"])
    assert code == 0
    quarter = pd.read_csv(folder / "min15.csv", parse_dates=["timestamp"])
    halves = quarter.groupby(quarter["timestamp"].dt.floor("30min"))["kwh"].sum()
    strict = load_profile(halves.rename_axis("timestamp").reset_index(), tz="Europe/London")
    tariff = resolve_query(TariffQuery(14, voltage="HV", kva=300, on=DAY))
    want = duos_charges(strict.data, tariff, agreed_kva=300).summary
    got = json.loads(out)["summary"]
    assert got["total_kwh"] == pytest.approx(quarter["kwh"].sum())
    assert got["annualised_total_gbp"] == pytest.approx(want.annualised_total_gbp)
    # 30 days of data, Mon 4 May 2026 onwards: 22 weekdays and 8 weekend days (item 4).
    assert (got["days_covered"], got["weekday_days"], got["weekend_days"]) == (30, 22, 8)


def test_overrides_are_the_same_words_everywhere(folder: Path, webhook: Webhook) -> None:
    """`tz` and `resample` given by the caller: the CLI flags and the JSON fields refuse the
    same files with the same words."""
    utc = str(folder / "naive_utc_march.csv")
    code, _, err = _cli(["duos", utc, "--dno", "14", *SITE, "--tz", "Europe/London"])
    assert code == 2 and "does not exist in UK clock time" in err
    code, _, err = _cli(["lookup", "--mpan", MPAN, "--profile", utc, "--tz", "Europe/London",
                         "--no-write"])
    assert code == 2 and "does not exist in UK clock time" in err
    link = webhook.files.url("/files/naive_utc_march.csv")  # type: ignore[attr-defined]
    answer = webhook.post({"mpan": MPAN, "profile_url": link, "tz": "Europe/London",
                           "write": False})
    assert answer.status_code == 422 and "does not exist in UK clock time" in answer.json()["error"]
    hourly = webhook.files.url("/files/hourly.csv")  # type: ignore[attr-defined]
    answer = webhook.post({"mpan": MPAN, "profile_url": hourly, "resample": "aggregate",
                           "write": False})
    assert answer.status_code == 422 and "the profile is hourly" in answer.json()["error"]
    answer = webhook.post({"mpan": MPAN, "resample": "sideways", "write": False})
    assert answer.status_code == 400
    assert "resample 'sideways': use split or aggregate" in answer.json()["fields"]["resample"]


@pytest.mark.parametrize("path", ["/lookup", "/mpan/validate"])
def test_a_rounded_json_number_mpan_is_refused_as_the_cli_refuses_its_text(path: str) -> None:
    """{"mpan": 1.40557E+12} is 1405570000000 to JSON: refused (400, naming the field), as
    `mpan parse 1.40557E+12` is; a number written with all 13 digits is still read."""
    from bess_duos.webhook.app import create_app

    client = create_app({"INSECURE_DEV": True, "LOOKUP_DATE": DAY}).test_client()
    extra = ', "write": false' if path == "/lookup" else ""
    answer = client.post(path, data='{"mpan": 1.40557E+12' + extra + "}",
                         content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["fields"]["mpan"].startswith(
        "MPAN 1.40557E+12 is in scientific notation with only 6 significant digits")
    code, _, err = _cli(["mpan", "parse", "1.40557E+12"])
    assert code == 2 and "scientific notation" in err
    for written in ("1405566778898.0", "1.405566778898E+12"):
        answer = client.post(path, data=f'{{"mpan": {written}{extra}}}',
                             content_type="application/json")
        assert answer.status_code == 200
        assert answer.get_json()["mpan"]["core"] == MPAN


@pytest.mark.parametrize("name", ["min15.csv", "hourly.csv", "naive_utc_march.csv",
                                  "six_days.csv", "twenty_days.csv"])
def test_the_portfolio_reads_by_the_same_policy(name: str, folder: Path) -> None:
    """A portfolio site with the file: the same warning words and the same annual £ (or blank)
    as `duos` (both charge each charging year's tariff)."""
    from bess_duos.core.portfolio import SITES_COLUMNS, iter_site_batches, run_batch

    sites = folder.parent / f"sites_{name}"
    sites.write_text(",".join(SITES_COLUMNS) + f"\ns1,{MPAN},,HV,300,{folder / name}\n")
    results, errors = run_batch(next(iter_site_batches(sites)), flex_fraction=0.3)
    assert errors.empty, errors.to_dict("records")
    row = results.iloc[0]
    code, out, _ = _cli(["duos", str(folder / name), "--dno", "14", *SITE, "--json"])
    assert code == 0
    duos = json.loads(out)
    for words in CASES[name].warnings:
        assert words in row["warnings"]
    annual = duos["summary"]["annualised_total_gbp"]
    if CASES[name].annual_blank:
        assert annual is None and np.isnan(row["annual_duos_gbp"])
        assert np.isnan(row["flex_annual_value_gbp"]) and np.isnan(row["flex_saving_pct"])
    else:
        assert row["annual_duos_gbp"] == pytest.approx(annual, rel=1e-12)

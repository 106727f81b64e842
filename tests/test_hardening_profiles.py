"""Issue 13 item 2 and issue 12's "one profile loader": profile bytes are parsed without a temp
file under limits on bytes, rows, columns and cells checked before and while parsing (CSV,
XLSX, Parquet); each refusal names the limit and the file's figure (422 from the webhook)."""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from bess_duos.core.lookup import read_profile as lookup_read_profile
from bess_duos.core.profile_errors import ProfileError, ProfileLimitError
from bess_duos.core.profile_loader import ProfileCache, read_profile
from bess_duos.core.profile_tables import TableLimits, read_table_bytes, table_kind
from bess_duos.core.profiles import load_profile
from bess_duos.webhook.auth import signed_headers

from tests.abuse_files import far_cell_xlsx, million_row_xlsx, wide_csv, xlsx_from_rows
from tests.loopback import FileServer, Webhook, file_server, serving

SECRET = "hardening-profiles-secret-0123456789abcdef"
MPAN = "1405566778898"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def week_csv(start: str = "2026-06-08") -> bytes:
    times = pd.date_range(start, periods=336, freq="30min", tz="UTC")
    kwh = np.round(1 + np.arange(336) % 48 / 10, 2)
    return pd.DataFrame({"timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "kwh": kwh}
                        ).to_csv(index=False).encode()


@pytest.fixture
def files() -> Iterator[FileServer]:
    with file_server() as server:
        yield server


@pytest.fixture
def hook(files: FileServer) -> Iterator[Webhook]:
    with serving(SECRET, files) as webhook:
        yield webhook


def lookup(hook: Webhook, link: str) -> requests.Response:
    raw = json.dumps({"mpan": MPAN, "profile_url": link, "write": False}).encode()
    return requests.post(hook.url + "/lookup", data=raw, timeout=120,
                         headers={**signed_headers(SECRET, raw),
                                  "Content-Type": "application/json"})


# --- through the real app --------------------------------------------------------------


def test_a_csv_of_a_million_columns_is_422_naming_the_limit(hook: Webhook,
                                                            files: FileServer) -> None:
    """Today: 39 s and 1.86 GB in the request, then a 422 quoting a million column names."""
    files.serve_bytes("/wide.csv", wide_csv(1_000_000))
    response = lookup(hook, files.url("/wide.csv"))
    assert response.status_code == 422
    body = response.json()
    assert "too many columns: the file has 1,000,000, the limit is 120" in body["error"]
    assert len(response.content) < 5_000  # no column names echoed


def test_an_xlsx_of_a_million_rows_is_422_naming_the_limit(hook: Webhook,
                                                           files: FileServer) -> None:
    """Today: 64 s of CPU in the request."""
    content = million_row_xlsx()
    assert 7 * 2**20 < len(content) < 8 * 2**20
    files.serve_bytes("/rows.xlsx", content, XLSX)
    response = lookup(hook, files.url("/rows.xlsx"))
    assert response.status_code == 422
    assert "unzipped: the file has 79,666,990, the limit is 25,165,824" in \
        response.json()["error"]


def test_a_lone_cell_far_away_in_an_xlsx_is_422(hook: Webhook, files: FileServer) -> None:
    """openpyxl would fill the grid up to XFD1048576 with blanks (billions of cells)."""
    files.serve_bytes("/far.xlsx", far_cell_xlsx(), XLSX)
    response = lookup(hook, files.url("/far.xlsx"))
    assert response.status_code == 422
    assert "too many rows: the file has at least 1,048,575, the limit is 120,000" in \
        response.json()["error"]


def test_the_profile_is_named_by_its_link_not_a_temp_file(hook: Webhook,
                                                          files: FileServer) -> None:
    files.serve_bytes("/site-week.csv", week_csv())
    response = lookup(hook, files.url("/site-week.csv"))
    assert response.status_code == 200, response.text
    assert response.json()["profile_quality"]["source"] == "site-week.csv"
    files.serve_bytes("/empty.csv", b"")
    empty = lookup(hook, files.url("/empty.csv"))
    assert empty.status_code == 422
    assert "profile file 'empty.csv' is empty (0 bytes)" in empty.json()["error"]


# --- the limits, one by one ------------------------------------------------------------

SMALL = TableLimits(max_rows=100, max_columns=5, max_cells=300, max_line_bytes=200,
                    max_xlsx_cells=100, max_unzipped_bytes=20_000)


def refusal(content: bytes, limits: TableLimits = SMALL) -> ProfileLimitError:
    with pytest.raises(ProfileLimitError) as caught:
        read_table_bytes(content, name="f", limits=limits)
    return caught.value


def test_csv_limits_name_the_figure() -> None:
    rows = b"a,b\n" + b"1,2\n" * 101
    assert (refusal(rows).limit_name, refusal(rows).figure, refusal(rows).limit) == \
        ("rows", 101, 100)
    columns = b"a,b,c,d,e,f\n1,2,3,4,5,6\n"
    assert (refusal(columns).limit_name, refusal(columns).figure) == ("columns", 6)
    cells = b"a;b;c;d;e\n" + b"1;2;3;4;5\n" * 70  # 71 lines x 5 fields
    assert (refusal(cells).limit_name, refusal(cells).figure) == ("cells", 71 * 5)
    line = b"a,b\n1," + b"9" * 300 + b"\n"
    assert (refusal(line).limit_name, refusal(line).figure) == ("bytes in one line", 302)
    big = refusal(b"a,b\n1,2\n", TableLimits(max_bytes=5))
    assert str(big) == "profile file 'f': too many bytes: the file has 8, the limit is 5; " \
        "split the file (a site-year of half hours is under 1 MB as CSV)"


def test_xlsx_limits_are_checked_on_the_package_before_openpyxl() -> None:
    def rows(n: int, width: int = 1) -> bytes:
        return b"".join(b"<row>" + b"<c><v>1</v></c>" * width + b"</row>" for _ in range(n))

    assert refusal(xlsx_from_rows(rows(102))).limit_name == "rows"
    assert refusal(xlsx_from_rows(rows(30, 4))).limit_name == "cells"
    assert refusal(xlsx_from_rows(b'<row r="1"><c r="G1"><v>1</v></c></row>')).limit_name == \
        "columns"
    spanned = refusal(xlsx_from_rows(b'<row r="1"><c r="A1"><v>1</v></c></row>'
                                     b'<row r="60"><c r="E60"><v>1</v></c></row>'))
    assert (spanned.limit_name, spanned.figure) == \
        ("cells (rows x columns the references span)", 300)
    padded = refusal(xlsx_from_rows(b"<row><c><v>1</v></c></row>" + b" " * 30_000))
    assert padded.limit_name == "bytes in xl/worksheets/sheet1.xml unzipped"
    assert padded.figure > 30_000


def test_parquet_limits_come_from_its_footer() -> None:
    buffer = io.BytesIO()
    pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=101, freq="30min",
                                             tz="UTC"), "kwh": 1.0}).to_parquet(buffer)
    error = refusal(buffer.getvalue())
    assert (error.limit_name, error.figure, error.limit) == ("rows", 101, 100)


def test_kind_is_told_by_the_bytes() -> None:
    assert table_kind(b"PK\x03\x04rest", "profile.csv") == "xlsx"
    assert table_kind(b"PAR1rest") == "parquet"
    assert table_kind(b"timestamp,kwh\n") == "csv"
    with pytest.raises(ProfileError, match=r"old binary Excel file \(\.xls\)"):
        table_kind(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "p.xls")


def test_limit_errors_survive_a_process_pool() -> None:
    error = refusal(b"a,b,c,d,e,f\n1,2,3,4,5,6\n")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.figure) == (ProfileLimitError, str(error), 6)
    hint = pickle.loads(pickle.dumps(ProfileError("hourly", retry_with={"resample": "split"})))
    assert hint.retry_with == {"resample": "split"}


def test_messages_are_bounded() -> None:
    columns = ",".join(f"column_{i}_with_a_long_name" for i in range(100))
    with pytest.raises(ProfileError) as caught:
        read_profile(f"{columns}\n".encode() + b"1," * 99 + b"1\n", name="names.csv")
    assert len(str(caught.value)) <= 1_000 and str(caught.value).endswith("characters)")


# --- one loader for bytes and files -----------------------------------------------------


def test_bytes_and_file_read_the_same(tmp_path: Path) -> None:
    hourly = pd.DataFrame({"timestamp": pd.date_range("2026-06-08", periods=48, freq="h"),
                           "kwh": 2.0}).to_csv(index=False).encode()
    path = tmp_path / "site.csv"
    path.write_bytes(hourly)
    from_bytes = read_profile(hourly, name="site.csv")
    from_file = lookup_read_profile(path)
    assert from_bytes.data.equals(from_file.data)
    assert from_bytes.quality == from_file.quality
    assert from_bytes.data["kwh"].sum() == 96.0 and len(from_bytes.data) == 96
    assert "hourly data split into half hours (each hour's kWh halved)" in \
        from_bytes.quality.warnings


def test_naive_utc_times_are_retried_by_the_typed_hint() -> None:
    times = pd.date_range("2026-03-29", periods=48, freq="30min")  # skips no hour: UTC
    content = pd.DataFrame({"timestamp": times, "kwh": 1.0}).to_csv(index=False).encode()
    with pytest.raises(ProfileError) as caught:
        load_profile(content, name="utc.csv")
    assert caught.value.retry_with == {"tz": "UTC"}
    profile = read_profile(content, name="utc.csv")
    assert profile.data.index[0] == pd.Timestamp("2026-03-29 00:00", tz="UTC")
    assert any("read as UTC" in w for w in profile.quality.warnings)


def test_cache_parses_the_same_bytes_once_and_can_withhold_cells() -> None:
    cache = ProfileCache(size=2)
    first = cache.get(week_csv(), name="a.csv")
    assert cache.get(bytes(week_csv()), name="a.csv") is first
    assert (cache.hits, cache.misses) == (1, 1)
    secret = b"name,salary\nAlice Example,98000\n"
    with pytest.raises(ProfileError) as shown:
        cache.get(secret, name="own.csv")
    assert "salary" in str(shown.value)
    with pytest.raises(ProfileError) as withheld:
        cache.get(secret, name="other document", quote_cells=False)
    assert "salary" not in str(withheld.value) and "Alice" not in str(withheld.value)
    assert "cells are not quoted" in str(withheld.value)


def test_dates_pandas_cannot_read_in_one_format_are_refused_in_a_big_file() -> None:
    """pandas would parse each of these alone with dateutil (22 s for 400,000 rows)."""
    times = pd.date_range("2020-01-01", periods=30_000, freq="30min")
    stamps = times.strftime("%b %d %Y %I:%M%p")
    content = pd.DataFrame({"timestamp": stamps, "kwh": 1.0}).to_csv(index=False).encode()
    with pytest.raises(ProfileError, match="could not be read in one format"):
        read_profile(content, name="ampm.csv")
    small = pd.DataFrame({"timestamp": stamps[:96], "kwh": 1.0}).to_csv(index=False).encode()
    assert len(read_profile(small, name="ampm.csv").data) == 96  # a small file, value by value


def test_a_zone_name_in_the_text_is_read_as_that_zone() -> None:
    content = b"timestamp,kwh\n13/01/2020 00:30 GMT,1\n13/01/2020 01:00 GMT,2\n"
    data = read_profile(content, name="gmt.csv").data
    assert list(data.index) == [pd.Timestamp("2020-01-13 00:30", tz="UTC"),
                                pd.Timestamp("2020-01-13 01:00", tz="UTC")]


def test_old_mac_line_ends_count_as_lines() -> None:
    times = pd.date_range("2026-06-08", periods=96, freq="30min", tz="UTC")
    content = ("timestamp,kwh\r" + "\r".join(f"{t:%Y-%m-%dT%H:%M:%SZ},1.5" for t in times)
               ).encode()
    assert read_profile(content, name="cr.csv").data["kwh"].sum() == 144.0
    error = refusal(b"a,b\r" + b"1,2\r" * 101)
    assert (error.limit_name, error.figure) == ("rows", 101)

"""Half-hourly load profiles in: CSV, XLSX or Parquet, long or wide, UTC or UK clock time.

Out comes one UTC-indexed half-hourly frame (columns `kwh` [, `kvarh`]) and a data-quality report.

Shapes read:
- long: a timestamp column (`timestamp`, `datetime`, ... or `date` + `time`) and `kwh` (any
  column named like `kwh`, `consumption_kwh`, `equipment load [kWh]`) or `kw` (kWh = kW x 0.5),
  optional `kvarh`;
- wide: a `date` column and one column per half hour, numbered (1..50, `HH01`.., `P1`..) or
  labelled with clock times (`00:00`..`23:30` period-starting, `00:30`..`24:00` period-ending).
  Numbered periods count elapsed half hours from UK midnight, so a clock-change day has 46 or 50
  of them (the surplus columns of other days must be blank).

Times: naive timestamps are UK clock time (Europe/London) unless `tz='UTC'` is given; timestamps
carrying an offset or `Z` are used as given. On the 50-half-hour day in October the clock repeats
01:00-01:59: the first occurrence in row order is taken as BST and the second as GMT (the order
meters write them in). A naive time that the clock skips in March (01:00-01:59 on the last Sunday)
is an error: it usually means the file is really in UTC/GMT.

Convention: a timestamp marks the start of its period unless `timestamp_convention='end'`
(default from config/defaults.yaml `timestamp_convention`).

Speed: a plain long CSV (ISO times, number columns) is parsed by Arrow, and a frame with typed
columns (as Parquet gives them) is read as it is; anything else takes the general pandas path.
Both give the same frame and report (tests/test_profile_fast_paths.py).
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
import threading
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from bess_duos.core.bands import (
    NS_PER_HALF_HOUR,
    NS_PER_MINUTE,
    half_hour_grid,
    utc_minute_text,
)
from bess_duos.core.defaults import DefaultsError, defaults
from bess_duos.core.profile_errors import ProfileError as ProfileError
from bess_duos.core.profile_errors import ProfileLimitError as ProfileLimitError
from bess_duos.core.profile_tables import (
    DEFAULT_LIMITS,
    SUPPORTED_SUFFIXES,
    TableLimits,
    csv_first_text,
    read_csv_arrow,
    read_table_bytes,
)

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
NAT = np.iinfo(np.int64).min  # NaT as int64 ns
SPIKE_FACTOR = 10.0  # a half hour above 10 x the profile's 99th percentile kWh is a spike
MAX_LISTED = 5
FIRST_YEAR, LAST_YEAR = 1900, 2199  # timestamps outside these years are refused as typos
EXCEL_SERIALS = (1.0, 109_574.0)  # Excel serial dates of 1900-01-01 .. 2199-12-31
MAX_FREEFORM_ROWS = 20_000  # rows of dates in no one format (each parsed alone, slowly)

if TYPE_CHECKING:
    import pyarrow as pa

_KWH = pd.Index(["kwh"])  # the data's first column (an Index is immutable: shared)

Convention = Literal["start", "end"]
Resample = Literal["split", "aggregate"]

_TIMESTAMP_NAMES = (
    "timestamp",
    "datetime",
    "date_time",
    "date time",
    "time stamp",
    "timestamp_utc",
    "datetime_utc",
    "utc",
    "interval_start",
    "period_start",
    "start",
    "start_time",
    "reading_datetime",
    "settlement_datetime",
)
_DATE_NAMES = ("date", "day", "reading_date", "settlement_date", "read_date")
_TIME_NAMES = ("time", "start_time", "period_start", "time_of_day")


@dataclass(frozen=True)
class DataQualityReport:
    """What the profile looked like on the way in; `warnings` lists what is usable but suspect."""

    source: str
    shape: str  # 'long' or 'wide'
    input_step_minutes: float
    timezone: str  # how timestamps were read
    timestamp_convention: str
    resampled: str | None
    half_hours: int
    first: str | None
    last: str | None
    expected_half_hours: int
    missing_half_hours: int
    gaps: tuple[tuple[str, str], ...]  # first gaps as (first missing, last missing) UTC
    duplicates: int
    irregular_steps: int
    nans: int
    negatives: int
    spikes: int
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        data = asdict(self)
        data["gaps"] = [list(gap) for gap in self.gaps]
        data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class Profile:
    """A half-hourly profile: `data` (UTC index, `kwh` [, `kvarh`]) and its `quality` report.
    (`load_sliced_profiles(kwh_only=True)` gives a profile without kVArh as its `kwh` column
    alone: a Series named ``kwh``.)"""

    data: pd.DataFrame | pd.Series
    quality: DataQualityReport


def default_timestamp_convention() -> Convention:
    """`timestamp_convention` from config/defaults.yaml ('start' or 'end')."""
    try:
        return defaults().timestamp_convention
    except DefaultsError as exc:
        raise ProfileError(str(exc)) from None


_SPACES = re.compile(r"[\s_]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _key(name: object) -> str:
    return _SPACES.sub(" ", str(name).strip().lower())


def _tokens(name: object) -> list[str]:
    return [t for t in _NOT_ALNUM.split(str(name).lower()) if t]


# ---------------------------------------------------------------- reading files


def read_table(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, limits: TableLimits | None = None
) -> pd.DataFrame:
    """Read a CSV/XLSX/Parquet file into a frame under `limits` (`core.profile_tables`),
    refusing a missing, empty or oversized file before any byte is read."""
    limits = replace(limits or DEFAULT_LIMITS, max_bytes=max_bytes)
    path = Path(path)
    return read_table_bytes(_file_bytes(path, max_bytes), name=path.name, limits=limits)


_NO_FILE = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)  # as Path.is_file ignores


def _stat(path: Path) -> os.stat_result | None:
    """The path's stat (following links); None where Path.is_file would answer False
    without raising (no such file, a bad or looping path)."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno not in _NO_FILE:
            raise
        return None
    except ValueError:
        return None


def _file_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing a folder, a missing, empty or oversized file or an unsupported
    type before any byte is read."""
    info = _stat(path)  # one stat for what Path.is_dir, is_file and stat each asked
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ProfileError(f"profile file {str(path)!r} is a folder: give the profile file itself "
                           "(CSV, XLSX or Parquet)")
    if info is None or not stat.S_ISREG(info.st_mode):
        raise ProfileError(f"profile file {str(path)!r} not found")
    size = info.st_size  # checked before any byte is read
    if size == 0:
        raise ProfileError(f"profile file {path.name!r} is empty (0 bytes)")
    if size > max_bytes:
        raise ProfileError(
            f"profile file {path.name!r} is {size / 2**20:,.0f} MB, over the "
            f"{max_bytes / 2**20:,.0f} MB limit: split it (a site-year of half hours is under "
            "1 MB as CSV) or raise the limit (max_bytes; CLI --max-mb)"
        )
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ProfileError(
            f"profile file {path.name!r}: unsupported type {suffix!r}; use one of "
            f"{SUPPORTED_SUFFIXES}"
        )
    content = _read_all(path, size, max_bytes)
    if len(content) > max_bytes:  # it grew past the limit after the size was checked
        raise ProfileError(f"profile file {path.name!r} grew past the {max_bytes / 2**20:,.0f} "
                           "MB limit while it was read: read it again once it is written")
    return content


def _read_all(path: Path, size: int, max_bytes: int) -> bytes:
    """The whole file (to its end, should it have grown since `size` was seen, but never more
    than `max_bytes` + 1 bytes), with one read for a file of `size` bytes: none of the checks
    and buffers of Path.read_bytes."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        parts = [os.read(fd, min(size, max_bytes + 1))]
        total = len(parts[0])
        while total <= max_bytes and (more := os.read(fd, min(1 << 16, max_bytes + 1 - total))):
            parts.append(more)  # (a buffer of `size` here costs 10x the read)
            total += len(more)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


# ---------------------------------------------------------------- time zones


def _has_offset(values: pd.Series) -> np.ndarray:
    text = values.astype(str)
    zulu = text.str.endswith("Z").to_numpy(dtype=bool)  # the common case, without a regex
    if zulu.all():
        return zulu
    text = text.str.strip()
    return text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).to_numpy()


def parse_timestamps(values: pd.Series, *, what: str = "timestamp") -> tuple[pd.Series, bool]:
    """Parse a column of timestamps; returns (datetimes, tz-aware?). Errors name the first bad row.

    Strings with an offset or `Z` become UTC; naive strings stay naive. Day-first dates
    (29/03/2026) are read as GB dates.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        aware = getattr(values.dt, "tz", None) is not None
        parsed = values.dt.tz_convert("UTC") if aware else values
        return _within_years(parsed, values, what), aware
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        raise ProfileError(_numbers_for_times(values.dropna(), what))
    fast = _iso_timestamps(values)
    if fast is not None:
        return _within_years(fast[0], values, what), fast[1]
    offsets = _has_offset(values.dropna())
    if offsets.any() and not offsets.all():
        row = int(np.flatnonzero(~offsets)[0])
        raise ProfileError(
            f"{what} column mixes times with and without a UTC offset (e.g. row {row + 1}: "
            f"{values.dropna().iloc[row]!r}); give every time an offset, or none"
        )
    aware = bool(offsets.size and offsets.all())
    fmt = _guess_format(values)
    # Without one format pandas parses each value on its own with dateutil (~50 µs each):
    # only small files may mix formats.
    freeform = len(values) <= MAX_FREEFORM_ROWS
    attempts = [{"format": "ISO8601"}, *([{"format": fmt}] if fmt else []),
                *([{"dayfirst": True}] if freeform else [])]
    parsed = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": handled here
        for kwargs in attempts:
            try:
                parsed = pd.to_datetime(values, utc=aware, **kwargs)
                break
            except (ValueError, TypeError):
                continue
        if parsed is None:
            probe = values if freeform else values.iloc[:MAX_FREEFORM_ROWS]
            how: dict[str, Any] = {"dayfirst": True} if freeform or not fmt else {"format": fmt}
            try:
                coerced = pd.to_datetime(probe, utc=aware, errors="coerce", **how)
                bad = (coerced.isna() & probe.notna()).to_numpy()
            except (ValueError, TypeError):  # "Mixed timezones detected", even when coercing
                bad = probe.notna().to_numpy()
            if not bad.any() and not freeform:
                raise ProfileError(
                    f"{what} column: the dates could not be read in one format (first "
                    f"{values.dropna().iloc[0]!r}; {len(values):,} rows, and only files of up to "
                    f"{MAX_FREEFORM_ROWS:,} rows are read value by value): give every time as "
                    "ISO 8601 (2026-03-29 00:30) or DD/MM/YYYY HH:MM"
                )
            row = int(np.flatnonzero(bad)[0]) if bad.any() else 0
            raise ProfileError(
                f"{what} row {row + 1}: {values.iloc[row]!r} is not a date/time "
                "(use ISO 8601, e.g. 2026-03-29 00:30, or DD/MM/YYYY HH:MM)"
            )
    if getattr(parsed.dt, "tz", None) is not None:  # a zone name such as "GMT" in the text
        parsed, aware = parsed.dt.tz_convert("UTC"), True
    return _within_years(parsed, values, what), aware


def _iso_timestamps(values: pd.Series) -> tuple[pd.Series, bool] | None:
    """(datetimes, tz-aware?) when every non-blank value is strict ISO 8601 and all of them
    carry a UTC offset (or `Z`) or none does, parsed in one Arrow cast; else None (the general
    path decides, and words any error). Arrow's ISO parser refuses what pandas' ISO8601
    format refuses (an impossible date, 24:00, surrounding spaces), and reads the rest alike."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None  # not all strings
    if text.null_count == len(text):
        return None
    first = text.drop_null()[0].as_py()
    aware = bool(_OFFSET_END.search(first))
    try:
        parsed = pc.cast(text, pa.timestamp("ns", tz="UTC") if aware else pa.timestamp("ns"))
    except (pa.ArrowException, ValueError):
        return None
    return pd.Series(parsed.to_pandas(), index=values.index, name=values.name), aware


_OFFSET_END = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")


def _numbers_for_times(numbers: pd.Series, what: str) -> str:
    """Why a column of numbers is not times, and what to do: Excel serial dates (days since
    1899-12-30) are recognised and shown as the date they stand for."""
    if numbers.empty:
        return f"{what} column is blank: give a date and time in every row"
    first = float(numbers.iloc[0])
    if EXCEL_SERIALS[0] <= first <= EXCEL_SERIALS[1]:
        meant = pd.Timestamp("1899-12-30") + pd.to_timedelta(round(first * 86400), unit="s")
        return (f"{what} column holds numbers such as {first:g}: these are Excel serial dates "
                f"(days since 1899-12-30; {first:g} is {meant:%Y-%m-%d %H:%M}), not dates and "
                "times: format the column as dates (Format > Number > Date time, e.g. "
                "2026-03-29 00:30) and export again")
    return (f"{what} column holds numbers (e.g. {first:g}), not dates and times: give each "
            "row a date and time such as 2026-03-29 00:30 and export again")


def _guess_format(values: pd.Series) -> str | None:
    """The strptime format of the first value, if pandas can tell it: day before month (GB)
    unless the value starts with the year (2020-01-02 is the 2nd of January)."""
    from pandas.tseries.api import guess_datetime_format

    first = values.dropna()
    if first.empty or not isinstance(first.iloc[0], str):
        return None
    value = first.iloc[0].strip()[:64]
    year_first = value[:4].isdigit() and not value[4:5].isdigit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return guess_datetime_format(value, dayfirst=not year_first)


def _within_years(parsed: pd.Series, values: pd.Series, what: str) -> pd.Series:
    """`parsed`, if every time is within FIRST_YEAR..LAST_YEAR; else the first row outside."""
    # On the int64 ticks (UTC for aware times, the clock reading for naive ones), in the
    # parsed unit (a far-off year may not fit in ns); NaT is never outside.
    index = pd.DatetimeIndex(parsed)
    ticks = index.asi8
    first, end = (np.datetime64(f"{year}-01-01", index.unit).astype(np.int64)
                  for year in (FIRST_YEAR, LAST_YEAR + 1))
    outside = ((ticks < first) | (ticks >= end)) & (ticks != np.iinfo(np.int64).min)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise ProfileError(
            f"{what} row {row + 1}: {values.iloc[row]!r} is outside the years {FIRST_YEAR}-"
            f"{LAST_YEAR}; check the dates (and the year's digits)"
        )
    return parsed


def localise_naive(naive: pd.DatetimeIndex, *, shift_nonexistent: bool = False) -> np.ndarray:
    """UK clock times (naive) -> int64 ns UTC. Repeated October times: first BST, then GMT.

    A time the clock skips in March raises `ProfileError`, unless `shift_nonexistent` (used for
    period-ending labels, where 01:00 on that day means the instant the clock jumps to 02:00).
    """
    naive = pd.DatetimeIndex(naive).as_unit("ns")
    localised = naive.tz_localize(
        "Europe/London",
        ambiguous=_first_occurrences(naive.asi8),
        nonexistent="shift_forward" if shift_nonexistent else "NaT",
    )
    missing = localised.isna() & ~naive.isna()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ProfileError(
            f"row {row + 1}: {naive[row]} does not exist in UK clock time (the clock goes from "
            "01:00 to 02:00 on the last Sunday of March). The timestamps look like UTC/GMT: "
            "load with tz='UTC' (CLI: --tz UTC)", retry_with={"tz": "UTC"}
        )
    return localised.tz_convert("UTC").asi8


def _first_occurrences(values: np.ndarray) -> np.ndarray:
    """True where a value appears for the first time in row order (a stable sort keeps equal
    values in row order; clock times are sorted but for October's repeated hour)."""
    if values.size < 2 or bool((np.diff(values) > 0).all()):
        return np.ones(values.size, bool)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.empty(values.size, bool)
    first[order] = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    return first


def localise_timestamps(times: pd.DatetimeIndex | pd.Series, tz: str | None = None) -> np.ndarray:
    """int64 ns UTC of timestamps: tz-aware as given; naive in `tz` (default Europe/London)."""
    index = pd.DatetimeIndex(times).as_unit("ns")
    if index.tz is not None:
        return index.tz_convert("UTC").asi8
    if tz in (None, "Europe/London"):
        return localise_naive(index)
    return index.tz_localize(tz).tz_convert("UTC").asi8


# ---------------------------------------------------------------- columns


def _find_value_columns(
    columns: list[str], kwh_column: str | None
) -> tuple[str | None, str | None, str | None]:
    """(kwh column, kw column, kvarh column) by name."""
    kvarh = next((c for c in columns if "kvarh" in _tokens(c) or _key(c).endswith("kvarh")), None)
    if kwh_column is not None:
        if kwh_column not in columns:
            raise ProfileError(f"kwh column {kwh_column!r} not found; columns are {columns}")
        return kwh_column, None, kvarh
    kwh = [c for c in columns if "kwh" in _tokens(c) or _key(c).endswith("kwh")]
    if len(kwh) > 1:
        raise ProfileError(
            f"several kWh columns {kwh}: choose one with kwh_column= (CLI: --kwh-column)"
        )
    kw = [c for c in columns if "kw" in _tokens(c)]
    if not kwh and len(kw) > 1:
        raise ProfileError(f"several kW columns {kw}: choose one with kwh_column=")
    return (kwh[0] if kwh else None), (kw[0] if kw and not kwh else None), kvarh


def _find_timestamp_column(columns: list[str]) -> str | None:
    keyed = {_key(c): c for c in columns}
    for key in _TIMESTAMP_KEYS:
        if key in keyed:
            return keyed[key]
    for column in columns:
        if _key(column).startswith(("timestamp", "datetime", "date time", "date/time")):
            return column
    return None


_TIMESTAMP_KEYS = tuple(_key(name) for name in _TIMESTAMP_NAMES)


def _find_named(columns: list[str], names: tuple[str, ...]) -> str | None:
    keyed = {_key(c): c for c in columns}
    return next((keyed[_key(n)] for n in names if _key(n) in keyed), None)


_PERIOD_PATTERN = re.compile(r"^(?:hh|p|sp|period|hh ?period|settlement period)?\s*0*(\d{1,2})$")
_CLOCK_PATTERN = re.compile(r"^(\d{1,2}):(\d{2})(?::00)?$")


def _half_hour_columns(columns: list[str]) -> tuple[str, dict[str, int]]:
    """('period' or 'clock', column -> period number 1.. or clock minute 0..1440)."""
    periods: dict[str, int] = {}
    clocks: dict[str, int] = {}
    for column in columns:
        key = _key(column)
        match = _PERIOD_PATTERN.match(key)
        if match and 1 <= int(match.group(1)) <= 50:
            periods[column] = int(match.group(1))
            continue
        match = _CLOCK_PATTERN.match(key)
        if match and int(match.group(2)) in (0, 30) and int(match.group(1)) <= 24:
            clocks[column] = int(match.group(1)) * 60 + int(match.group(2))
    if len(clocks) >= len(periods):
        return "clock", clocks
    return "period", periods


def _expected_columns_message(columns: list[str]) -> str:
    return (
        f"columns found: {columns}. Expected either a long profile — a timestamp column "
        "(timestamp/datetime, or date + time) and kwh (or kw), optional kvarh — or a wide "
        "profile — a date column and 48 half-hour columns (46/50 on clock-change days)"
    )


# ---------------------------------------------------------------- numbers


def _numbers(values: pd.Series, column: str, row_offset: int = 0) -> np.ndarray:
    """Column as float64; text that is not a number is an error naming the row."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiu":
        return values.to_numpy(np.float64)  # already numbers: nothing to check
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ProfileError(
            f"column {column!r} row {row + 1 + row_offset} (line {row + 2 + row_offset} of a file "
            f"with a header): {values.iloc[row]!r} is not a number; "
            f"{int(bad.sum())} such value(s) in all"
        )
    return numeric.to_numpy(np.float64)


# ---------------------------------------------------------------- shapes


@dataclass
class _Long:
    """Intermediate long form: UTC ns (or naive ns) per row, values."""

    times: np.ndarray  # int64 ns: UTC when `aware`, else the clock reading; NaT as NAT
    aware: bool
    kwh: np.ndarray  # kWh per row, or kW (average demand) when `from_kw`
    kvarh: np.ndarray | None
    labels_are_ends: bool | None = None  # set by wide clock-labelled input
    from_kw: bool = False
    owned: bool = False  # kwh is this profile's own array (nobody else's memory)


def _long_from_columns(
    frame: pd.DataFrame,
    time_column: str | None,
    kwh_column: str | None,
) -> _Long | None:
    columns = list(frame.columns)
    kwh_name, kw_name, kvarh_name = _find_value_columns(columns, kwh_column)
    if kwh_name is None and kw_name is None:
        return None
    if time_column is not None:
        if time_column not in columns:
            raise ProfileError(f"timestamp column {time_column!r} not found; columns are {columns}")
        times_raw = frame[time_column]
    else:
        found = _find_timestamp_column(columns)
        if found is not None:
            times_raw = frame[found]
        else:
            date_name = _find_named(columns, _DATE_NAMES)
            clock_name = _find_named(columns, _TIME_NAMES)
            if date_name is None or clock_name is None:
                return None
            if pd.api.types.is_numeric_dtype(frame[date_name]):  # Excel serials: say so
                raise ProfileError(_numbers_for_times(frame[date_name].dropna(), "date"))
            times_raw = (
                frame[date_name].astype(str).str.slice(0, 10) + " " + frame[clock_name].astype(str)
            )
    times, aware = parse_timestamps(times_raw)
    if kwh_name is not None:
        kwh = _numbers(frame[kwh_name], kwh_name)
    else:
        assert kw_name is not None
        kwh = _numbers(frame[kw_name], kw_name)  # kW; kWh = kW x step hours once step is known
    kvarh = _numbers(frame[kvarh_name], kvarh_name) if kvarh_name else None
    return _Long(_ns(times), aware, kwh, kvarh, from_kw=kwh_name is None)


def _ns(times: pd.Series) -> np.ndarray:
    """int64 ns of parsed times (UTC for tz-aware ones); NaT as NAT."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _typed_columns(
    columns: list[str], time_column: str | None, kwh_column: str | None
) -> tuple[str, str, str | None, bool] | None:
    """(time, kWh or kW, kvarh or None, kW?) columns, found by name as `_long_from_columns`
    finds them; None where it would look further (date + time columns, a wide profile) or
    refuse (it then words the refusal). Remembered per header (files share a few)."""
    try:
        return _typed_columns_of(tuple(columns), time_column, kwh_column)
    except TypeError:  # a column argument that is not text: looked at afresh
        return _typed_columns_of.__wrapped__(tuple(columns), time_column, kwh_column)


@functools.lru_cache(maxsize=64)
def _typed_columns_of(
    columns: tuple[str, ...], time_column: str | None, kwh_column: str | None
) -> tuple[str, str, str | None, bool] | None:
    columns = list(columns)  # type: ignore[assignment]
    try:
        kwh_name, kw_name, kvarh_name = _find_value_columns(columns, kwh_column)
    except ProfileError:
        return None
    time_name = time_column if time_column is not None else _find_timestamp_column(columns)
    value_name = kwh_name or kw_name
    if value_name is None or time_name not in columns:
        return None
    return time_name, value_name, kvarh_name, kwh_name is None


@functools.lru_cache(maxsize=8)
def _year_bounds(unit: str) -> tuple[int, int]:
    """(the first tick of FIRST_YEAR, the tick after LAST_YEAR) in `unit`."""
    first, end = (int(np.datetime64(f"{year}-01-01", unit).astype(np.int64))
                  for year in (FIRST_YEAR, LAST_YEAR + 1))
    return first, end


def _in_years(ticks: np.ndarray, unit: str, nulls: bool) -> bool:
    """Every known tick (int64 in `unit`; NaT as NAT) within FIRST_YEAR..LAST_YEAR."""
    known = ticks[ticks != NAT] if nulls else ticks
    first, end = _year_bounds(unit)
    return not known.size or bool(known.min() >= first and known.max() < end)


def _arrow_ns(times: Any) -> np.ndarray | None:
    """int64 ns of an Arrow timestamp column (NaT as NAT) when every time is within
    FIRST_YEAR..LAST_YEAR, else None. Without nulls the ticks are read in place, checked in
    their own unit and scaled (the years fit int64 ns, so nothing can overflow); with nulls by
    Arrow's checked cast."""
    import pyarrow as pa

    unit = times.type.unit
    if times.null_count == 0 and times.num_chunks == 1:
        ticks = times.chunk(0).to_numpy(zero_copy_only=False).view(np.int64)
        if not _in_years(ticks, unit, False):
            return None  # the general path names the row
        return ticks * (NS_PER_SECOND // _TICKS_PER_SECOND[unit])
    try:  # a checked cast: NaT (null) is NAT
        ns = times.cast(pa.timestamp("ns", tz=times.type.tz)).to_numpy().view(np.int64)
    except pa.ArrowException:  # beyond the years int64 nanoseconds hold
        return None
    return ns if _in_years(ns, "ns", times.null_count > 0) else None


NS_PER_SECOND = 1_000_000_000
_TICKS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _long_from_csv(
    content: bytes, name: str, limits: TableLimits, time_column: str | None,
    kwh_column: str | None,
) -> _Long | None:
    """The long form of a plain long CSV (a column of ISO 8601 times, all with an offset or
    none, and number columns) parsed by Arrow; None for anything else, which the general path
    reads (and words any refusal of) as before. The same times and numbers as that path: the
    same Arrow ISO parser, the offset judged from the first time as written."""
    import pyarrow as pa

    table = read_csv_arrow(content, name=name, limits=limits)
    if table is None:
        return None
    columns = table.column_names
    found = _typed_columns(columns, time_column, kwh_column)
    if found is None:
        return None
    time_name, value_name, kvarh_name, from_kw = found
    times = table.column(time_name)
    if not pa.types.is_timestamp(times.type) or times.type.tz not in (None, "UTC"):
        return None
    first = csv_first_text(content, columns, time_name)
    if first is None or bool(_OFFSET_END.search(first)) != (times.type.tz is not None):
        return None
    ns = _arrow_ns(times)
    if ns is None:
        return None  # beyond the years: the general path names the row
    values = []
    for column in (value_name, kvarh_name):
        if column is None:
            values.append(None)
        elif pa.types.is_integer(table.column(column).type) or pa.types.is_floating(
                table.column(column).type):
            arrays = [chunk.to_numpy(zero_copy_only=False) for chunk in table.column(column).chunks]
            values.append(np.array(arrays[0], dtype=np.float64) if len(arrays) == 1
                          else np.concatenate(arrays).astype(np.float64, copy=False))
        else:
            return None  # text, blank or boolean: pandas reads and words it
    return _Long(ns, times.type.tz is not None, values[0], values[1], from_kw=from_kw,
                 owned=True)


def _clean_frame_columns(
    frame: pd.DataFrame, time_column: str | None, kwh_column: str | None
) -> tuple[str, str, str | None, bool] | None:
    """(time, kWh or kW, kvarh or None, kW?) columns of a frame whose columns are already
    typed: a datetime64 timestamp column and numpy number columns, named as the general path
    finds them, no DatetimeIndex. None for anything else (the general path reads it, and
    words any refusal). Judged on the columns alone, so also on a frame of no rows."""
    columns = list(frame.columns)
    if (isinstance(frame.index, pd.DatetimeIndex)
            or not all(isinstance(c, str) and c == c.strip() for c in columns)
            or len(set(columns)) < len(columns)):
        return None
    found = _typed_columns(columns, time_column, kwh_column)
    if found is None:
        return None
    time_name, value_name, kvarh_name, _ = found
    if not isinstance(frame[time_name].array, pd.arrays.DatetimeArray):
        return None
    for column in (value_name, kvarh_name):
        dtype = frame[column].dtype if column is not None else None
        if column is not None and not (isinstance(dtype, np.dtype) and dtype.kind in "fiu"):
            return None  # text or nullable types: the general path reads and words them
    return found


def _long_from_clean_frame(
    frame: pd.DataFrame, time_column: str | None, kwh_column: str | None
) -> _Long | None:
    """The long form of a frame whose columns are already typed (`_clean_frame_columns`) and
    whose times are within FIRST_YEAR..LAST_YEAR. None for anything else (the general path
    reads it, and words any refusal)."""
    found = None if frame.empty else _clean_frame_columns(frame, time_column, kwh_column)
    if found is None:
        return None
    time_name, value_name, kvarh_name, from_kw = found
    times = frame[time_name].array
    # asi8: UTC for tz-aware times, else the clock reading; in the column's unit
    if not _in_years(times.asi8, times.unit, bool(times.isna().any())):
        return None  # the general path names the row
    values = [None if c is None else frame[c].to_numpy(np.float64)
              for c in (value_name, kvarh_name)]
    ns = times.as_unit("ns").asi8.copy()  # the profile must not share the caller's memory
    return _Long(ns, times.tz is not None, values[0], values[1], from_kw=from_kw)


def _wide_dates(frame: pd.DataFrame, date_name: str) -> pd.DatetimeIndex:
    dates, aware = parse_timestamps(frame[date_name], what="date")
    if aware:
        dates = dates.dt.tz_localize(None)
    return pd.DatetimeIndex(dates).normalize().as_unit("ns")


def _wide_period(
    frame: pd.DataFrame, date_name: str, mapping: dict[str, int], tz: str | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Numbered periods: k-th half hour after UK midnight. Returns (utc ns, kwh, nans)."""
    ordered = sorted(mapping, key=mapping.get)  # type: ignore[arg-type]
    numbers = np.array([mapping[c] for c in ordered])
    values = np.column_stack([_numbers(frame[c], c) for c in ordered])
    dates = _wide_dates(frame, date_name)
    if tz in (None, "Europe/London"):
        midnight = dates.tz_localize("Europe/London").tz_convert("UTC").asi8
        next_midnight = (dates + pd.Timedelta(days=1)).tz_localize("Europe/London")
        periods_in_day = (next_midnight.tz_convert("UTC").asi8 - midnight) // NS_PER_HALF_HOUR
    else:
        midnight = dates.tz_localize(tz).tz_convert("UTC").asi8
        periods_in_day = np.full(len(dates), 48)
    beyond = numbers[None, :] > periods_in_day[:, None]
    surplus = beyond & ~np.isnan(values)
    if surplus.any():
        row, col = np.argwhere(surplus)[0]
        raise ProfileError(
            f"row {row + 1} ({dates[row].date()}): a value in period {numbers[col]} but that "
            f"day has {periods_in_day[row]} half hours in UK clock time; blank the surplus "
            "periods, or load with tz='UTC' if the periods count UTC half hours",
            retry_with={"tz": "UTC"},
        )
    utc = midnight[:, None] + (numbers[None, :] - 1) * NS_PER_HALF_HOUR
    keep = ~beyond
    nans = int(np.isnan(values[keep]).sum())
    keep &= ~np.isnan(values)
    return utc[keep], values[keep], nans


def _wide_clock(frame: pd.DataFrame, date_name: str, mapping: dict[str, int]) -> _Long:
    """Clock-labelled half-hour columns -> long naive clock times (labels decide the convention)."""
    minutes = sorted(set(mapping.values()))
    labels_are_ends = 1440 in minutes and 0 not in minutes
    ordered = sorted(mapping, key=mapping.get)  # type: ignore[arg-type]
    values = np.column_stack([_numbers(frame[c], c) for c in ordered])
    dates = _wide_dates(frame, date_name)
    offsets = np.array([mapping[c] for c in ordered], dtype=np.int64) * NS_PER_MINUTE
    naive = dates.asi8[:, None] + offsets[None, :]
    return _Long(naive.ravel(), False, values.ravel(), None, labels_are_ends)


# ---------------------------------------------------------------- the pipeline


def load_profile(
    source: str | Path | bytes | pd.DataFrame,
    *,
    timestamp_convention: Convention | None = None,
    tz: str | None = None,
    resample: Resample | None = None,
    timestamp_column: str | None = None,
    kwh_column: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
    limits: TableLimits | None = None,
) -> Profile:
    """Read a profile (file path, a file's bytes, or a frame) into a UTC half-hourly frame with
    a quality report. Files and bytes are read under `limits` (`core.profile_tables`; `name`
    names bytes in messages).

    - `timestamp_convention`: 'start' (a timestamp marks the start of its period) or 'end';
      default from config/defaults.yaml.
    - `tz`: zone of naive timestamps; default UK clock time (Europe/London). 'UTC' for UTC.
    - `resample`: 'split' turns hourly data into half hours (each hour's kWh halved);
      'aggregate' sums 15-minute data into half hours. Without it such data is an error.
    Raises `ProfileError` for anything unusable; suspect-but-usable data gives warnings.
    """
    explicit_convention = timestamp_convention is not None
    convention = timestamp_convention or default_timestamp_convention()
    if convention not in ("start", "end"):
        raise ProfileError(f"timestamp_convention {convention!r}: use 'start' or 'end'")
    if resample not in (None, "split", "aggregate"):
        raise ProfileError(f"resample {resample!r}: use 'split' (hourly) or 'aggregate' (15-min)")
    if isinstance(source, pd.DataFrame):
        long = _long_from_clean_frame(source, timestamp_column, kwh_column)
        if long is not None:  # typed columns (as Parquet gives them): nothing to parse or copy
            return _profile(long, None, source=name or "<frame>", shape="long",
                            convention=convention, tz=tz, resample=resample)
        frame, name = source.copy(), name or "<frame>"
        if isinstance(frame.index, pd.DatetimeIndex) and timestamp_column is None:
            frame = frame.reset_index(names="timestamp")
        frame.columns = [str(c).strip() for c in frame.columns]
        if frame.empty:
            raise ProfileError("the profile has no rows")
    else:
        if isinstance(source, bytes):
            content, table_name = source, name or "profile"
            table_limits = limits or DEFAULT_LIMITS
        else:
            path = Path(source)
            content, table_name = _file_bytes(path, max_bytes), path.name
            table_limits = limits or DEFAULT_LIMITS
            if table_limits.max_bytes != max_bytes:
                table_limits = replace(table_limits, max_bytes=max_bytes)
        name = name or table_name
        # A plain long CSV is parsed by Arrow; anything else, and any refusal, by pandas.
        long = _long_from_csv(content, table_name, table_limits, timestamp_column, kwh_column)
        if long is not None:
            return _profile(long, None, source=name, shape="long", convention=convention, tz=tz,
                            resample=resample)
        frame = read_table_bytes(content, name=table_name, limits=table_limits)
    columns = list(frame.columns)
    long = _long_from_columns(frame, timestamp_column, kwh_column)
    shape = "long"
    wide_utc: tuple[np.ndarray, np.ndarray, int] | None = None
    if long is None:
        date_name = _find_named(columns, _DATE_NAMES)
        kind, mapping = _half_hour_columns(columns)
        if date_name is None or len(mapping) < 46:
            raise ProfileError(_expected_columns_message(columns))
        if len(mapping) > 50:
            raise ProfileError(
                f"{len(mapping)} period columns per day: looks like 15-minute (96) or finer "
                "data; give it as a long profile and load with resample='aggregate'"
            )
        shape = "wide"
        if kind == "period":
            wide_utc = _wide_period(frame, date_name, mapping, tz)
        else:
            long = _wide_clock(frame, date_name, mapping)
            if long.labels_are_ends is not None:
                label_convention = "end" if long.labels_are_ends else "start"
                if explicit_convention and label_convention != convention:
                    raise ProfileError(
                        f"the half-hour columns are labelled as period-{label_convention} times "
                        f"but timestamp_convention={convention!r} was given"
                    )
                convention = label_convention
    return _profile(long, wide_utc, source=name, shape=shape, convention=convention, tz=tz,
                    resample=resample)


def load_sliced_profiles(
    table: pa.Table, bounds: np.ndarray, *, timestamp_convention: Convention | None = None,
    kwh_only: bool = False,
) -> list[Profile | None]:
    """What `load_profile` gives of each slice `table[bounds[i]:bounds[i + 1]]` as a frame
    (those rows of `table.to_pandas()`), for every slice of typed columns whose times are
    tz-aware, within the years, on the half-hour grid and half an hour apart throughout, with
    no blank: those checks are made for all the slices at once (the kWh's blanks from each
    slice's minimum, which `_finish` reads too), and the slices of one grid share one index
    (`grid_index`). None for the other slices: read each alone (it may have warnings or an
    error of its own; an empty slice has no profile). `kwh_only`: a profile without kVArh
    is its frame's `kwh` column alone (no frame is built: a portfolio reads only that)."""
    loaded: list[Profile | None] = [None] * (len(bounds) - 1)
    convention = timestamp_convention or default_timestamp_convention()
    if not loaded or table.num_rows == 0:
        return loaded
    try:
        schema = table.schema.serialize().to_pybytes()
    except Exception:  # Arrow errors (a type it cannot write): read alone, which words them
        return loaded
    found = _sliced_columns(schema)
    if found is None:
        return loaded
    time_name, value_name, kvarh_name, from_kw, unit = found
    times = table.column(time_name)
    ticks = _Chunks.of(times, np.int64)
    kwh = _Chunks.of(table.column(value_name))
    kvarh = None if kvarh_name is None else _Chunks.of(table.column(kvarh_name))
    starts, ends = bounds[:-1], bounds[1:]
    per_tick = NS_PER_SECOND // _TICKS_PER_SECOND[unit]
    half_hour = NS_PER_HALF_HOUR // per_tick

    def rows_in_slices(rows: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """How many of the sorted `rows` lie in [starts, stop) of each slice."""
        return np.searchsorted(rows, stop) - np.searchsorted(rows, starts)

    blank = []  # the kWh's blanks show in each usable slice's minimum, below
    if times.null_count:
        blank.append(ticks.where(lambda t: t == NAT))  # null times are NaT
    if kvarh is not None:
        blank.append(kvarh.where(np.isnan))
    rows = ends > starts  # an empty slice is no profile
    first, last = ticks.at(np.where(rows, starts, 0)), ticks.at(np.where(rows, ends - 1, 0))
    low, high = _year_bounds(unit)
    usable = rows & ((rows_in_slices(ticks.steps_not(half_hour), ends - 1) == 0)
                     & (first >= low) & (last < high) & (first % half_hour == 0))
    if blank:
        usable &= rows_in_slices(np.unique(np.concatenate(blank)), ends) == 0
    utc_first, timezone = _utc(first * per_tick, True, tz=None, convention=convention, step=30.0)
    sites = np.flatnonzero(usable)
    # The frames' kWh: one array for the batch (one allocation, not one per site), each site
    # its own part of it.
    lengths = ends[sites] - starts[sites]
    own = np.empty(int(lengths.sum()), np.float64)
    at = np.concatenate([[0], np.cumsum(lengths)])
    # Every row a usable site's (the usual batch): all the kWh copied in one call, each site
    # then a view of its part.
    whole = bool(sites.size and own.size == table.num_rows)
    if whole:
        kwh.copy_rows(0, table.num_rows, own)
    for i, part_start, part_end in zip(sites, at[:-1], at[1:], strict=True):
        start, stop = int(starts[i]), int(ends[i])
        index = grid_index(int(utc_first[i]), stop - start)
        warnings: list[str] = []
        values = (own[part_start:part_end] if whole
                  else kwh.copy_rows(start, stop, own[part_start:part_end]))
        if from_kw:
            values = _kw_as_kwh(values, 30.0, warnings, out=values)
        extremes = (float(values.min()), float(values.max()))
        if np.isnan(extremes[0]):  # a blank kWh (NaN is the minimum): read alone
            continue
        data, quality = _finish(
            index.asi8, values,
            None if kvarh is None else kvarh.copy_rows(start, stop, np.empty(stop - start)),
            source="<frame>", shape="long", step_minutes=30.0, timezone=timezone,
            convention=convention, resample=None, nans=0, warnings=warnings, index=index,
            own_values=True, extremes=extremes, kwh_only=kwh_only)
        loaded[i] = Profile(data, quality)
    return loaded


@functools.lru_cache(maxsize=16)
def _sliced_columns(schema: bytes) -> tuple[str, str, str | None, bool, str] | None:
    """(time, kWh or kW, kvarh or None, kW?, the times' unit) of a table of this serialized
    schema (its metadata, pandas' too, included) whose slices `load_sliced_profiles` reads:
    typed columns as each slice's frame has them, tz-aware times. None for other tables.
    Judged once per schema, on a frame of no rows."""
    import pyarrow as pa

    try:  # the columns and dtypes each slice's frame has
        arrow = pa.ipc.read_schema(pa.py_buffer(schema))
        empty = arrow.empty_table().to_pandas(use_threads=False)
    except Exception:  # Arrow errors (types pandas cannot take): read alone, which words them
        return None
    found = _clean_frame_columns(empty, None, None)
    if found is None:
        return None
    time_name, value_name, kvarh_name, from_kw = found
    kind, times = arrow.field(time_name).type, empty[time_name].array
    if times.tz is None or not pa.types.is_timestamp(kind) or kind.unit != times.unit:
        return None
    return time_name, value_name, kvarh_name, from_kw, times.unit


@dataclass(frozen=True)
class _Chunks:
    """An Arrow column as numpy views of its chunks (nulls as NaN, or NaT), not copied into
    one array: the checks of a batch's rows run chunk by chunk, in cache."""

    arrays: list[np.ndarray]
    starts: np.ndarray  # the row each array starts at, and the end

    @classmethod
    def of(cls, column: pa.ChunkedArray, view: type | None = None) -> _Chunks:
        arrays = [chunk.to_numpy(zero_copy_only=False) for chunk in column.chunks if len(chunk)]
        if view is not None:
            arrays = [array.view(view) for array in arrays]
        return cls(arrays, np.cumsum([0, *(array.size for array in arrays)]))

    def where(self, test: Any) -> np.ndarray:
        """The rows where `test` of the values is True, in order."""
        return np.concatenate([np.flatnonzero(test(array)) + start
                               for array, start in zip(self.arrays, self.starts, strict=False)])

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The values of these rows (gathered a chunk at a time: a handful of chunks)."""
        rows = np.asarray(rows, dtype=np.int64)
        chunk = np.searchsorted(self.starts, rows, side="right") - 1
        out = np.empty(rows.size, dtype=self.arrays[0].dtype if self.arrays else np.float64)
        for c in np.unique(chunk):
            mine = chunk == c
            out[mine] = self.arrays[c][rows[mine] - self.starts[c]]
        return out

    def copy_rows(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Rows start..stop-1 copied into `out` (converted to its dtype); returns `out`."""
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        end = int(np.searchsorted(self.starts, stop, side="left"))
        for c in range(first, end):  # the one or few chunks holding the rows
            part = self.arrays[c][max(start - self.starts[c], 0):stop - self.starts[c]]
            at = max(self.starts[c] - start, 0)
            out[at:at + part.size] = part
        return out

    def steps_not(self, step: int) -> np.ndarray:
        """The rows r (in order) where the value of row r + 1 is not that of row r plus `step`."""
        found = [_steps_not(array, step) + start
                 for array, start in zip(self.arrays, self.starts, strict=False)]
        found += [np.array([start - 1]) for before, after, start
                  in zip(self.arrays, self.arrays[1:], self.starts[1:], strict=False)
                  if after[0] - before[-1] != step]
        return np.sort(np.concatenate(found))


STEPS_BLOCK = 1 << 15  # rows whose steps are compared at a time (their temporaries in cache)


def _steps_not(array: np.ndarray, step: int) -> np.ndarray:
    """`np.flatnonzero(np.diff(array) != step)` of an int64 array, a block at a time into the
    same small buffers (no array of all the steps: ~30% less time on a batch's times)."""
    steps = np.empty(min(STEPS_BLOCK, max(array.size - 1, 0)), np.int64)
    other = np.empty(steps.size, bool)
    found = [array[:0]]
    for start in range(0, array.size - 1, STEPS_BLOCK):
        size = min(STEPS_BLOCK, array.size - 1 - start)
        np.subtract(array[start + 1:start + 1 + size], array[start:start + size],
                    out=steps[:size])
        if np.not_equal(steps[:size], step, out=other[:size]).any():
            found.append(np.flatnonzero(other[:size]) + start)
    return np.concatenate(found).astype(np.int64, copy=False)


def _profile(
    long: _Long | None,
    wide_utc: tuple[np.ndarray, np.ndarray, int] | None,
    *,
    source: str,
    shape: str,
    convention: str,
    tz: str | None,
    resample: Resample | None,
) -> Profile:
    """The profile of a long form (or of wide period columns already in UTC)."""
    warnings: list[str] = []
    regular = False
    if wide_utc is not None:
        utc_ns, kwh, nans = wide_utc
        kvarh = None
        step_minutes = 30.0
        timezone = "periods counted from UK midnight" if tz in (None, "Europe/London") else tz
    else:
        assert long is not None
        utc_ns, kwh, kvarh, nans, step_minutes, timezone, regular = _long_to_utc(
            long, convention=convention, tz=tz, resample=resample, warnings=warnings
        )
    if nans:
        warnings.append(f"{nans} missing (blank/NaN) value(s) dropped; they count as gaps")
    data, quality = _finish(
        utc_ns,
        kwh,
        kvarh,
        source=source,
        shape=shape,
        step_minutes=step_minutes,
        timezone=timezone,
        convention=convention,
        resample=resample if step_minutes != 30 else None,
        nans=nans,
        warnings=warnings,
        index=utc_index(utc_ns) if regular else None,
        own_values=long is not None and long.owned,
    )
    return Profile(data, quality)


def _naive_index(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]"))


def _step_minutes(naive_or_utc_ns: np.ndarray) -> float:
    return _steps(naive_or_utc_ns)[0]


def _steps(naive_or_utc_ns: np.ndarray) -> tuple[float, bool]:
    """(the median step between distinct times in minutes, whether the times rise by that
    one step throughout)."""
    steps = np.diff(naive_or_utc_ns)
    if steps.size and steps[0] > 0 and bool((steps == steps[0]).all()):
        return float(steps[0]) / NS_PER_MINUTE, True  # one step throughout: the median below
    if not bool((steps >= 0).all()):  # e.g. clock times repeating October's hour
        steps = np.diff(np.sort(naive_or_utc_ns, kind="stable"))
    steps = steps[steps != 0]  # the steps between distinct values
    if steps.size < 1:
        return 30.0, False
    return float(np.median(steps)) / NS_PER_MINUTE, False


def _kw_as_kwh(kw: np.ndarray, step: float, warnings: list[str],
               out: np.ndarray | None = None) -> np.ndarray:
    """Average kW over each `step`-minute reading as kWh (x 0.5 for half hours), said; into
    `out` when given."""
    warnings.append(f"kW converted to kWh as kW x {step / 60:g} h per {step:g}-minute reading")
    return np.divide(np.multiply(kw, step, out=out), 60.0, out=out)


def _utc(stamps: np.ndarray, aware: bool, *, tz: str | None, convention: str, step: float
         ) -> tuple[np.ndarray, str]:
    """(int64 ns UTC of each period's start, how the times were read) of int64 ns times: UTC
    when `aware`, else clock readings in `tz` (default UK clock time)."""
    is_end = convention == "end"
    if aware:
        utc_ns = stamps
        timezone = "UTC offsets in the data"
    elif tz in (None, "Europe/London"):
        utc_ns = localise_naive(_naive_index(stamps), shift_nonexistent=is_end)
        timezone = "naive, read as UK clock time (Europe/London)"
    else:
        utc_ns = _naive_index(stamps).tz_localize(tz).tz_convert("UTC").asi8
        timezone = f"naive, read as {tz}"
    if is_end:
        utc_ns = utc_ns - int(step * NS_PER_MINUTE)
    return utc_ns, timezone


def _long_to_utc(
    long: _Long,
    *,
    convention: str,
    tz: str | None,
    resample: str | None,
    warnings: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, float, str, bool]:
    """(UTC ns, kWh, kvarh, blanks dropped, input step in minutes, how the times were read,
    whether the UTC times are half an hour apart throughout) of a long form."""
    stamps, kwh, kvarh = long.times, long.kwh, long.kvarh
    # Reductions first (no masks): a NaN makes the max NaN, NaT is the smallest int64
    if (stamps.size and stamps.min() != NAT and not np.isnan(kwh.max())
            and (kvarh is None or not np.isnan(kvarh.max()))):
        nans = 0
    else:
        valid = (long.times != NAT) & ~np.isnan(long.kwh)
        if long.kvarh is not None:
            valid &= ~np.isnan(long.kvarh)
        nans = long.times.size - int(np.count_nonzero(valid))
    if nans == long.times.size:
        raise ProfileError("no rows with both a timestamp and a value")
    if nans:
        stamps, kwh = stamps[valid], kwh[valid]
        kvarh = kvarh[valid] if kvarh is not None else None
    step, one_step = _steps(stamps)
    if step == 60 and resample != "split":
        raise ProfileError(
            "the profile is hourly, not half-hourly (median step 60 minutes). DUoS bands change "
            "on the half hour: load it with resample='split' (CLI: --resample split) to split "
            "each hour's kWh equally into two half hours", retry_with={"resample": "split"}
        )
    if step == 15 and resample != "aggregate":
        raise ProfileError(
            "the profile is 15-minute data, not half-hourly (median step 15 minutes): load it "
            "with resample='aggregate' (CLI: --resample aggregate) to sum pairs of quarter "
            "hours into half hours", retry_with={"resample": "aggregate"}
        )
    if step not in (15, 30, 60):
        raise ProfileError(
            f"the profile's median step is {step:g} minutes; need half-hourly data "
            "(or hourly with resample='split', 15-minute with resample='aggregate')"
        )
    if resample == "split" and step != 60:
        raise ProfileError(f"resample='split' is for hourly data; this data steps {step:g} min")
    if resample == "aggregate" and step != 15:
        raise ProfileError(f"resample='aggregate' is for 15-minute data; this steps {step:g} min")

    if long.from_kw:
        kwh = _kw_as_kwh(kwh, step, warnings)
    utc_ns, timezone = _utc(stamps, long.aware, tz=tz, convention=convention, step=step)
    if step == 60:
        utc_ns = np.concatenate([utc_ns, utc_ns + NS_PER_HALF_HOUR])
        kwh = np.concatenate([kwh, kwh]) / 2.0
        if kvarh is not None:
            kvarh = np.concatenate([kvarh, kvarh]) / 2.0
        warnings.append("hourly data split into half hours (each hour's kWh halved)")
    elif step == 15:
        half = utc_ns // NS_PER_HALF_HOUR * NS_PER_HALF_HOUR
        frame = pd.DataFrame({"t": half, "kwh": kwh})
        if kvarh is not None:
            frame["kvarh"] = kvarh
        grouped = frame.groupby("t", sort=True)
        sums = grouped.sum()
        counts = grouped.size()
        partial = int((counts != 2).sum())
        if partial:
            warnings.append(f"{partial} half hour(s) built from other than two 15-minute readings")
        utc_ns = sums.index.to_numpy(np.int64)
        kwh = sums["kwh"].to_numpy()
        kvarh = sums["kvarh"].to_numpy() if kvarh is not None else None
        warnings.append("15-minute data summed into half hours")
    regular = one_step and step == 30 and long.aware  # UTC times are as given
    return utc_ns, kwh, kvarh, nans, step, timezone, regular


def _finish(
    utc_ns: np.ndarray,
    kwh: np.ndarray,
    kvarh: np.ndarray | None,
    *,
    source: str,
    shape: str,
    step_minutes: float,
    timezone: str,
    convention: str,
    resample: str | None,
    nans: int,
    warnings: list[str],
    index: pd.DatetimeIndex | None = None,
    own_values: bool = False,
    extremes: tuple[float, float] | None = None,
    kwh_only: bool = False,
) -> tuple[pd.DataFrame | pd.Series, DataQualityReport]:
    """The frame and report of UTC half hours. `index`: the frame's index when the caller
    has built it, `utc_index(utc_ns)` of `utc_ns` sorted half an hour apart throughout.
    `own_values`: `kwh` is the caller's copy for this frame alone (or an array made from it
    here), so the frame takes it as it is where it is writable. `extremes`: (min, max) of
    `kwh` when the caller has them (with `index`: nothing is dropped or reordered here).
    `kwh_only`: without `kvarh`, the frame's `kwh` column alone (a Series), not the frame."""
    if utc_ns.size == 0:
        raise ProfileError("no half hours with values in the profile")
    # Sorted, half an hour apart throughout (the usual case): on the grid if the first is, and
    # nothing to sort, drop or report as a gap.
    if index is not None:
        steps, regular = utc_ns[:0], True
    else:
        steps = np.diff(utc_ns)
        regular = bool((steps == NS_PER_HALF_HOUR).all())
    if (int(utc_ns[0]) % NS_PER_HALF_HOUR != 0 if regular
            else bool((utc_ns % NS_PER_HALF_HOUR != 0).any())):
        off_grid = utc_ns % NS_PER_HALF_HOUR != 0
        row = int(np.flatnonzero(off_grid)[0])
        raise ProfileError(
            f"{int(off_grid.sum())} timestamp(s) are not on the half hour, e.g. "
            f"{pd.Timestamp(int(utc_ns[row]), tz='UTC')}: half-hourly data must start at :00 "
            "and :30"
        )
    if not regular and not bool((steps >= 0).all()):
        order = np.argsort(utc_ns, kind="stable")
        utc_ns, kwh = utc_ns[order], kwh[order]
        kvarh = kvarh[order] if kvarh is not None else None
        steps = np.diff(utc_ns)
    irregular = 0 if regular else int((steps != NS_PER_HALF_HOUR).sum() - (steps == 0).sum())

    duplicate = np.concatenate([[False], steps == 0]) if not regular else None
    n_duplicates = 0 if duplicate is None else int(duplicate.sum())
    if n_duplicates:
        assert duplicate is not None
        first_of = np.maximum.accumulate(np.where(~duplicate, np.arange(utc_ns.size), 0))
        same = kwh[duplicate] == kwh[first_of[duplicate]]
        if kvarh is not None:
            same &= kvarh[duplicate] == kvarh[first_of[duplicate]]
        if not same.all():
            at = pd.Timestamp(int(utc_ns[duplicate][~same][0]), tz="UTC")
            raise ProfileError(
                f"{int((~same).sum())} half hour(s) appear more than once with different values "
                f"(e.g. {at} UTC): remove the duplicates (or check the time zone) and reload"
            )
        warnings.append(f"{n_duplicates} duplicated row(s) with identical values dropped")
        keep = ~duplicate
        utc_ns, kwh = utc_ns[keep], kwh[keep]
        kvarh = kvarh[keep] if kvarh is not None else None

    expected = int((utc_ns[-1] - utc_ns[0]) // NS_PER_HALF_HOUR) + 1
    missing = expected - utc_ns.size
    gap_after = np.flatnonzero(np.diff(utc_ns) > NS_PER_HALF_HOUR) if missing else steps[:0]
    gaps = tuple(
        (utc_minute_text(int(utc_ns[i]) + NS_PER_HALF_HOUR),
         utc_minute_text(int(utc_ns[i + 1]) - NS_PER_HALF_HOUR))
        for i in gap_after[:MAX_LISTED]
    )
    if missing:
        warnings.append(
            f"{missing} half hour(s) missing in {gap_after.size} gap(s), first {gaps[0][0]} UTC"
        )
    low, top = extremes if extremes is not None else (kwh.min(), None)
    negatives = 0 if low >= 0 else int(np.count_nonzero(kwh < 0))
    if negatives:
        warnings.append(f"{negatives} negative kWh value(s) (export?) kept as given")
    spikes, p99, spike_mask = _spikes(kwh, top)
    if spikes:
        assert spike_mask is not None
        at = utc_minute_text(int(utc_ns[np.flatnonzero(spike_mask)[0]]))
        warnings.append(
            f"{spikes} spike(s) above {SPIKE_FACTOR:g} x the 99th percentile "
            f"({p99:.3g} kWh), first at {at} UTC: check the units"
        )
    if index is None:
        index = utc_index(utc_ns)
    copy = not (own_values and kwh.flags.writeable)
    data: pd.DataFrame | pd.Series
    if kwh_only and kvarh is None:
        data = pd.Series(kwh, index=index, name=_KWH[0], copy=copy)
    else:
        data = pd.DataFrame(kwh[:, None], index=index, columns=_KWH, copy=copy)
    if kvarh is not None:
        data["kvarh"] = kvarh
    quality = DataQualityReport(
        source=source,
        shape=shape,
        input_step_minutes=step_minutes,
        timezone=timezone,
        timestamp_convention=convention,
        resampled=resample,
        half_hours=int(utc_ns.size),
        first=utc_minute_text(int(utc_ns[0])),
        last=utc_minute_text(int(utc_ns[-1])),
        expected_half_hours=expected,
        missing_half_hours=missing,
        gaps=gaps,
        duplicates=n_duplicates,
        irregular_steps=irregular,
        nans=nans,
        negatives=negatives,
        spikes=spikes,
        warnings=tuple(warnings),
    )
    return data, quality


def _no_spikes(kwh: np.ndarray, top: float | None = None) -> bool:
    """True when no value can be a spike, shown without the 99th percentile: if at least as
    many values as lie from the percentile's lower order statistic up (less one, for margin)
    are >= x, where SPIKE_FACTOR * x >= the largest value and x > 0, the percentile is >= x,
    so no value exceeds SPIKE_FACTOR times it. False means: compute it. `top`: `kwh.max()`
    when the caller has it."""
    top = float(kwh.max()) if top is None else top
    if not (np.isfinite(top) and top > 0):
        return False
    x = top / SPIKE_FACTOR
    if SPIKE_FACTOR * x < top:
        x = float(np.nextafter(x, np.inf))
    below = max(int(np.floor(0.99 * (kwh.size - 1))) - 1, 0)  # at or under numpy's lower index
    return int(np.count_nonzero(kwh >= x)) >= kwh.size - below


def _spikes(kwh: np.ndarray, top: float | None = None) -> tuple[int, float, np.ndarray | None]:
    """(spikes, the 99th percentile, their mask): values above SPIKE_FACTOR x the profile's
    99th percentile (none when it is not positive). The percentile (a partial sort) is
    skipped, as nan, when `_no_spikes` shows there are none (`top`: `kwh.max()`, if known)."""
    if _no_spikes(kwh, top):
        return 0, float("nan"), None
    p99 = float(np.percentile(kwh, 99))
    if not p99 > 0:
        return 0, p99, None
    spike_mask = kwh > SPIKE_FACTOR * p99
    return int(np.count_nonzero(spike_mask)), p99, spike_mask


_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")


def utc_index(utc_ns: np.ndarray) -> pd.DatetimeIndex:
    """A profile frame's index of int64 ns UTC times, holding `utc_ns` itself (never modify
    it after): what `pd.DatetimeIndex(utc_ns.view("datetime64[ns]"), name="timestamp_utc",
    tz="UTC")` gives, built directly when pandas' private constructors are seen to give just
    that (the public one checks and copies, ~90 Python calls)."""
    build = _direct_utc_index if _direct_index_works() else _public_utc_index
    return build(utc_ns)


GRID_INDEXES = 8  # the shared grid indexes kept (~0.14 MB each for a year)
_grid_indexes: dict[tuple[int, int], pd.DatetimeIndex] = {}
_grid_lock = threading.Lock()


def grid_index(first_ns: int, size: int) -> pd.DatetimeIndex:
    """`utc_index` of `size` half hours from `first_ns`, one index shared by every frame of
    that grid (an Index is immutable; its times are read-only) for as long as it is among the
    last `GRID_INDEXES` used."""
    key = (first_ns, size)
    with _grid_lock:  # Dask runs batches in threads
        index = _grid_indexes.pop(key, None)
        if index is not None:
            _grid_indexes[key] = index  # the most recently used last
            return index
    utc_ns = first_ns + np.arange(size, dtype=np.int64) * NS_PER_HALF_HOUR
    utc_ns.flags.writeable = False
    with _grid_lock:
        index = _grid_indexes.setdefault(key, utc_index(utc_ns))  # or another thread's
        while len(_grid_indexes) > GRID_INDEXES:
            del _grid_indexes[next(iter(_grid_indexes))]
    return index


def known_grid(index: pd.Index) -> tuple[int, int] | None:
    """`core.bands.half_hour_grid` of an index on the times of one `grid_index` built (two
    half hours or more; a Series of a frame's column has its own index on the frame's times),
    known without reading them; None for any other index (compute it)."""
    if type(index) is not pd.DatetimeIndex or len(index) < 2:
        return None
    key = (int(index.asi8[0]), len(index))
    shared = _grid_indexes.get(key)
    return key if shared is not None and index.array is shared.array else None


def index_grid(index: pd.Index) -> tuple[int, int] | None:
    """`core.bands.half_hour_grid` of an index's int64 ns times (UTC instants when zoned):
    known without reading them for a `grid_index` (`known_grid`), else computed."""
    known = known_grid(index)
    if known is not None:
        return known
    times = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index)
    return half_hour_grid(times.asi8 if times.unit == "ns" else times.as_unit("ns").asi8)


def _public_utc_index(utc_ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(utc_ns.view("datetime64[ns]"), name="timestamp_utc", tz="UTC")


def _direct_utc_index(utc_ns: np.ndarray) -> pd.DatetimeIndex:
    values = pd.arrays.DatetimeArray._simple_new(utc_ns.view("datetime64[ns]"), dtype=_UTC_NS)
    return pd.DatetimeIndex._simple_new(values, name="timestamp_utc")


@functools.cache
def _direct_index_works() -> bool:
    """Whether this pandas' private constructors build what the public one does (checked once
    per process on a few times: pandas is not capped, and a release may change them)."""
    probe = np.array([0, NS_PER_HALF_HOUR, 3 * NS_PER_HALF_HOUR], dtype=np.int64)
    try:
        got = _direct_utc_index(probe.copy())
    except Exception:  # any failure means: use the public constructor
        return False
    want = _public_utc_index(probe)
    return (type(got) is type(want) and got.dtype == want.dtype and got.name == want.name
            and got.freq is None and got.equals(want) and np.array_equal(got.asi8, probe))


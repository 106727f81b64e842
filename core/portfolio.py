"""Portfolio runs: read a SITES file in batches and value every site of a batch.

SITES (CSV or Parquet) has exactly the columns `SITES_COLUMNS`:
``site_id, mpan, postcode, voltage, kva, profile_path``. `profile_path` is a half-hourly
profile file per site (CSV/XLSX/Parquet, any shape `core.profiles.load_profile` reads), or one
long file (Parquet file, Parquet directory of part files, or CSV) with a ``site_id`` column
keyed to the sites; relative paths are read from the SITES file's folder.

`run_batch(sites)` is the one per-batch function every engine runs (see
`core.portfolio_engines`). For each site it parses the MPAN (`core.mpan`), decides the DNO
area (`core.valuation.site_area`; an IDNO MPAN needs the postcode), loads the profile
(`core.profile_loader.read_profile`: the one reading policy the lookup uses; one read per
profile file), and values the site with
`core.valuation.value_site` under the `PORTFOLIO` policy (the valuation the single-site
lookup uses: DUoS with the tariff of each charging year, flexibility against the DUoS unit
rates); load-shape features are computed for the whole batch in one 2-D array
(`core.features.create_features_dataframe`). A site that fails at any stage
becomes one row of the errors frame (site_id, row, stage, reason) and never stops the batch.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from bess_duos.core.features import (
    FEATURES,
    FeatureError,
    FeatureRows,
    create_features_dataframe,
    feature_rows,
)
from bess_duos.core.mpan import MpanError, parse_mpan
from bess_duos.core.profile_loader import read_profile, read_sliced_profiles
from bess_duos.core.profiles import Profile, ProfileError, index_grid
from bess_duos.core.site_area import SiteArea, SiteAreaError
from bess_duos.core.tariffs import normalise_voltage
from bess_duos.core.timebands import BANDS
from bess_duos.core.valuation import (
    PORTFOLIO,
    Site,
    SiteJob,
    SiteValuation,
    ValuationError,
    site_area,
    value_sites,
)

if TYPE_CHECKING:
    import pyarrow as pa

SITES_COLUMNS: tuple[str, ...] = ("site_id", "mpan", "postcode", "voltage", "kva", "profile_path")
ERROR_COLUMNS: tuple[str, ...] = ("site_id", "row", "stage", "reason")
DEFAULT_BATCH_SIZE = 100
_ROW = "row"  # data row number in the SITES file (1 = first row under the header)
_DUPLICATE = "duplicate_of_row"
_CSV_CHUNK_ROWS = 1_000_000

AreaLookupFn = Callable[[Any], Any]


class SitesFileError(ValueError):
    """The SITES file as a whole cannot be read (missing, unreadable, wrong columns)."""


# ---------------------------------------------------------------- reading SITES


def check_columns(columns: list[str], source: str) -> None:
    """Raise `SitesFileError` unless the columns are exactly `SITES_COLUMNS` (any order)."""
    names = [str(c).strip() for c in columns]
    missing = [c for c in SITES_COLUMNS if c not in names]
    extra = [c for c in names if c not in SITES_COLUMNS]
    repeated = sorted({c for c in names if names.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {', '.join(map(repr, extra))}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        raise SitesFileError(
            f"{source}: {'; '.join(problems)}. The header must be exactly: "
            f"{','.join(SITES_COLUMNS)} (leave a cell blank where a value is unknown)"
        )


def _raw_chunks(path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(path)
        except Exception as exc:  # arrow raises several types for a file that is not Parquet
            raise SitesFileError(f"{path.name}: not a readable Parquet file: {exc}") from None
        check_columns(handle.schema_arrow.names, path.name)
        for record_batch in handle.iter_batches(batch_size=batch_size):
            yield record_batch.to_pandas().astype("string").fillna("")
        return
    if suffix not in (".csv", ".txt"):
        raise SitesFileError(
            f"{path.name}: a SITES file must be CSV or Parquet (save a spreadsheet as CSV UTF-8)"
        )
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise SitesFileError(f"{path.name} is empty: it needs a header row "
                             f"{','.join(SITES_COLUMNS)}") from None
    check_columns(list(header.columns), path.name)
    reader = pd.read_csv(
        path, dtype=str, keep_default_na=False, chunksize=batch_size, skipinitialspace=True,
        encoding="utf-8-sig",
    )
    rows = 0
    with reader:
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                return
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise SitesFileError(
                    f"{path.name}: cannot read the rows after data row {rows}: {exc}. "
                    "Fix the file (e.g. an unclosed quote or a row with too many cells)"
                ) from None
            rows += len(chunk)
            yield chunk


# SITES rows read and tidied at a time (then handed out `batch_size` at a time): tidying 100
# rows at a time cost ~40 us a site in the process that hands out the batches, on the cores
# the workers need; 5,000 at a time ~6 us.
_SITES_READ_ROWS = 5_000


def iter_site_batches(path: str | Path, batch_size: int = DEFAULT_BATCH_SIZE
                      ) -> Iterator[pd.DataFrame]:
    """Stream the SITES file as DataFrames of at most `batch_size` rows, never all at once
    (read `_SITES_READ_ROWS` rows at a time, or `batch_size` if more).

    Every cell is text, stripped; `profile_path` is made absolute against the file's folder.
    Added columns: ``row`` (data row number, 1 = first row under the header) and
    ``duplicate_of_row`` (the earlier row with the same site_id, else 0). The header is
    checked before the first batch (`SitesFileError`).
    """
    path = Path(path)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not path.is_file():
        raise SitesFileError(f"sites file {str(path)!r} not found")
    base = path.resolve().parent
    seen: dict[str, int] = {}
    next_row = 1
    for chunk in _raw_chunks(path, max(batch_size, _SITES_READ_ROWS)):
        chunk = chunk.rename(columns=lambda c: str(c).strip())[list(SITES_COLUMNS)]
        for name in SITES_COLUMNS:  # a column at a time: ~3x faster than DataFrame.apply
            chunk[name] = chunk[name].astype(str).str.strip()
        rows = np.arange(next_row, next_row + len(chunk))
        next_row += len(chunk)
        chunk.index = pd.RangeIndex(len(chunk))
        chunk[_ROW] = rows
        duplicate = np.zeros(len(chunk), dtype=np.int64)
        for i, (site, row) in enumerate(zip(chunk["site_id"], rows, strict=True)):
            if site:
                first = seen.setdefault(site, int(row))
                duplicate[i] = 0 if first == row else first
        chunk[_DUPLICATE] = duplicate
        absolute = {p: _absolute(p, base) for p in dict.fromkeys(chunk["profile_path"])}
        chunk["profile_path"] = [absolute[p] for p in chunk["profile_path"]]  # once per file
        for start in range(0, len(chunk), batch_size):
            batch = chunk.iloc[start:start + batch_size]
            batch.index = pd.RangeIndex(len(batch))
            yield batch


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # s3://, gs://, file://, ... (not C:\\)


def _absolute(text: str, base: Path) -> str:
    if not text or _URI.match(text):
        return text
    candidate = Path(text).expanduser()
    return str(candidate if candidate.is_absolute() else base / candidate)


# ---------------------------------------------------------------- per-site state


@dataclass
class _Site:
    site_id: str
    row: int
    mpan_text: str
    postcode: str
    voltage: str | None
    kva: float | None
    profile_path: str
    warnings: list[str]  # what reading the profile said
    site: Site | None = None
    area: SiteArea | None = None
    # the profile: kwh [, kvarh] on a UTC index (without kvarh, mostly the kwh Series alone)
    data: pd.DataFrame | pd.Series | None = None
    valued: SiteValuation | None = None


def _records(frame: pd.DataFrame) -> list[dict[Any, Any]]:
    """`frame.to_dict("records")` (the same Python values), made a column at a time: ~10x
    faster for a batch of SITES rows."""
    names = list(frame.columns)
    return [dict(zip(names, values, strict=True))
            for values in zip(*(frame[name].tolist() for name in names), strict=True)]


def _check_input(frame: pd.DataFrame) -> tuple[list[_Site], list[dict[str, Any]]]:
    sites: list[_Site] = []
    errors: list[dict[str, Any]] = []
    kva_numbers = pd.to_numeric(frame["kva"].replace("", np.nan), errors="coerce").to_numpy()
    for i, record in enumerate(_records(frame)):
        row = int(record[_ROW])
        site_id = record["site_id"]

        def fail(stage: str, column: str, message: str, site_id: str = site_id, row: int = row
                 ) -> None:
            errors.append({"site_id": site_id, "row": row, "stage": stage,
                           "reason": f"row {row}, column {column}: {message}"})

        if not site_id:
            fail("input", "site_id", "blank: every site needs a unique site_id")
            continue
        if int(record.get(_DUPLICATE, 0) or 0):
            fail("input", "site_id", f"{site_id!r} repeats row {record[_DUPLICATE]}: "
                 "site_id must be unique")
            continue
        kva: float | None = None
        if record["kva"]:
            value = float(kva_numbers[i])
            if not math.isfinite(value) or value <= 0:
                fail("input", "kva", f"{record['kva']!r} is not a positive number of kVA "
                     "(agreed capacity; leave blank if unknown)")
                continue
            kva = value
        voltage: str | None = None
        if record["voltage"]:
            try:
                voltage = normalise_voltage(record["voltage"])
            except ValueError as exc:
                fail("input", "voltage", f"{exc} (leave blank for LV)")
                continue
        if not record["mpan"]:
            fail("mpan", "mpan", "blank: give the site's 13-digit MPAN core or full MPAN")
            continue
        if not record["profile_path"]:
            fail("profile", "profile_path", "blank: give the site's half-hourly profile file")
            continue
        sites.append(_Site(site_id, row, record["mpan"], record["postcode"], voltage, kva,
                           record["profile_path"], []))
    return sites, errors


class _PortfolioLookup:
    """`AreaLookup` for many sites: answers (and failures) kept per postcode, and once the
    online services are found unavailable, later postcodes are answered from the cache only
    instead of waiting on the network again for every site."""

    def __init__(self) -> None:
        from bess_duos.core.area_resolver import AreaLookup

        self._lookup = AreaLookup()
        self._online = True
        self._seen: dict[str, Any] = {}

    def __call__(self, postcode: Any) -> Any:
        from bess_duos.core.area_resolver import ServiceUnavailableError

        key = str(postcode)
        if key not in self._seen:
            try:
                self._seen[key] = self._lookup.lookup(postcode, online=self._online)
            except ServiceUnavailableError as exc:
                self._online = False
                self._seen[key] = exc
            except LookupError as exc:
                self._seen[key] = exc
        answer = self._seen[key]
        if isinstance(answer, Exception):
            raise answer
        return answer


@functools.lru_cache(maxsize=1)
def _default_lookup() -> AreaLookupFn:
    """One `_PortfolioLookup` per process, made when the first IDNO site needs it."""
    return _PortfolioLookup()


def _lazy_default_lookup(postcode: Any) -> Any:
    return _default_lookup()(postcode)


def _resolve_area(site: _Site, area_lookup: AreaLookupFn | None) -> None:
    """Parse the MPAN and decide the area (`core.valuation.site_area`, `PORTFOLIO` policy)."""
    try:
        parsed = parse_mpan(site.mpan_text)
    except MpanError as exc:
        raise ValuationError("mpan", f"MPAN {site.mpan_text!r}: {exc}") from None
    site.site = Site(parsed, site.postcode or None, None, site.voltage, site.kva)
    try:
        site.area = site_area(site.site, PORTFOLIO, area_lookup or _lazy_default_lookup)
    except SiteAreaError as exc:
        raise ValuationError("area", str(exc)) from None


# ---------------------------------------------------------------- profiles


@dataclass(frozen=True)
class _Source:
    """Where a profile lives: a local path, or a Parquet object or folder behind a URI
    (s3://, gs://, file://, ...), opened with pyarrow's own filesystems."""

    text: str
    filesystem: Any = None  # a pyarrow FileSystem for a URI, None for a local path
    location: str = ""  # the path within that filesystem

    @classmethod
    def of(cls, text: str) -> _Source:
        if not _URI.match(text):
            return cls(text)
        from pyarrow import fs

        try:
            filesystem, location = fs.FileSystem.from_uri(_bounded(text))
        except Exception as exc:  # unknown scheme, no credentials, bad bucket name
            raise ProfileError(f"profile location {text!r} cannot be opened: {exc}") from None
        return cls(text, filesystem, location)

    @property
    def name(self) -> str:
        return Path(self.location or self.text).name

    def info(self) -> tuple[bool, bool]:
        """(exists, is a folder)."""
        if self.filesystem is None:
            path = Path(self.text)
            return path.exists(), path.is_dir()
        from pyarrow import fs

        try:
            kind = self.filesystem.get_file_info(self.location).type
        except Exception as exc:  # network or permission errors
            raise ProfileError(f"profile location {self.text!r} cannot be read: {exc}") from None
        return kind != fs.FileType.NotFound, kind == fs.FileType.Directory

    def is_parquet(self) -> bool:
        return Path(self.location or self.text).suffix.lower() in (".parquet", ".pq")


OBJECT_STORE_RETRY_SECONDS = 30  # how long a Google Cloud Storage request may be retried


def _bounded(uri: str) -> str:
    """`uri` with a bound on its requests' retries where pyarrow's default has none worth the
    name: Google Cloud Storage retries for 15 minutes (say, with no credentials or no network),
    so a gs:// URI gets `retry_limit_seconds` unless it sets one. S3 fails in seconds."""
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in ("gs", "gcs") or "retry_limit_seconds=" in uri:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}retry_limit_seconds={OBJECT_STORE_RETRY_SECONDS}"


def _keyed_source(source: _Source, is_dir: bool) -> bool:
    """Whether a profile file (or Parquet folder) holds many sites in a `site_id` column."""
    if is_dir:
        return True
    if source.filesystem is not None and not source.is_parquet():
        raise ProfileError(f"profile location {source.text!r}: only Parquet is read from a URI "
                           "(give a local path for CSV or Excel)")
    path = Path(source.text)
    suffix = path.suffix.lower()
    if source.is_parquet():
        import pyarrow.parquet as pq

        try:
            return "site_id" in pq.read_schema(
                source.location or source.text, filesystem=source.filesystem).names
        except Exception as exc:  # not Parquet after all
            raise ProfileError(f"profile file {source.name!r} is not readable Parquet: {exc}"
                               ) from None
    if suffix in (".csv", ".txt"):
        try:
            header = pd.read_csv(path, nrows=0, sep=None, engine="python")
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            return False
        return "site_id" in [str(c).strip() for c in header.columns]
    return False


def _read_keyed_profiles(source: _Source, site_ids: list[str], is_dir: bool
                         ) -> dict[str, Profile | pd.DataFrame]:
    """Each wanted site's profile from a long file keyed by site_id, read once for the batch:
    the sites `read_sliced_profiles` reads all at once as profiles, the others as their rows
    (a frame for `read_profile`: that site's rows, in file order)."""
    rows, codes, keys = _keyed_rows(source, site_ids, is_dir)
    order, bounds = _site_bounds(codes, len(keys))
    loaded: list[Profile | None] = [None] * len(keys)
    if not isinstance(rows, pd.DataFrame):
        loaded = read_sliced_profiles(rows if order is None else rows.take(order), bounds,
                                      kwh_only=True)
    frame: pd.DataFrame | None = None
    found: dict[str, Profile | pd.DataFrame] = {}
    for i, key in enumerate(keys):
        if bounds[i + 1] == bounds[i]:
            continue
        profile = loaded[i]
        if profile is None and frame is None:  # the frame only for sites read alone
            frame = _rows_frame(rows, order, source)
        found[str(key)] = profile if profile is not None else frame.iloc[bounds[i]:bounds[i + 1]]
    return found


def _rows_frame(rows: pa.Table | pd.DataFrame, order: np.ndarray | None, source: _Source
               ) -> pd.DataFrame:
    """The rows as a frame, in site order."""
    try:
        frame = rows if isinstance(rows, pd.DataFrame) else rows.to_pandas()
    except Exception as exc:  # arrow errors: types pandas cannot take
        raise ProfileError(f"profile data {source.name!r} could not be read: {exc}") from None
    return frame if order is None else frame.iloc[order]


def _site_bounds(codes: np.ndarray, sites: int) -> tuple[np.ndarray | None, np.ndarray]:
    """(the rows' order by site, None when already so; where each site's rows start, and the
    end). A file that keeps each site's rows together (as the demo and any site-partitioned
    export do) has non-decreasing codes: each site is then a slice, without sorting."""
    order = None
    if codes.size and not bool((codes[1:] >= codes[:-1]).all()):
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
    # the sought codes in the codes' own dtype where it holds them (else numpy casts all the
    # codes first)
    kind = codes.dtype if codes.size and sites <= np.iinfo(codes.dtype).max else np.int64
    return order, np.searchsorted(codes, np.arange(sites + 1, dtype=kind))


def _keyed_rows(source: _Source, site_ids: list[str], is_dir: bool
                ) -> tuple[pa.Table | pd.DataFrame, np.ndarray, Any]:
    """(the wanted sites' rows without site_id, each row's site code, the site of each code)."""
    if is_dir or source.is_parquet():
        return _parquet_rows(source, site_ids, is_dir)
    parts = [
        chunk[chunk["site_id"].isin(site_ids)]
        for chunk in pd.read_csv(Path(source.text), dtype={"site_id": str},
                                 chunksize=_CSV_CHUNK_ROWS, skipinitialspace=True)
    ]
    frame = pd.concat(parts, ignore_index=True)
    codes, keys = pd.factorize(frame.pop("site_id"))
    return frame, codes, keys


def _parquet_rows(source: _Source, site_ids: list[str], is_dir: bool
                  ) -> tuple[pa.Table | pd.DataFrame, np.ndarray, Any]:
    """(the wanted sites' rows without site_id, each row's site code, the site of each code)
    from a Parquet file or folder: an Arrow table (a frame where site_id is not text). A folder
    is filtered as it is read (its parts pruned by their statistics); one file is read whole
    by the Parquet reader (not a dataset scan: ~10% less time; one thread, the workers being
    the parallelism; a local file memory-mapped: ~8% less) with site_id dictionary-encoded,
    the wanted sites picked on the dictionary (a batch usually wants all of a part's sites)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    try:
        where = source.location or source.text
        dataset = ds.dataset(where, format="parquet", filesystem=source.filesystem)
        key = ds.field("site_id")
        kind = dataset.schema.field("site_id").type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            table = dataset.to_table(filter=key.cast(pa.string()).isin(site_ids))
            frame = table.to_pandas()
            codes, keys = pd.factorize(frame.pop("site_id").astype(str))
            return frame, codes, keys
        if is_dir:
            dataset = ds.dataset(where, filesystem=source.filesystem, format=ds.ParquetFileFormat(
                read_options=ds.ParquetReadOptions(dictionary_columns=["site_id"])))
            table = dataset.to_table(filter=key.isin(site_ids))
        else:  # one file read whole: the Parquet reader itself, a chunk per row group
            with pq.ParquetFile(where, read_dictionary=["site_id"], filesystem=source.filesystem,
                                memory_map=source.filesystem is None) as handle:
                table = handle.read(use_threads=False)
        table = table.unify_dictionaries()
        sites = table.column("site_id")
        table = table.drop_columns(["site_id"])
        if sites.null_count:  # rows without a site are no site's
            table, sites = table.filter(sites.is_valid()), sites.filter(sites.is_valid())
        sites = sites.combine_chunks() if sites.num_chunks != 1 else sites.chunk(0)
        keys = sites.dictionary.to_numpy(zero_copy_only=False)
        codes = sites.indices.to_numpy(zero_copy_only=False)  # int32 as Arrow keeps them
        asked = set(site_ids)  # a batch's few keys looked up (np.isin sorts both sides)
        wanted = np.fromiter((key in asked for key in keys), bool, len(keys))
        if not wanted.all():
            keep = wanted[codes]
            table, codes = table.filter(pa.array(keep)), codes[keep]
    except Exception as exc:  # arrow errors: schema, type, I/O
        raise ProfileError(f"profile data {source.name!r} could not be read: {exc}"
                           ) from None
    return table, codes, keys


def _whole(source: _Source) -> Path | pd.DataFrame:
    """A one-site source as `read_profile` takes it: a local path, or a URI's Parquet table."""
    if source.filesystem is None:
        return Path(source.text)
    import pyarrow.parquet as pq

    try:
        return pq.read_table(source.location, filesystem=source.filesystem).to_pandas()
    except Exception as exc:  # arrow errors: schema, type, I/O
        raise ProfileError(f"profile data {source.name!r} could not be read: {exc}") from None


def _load_profiles(sites: list[_Site]) -> list[tuple[_Site, str, str]]:
    """Attach each site's profile (`site.data`); return the failures."""
    failures: list[tuple[_Site, str, str]] = []
    by_path: dict[str, list[_Site]] = {}
    for site in sites:
        by_path.setdefault(site.profile_path, []).append(site)
    for text, group in by_path.items():
        try:
            source = _Source.of(text)
            exists, is_dir = source.info()
            if not exists:
                raise ProfileError(f"profile file {text!r} not found")
            keyed = _keyed_source(source, is_dir)
            frames = (_read_keyed_profiles(source, [s.site_id for s in group], is_dir)
                      if keyed else None)
            shared = None if keyed else read_profile(_whole(source))
        except (ProfileError, OSError, ValueError, KeyError) as exc:
            failures.extend((s, "profile", str(exc)) for s in group)
            continue
        for site in group:
            try:
                if frames is not None:
                    if site.site_id not in frames:
                        raise ValuationError("profile", f"no rows for site_id {site.site_id!r} "
                                             f"in {source.name}")
                    found = frames[site.site_id]
                    loaded = found if isinstance(found, Profile) else read_profile(found)
                else:
                    assert shared is not None
                    loaded = shared
                site.warnings.extend(loaded.quality.warnings)
                site.data = loaded.data
            except ValuationError as exc:
                failures.append((site, exc.stage, exc.reason))
            except (ProfileError, ValueError, KeyError) as exc:
                failures.append((site, "profile", str(exc)))
    return failures


# ---------------------------------------------------------------- DUoS and flexibility


def _value(sites: list[_Site], *, flex_fraction: float, power_factor: float | None
           ) -> list[tuple[_Site, str, str]]:
    """Value the sites (`core.valuation.value_sites`, `PORTFOLIO` policy) into `site.valued`;
    return the failures."""
    outcomes = value_sites(
        [SiteJob(s.site, s.data, s.area, s.warnings, f"profile of site {s.site_id!r}")
         for s in sites], policy=PORTFOLIO, flex_fraction=flex_fraction,
        power_factor=power_factor)
    failures = []
    for site, outcome in zip(sites, outcomes, strict=True):
        if isinstance(outcome, ValuationError):
            failures.append((site, outcome.stage, outcome.reason))
        elif isinstance(outcome, Exception):  # an unforeseen failure is still only this site's
            failures.append((site, "duos", f"{type(outcome).__name__}: {outcome}"))
        else:
            site.valued = outcome
    return failures


def _blank(value: float | None) -> float:
    """A figure not computed (None: too little data) as NaN, the blank of a float column."""
    return np.nan if value is None else value


def _result_row(site: _Site, flex_fraction: float) -> dict[str, Any]:
    """The site's results row, before its features."""
    valued, area, parsed = site.valued, site.area, site.site
    assert valued is not None and area is not None and parsed is not None
    assert valued.duos is not None and valued.flexibility is not None
    assert parsed.mpan is not None
    summary, flex, first = valued.duos, valued.flexibility, valued.tariff
    result: dict[str, Any] = {
        "site_id": site.site_id,
        "row": site.row,
        "mpan_core": parsed.mpan.core,
        "distributor_id": parsed.mpan.distributor_id,
        "area_distributor_id": area.distributor_id,
        "dno_short_code": area.distributor.short_code,
        "area_source": area.source,
        "voltage": first.voltage_level,
        "kva": site.kva if site.kva is not None else np.nan,
        "llfc": parsed.mpan.llfc or "",
        "tariff_name": first.tariff_name,
        "residual_band": first.residual_band,
        "tariff_note": first.selection_note,
        "tariffs": " | ".join(summary.tariffs),
        "charging_years": " ".join(str(y) for y in summary.charging_years),
        "first_utc": summary.first,
        "last_utc": summary.last,
        "half_hours": summary.half_hours,
        "days_covered": summary.days_covered,
        "kwh_total": summary.total_kwh,
    }
    for band in BANDS:
        result[f"kwh_{band}"] = summary.kwh_by_band[band]
    for band in BANDS:
        result[f"unit_gbp_{band}"] = summary.unit_gbp_by_band[band]
    result.update(
        unit_gbp=summary.unit_gbp,
        fixed_gbp=summary.fixed_gbp,
        capacity_gbp=summary.capacity_gbp,
        exceeded_capacity_gbp=summary.exceeded_capacity_gbp,
        reactive_gbp=summary.reactive_gbp,
        total_gbp=summary.total_gbp,
        annual_duos_gbp=_blank(summary.annualised_total_gbp),
        annualisation=summary.annualisation_method,
        max_demand_kva=summary.max_demand_kva,
        flex_fraction=flex_fraction,
        flex_value_gbp=flex.value_gbp,
        flex_annual_value_gbp=_blank(flex.annual_value_gbp),
        flex_saving_pct=_blank(flex.saving_pct),
        flex_shifted_kwh=flex.shifted_kwh,
        duos_notes="; ".join(summary.notes),
        warnings="; ".join(valued.warnings),
    )
    return result


def _bands(site: _Site) -> np.ndarray:
    assert site.valued is not None and site.valued.bands is not None
    return site.valued.bands


def _kwh(site: _Site) -> pd.Series:
    assert site.valued is not None and site.valued.kwh is not None
    return site.valued.kwh


def _features(sites: list[_Site]) -> tuple[FeatureRows, list[tuple[_Site, str, str]]]:
    """Features of the batch (`core.features.feature_rows`), a row per site that did not
    fail, in order: the sites of one half-hour grid stacked in 2-D arrays whatever their DUoS
    bands (each distinct band sequence made a red mask once, read by its sites' rows); one
    call per grid. If a call fails, each site is computed alone (`create_features_dataframe`)
    to find the one that broke it."""
    try:
        groups = _by_grid(sites)
        parts = [_grid_features(members) for members in groups]
        if len(parts) == 1:
            return parts[0], []
        at = {id(site): i for i, site in enumerate(s for members in groups for s in members)}
        return FeatureRows.concat(parts).take([at[id(site)] for site in sites]), []
    except (FeatureError, ValueError):
        pass  # isolate the site that broke a group call
    parts, failures = [], []
    for site in sites:
        try:
            frame = create_features_dataframe({site.site_id: _kwh(site)},
                                              np.asarray(BANDS)[_bands(site)])
        except (FeatureError, ValueError) as exc:
            failures.append((site, "features", str(exc)))
            continue
        parts.append(FeatureRows(frame[list(FEATURES)].to_numpy(np.float64),
                                 frame["pattern"].to_numpy(object),
                                 frame["notes"].to_numpy(object)))
    return FeatureRows.concat(parts), failures


def _by_grid(sites: list[_Site]) -> list[list[_Site]]:
    """The sites grouped by their kWh series' half-hour grid (and zone), in order; a series
    not on one is a group of its own. Each distinct times array is checked once (the sites'
    indexes are mostly views of one array: the same memory holds the same times), and the
    times of a shared grid index not read at all (`core.profiles.index_grid`)."""
    groups: dict[Any, list[_Site]] = {}
    keys: dict[Any, Any] = {}  # the times' memory -> the group key
    for site in sites:
        index = _kwh(site).index
        if not isinstance(index, pd.DatetimeIndex):
            groups.setdefault(id(index), []).append(site)
            continue
        times = index.asi8
        memory = (str(index.tz), index.unit, times.__array_interface__["data"][0], times.size,
                  times.strides)
        key = keys.get(memory)
        if key is None:
            grid = index_grid(index)
            key = keys[memory] = (str(index.tz), grid) if grid is not None else id(index)
        groups.setdefault(key, []).append(site)
    return list(groups.values())


_RED = BANDS.index("red")


def _grid_features(sites: list[_Site]) -> FeatureRows:
    """`feature_rows` of sites whose kWh series share one grid: each distinct band
    sequence's red mask made once (sites of one area and period share their bands)."""
    masks: list[np.ndarray] = []
    mask_of: dict[Any, int] = {}
    codes = np.empty(len(sites), dtype=np.intp)
    for i, site in enumerate(sites):
        bands = _bands(site)
        key = mask_of.get(id(bands))  # the same array object: the same bands
        if key is None:
            digest = hashlib.blake2b(bands.tobytes(), digest_size=16).digest()
            if digest not in mask_of:
                mask_of[digest] = len(masks)
                masks.append(bands == _RED)
            key = mask_of[id(bands)] = mask_of[digest]
        codes[i] = key
    series = [_kwh(site) for site in sites]
    return feature_rows([s.to_numpy(np.float64) for s in series], series[0].index,
                        [s.site_id for s in sites], np.stack(masks), codes)


# ---------------------------------------------------------------- the batch function


def default_flex_fraction() -> float:
    """`flex_fraction` from config/defaults.yaml (the sheet's default flexible share)."""
    from bess_duos.core.defaults import defaults

    return defaults().flex_fraction


def result_columns() -> list[str]:
    """Column order of the per-site results frame."""
    head = [
        "site_id", "row", "mpan_core", "distributor_id", "area_distributor_id", "dno_short_code",
        "area_source", "voltage", "kva", "llfc", "tariff_name", "residual_band", "tariff_note",
        "tariffs", "charging_years", "first_utc", "last_utc", "half_hours", "days_covered",
        "kwh_total", *(f"kwh_{b}" for b in BANDS), *(f"unit_gbp_{b}" for b in BANDS),
        "unit_gbp", "fixed_gbp", "capacity_gbp", "exceeded_capacity_gbp", "reactive_gbp",
        "total_gbp", "annual_duos_gbp", "annualisation", "max_demand_kva", "flex_fraction",
        "flex_value_gbp", "flex_annual_value_gbp", "flex_saving_pct", "flex_shifted_kwh",
    ]
    return [*head, *FEATURES, "pattern", "feature_notes", "duos_notes", "warnings"]


_TEXT_COLUMNS = (
    "site_id", "mpan_core", "dno_short_code", "area_source", "voltage", "llfc", "tariff_name",
    "residual_band", "tariff_note", "tariffs", "charging_years", "first_utc", "last_utc",
    "annualisation", "pattern", "feature_notes", "duos_notes", "warnings",
)
_INT_COLUMNS = ("row", "distributor_id", "area_distributor_id", "half_hours", "days_covered")


def result_dtypes() -> dict[str, str]:
    """dtype of every results column (fixed, so batches concatenate and spool alike)."""
    return {
        c: "str" if c in _TEXT_COLUMNS else "int64" if c in _INT_COLUMNS else "float64"
        for c in result_columns()
    }


ERROR_DTYPES: dict[str, str] = {"site_id": "str", "row": "int64", "stage": "str", "reason": "str"}


def empty_results() -> pd.DataFrame:
    """A results frame with no rows and the fixed dtypes."""
    return _typed_frame({name: [] for name in result_columns()}, result_dtypes(), 0)


def empty_errors() -> pd.DataFrame:
    """An errors frame with no rows and the fixed dtypes."""
    return _errors_frame([])


def _as_frame(sites: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(sites).copy()
    check_columns([c for c in frame.columns if c not in (_ROW, _DUPLICATE)], "sites")
    for column in SITES_COLUMNS:
        frame[column] = frame[column].fillna("").astype(str).str.strip()
    if _ROW not in frame.columns:
        frame[_ROW] = np.arange(1, len(frame) + 1)
    if _DUPLICATE not in frame.columns:
        first = frame.groupby("site_id", sort=False)[_ROW].transform("first")
        frame[_DUPLICATE] = np.where((first != frame[_ROW]) & (frame["site_id"] != ""), first, 0)
    return frame


class _OneBlasThread:
    """While any batch runs in this process, BLAS/OpenMP use one thread (threadpoolctl).

    Features are matrix products, and OpenBLAS sums in a different order with a different
    number of threads: one thread everywhere makes every engine give the same bits, and
    keeps `workers` processes from oversubscribing the cores. Re-entrant across threads
    (Dask runs batches in threads): the limit is restored when the last batch ends. The
    libraries are found once (`ThreadpoolController`: ~1.3 ms, a scan of every loaded
    library) and again only after a module is imported, which may load one.
    """

    _lock = threading.Lock()
    _users = 0
    _limiter: Any = None
    _controller: Any = None
    _modules = 0  # len(sys.modules) when the controller was made

    def __enter__(self) -> None:
        with self._lock:
            if _OneBlasThread._users == 0:
                _OneBlasThread._limiter = self._found().limit(limits=1)
            _OneBlasThread._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            _OneBlasThread._users -= 1
            if _OneBlasThread._users == 0 and _OneBlasThread._limiter is not None:
                _OneBlasThread._limiter.restore_original_limits()
                _OneBlasThread._limiter = None

    @staticmethod
    def _found() -> Any:
        """The thread pools of the libraries loaded now (called under the lock)."""
        import sys

        if _OneBlasThread._controller is None or _OneBlasThread._modules != len(sys.modules):
            from threadpoolctl import ThreadpoolController

            _OneBlasThread._controller = ThreadpoolController()
            _OneBlasThread._modules = len(sys.modules)
        return _OneBlasThread._controller


def run_batch(
    sites: pd.DataFrame,
    *,
    flex_fraction: float | None = None,
    power_factor: float | None = None,
    area_lookup: AreaLookupFn | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Value every site of a batch: (results, one row per site; errors: site_id, row, stage,
    reason). A site is in exactly one of the two frames; nothing a site does stops the batch.

    `sites` has the `SITES_COLUMNS` (as `iter_site_batches` yields them; `profile_path`
    relative paths are taken from the working directory). `flex_fraction` defaults to
    config/defaults.yaml; `area_lookup` maps a postcode to its area for IDNO MPANs (default:
    `core.area_resolver.AreaLookup().lookup`: the offline table, online with a disk cache only
    where it is uncertain). Runs with one BLAS
    thread (see `_OneBlasThread`), so a site's numbers do not depend on the engine.
    """
    with _OneBlasThread():
        return _run_batch(sites, flex_fraction=flex_fraction, power_factor=power_factor,
                          area_lookup=area_lookup)


def _run_batch(
    sites: pd.DataFrame,
    *,
    flex_fraction: float | None,
    power_factor: float | None,
    area_lookup: AreaLookupFn | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = _as_frame(sites)
    fraction = default_flex_fraction() if flex_fraction is None else float(flex_fraction)
    todo, errors = _check_input(frame)

    def record(site: _Site, stage: str, reason: str) -> None:
        errors.append({"site_id": site.site_id, "row": site.row, "stage": stage,
                       "reason": reason})

    def survivors(
        sites: list[_Site], failures: list[tuple[_Site, str, str]]
    ) -> list[_Site]:
        """Record each (site, stage, reason) failure; the sites that did not fail, in order."""
        for site, stage, reason in failures:
            record(site, stage, reason)
        failed = {id(s) for s, _, _ in failures}
        return [s for s in sites if id(s) not in failed]

    located = []
    for site in todo:
        try:
            _resolve_area(site, area_lookup)
            located.append(site)
        except ValuationError as exc:
            record(site, exc.stage, exc.reason)
        except (LookupError, ValueError) as exc:
            record(site, "area", str(exc))
    loaded = survivors(located, _load_profiles(located))
    charged = survivors(loaded, _value(loaded, flex_fraction=fraction,
                                       power_factor=power_factor))
    features, feature_failures = _features(charged)
    kept = survivors(charged, feature_failures)  # the features' rows, in order
    results = _results_frame([_result_row(site, fraction) for site in kept], features)
    error_frame = _errors_frame(errors)
    return (results.sort_values("row", kind="stable").reset_index(drop=True),
            error_frame.sort_values("row", kind="stable").reset_index(drop=True))


def _results_frame(rows: list[dict[str, Any]], features: FeatureRows | pd.DataFrame
                   ) -> pd.DataFrame:
    """The results frame, built a column at a time in its fixed dtypes, from the sites' rows
    and their features (in the same order: `FeatureRows`, or a frame of its columns)."""
    if not rows:
        return empty_results()
    given: dict[str, Any] = {name: np.asarray(features[name], dtype=np.float64)
                             for name in FEATURES}
    given["pattern"] = [str(value) for value in features["pattern"]]
    given["feature_notes"] = [str(value) for value in features["notes"]]
    return _typed_frame({name: given[name] if name in given else [row[name] for row in rows]
                         for name in result_columns()}, result_dtypes(), len(rows))


def _errors_frame(errors: list[dict[str, Any]]) -> pd.DataFrame:
    """The errors frame of the sites' error rows, in their order, in its fixed dtypes."""
    return _typed_frame({name: [error[name] for error in errors] for name in ERROR_COLUMNS},
                        ERROR_DTYPES, len(errors))


def _typed_frame(values: dict[str, Any], dtypes: dict[str, str], rows: int) -> pd.DataFrame:
    """A frame of `rows` rows of these columns' values (in `dtypes` order), each made in its
    dtype: not a frame of objects cast afterwards (`astype` took ~0.5 ms even for an empty
    errors frame)."""
    return pd.DataFrame({name: pd.array(values[name], dtype=dtype) if dtype == "str"
                         else np.asarray(values[name], dtype=dtype)
                         for name, dtype in dtypes.items()}, index=pd.RangeIndex(rows))


def run_batch_safely(sites: pd.DataFrame, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`run_batch`, but a failure of the batch itself (a bug, not a site's data) is reported
    as an error row (stage ``internal``) for each of its sites instead of stopping the run."""
    try:
        return run_batch(sites, **kwargs)
    except Exception as exc:  # the engines must finish; the reason is kept per site
        frame = pd.DataFrame(sites)
        rows = (frame[_ROW] if _ROW in frame.columns else pd.Series(range(1, len(frame) + 1)))
        ids = frame["site_id"] if "site_id" in frame.columns else pd.Series([""] * len(frame))
        errors = pd.DataFrame({
            "site_id": ids.astype(str).to_numpy(),
            "row": rows.to_numpy(),
            "stage": "internal",
            "reason": f"the batch failed: {type(exc).__name__}: {exc}",
        }).astype(ERROR_DTYPES)
        return empty_results(), errors


# ---------------------------------------------------------------- counting and clusters


def count_sites(path: str | Path) -> int:
    """Data rows in a SITES file (Parquet metadata, or CSV lines after the header)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        handle.seek(max(path.stat().st_size - 1, 0))
        last = handle.read(1)
    return max(lines + (1 if last not in (b"\n", b"") else 0) - 1, 0)


def cluster_input_columns() -> list[str]:
    """The results columns `cluster_portfolio` reads."""
    return ["site_id", *FEATURES, "pattern", "days_covered", *(f"unit_gbp_{b}" for b in BANDS),
            "annual_duos_gbp", "flex_annual_value_gbp", "kwh_total"]


def cluster_portfolio(
    results: pd.DataFrame, k: int | None = None, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cluster every site once, over all sites' features (`core.clustering.cluster_sites`).

    `results` needs at least `cluster_input_columns()`. Returns (results with ``cluster``
    and ``cluster_name`` columns, a per-cluster summary:
    name, sites, dominant pattern, mean annual DUoS £, mean flexibility £/yr, mean unit £ by
    band per 365 days (the profile's unit £ x 365 / days covered), and feature means).
    Raises ValueError when the sites cannot be clustered (too few distinct sites).
    """
    from bess_duos.core.clustering import cluster_sites

    features = results.set_index("site_id")[[*FEATURES, "pattern"]]
    clusters = cluster_sites(features, k=k, seed=seed)
    out = results.copy()
    out["cluster"] = clusters.labels.to_numpy()
    out["cluster_name"] = clusters.named_labels().to_numpy()
    scale = 365.0 / out["days_covered"].astype(float)
    per_year = pd.DataFrame({
        f"unit_gbp_{band}_per_365_days": out[f"unit_gbp_{band}"] * scale for band in BANDS
    })
    per_year["cluster"] = out["cluster"]
    per_year["annual_duos_gbp"] = out["annual_duos_gbp"]
    per_year["flex_annual_value_gbp"] = out["flex_annual_value_gbp"]
    per_year["kwh_total"] = out["kwh_total"]
    grouped = per_year.groupby("cluster")
    money = grouped.mean().drop(columns="kwh_total").add_prefix("mean_")
    money["kwh_total"] = grouped["kwh_total"].sum()
    summary = clusters.summary.join(money)
    summary.insert(3, "k_chosen_by", "given" if k is not None else
                   f"silhouette over k={min(clusters.silhouette)}..{max(clusters.silhouette)}")
    return out, summary.reset_index()

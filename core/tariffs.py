"""The DUoS tariff model (the seed's `DuosTariff`, with units in the names) and its resolver.

Tariffs and time bands are read from the files `bess-duos tariffs import-all` writes under
`config/` (see docs/tariffs.md): `tariffs/YYYY/DD.csv`, `tariffs/YYYY/DD_ehv.csv`,
`tariffs/YYYY/idno/NN_DD.csv`, `timebands/YYYY/DD.yaml`, `residual_bands/YYYY/DD.csv`.
"""

from __future__ import annotations

import contextvars
import csv
import datetime
import difflib
import functools
import math
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml
from bess_duos.core.memo import LruMemo
from bess_duos.core.paths import config_dir
from bess_duos.core.timebands import BandPeriod, TimeBands

VOLTAGE_LEVELS: tuple[str, ...] = ("LV", "LV Sub", "HV", "EHV")
DNO_AREAS: tuple[int, ...] = tuple(range(10, 24))
HOW_TO_IMPORT = (
    "import the DNO's 'Schedule of charges and other tables' workbook with "
    "`bess-duos tariffs import WORKBOOK.xlsx --year YYYY --dno DD` (see docs/tariffs.md)"
)


class TariffNotFoundError(LookupError):
    """No tariff (or time bands) for the distributor/area, year, voltage or LLFC asked for.

    `field` names what has no tariff: ``year`` (nothing bundled for the charging year),
    ``llfc``, ``voltage``, ``residual_band``, ``kva`` or ``distributor_id``.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[object, ...]:  # picklable with its field (process pools)
        return (_tariff_not_found, (str(self), self.field))


def _tariff_not_found(message: str, field: str | None) -> TariffNotFoundError:
    return TariffNotFoundError(message, field=field)


@dataclass(frozen=True)
class TariffQuery:
    """What picks a site's tariff: who distributes, where, at what voltage, LLFC and capacity,
    and when. `area_distributor_id` is the DNO area (10-23) of an IDNO site (None for a DNO,
    whose area is its own ID); `on` None = today. Hashable, so resolved tariffs can be cached.
    """

    distributor_id: int
    area_distributor_id: int | None = None
    voltage: str | None = None
    llfc: str | None = None
    kva: float | None = None
    residual_band: str | None = None
    generation: bool = False
    on: datetime.date | None = None
    tariff_name: str | None = None  # the published name: picks that row outright
    profile_class: str | None = None  # the MPAN's: settles an LLFC listed under two tariffs
    annex: int | None = None  # with tariff_name: 1, 3 (preserved), 4 (LDNO); None: 1, 3, 4

    @property
    def area(self) -> int:
        """The DNO area (10-23) whose tariffs and time bands apply (ValueError if unknown)."""
        return _area(self.distributor_id, self.area_distributor_id)

    def for_year(self, year: int) -> TariffQuery:
        """The same site on 1 April of charging year `year`."""
        clone = object.__new__(type(self))  # `replace` without `__init__` (~1 us, not ~5)
        clone.__dict__.update(self.__dict__, on=datetime.date(year, 4, 1))
        return clone


class UnitWarning(UserWarning):
    """A rate or price given in £/kWh where p/kWh is expected (a factor of 100)."""


def looks_like_pounds_per_kwh(values: object) -> bool:
    """True when rates or prices meant as p/kWh look like £/kWh: at least two distinct non-zero
    values and every one under 1 in magnitude. One small non-zero rate alone is not a sign: the
    workbooks' HV site-specific rows have red rates under 1 p/kWh with amber and green 0."""
    flat = np.abs(np.asarray(values, dtype=float).ravel())
    flat = flat[np.isfinite(flat) & (flat > 0)]
    return bool(flat.size) and float(flat.max()) < 1.0 and np.unique(flat).size >= 2


def warn_if_pounds_per_kwh(values: object, what: str, *, stacklevel: int = 3) -> None:
    """Warn (`UnitWarning`) when `values`, taken as p/kWh, look like £/kWh."""
    if looks_like_pounds_per_kwh(values):
        warnings.warn(
            f"{what} are taken as p/kWh (pence per kWh), but every value is under 1, which "
            "looks like £/kWh: multiply £/kWh by 100 (e.g. £0.04837/kWh = 4.837 p/kWh)",
            UnitWarning,
            stacklevel=stacklevel,
        )


class AmbiguousTariffError(TariffNotFoundError):
    """An LLFC listed under more than one tariff, and nothing about the site decides which."""

    def __init__(self, message: str, candidates: tuple[str, ...]) -> None:
        super().__init__(message, field="llfc")
        self.candidates = candidates

    def __reduce__(self) -> tuple[object, ...]:  # picklable with its candidates
        return (AmbiguousTariffError, (str(self), self.candidates))


@dataclass(frozen=True)
class DuosTariff:
    """One DUoS tariff row as published: rates in p/kWh, fixed p/MPAN/day, capacity p/kVA/day.

    Build it by hand (the seed's way) or get it from the resolver, which fills `source`
    (workbook, sheet, row), `time_bands`, `year`, `residual_band` and `selection_note`.
    `dno_id` may be given as a string ('10'); it is kept as an int. Unit rates that look like
    £/kWh (the seed toolkit's unit) give a `UnitWarning`, unless `source` cites the published
    row they were read from (some Annex 4 LDNO 0000 rows are all under 1 p/kWh).
    """

    dno_id: int
    tariff_name: str
    voltage_level: str
    red_rate: float
    amber_rate: float
    green_rate: float
    fixed_p_per_day: float = 0.0
    capacity_p_per_kva_per_day: float = 0.0
    exceeded_capacity_p_per_kva_per_day: float = 0.0
    reactive_p_per_kvarh: float = 0.0
    llfcs: tuple[str, ...] = ()
    pcs: str = ""
    residual_band: str = ""
    year: int | None = None
    source: str = ""
    time_bands: TimeBands | None = None
    selection_note: str = ""
    voltage_assumed: bool = False  # the resolver took LV because no voltage (or LLFC) chose
    metering: str = ""
    is_generation: bool = False
    closed_llfcs: tuple[str, ...] = ()
    area_distributor_id: int | None = None
    note: str = ""
    residual_doubt: str = ""  # both bands and fixed charges when two threshold sets disagree
    annex: int = 1  # the workbook annex: 1 (LV/HV/UMS), 3 (preserved), 4 (LDNO); EHV sites 2
    ldno_boundary: str = ""  # Annex 4: the LDNO's connection boundary ('LDNO HV')
    billing_ids: tuple[str, ...] = ()  # Annex 4: the DNO's identifiers for billing the LDNO

    def __post_init__(self) -> None:
        try:
            dno_id = int(str(self.dno_id).strip())
        except (TypeError, ValueError):
            raise ValueError(
                f"dno_id {self.dno_id!r} is not a distributor ID: give its two digits, e.g. 14"
            ) from None
        object.__setattr__(self, "dno_id", dno_id)
        if not self.source:
            warn_if_pounds_per_kwh(
                self.unit_rates_p_per_kwh, "DuosTariff unit rates (red, amber, green)",
                stacklevel=4,
            )

    def charges(self) -> dict[str, Any]:
        """The published charges, keyed as in JSON answers (p/kWh, p/day, p/kVA/day, p/kVArh)."""
        return {
            "voltage_level": self.voltage_level,
            "charging_year": self.year,
            "residual_band": self.residual_band,
            "red_rate_p_per_kwh": self.red_rate,
            "amber_rate_p_per_kwh": self.amber_rate,
            "green_rate_p_per_kwh": self.green_rate,
            "fixed_p_per_day": self.fixed_p_per_day,
            "capacity_p_per_kva_per_day": self.capacity_p_per_kva_per_day,
            "exceeded_capacity_p_per_kva_per_day": self.exceeded_capacity_p_per_kva_per_day,
            "reactive_p_per_kvarh": self.reactive_p_per_kvarh,
            "llfcs": list(self.llfcs),
        }

    @property
    def unit_rates_p_per_kwh(self) -> tuple[float, float, float]:
        """(red, amber, green) p/kWh, in `core.timebands.BANDS` order."""
        return (self.red_rate, self.amber_rate, self.green_rate)

    def __hash__(self) -> int:
        """The dataclass's hash of every field, computed once per tariff (a lookup's memo keys
        hash the same tariff several times; each hash walks its fields and time bands)."""
        found = self.__dict__.get("_hash")
        if found is None:
            found = hash(tuple(getattr(self, name) for name in _HASHED))
            object.__setattr__(self, "_hash", found)
        return found

    def __getstate__(self) -> dict[str, Any]:
        """The fields without the remembered hash (string hashes differ between processes)."""
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}


# The fields the dataclass's own hash covers, in order (`DuosTariff.__hash__` hashes them).
_HASHED = tuple(f.name for f in fields(DuosTariff) if f.compare and f.hash is not False)


def charging_year(on: datetime.date) -> int:
    """The charging year (April-March) a date is in: 2026-11-24 -> 2026, 2027-03-31 -> 2026."""
    return on.year if on.month >= 4 else on.year - 1


def _year_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"


def normalise_voltage(voltage: str) -> str:
    """'lv sub', 'LVSub', 'lv-sub' -> 'LV Sub'; 'hv' -> 'HV'. Raises ValueError otherwise."""
    key = re.sub(r"[\s_\-]+", "", str(voltage)).lower()
    for level in VOLTAGE_LEVELS:
        if key == level.replace(" ", "").lower():
            return level
    raise ValueError(f"voltage {voltage!r} is not one of {', '.join(VOLTAGE_LEVELS)}")


def _llfc_key(code: str) -> str:
    code = str(code).strip().upper()
    return code.lstrip("0") or "0" if code.isdigit() else code


def llfc_matches(llfc: str, codes: tuple[str, ...]) -> bool:
    """Whether an LLFC is in a published list, where '100-111' is a range and '034' = '34'."""
    key = _llfc_key(llfc)
    for code in codes:
        span = re.fullmatch(r"(\d+)-(\d+)", code)
        if span and key.isdigit():
            if int(span.group(1)) <= int(key) <= int(span.group(2)):
                return True
        elif _llfc_key(code) == key:
            return True
    return False


# ---------------------------------------------------------------- loading the config files


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


FileVersion = tuple[int, int] | None  # (mtime ns, size) of a config file; None: no such file
# The config files read while resolving one query (see `resolve_query`), per thread.
_reads: contextvars.ContextVar[list[tuple[str, FileVersion]] | None] = contextvars.ContextVar(
    "tariff_config_reads", default=None)


def _version(path: Path | str) -> FileVersion:
    """The file's (mtime ns, size), None if it does not exist; noted for `resolve_query`."""
    try:
        stat = os.stat(path)
        version: FileVersion = (stat.st_mtime_ns, stat.st_size)
    except (FileNotFoundError, NotADirectoryError):  # as Path.exists() would say
        version = None
    reads = _reads.get()
    if reads is not None:
        reads.append((str(path), version))
    return version


@functools.lru_cache(maxsize=512)
def _cached_csv(path: str, version: FileVersion) -> tuple[dict[str, str], ...]:
    return tuple(_read_csv(Path(path)))


def _rows(path: Path) -> tuple[dict[str, str], ...] | None:
    version = _version(path)
    return None if version is None else _cached_csv(str(path), version)


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML has it


@functools.lru_cache(maxsize=256)
def _cached_yaml(path: str, version: FileVersion) -> dict:
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_SAFE_LOADER)



def _periods(items: list[dict]) -> tuple[BandPeriod, ...]:
    return tuple(
        BandPeriod(p["band"], p["days"], str(p["start"]), str(p["end"]), tuple(p["months"]))
        for p in items
    )


def _timebands_file(area: int, year: int) -> tuple[str, FileVersion]:
    path = config_dir() / "timebands" / str(year) / f"{area:02d}.yaml"
    version = _version(path)
    if version is None:
        raise TariffNotFoundError(
            f"no time bands for distributor area {area} in charging year {_year_label(year)} "
            f"(looked for {path}); {HOW_TO_IMPORT}", field="year"
        )
    return str(path), version


def _timebands_doc(area: int, year: int) -> dict:
    return _cached_yaml(*_timebands_file(area, year))


@functools.lru_cache(maxsize=256)
def _cached_time_bands(area: int, year: int, path: str, version: FileVersion) -> TimeBands:
    """The file's `TimeBands`, built once per file version (they are immutable)."""
    doc = _cached_yaml(path, version)
    return TimeBands(
        distributor_id=area, year=year, periods=_periods(doc["periods"]),
        source=doc.get("source", ""), notes=tuple(doc.get("notes") or ()),
    )


def load_time_bands(distributor_id: int, year: int) -> TimeBands:
    """HH red/amber/green bands for a DNO area (10-23) and charging year, from config/timebands."""
    if distributor_id not in DNO_AREAS:
        raise TariffNotFoundError(
            f"time bands are per DNO area (10-23); distributor {distributor_id} is not one: "
            "for an IDNO use its host area's", field="distributor_id"
        )
    return _cached_time_bands(distributor_id, year, *_timebands_file(distributor_id, year))


def load_super_red_bands(distributor_id: int, year: int) -> TimeBands | None:
    """An EHV site's bands: the Annex 2 super red periods as 'red', every other half hour green."""
    doc = _timebands_doc(distributor_id, year).get("super_red")
    if not doc or not doc.get("periods"):
        return None
    red = _periods(doc["periods"])
    periods = list(red)
    for days in ("weekday", "weekend"):
        by_pattern: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for month in range(1, 13):
            spans = sorted(
                (_slot(p.start), _slot(p.end)) for p in red
                if p.days == days and (not p.months or month in p.months)
            )
            by_pattern.setdefault(tuple(spans), []).append(month)
        for spans, months in by_pattern.items():
            edge = 0
            for start, end in [*spans, (48, 48)]:
                if start > edge:
                    periods.append(BandPeriod("green", days, _hhmm(edge), _hhmm(start),
                                              () if len(months) == 12 else tuple(months)))
                edge = max(edge, end)
    return TimeBands(distributor_id, year, tuple(periods), source=doc.get("source", ""),
                     notes=(doc.get("note", ""), *(doc.get("notes") or ())))


def load_ums_bands(distributor_id: int, year: int) -> TimeBands | None:
    """A DNO area's unmetered-supply bands (black/yellow/green periods; `slot_table` maps black
    to red and yellow to amber), or None where the import could not structure the table."""
    doc = _timebands_doc(distributor_id, year).get("ums")
    if not doc or not doc.get("periods"):
        return None
    return TimeBands(distributor_id, year, _periods(doc["periods"]),
                     source=doc.get("source", ""),
                     notes=(doc.get("note", ""), *(doc.get("notes") or ())))


def _slot(hhmm: str) -> int:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return hours * 2 + minutes // 30


def _hhmm(slot: int) -> str:
    return f"{slot // 2:02d}:{slot % 2 * 30:02d}"


def _tariff_file(distributor_id: int, year: int, area: int) -> Path:
    base = config_dir() / "tariffs" / str(year)
    if distributor_id in DNO_AREAS:
        return base / f"{area:02d}.csv"
    return base / "idno" / f"{distributor_id}_{area:02d}.csv"


def _number(value: str) -> float:
    return float(value) if value not in ("", None) else 0.0


def _codes(value: str) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def _to_tariff(row: dict[str, str], time_bands: TimeBands | None) -> DuosTariff:
    return DuosTariff(
        dno_id=int(row["distributor_id"]),
        tariff_name=row["tariff_name"],
        voltage_level=row["voltage_level"],
        red_rate=_number(row["red_p_per_kwh"]),
        amber_rate=_number(row["amber_p_per_kwh"]),
        green_rate=_number(row["green_p_per_kwh"]),
        fixed_p_per_day=_number(row["fixed_p_per_mpan_per_day"]),
        capacity_p_per_kva_per_day=_number(row["capacity_p_per_kva_per_day"]),
        exceeded_capacity_p_per_kva_per_day=_number(row["exceeded_capacity_p_per_kva_per_day"]),
        reactive_p_per_kvarh=_number(row["reactive_p_per_kvarh"]),
        llfcs=_codes(row["llfcs"]),
        pcs=row["pcs"],
        residual_band=row["residual_band"],
        year=int(row["year"]),
        source=f"{row['source_file']} / {row['source_sheet']} / row {row['source_row']}",
        time_bands=time_bands,
        metering=row["metering"],
        is_generation=row["is_generation"] == "true",
        closed_llfcs=_codes(row["closed_llfcs"]),
        area_distributor_id=int(row["area_distributor_id"]),
        note=row.get("note", ""),
        annex=int(row.get("annex") or 1),
        ldno_boundary=row.get("ldno_boundary", ""),
        billing_ids=_codes(row.get("billing_ids", "")),
    )


ANNEXES: tuple[int, ...] = (1, 3, 4)
ANNEX_NAMES = {1: "Annex 1 (LV, HV and UMS)", 2: "Annex 2 (EHV sites)",
               3: "Annex 3 (preserved tariffs)", 4: "Annex 4 (LDNO tariffs)"}


def _annex_rows(distributor_id: int, area: int, year: int, annex: int
                ) -> tuple[dict[str, str], ...]:
    """A DNO area's Annex 3 or 4 rows for a year (`DD_annexN.csv`); () for an IDNO or none."""
    if distributor_id not in DNO_AREAS:
        return ()
    return _rows(config_dir() / "tariffs" / str(year) / f"{area:02d}_annex{annex}.csv") or ()


def list_tariffs(distributor_id: int, year: int, *, area_distributor_id: int | None = None
                 ) -> list[DuosTariff]:
    """Every Annex 1 tariff of a DNO area (or of an IDNO in `area_distributor_id`) for a year."""
    _, _, rows, bands = _year_rows(distributor_id, year, area_distributor_id)
    return [_to_tariff(row, bands) for row in rows]


def all_tariffs(*, distributor_id: int | None = None, area_distributor_id: int | None = None,
                year: int | None = None, voltage: str | None = None,
                annex: int | None = None) -> list[DuosTariff]:
    """Every shipped Annex 1, 3 and 4 tariff, filtered: a DNO's (or an IDNO's own, per area),
    a year, a voltage (LV, LV Sub, HV or UMS), an annex (1, 3 or 4; IDNOs have Annex 1 only).
    Without `distributor_id`, the 14 DNO areas' tariffs."""
    if annex is not None and annex not in ANNEXES:
        raise ValueError(f"annex {annex!r}: expected one of {', '.join(map(str, ANNEXES))}")
    level = None
    if voltage:
        level = "UMS" if voltage.strip().upper() == "UMS" else normalise_voltage(voltage)
    root = config_dir() / "tariffs"
    years = [year] if year is not None else sorted(
        int(p.name) for p in root.glob("[0-9][0-9][0-9][0-9]"))
    idno = distributor_id is not None and distributor_id not in DNO_AREAS
    if distributor_id is not None and not idno:
        areas = [_area(distributor_id, area_distributor_id)]
    else:
        areas = [area_distributor_id] if area_distributor_id is not None else list(DNO_AREAS)
    out: list[DuosTariff] = []
    for y in years:
        for area in areas:
            path = _tariff_file(distributor_id if idno else area, y, area)
            rows = _rows(path)
            if rows is None:
                continue
            if annex not in (None, 1):
                rows = ()
            for extra in (3, 4):
                if annex in (None, extra) and not idno:
                    rows = (*rows, *_annex_rows(area, area, y, extra))
            bands = load_time_bands(area, y)
            out += [_to_tariff(r, bands) for r in rows
                    if level is None or r["voltage_level"] == level]
    return out


def available_years() -> dict[int, list[int]]:
    """DNO area -> charging years that have both tariffs and time bands in config/."""
    root = config_dir()
    found: dict[int, list[int]] = {}
    for year_dir in sorted((root / "tariffs").glob("[0-9][0-9][0-9][0-9]")):
        year = int(year_dir.name)
        for area in DNO_AREAS:
            if (year_dir / f"{area:02d}.csv").exists() and (
                root / "timebands" / str(year) / f"{area:02d}.yaml"
            ).exists():
                found.setdefault(area, []).append(year)
    return found


def _area(distributor_id: int, area_distributor_id: int | None) -> int:
    if distributor_id in DNO_AREAS:
        if area_distributor_id not in (None, distributor_id):
            raise ValueError(
                f"distributor {distributor_id} is a DNO: area_distributor_id "
                f"{area_distributor_id} must be left out or equal it"
            )
        return distributor_id
    if distributor_id < 24:
        raise ValueError(f"distributor ID {distributor_id} is not a DNO (10-23) or IDNO (24+)")
    if area_distributor_id not in DNO_AREAS:
        raise ValueError(
            f"distributor {distributor_id} is an IDNO: give area_distributor_id, the DNO area "
            f"(10-23) the site is in (from its postcode or GSP group), got {area_distributor_id}"
        )
    return area_distributor_id


def _year_rows(
    distributor_id: int, year: int, area_distributor_id: int | None
) -> tuple[int, Path, tuple[dict[str, str], ...], TimeBands]:
    """(host area, tariff file, its rows, time bands) for a year; TariffNotFoundError if none."""
    area = _area(distributor_id, area_distributor_id)
    path = _tariff_file(distributor_id, year, area)
    rows = _rows(path)
    if rows is None:
        raise TariffNotFoundError(_missing(distributor_id, area, year, path), field="year")
    return area, path, rows, load_time_bands(area, year)


def _missing(distributor_id: int, area: int, year: int, path: Path) -> str:
    who = (f"distributor area {area}" if distributor_id == area
           else f"IDNO {distributor_id} in distributor area {area}")
    have = available_years().get(area, [])
    return (
        f"no DUoS tariffs for {who} in charging year {_year_label(year)} (looked for {path}); "
        f"years available for area {area}: {', '.join(map(str, have)) or 'none'}; {HOW_TO_IMPORT}"
    )


# ---------------------------------------------------------------- residual bands


# A voltage's residual band thresholds: (threshold row, the band below's upper, its upper) in
# order of the uppers.
_Bands = tuple[tuple[dict, float, float], ...]


def residual_band_for(area: int, year: int, voltage: str, kva: float) -> tuple[str, str]:
    """(band, why) for an agreed capacity, from the year's residual charging band thresholds.

    The sheets say "All boundaries are inclusive of the upper threshold and exclusive of the
    lower threshold i.e. Lower < x ≤ Upper" ('Residual Charging Bands', row 22), so a band is
    chosen by the upper thresholds: the first band whose upper threshold is >= kVA, above the
    previous band's upper. Some IDNO sheets (ESP 2026) publish each lower threshold as the next
    whole kVA (0-90, 91-150, ...); read literally that leaves 90 < kVA < 91 in no band and, with
    "Lower < x", puts 91 kVA in none, so their lower column is not used.
    """
    return _band_why(*_published_bands(area, year, voltage), area, year, voltage, kva)


def _published_bands(area: int, year: int, voltage: str) -> tuple[Path, _Bands | None]:
    """(the area-year's residual bands file, its thresholds for `voltage`; None: no file)."""
    path = config_dir() / "residual_bands" / str(year) / f"{area:02d}.csv"
    rows = _rows(path)
    return path, None if rows is None else _bands_by_upper(rows, voltage)


def _band_why(path: Path, bands: _Bands | None, area: int, year: int, voltage: str,
              kva: float) -> tuple[str, str]:
    """`residual_band_for` from the thresholds read (`_published_bands`)."""
    if bands is None:
        raise TariffNotFoundError(
            f"no residual charging bands for distributor area {area} in {_year_label(year)} "
            f"(looked for {path}): pass residual_band instead of kva, or {HOW_TO_IMPORT}",
            field="year",
        )
    found = _band_in(bands, kva)
    if found is None:
        raise TariffNotFoundError(
            f"no {voltage} residual charging band for {kva:g} kVA in area {area} "
            f"{_year_label(year)} ({path})", field="kva"
        )
    row, below = found
    published = _threshold(row["lower"], 0.0)
    aside = (f"; published lower threshold {row['lower']} read as above {below:g}, the "
             "band below's upper" if published != below else "")
    return row["band"], (
        f"{kva:g} kVA is in residual band {row['band']} ({below:g} < kVA <= "
        f"{row['upper']}{aside}; '{row['category']}', {row['source_file']} row "
        f"{row['source_row']})"
    )


def _bands_by_upper(rows, voltage: str) -> _Bands:
    """The threshold rows of `voltage` (of LV for LV Sub, if it has none) by their uppers, each
    with the band below's upper."""
    wanted = [r for r in rows if r["applies_to"] == voltage]
    if not wanted and voltage == "LV Sub":
        wanted = [r for r in rows if r["applies_to"] == "LV"]
    wanted = sorted(wanted, key=lambda r: _threshold(str(r["upper"]), math.inf))
    out = []
    below = 0.0
    for row in wanted:
        upper = _threshold(str(row["upper"]), math.inf)
        out.append((row, below, upper))
        below = upper
    return tuple(out)


def _band_in(bands: _Bands, kva: float) -> tuple[dict, float] | None:
    """(threshold row, the band below's upper) for kVA: below < kVA <= upper, by the uppers."""
    for row, below, upper in bands:
        if below < kva <= upper:
            return row, below
    return None


def residual_check(area: int, year: int) -> dict | None:
    """The import's finding on an area-year's residual thresholds (`DD_check.yaml`), if any."""
    path = config_dir() / "residual_bands" / str(year) / f"{area:02d}_check.yaml"
    version = _version(path)
    return None if version is None else _cached_yaml(str(path), version)


def residual_band_alternatives(area: int, year: int, voltage: str, kva: float
                               ) -> list[tuple[str, str]]:
    """[(band, why)] under each other threshold set the import recorded for this area-year."""
    return _alternatives_in(_alternative_bands(area, year, voltage), kva)


def _alternative_bands(area: int, year: int, voltage: str) -> tuple[tuple[dict, _Bands], ...]:
    """(alternative, its thresholds for `voltage`) of each other threshold set recorded."""
    check = residual_check(area, year)
    return tuple((alternative, _bands_by_upper(alternative["thresholds"], voltage))
                 for alternative in (check or {}).get("alternatives") or ())


def _alternatives_in(alternatives: tuple[tuple[dict, _Bands], ...], kva: float
                     ) -> list[tuple[str, str]]:
    """`residual_band_alternatives` from the thresholds read (`_alternative_bands`)."""
    out: list[tuple[str, str]] = []
    for alternative, bands in alternatives:
        found = _band_in(bands, kva)
        if found is not None:
            row, below = found
            out.append((str(row["band"]), (
                f"{below:g} < {kva:g} kVA <= {row['upper']} under the thresholds of "
                f"{alternative['source']}; {alternative['reason']}")))
    return out


def _threshold(text: str, default: float) -> float:
    try:
        return float(text)
    except ValueError:
        return default


def _band_key(band: str | int) -> str:
    text = str(band).strip().lower()
    if text in ("none", "no residual", "0"):
        return "none"
    match = re.fullmatch(r"(?:band\s*)?(\d)", text)
    if not match:
        raise ValueError(f"residual_band {band!r}: expected 1-4, 'Band 2' or 'none'")
    return match.group(1)


# ---------------------------------------------------------------- the resolver


def resolve_tariff(
    distributor_id: int,
    *,
    on: datetime.date | None = None,
    voltage: str | None = None,
    llfc: str | None = None,
    kva: float | None = None,
    area_distributor_id: int | None = None,
    residual_band: str | None = None,
    generation: bool = False,
    tariff_name: str | None = None,
    profile_class: str | None = None,
    annex: int | None = None,
) -> DuosTariff:
    """The tariff row (with its time bands) a site pays, and a note saying why that row: the
    keyword form of `resolve_query` (see there)."""
    return resolve_query(TariffQuery(
        distributor_id, area_distributor_id=area_distributor_id, voltage=voltage, llfc=llfc,
        kva=kva, residual_band=residual_band, generation=generation, on=on,
        tariff_name=tariff_name, profile_class=profile_class, annex=annex,
    ))


_Reads = tuple[tuple[str, FileVersion], ...]
_T = TypeVar("_T")
_resolved = LruMemo(256)  # query -> (its tariff, the config files read for it)
_at_voltage = LruMemo(256)  # site-specific tariffs of one voltage -> (them, the files read)


def resolve_query(query: TariffQuery) -> DuosTariff:
    """The tariff row (with its time bands) a site pays, and a note saying why that row.

    Read afresh whenever a config file it read has changed (or appeared): each answer is
    remembered with the modification time and size of every file read for it, checked on the
    next call (a server sees newly imported tariffs). Details in `_resolve_query`.
    """
    key = (query, charging_year(query.on or datetime.date.today()), str(config_dir()))
    tariff, _ = _resolved.get(
        key, functools.partial(_noting_reads, functools.partial(_resolve_query, query)),
        valid=_files_unchanged)
    return tariff


def resolve_remembered(query: TariffQuery) -> DuosTariff:
    """`resolve_query`'s answer for a run that keeps its answers (a portfolio): the files are
    read once and not checked again, and a site-specific pick shares its voltage's tariffs with
    every site of that distributor, year and voltage (only the kVA's band is picked per site)."""
    if not _picks_site_specific(query):
        return _remembered_query(query)
    year = charging_year(query.on or datetime.date.today())
    return _remembered_site_specific(_site_specific_args(query, year), str(config_dir())).tariff(
        query.kva, query.residual_band)


@functools.lru_cache(maxsize=256)
def _remembered_query(query: TariffQuery) -> DuosTariff:
    return resolve_query(query)


@functools.lru_cache(maxsize=256)
def _remembered_site_specific(args: tuple[Any, ...], config: str) -> _SiteSpecific:
    """`_SiteSpecific.read(*args)` under config folder `config`, kept."""
    return _SiteSpecific.read(*args)


def _files_unchanged(kept: tuple[Any, _Reads]) -> bool:
    """Whether every config file a remembered answer read is as it was (each check is itself
    noted, so a resolution inside another still records the files)."""
    return all(_version(path) == version for path, version in kept[1])


def _noting_reads(compute: Callable[[], _T]) -> tuple[_T, _Reads]:
    """`compute()` and the config files it read (also noted for an enclosing one)."""
    outer = _reads.get()
    token = _reads.set([])
    try:
        value = compute()
        reads = tuple(dict.fromkeys(_reads.get() or ()))
    finally:
        _reads.reset(token)
    if outer is not None:  # a resolution inside another: that one read these files too
        outer.extend(reads)
    return value, reads


def _resolve_query(query: TariffQuery) -> DuosTariff:
    """The tariff row (with its time bands) a site pays, and a note saying why that row.

    `tariff_name` (the published name; case and spacing aside) picks that row outright. Else an
    LLFC match wins; an LLFC listed under two tariffs is settled by `profile_class` where it
    can be, or refused with `AmbiguousTariffError` naming both. Otherwise the site-specific HH
    tariff for the voltage (default LV) is picked, in the residual band `residual_band` or the
    one `kva` falls in (band 1 if neither is given, said in the note). `generation=True` picks
    the export tariff.
    """
    distributor_id, llfc, tariff_name = query.distributor_id, query.llfc, query.tariff_name
    year = charging_year(query.on or datetime.date.today())
    named = tariff_name is not None and str(tariff_name).strip()
    if _picks_site_specific(query):
        return _site_specific(query, year).tariff(query.kva, query.residual_band)
    area, path, rows, bands = _year_rows(distributor_id, year, query.area_distributor_id)
    who = _who(distributor_id, area)
    if named:
        by_annex = {1: rows, **{a: _annex_rows(distributor_id, area, year, a) for a in (3, 4)}}
        return _by_name(by_annex, str(tariff_name), llfc, who, year, bands, path, query.annex)
    if query.annex is not None:
        raise ValueError(f"annex {query.annex!r} picks among tariffs of the same name: give "
                         "the tariff name too (tariff_name / --tariff)")
    return _by_llfc(rows, str(llfc).strip(), distributor_id, area, year, bands, who,
                    query.generation, query.profile_class)


def _who(distributor_id: int, area: int) -> str:
    return f"area {area}" if distributor_id == area else f"IDNO {distributor_id} in area {area}"


def _picks_site_specific(query: TariffQuery) -> bool:
    """Whether the query's tariff is the site-specific HH one (no name, annex or LLFC)."""
    named = query.tariff_name is not None and str(query.tariff_name).strip()
    llfc = query.llfc is not None and str(query.llfc).strip()
    return not named and query.annex is None and not llfc


def _site_specific_args(query: TariffQuery, year: int) -> tuple[Any, ...]:
    """`_SiteSpecific.read`'s arguments for the query: everything of it but the kVA."""
    by_kva = query.kva is not None and query.residual_band is None and not query.generation
    return (query.distributor_id, query.area_distributor_id, year, query.voltage,
            query.generation, by_kva)


def _site_specific(query: TariffQuery, year: int) -> _SiteSpecific:
    """The query's `_SiteSpecific` tariffs, remembered (as `resolve_query`'s answers are) while
    the files read for them are unchanged: a site differing only in kVA reads no file (only
    checks that none changed)."""
    args = _site_specific_args(query, year)
    found, _ = _at_voltage.get(
        (*args, str(config_dir())),
        functools.partial(_noting_reads, functools.partial(_SiteSpecific.read, *args)),
        valid=_files_unchanged)
    return found


def _renoted(tariff: DuosTariff, **notes: Any) -> DuosTariff:
    """`replace(tariff, **notes)` without running `__init__` again (~1 us, not ~9): for notes
    (strings and flags) on a tariff `__init__` made, whose checks hold for the copy too."""
    clone = object.__new__(DuosTariff)
    state = clone.__dict__
    state.update(tariff.__dict__)
    state.pop("_hash", None)  # the copy's fields differ: its hash is its own
    state.update(notes)
    return clone


@dataclass(frozen=True)
class _SiteSpecific:
    """The site-specific HH tariffs of one distributor, year and voltage (import or export),
    with what picking one for a kVA reads (`by_kva`): the residual band thresholds of the
    voltage and of each alternative threshold set. Each row's `DuosTariff` is made once."""

    who: str
    year: int
    voltage: str | None  # as given (None: LV assumed)
    level: str
    generation: bool
    candidates: tuple[dict[str, str], ...]
    tariffs: dict[int, DuosTariff]  # id(row) -> its tariff, for every candidate row
    area: int
    bands_file: Path | None = None  # by kVA: the residual bands file and its thresholds
    bands: _Bands | None = None
    alternatives: tuple[tuple[dict, _Bands], ...] = ()

    @classmethod
    def read(cls, distributor_id: int, area_distributor_id: int | None, year: int,
             voltage: str | None, generation: bool, by_kva: bool) -> _SiteSpecific:
        """Read from config/; raises what `_resolve_query` raises for every kVA."""
        area, path, rows, time_bands = _year_rows(distributor_id, year, area_distributor_id)
        who = _who(distributor_id, area)
        level = normalise_voltage(voltage) if voltage else "LV"
        if level == "EHV":
            raise TariffNotFoundError(
                f"EHV (EDCM) charges are site-specific: give the site's LLFC to find its row "
                f"in tariffs/{year}/{area:02d}_ehv.csv ({who}, {_year_label(year)})",
                field="llfc")
        candidates = tuple(
            r for r in rows
            if r["voltage_level"] == level and r["metering"] == "HH site-specific"
            and (r["is_generation"] == "true") == generation
        )
        if not candidates:
            raise TariffNotFoundError(
                f"no {'generation ' if generation else ''}site-specific HH tariff at {level} "
                f"for {who} in {_year_label(year)} ({path})", field="voltage"
            )
        tariffs = {id(r): _to_tariff(r, time_bands) for r in candidates}
        thresholds: tuple[Any, ...] = ()
        if by_kva:
            bands_file, bands = _published_bands(area, year, level)
            thresholds = (bands_file, bands,
                          () if bands is None else _alternative_bands(area, year, level))
        return cls(who, year, voltage, level, generation, candidates, tariffs, area,
                   *thresholds)

    def tariff(self, kva: float | None, residual_band: str | None) -> DuosTariff:
        """The tariff of a site of this capacity or residual band, and why."""
        level, who, year = self.level, self.who, self.year
        said_voltage = "" if self.voltage else "no voltage given: LV assumed; "
        doubt = ""
        if self.generation:
            plain = [r for r in self.candidates if "no rp" not in r["tariff_name"].lower()]
            row = (plain or self.candidates)[0]
            why = (f"{said_voltage}the {level} site-specific HH generation (export) tariff "
                   "(with reactive power charge)")
            band_used = ""
        else:
            band_used, why_band, others = self._band(kva, residual_band)
            row = _banded(self.candidates, band_used, level, who, year)
            why = f"{said_voltage}the {level} site-specific HH tariff; {why_band}"
            doubt = _doubt(self.candidates, row, band_used, others, level, who, year)
        tariff = self.tariffs[id(row)]
        note = (f"{who}, {_year_label(year)}: picked '{row['tariff_name']}' ({tariff.source}): "
                f"{why}")
        if doubt:
            note += f". {doubt}"
        if row.get("note"):
            note += f". Source note: {row['note']}"
        return _renoted(tariff, selection_note=note,
                        residual_band=band_used or row["residual_band"], residual_doubt=doubt,
                        voltage_assumed=not self.voltage)

    def _band(self, kva: float | None, residual_band: str | None
              ) -> tuple[str, str, list[tuple[str, str]]]:
        """(band, why, [(band, why)] under the other threshold sets) of an import site."""
        if residual_band is not None:
            return _band_key(residual_band), f"residual band {residual_band!r} as given", []
        if kva is None:
            return "1", "no agreed capacity (kVA) or residual band given: band 1 assumed", []
        if kva <= 0:
            raise ValueError(f"kva {kva!r} must be a positive agreed capacity in kVA")
        band, why = _band_why(self.bands_file, self.bands, self.area, self.year, self.level,
                              float(kva))
        return band, why, _alternatives_in(self.alternatives, float(kva))


def _banded(candidates: Sequence[dict[str, str]], band: str, level: str, who: str,
            year: int) -> dict[str, str]:
    banded = [r for r in candidates if r["residual_band"] == band]
    if not banded:
        raise TariffNotFoundError(
            f"no {level} site-specific HH tariff in residual band {band} for {who} in "
            f"{_year_label(year)}; bands published: "
            f"{', '.join(sorted({r['residual_band'] for r in candidates}))}",
            field="residual_band",
        )
    return banded[0]


def _doubt(candidates: Sequence[dict[str, str]], row: dict[str, str], band: str,
           others: list[tuple[str, str]], level: str, who: str, year: int) -> str:
    """Both bands and fixed charges where another threshold set puts the site elsewhere."""
    differing = [(b, why) for b, why in others if b != band]
    if not differing:
        return ""
    parts = [f"band {band}: '{row['tariff_name']}', fixed {row['fixed_p_per_mpan_per_day']} "
             "p/MPAN/day (the thresholds this area's sheet publishes)"]
    for other, why in differing:
        alt = _banded(candidates, other, level, who, year)
        parts.append(f"band {other}: '{alt['tariff_name']}', fixed "
                     f"{alt['fixed_p_per_mpan_per_day']} p/MPAN/day ({why})")
    return ("RESIDUAL BAND IN DOUBT: the published thresholds are questioned (see "
            "docs/tariffs.md); " + "; or ".join(parts)
            + ": give the residual band (--residual-band) to settle it")


def _by_name(by_annex, name, llfc, who, year, bands, path, annex=None) -> DuosTariff:
    """The row whose published name is `name` (case and runs of spaces aside): in `annex` if
    given, else the first of Annex 1, 3, 4 that has it (Annex 3 repeats Annex 1 names)."""
    key = " ".join(name.split()).lower()
    if annex is not None and annex not in ANNEXES:
        raise ValueError(f"annex {annex!r}: expected one of {', '.join(map(str, ANNEXES))}")
    searched = [a for a in ANNEXES if annex in (None, a)]
    found: list[dict[str, str]] = []
    also: list[int] = []
    for a in searched:
        hits = [r for r in by_annex[a] if r["tariff_name"].lower() == key]
        if hits and not found:
            found = hits
        elif hits:
            also.append(a)
    if not found:
        if annex is not None and not by_annex[annex]:
            raise TariffNotFoundError(
                f"{who} publishes no {ANNEX_NAMES[annex]} rows for {_year_label(year)}"
                f"{' (IDNO tariffs are Annex 1 only)' if who.startswith('IDNO') else ''}: "
                "leave out the annex, or see `bess-duos tariffs list`", field="tariff_name")
        names = [r["tariff_name"] for a in searched for r in by_annex[a]]
        lowered = {n.lower(): n for n in names}
        close = [lowered[c] for c in difflib.get_close_matches(key, list(lowered), n=3, cutoff=0.6)]
        hint = (f"did you mean {' or '.join(repr(c) for c in close)}?" if close
                else "see `bess-duos tariffs list` for the names")
        raise TariffNotFoundError(
            f"no tariff named {name!r} for {who} in {_year_label(year)} ({path.name}): {hint}",
            field="tariff_name",
        )
    row = found[0]
    if llfc and str(llfc).strip():
        listed = _codes(row["llfcs"]) + _codes(row["closed_llfcs"])
        if listed and not llfc_matches(str(llfc), listed):
            raise TariffNotFoundError(
                f"LLFC {llfc} is not listed for '{row['tariff_name']}' ({who}, "
                f"{_year_label(year)}; its LLFCs: {' '.join(listed)}): drop one of the two",
                field="llfc",
            )
    tariff = _to_tariff(row, bands)
    note = (f"{who}, {_year_label(year)}: '{row['tariff_name']}' ({tariff.source}) as named; "
            "voltage, kVA and residual band not used to choose")
    if tariff.annex != 1 or also:
        note += f"; {ANNEX_NAMES[tariff.annex]}"
    if also:
        note += (f"; the name is also published in {' and '.join(ANNEX_NAMES[a] for a in also)}"
                 f": --annex {also[0]} picks that row")
    if tariff.annex == 4:
        note += (f"; an LDNO tariff: what the DNO charges an LDNO ({tariff.ldno_boundary} "
                 "boundary) for this end-user tariff, not the end user's own DUoS")
    if row.get("note"):
        note += f". Source note: {row['note']}"
    return replace(tariff, selection_note=note)


def _site_rule(matches: list[tuple[dict[str, str], str]], profile_class: str | None
               ) -> tuple[tuple[dict[str, str], str] | None, str]:
    """Pick among the tariffs listing one LLFC by what the site is; (None, '') if nothing can.

    A profile class listed in only one row's PCs decides; else a non-half-hourly class (1-8)
    means the site cannot be settled site-specifically, so the aggregated row is the one.
    """
    if profile_class is None or not str(profile_class).strip().isdigit():
        return None, ""
    pc = int(str(profile_class).strip())
    listed = [m for m in matches if pc in _profile_classes(m[0]["pcs"])]
    if len(listed) == 1:
        return listed[0], f"profile class {pc:02d} is listed only for that tariff"
    if pc != 0:
        aggregated = [m for m in matches if m[0]["metering"] == "aggregated"]
        if len(aggregated) == 1:
            return aggregated[0], (f"profile class {pc:02d} is non-half-hourly, so the site is "
                                   "settled on an aggregated basis, not site-specifically")
    return None, ""


def _profile_classes(text: str) -> set[int]:
    """'0, 3, 4, 5-8' / '1, 2 or 0' -> {0, 3, 4, 5, 6, 7, 8}."""
    found: set[int] = set()
    for lo, hi in re.findall(r"(\d+)(?:\s*-\s*(\d+))?", text or ""):
        found.update(range(int(lo), int(hi or lo) + 1))
    return found


def _by_llfc(rows, llfc, distributor_id, area, year, bands, who, generation,
             profile_class=None) -> DuosTariff:
    for field, kind in (("llfcs", "open"), ("closed_llfcs", "closed")):
        matches = [(row, kind) for row in rows if llfc_matches(llfc, _codes(row[field]))]
        if not matches:
            continue
        rule = ""
        if len(matches) > 1:
            chosen, rule = _site_rule(matches, profile_class)
            if chosen is None:
                names = tuple(r["tariff_name"] for r, _ in matches)
                given = (f"profile class {profile_class} does not decide"
                         if profile_class not in (None, "") else "no profile class given")
                raise AmbiguousTariffError(
                    f"LLFC {llfc} is {_a(kind)} LLFC of {len(names)} tariffs of {who} in "
                    f"{_year_label(year)}: {' and '.join(repr(n) for n in names)} ({given}); "
                    "name the one the site pays with --tariff (tariff_name)", names)
            matches = [chosen]
        row = matches[0][0]
        tariff = _to_tariff(row, bands)
        note = (f"{who}, {_year_label(year)}: LLFC {llfc} is {_a(kind)} LLFC of "
                f"'{row['tariff_name']}' ({tariff.source})")
        if rule:
            note += f"; it is listed under more than one tariff, and {rule}"
        if row["metering"] == "unmetered":
            note += ("; an unmetered supply: its three rates apply in the black/yellow/"
                     "green UMS bands (timebands YAML 'ums'), not the HH bands attached")
        preserved = _preserved(llfc, distributor_id, area, year)
        if preserved:
            note += (f"; Annex 1 chosen (the default): the LLFC is also listed in "
                     f"{ANNEX_NAMES[3]} as '{preserved[0]['tariff_name']}' (row "
                     f"{preserved[0]['source_row']}), whose charges the import checks are "
                     "the same")
        return replace(tariff, selection_note=note)
    preserved = _preserved(llfc, distributor_id, area, year)
    if preserved:
        tariff = _to_tariff(preserved[0], bands)
        return replace(tariff, selection_note=(
            f"{who}, {_year_label(year)}: LLFC {llfc} is a closed LLFC of "
            f"'{tariff.tariff_name}' in {ANNEX_NAMES[3]} ({tariff.source})"))
    if distributor_id in DNO_AREAS:
        by_mdd = _mdd_llfc(rows, llfc, area, year, bands, who)
        if by_mdd is not None:
            return by_mdd
    ehv = _ehv_by_llfc(llfc, distributor_id, area, year, who, generation)
    if ehv is not None:
        return ehv
    blank = all(not r["llfcs"] for r in rows)
    mdd = (config_dir() / "tariffs" / str(year) / f"{area:02d}_llfcs_mdd.csv").exists()
    extra = (" This area's tariffs come from an IDNO workbook, which does not list the DNO's "
             f"LLFCs{', nor does Elexon MDD 377 for this year' if mdd else ''}: give the "
             "voltage or the tariff name instead."
             if blank else "")
    raise TariffNotFoundError(
        f"LLFC {llfc} is not in the published tariffs of {who} for {_year_label(year)} "
        f"(Annex 1, 2 or 3).{extra} To add a workbook, {HOW_TO_IMPORT}",
        field="llfc",
    )


def _preserved(llfc: str, distributor_id: int, area: int, year: int) -> list[dict[str, str]]:
    """The Annex 3 (preserved) rows listing `llfc` among their closed LLFCs."""
    return [r for r in _annex_rows(distributor_id, area, year, 3)
            if llfc_matches(llfc, _codes(r["closed_llfcs"]))]


def _a(kind: str) -> str:
    return f"an {kind}" if kind == "open" else f"a {kind}"


def _mdd_llfc(rows, llfc, area, year, bands, who) -> DuosTariff | None:
    """An area with no DNO workbook: the LLFC as Elexon MDD describes it (`DD_llfcs_mdd.csv`)."""
    path = config_dir() / "tariffs" / str(year) / f"{area:02d}_llfcs_mdd.csv"
    found = [m for m in _rows(path) or () if _llfc_key(m["llfc"]) == _llfc_key(llfc)]
    if not found:
        return None
    mdd = found[0]
    said = (f"LLFC {llfc} is described in Elexon MDD 377 as {mdd['description']!r} (in force "
            f"from {mdd['effective_from']})")
    if not mdd["tariff_name"]:
        raise TariffNotFoundError(
            f"{said}, which does not name one of the published tariffs of {who} for "
            f"{_year_label(year)} ({mdd['reason']}): give the voltage or the tariff name instead",
            field="llfc",
        )
    row = next(r for r in rows if r["tariff_name"] == mdd["tariff_name"])
    tariff = _to_tariff(row, bands)
    note = (f"{who}, {_year_label(year)}: {said}, which names '{row['tariff_name']}' "
            f"({tariff.source}) and no other tariff")
    return replace(tariff, selection_note=note)


def _ehv_by_llfc(llfc, distributor_id, area, year, who, generation) -> DuosTariff | None:
    """An Annex 2 EHV site of the DNO area (or of an IDNO there) whose import/export LLFC it is."""
    name = (f"{area:02d}_ehv.csv" if distributor_id in DNO_AREAS
            else f"idno/{distributor_id}_{area:02d}_ehv.csv")
    rows = _rows(config_dir() / "tariffs" / str(year) / name) or ()
    side = "export" if generation else "import"
    for row in rows:
        if llfc_matches(llfc, _codes(row[f"{side}_llfcs"].replace(";", " "))):
            source = f"{row['source_file']} / {row['source_sheet']} / row {row['source_row']}"
            bands = load_super_red_bands(area, year)
            return DuosTariff(
                dno_id=distributor_id, tariff_name=row["name"], voltage_level="EHV",
                red_rate=_number(row[f"{side}_super_red_p_per_kwh"]), amber_rate=0.0,
                green_rate=0.0,
                fixed_p_per_day=_number(row[f"{side}_fixed_p_per_day"]),
                capacity_p_per_kva_per_day=_number(row[f"{side}_capacity_p_per_kva_per_day"]),
                exceeded_capacity_p_per_kva_per_day=_number(
                    row[f"{side}_exceeded_capacity_p_per_kva_per_day"]),
                llfcs=_codes(row[f"{side}_llfcs"]), residual_band=row["residual_band"],
                year=year, source=source, time_bands=bands, metering="EHV site-specific",
                is_generation=generation, area_distributor_id=area, annex=2,
                selection_note=(
                    f"{who}, {_year_label(year)}: LLFC {llfc} is the {side} LLFC of EHV site "
                    f"'{row['name']}' ({source}); red = the EDCM super red rate in its super red "
                    "periods, every other half hour carries no unit charge (green 0)"
                ),
            )
    return None

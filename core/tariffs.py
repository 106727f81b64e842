"""The DUoS tariff model (the seed's `DuosTariff`, with units in the names) and its resolver.

Tariffs and time bands are read from the files `bess-duos tariffs import-all` writes under
`config/` (see docs/tariffs.md): `tariffs/YYYY/DD.csv`, `tariffs/YYYY/DD_ehv.csv`,
`tariffs/YYYY/idno/NN_DD.csv`, `timebands/YYYY/DD.yaml`, `residual_bands/YYYY/DD.csv`.
"""

from __future__ import annotations

import csv
import datetime
import functools
import math
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml
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

    @property
    def area(self) -> int:
        """The DNO area (10-23) whose tariffs and time bands apply (ValueError if unknown)."""
        return _area(self.distributor_id, self.area_distributor_id)

    def for_year(self, year: int) -> TariffQuery:
        """The same site on 1 April of charging year `year`."""
        return replace(self, on=datetime.date(year, 4, 1))


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


@dataclass(frozen=True)
class DuosTariff:
    """One DUoS tariff row as published: rates in p/kWh, fixed p/MPAN/day, capacity p/kVA/day.

    Build it by hand (the seed's way) or get it from the resolver, which fills `source`
    (workbook, sheet, row), `time_bands`, `year`, `residual_band` and `selection_note`.
    `dno_id` may be given as a string ('10'); it is kept as an int. Unit rates that look like
    £/kWh (the seed toolkit's unit) give a `UnitWarning`.
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
    metering: str = ""
    is_generation: bool = False
    closed_llfcs: tuple[str, ...] = ()
    area_distributor_id: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        try:
            dno_id = int(str(self.dno_id).strip())
        except (TypeError, ValueError):
            raise ValueError(
                f"dno_id {self.dno_id!r} is not a distributor ID: give its two digits, e.g. 14"
            ) from None
        object.__setattr__(self, "dno_id", dno_id)
        warn_if_pounds_per_kwh(
            self.unit_rates_p_per_kwh, "DuosTariff unit rates (red, amber, green)", stacklevel=4
        )

    @property
    def unit_rates_p_per_kwh(self) -> tuple[float, float, float]:
        """(red, amber, green) p/kWh, in `core.timebands.BANDS` order."""
        return (self.red_rate, self.amber_rate, self.green_rate)


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


@functools.lru_cache(maxsize=512)
def _cached_csv(path: str, mtime: float) -> tuple[dict[str, str], ...]:
    return tuple(_read_csv(Path(path)))


def _rows(path: Path) -> tuple[dict[str, str], ...] | None:
    if not path.exists():
        return None
    return _cached_csv(str(path), path.stat().st_mtime)


@functools.lru_cache(maxsize=256)
def _cached_yaml(path: str, mtime: float) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def _periods(items: list[dict]) -> tuple[BandPeriod, ...]:
    return tuple(
        BandPeriod(p["band"], p["days"], str(p["start"]), str(p["end"]), tuple(p["months"]))
        for p in items
    )


def _timebands_doc(area: int, year: int) -> dict:
    path = config_dir() / "timebands" / str(year) / f"{area:02d}.yaml"
    if not path.exists():
        raise TariffNotFoundError(
            f"no time bands for distributor area {area} in charging year {_year_label(year)} "
            f"(looked for {path}); {HOW_TO_IMPORT}", field="year"
        )
    return _cached_yaml(str(path), path.stat().st_mtime)


def load_time_bands(distributor_id: int, year: int) -> TimeBands:
    """HH red/amber/green bands for a DNO area (10-23) and charging year, from config/timebands."""
    if distributor_id not in DNO_AREAS:
        raise TariffNotFoundError(
            f"time bands are per DNO area (10-23); distributor {distributor_id} is not one: "
            "for an IDNO use its host area's", field="distributor_id"
        )
    doc = _timebands_doc(distributor_id, year)
    return TimeBands(
        distributor_id=distributor_id, year=year, periods=_periods(doc["periods"]),
        source=doc.get("source", ""), notes=tuple(doc.get("notes") or ()),
    )


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
    )


def list_tariffs(distributor_id: int, year: int, *, area_distributor_id: int | None = None
                 ) -> list[DuosTariff]:
    """Every Annex 1 tariff of a DNO area (or of an IDNO in `area_distributor_id`) for a year."""
    _, _, rows, bands = _year_rows(distributor_id, year, area_distributor_id)
    return [_to_tariff(row, bands) for row in rows]


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


def residual_band_for(area: int, year: int, voltage: str, kva: float) -> tuple[str, str]:
    """(band, why) for an agreed capacity, from the year's residual charging band thresholds.

    The sheets say "All boundaries are inclusive of the upper threshold and exclusive of the
    lower threshold i.e. Lower < x ≤ Upper" ('Residual Charging Bands', row 22), so a band is
    chosen by the upper thresholds: the first band whose upper threshold is >= kVA, above the
    previous band's upper. Some IDNO sheets (ESP 2026) publish each lower threshold as the next
    whole kVA (0-90, 91-150, ...); read literally that leaves 90 < kVA < 91 in no band and, with
    "Lower < x", puts 91 kVA in none, so their lower column is not used.
    """
    path = config_dir() / "residual_bands" / str(year) / f"{area:02d}.csv"
    rows = _rows(path)
    if rows is None:
        raise TariffNotFoundError(
            f"no residual charging bands for distributor area {area} in {_year_label(year)} "
            f"(looked for {path}): pass residual_band instead of kva, or {HOW_TO_IMPORT}",
            field="year",
        )
    wanted = [r for r in rows if r["applies_to"] == voltage]
    if not wanted and voltage == "LV Sub":
        wanted = [r for r in rows if r["applies_to"] == "LV"]
    wanted = sorted(wanted, key=lambda r: _threshold(r["upper"], math.inf))
    below = 0.0
    for row in wanted:
        upper = _threshold(row["upper"], math.inf)
        if below < kva <= upper:
            published = _threshold(row["lower"], 0.0)
            aside = (f"; published lower threshold {row['lower']} read as above {below:g}, the "
                     "band below's upper" if published != below else "")
            return row["band"], (
                f"{kva:g} kVA is in residual band {row['band']} ({below:g} < kVA <= "
                f"{row['upper']}{aside}; '{row['category']}', {row['source_file']} row "
                f"{row['source_row']})"
            )
        below = upper
    raise TariffNotFoundError(
        f"no {voltage} residual charging band for {kva:g} kVA in area {area} {_year_label(year)} "
        f"({path})", field="kva"
    )


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
) -> DuosTariff:
    """The tariff row (with its time bands) a site pays, and a note saying why that row: the
    keyword form of `resolve_query` (see there)."""
    return resolve_query(TariffQuery(
        distributor_id, area_distributor_id=area_distributor_id, voltage=voltage, llfc=llfc,
        kva=kva, residual_band=residual_band, generation=generation, on=on,
    ))


def resolve_query(query: TariffQuery) -> DuosTariff:
    """The tariff row (with its time bands) a site pays, and a note saying why that row.

    An exact LLFC match wins. Otherwise the site-specific HH tariff for the voltage (default
    LV) is picked, in the residual band `residual_band` or the one `kva` falls in (band 1 if
    neither is given, said in the note). `generation=True` picks the export tariff.
    """
    distributor_id, llfc, voltage = query.distributor_id, query.llfc, query.voltage
    kva, residual_band, generation = query.kva, query.residual_band, query.generation
    year = charging_year(query.on or datetime.date.today())
    area, path, rows, bands = _year_rows(distributor_id, year, query.area_distributor_id)
    who = f"area {area}" if distributor_id == area else f"IDNO {distributor_id} in area {area}"
    if llfc is not None and str(llfc).strip():
        return _by_llfc(rows, str(llfc).strip(), distributor_id, area, year, bands, who, generation)
    level = normalise_voltage(voltage) if voltage else "LV"
    said_voltage = "" if voltage else "no voltage given: LV assumed; "
    if level == "EHV":
        raise TariffNotFoundError(
            f"EHV (EDCM) charges are site-specific: give the site's LLFC to find its row in "
            f"tariffs/{year}/{area:02d}_ehv.csv ({who}, {_year_label(year)})", field="llfc"
        )
    candidates = [
        r for r in rows
        if r["voltage_level"] == level and r["metering"] == "HH site-specific"
        and (r["is_generation"] == "true") == generation
    ]
    if not candidates:
        raise TariffNotFoundError(
            f"no {'generation ' if generation else ''}site-specific HH tariff at {level} for "
            f"{who} in {_year_label(year)} ({path})", field="voltage"
        )
    if generation:
        plain = [r for r in candidates if "no rp" not in r["tariff_name"].lower()]
        row = (plain or candidates)[0]
        why = (f"{said_voltage}the {level} site-specific HH generation (export) tariff "
               "(with reactive power charge)")
        band_used = ""
    else:
        if residual_band is not None:
            band_used = _band_key(residual_band)
            why_band = f"residual band {residual_band!r} as given"
        elif kva is not None:
            if kva <= 0:
                raise ValueError(f"kva {kva!r} must be a positive agreed capacity in kVA")
            band_used, why_band = residual_band_for(area, year, level, float(kva))
        else:
            band_used = "1"
            why_band = "no agreed capacity (kVA) or residual band given: band 1 assumed"
        banded = [r for r in candidates if r["residual_band"] == band_used]
        if not banded:
            raise TariffNotFoundError(
                f"no {level} site-specific HH tariff in residual band {band_used} for {who} in "
                f"{_year_label(year)}; bands published: "
                f"{', '.join(sorted({r['residual_band'] for r in candidates}))}",
                field="residual_band",
            )
        row = banded[0]
        why = f"{said_voltage}the {level} site-specific HH tariff; {why_band}"
    tariff = _to_tariff(row, bands)
    note = f"{who}, {_year_label(year)}: picked '{row['tariff_name']}' ({tariff.source}): {why}"
    if row.get("note"):
        note += f". Source note: {row['note']}"
    return replace(tariff, selection_note=note, residual_band=band_used or row["residual_band"])


def _by_llfc(rows, llfc, distributor_id, area, year, bands, who, generation) -> DuosTariff:
    for field, kind in (("llfcs", "open"), ("closed_llfcs", "closed")):
        for row in rows:
            if llfc_matches(llfc, _codes(row[field])):
                tariff = _to_tariff(row, bands)
                note = (f"{who}, {_year_label(year)}: LLFC {llfc} is an {kind} LLFC of "
                        f"'{row['tariff_name']}' ({tariff.source})")
                if row["metering"] == "unmetered":
                    note += ("; an unmetered supply: its three rates apply in the black/yellow/"
                             "green UMS bands (timebands YAML 'ums'), not the HH bands attached")
                return replace(tariff, selection_note=note)
    if distributor_id in DNO_AREAS:
        ehv = _ehv_by_llfc(llfc, area, year, who, generation)
        if ehv is not None:
            return ehv
    blank = all(not r["llfcs"] for r in rows)
    extra = (" This area's tariffs come from an IDNO workbook, which does not list the DNO's "
             "LLFCs: give the voltage instead, or import the DNO's own workbook."
             if blank else "")
    raise TariffNotFoundError(
        f"LLFC {llfc} is not in the published tariffs of {who} for {_year_label(year)} "
        f"(Annex 1{' or Annex 2' if distributor_id in DNO_AREAS else ''}).{extra} {HOW_TO_IMPORT}",
        field="llfc",
    )


def _ehv_by_llfc(llfc, area, year, who, generation) -> DuosTariff | None:
    rows = _rows(config_dir() / "tariffs" / str(year) / f"{area:02d}_ehv.csv") or ()
    side = "export" if generation else "import"
    for row in rows:
        if llfc_matches(llfc, _codes(row[f"{side}_llfcs"].replace(";", " "))):
            source = f"{row['source_file']} / {row['source_sheet']} / row {row['source_row']}"
            bands = load_super_red_bands(area, year)
            return DuosTariff(
                dno_id=area, tariff_name=row["name"], voltage_level="EHV",
                red_rate=_number(row[f"{side}_super_red_p_per_kwh"]), amber_rate=0.0,
                green_rate=0.0,
                fixed_p_per_day=_number(row[f"{side}_fixed_p_per_day"]),
                capacity_p_per_kva_per_day=_number(row[f"{side}_capacity_p_per_kva_per_day"]),
                exceeded_capacity_p_per_kva_per_day=_number(
                    row[f"{side}_exceeded_capacity_p_per_kva_per_day"]),
                llfcs=_codes(row[f"{side}_llfcs"]), residual_band=row["residual_band"],
                year=year, source=source, time_bands=bands, metering="EHV site-specific",
                is_generation=generation, area_distributor_id=area,
                selection_note=(
                    f"{who}, {_year_label(year)}: LLFC {llfc} is the {side} LLFC of EHV site "
                    f"'{row['name']}' ({source}); red = the EDCM super red rate in its super red "
                    "periods, every other half hour carries no unit charge (green 0)"
                ),
            )
    return None

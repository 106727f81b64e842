"""The time-band tables at the top of Annex 1 (HH red/amber/green, UMS black/yellow/green)
and of Annex 2 (EHV super red), located by their headings and turned into `BandPeriod`s."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.workbook import Rows, Workbook, cell, find_cell, norm
from bess_duos.core.timebands import BandPeriod, TimeBandError, TimeBands

MONTHS = {
    name: i
    for i, names in enumerate(
        (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")),
        start=1,
    )
    for name in names
}
_MONTH_TOKEN = re.compile(r"\b(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r"|to)\b")
_TIME_RANGE = re.compile(
    r"(\d{1,2})\s*[:.]\s*(\d{2})\s*(?:-|–|to)\s*(\d{1,2})\s*[:.]\s*(\d{2})", re.IGNORECASE
)


@dataclass
class BandTable:
    """One parsed time-band table: periods plus the text it was read from (for the YAML)."""

    periods: list[BandPeriod]
    labels: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    first_row: int = 0  # 1-based sheet rows
    last_row: int = 0


_DATE_EXCEPTION = re.compile(r"\((?:excluding|plus)[^)]*\)", re.IGNORECASE)


def date_exceptions(labels: list[str]) -> list[str]:
    """Notes for labels carrying day-of-year exceptions that calendar months cannot express,
    e.g. '(excluding 22nd Dec to 4th Jan inclusive)': the periods use the whole months."""
    return [
        f"date exception not modelled (periods cover the whole months named): {m.group(0)!r} "
        f"in {label!r}"
        for label in labels
        for m in _DATE_EXCEPTION.finditer(label)
    ]


def day_type(label: str) -> str | None:
    """'weekday' / 'weekend' from a row label, e.g. 'Monday to Friday (Including Bank Holidays)'."""
    text = norm(label)
    if "monday" in text or "weekday" in text:
        return "weekday"
    if "saturday" in text or "sunday" in text or "weekend" in text:
        return "weekend"
    return None


def months_of(label: str) -> tuple[int, ...]:
    """Calendar months named in a row label; () for 'All Year' or no months named.

    'Nov to Feb Inclusive' -> (11, 12, 1, 2); 'March, April, May and September, October' ->
    (3, 4, 5, 9, 10); 'April to March' -> () (the whole year).
    """
    tokens = _MONTH_TOKEN.findall(norm(label).split("(excluding")[0].split("(plus")[0])
    months: list[int] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "to" and months and i + 1 < len(tokens) and tokens[i + 1] != "to":
            end = MONTHS[tokens[i + 1]]
            month = months[-1]
            while month != end:
                month = month % 12 + 1
                months.append(month)
            i += 2
            continue
        if token != "to":
            months.append(MONTHS[token])
        i += 1
    unique = tuple(dict.fromkeys(months))
    return () if len(unique) in (0, 12) else unique


def time_ranges(text: str) -> list[tuple[str, str]]:
    """[('16:00', '19:00'), ...] from '16:00 - 19:00', '07:30 to 16:00', '22.30 - 00.00'.

    An end of 00:00 (or before the start) is midnight at the end of the day: '24:00'.
    """
    ranges = []
    for h1, m1, h2, m2 in _TIME_RANGE.findall(str(text)):
        start = f"{int(h1):02d}:{m1}"
        end = f"{int(h2):02d}:{m2}"
        if end == "00:00" or (end <= start and end != "24:00"):
            end = "24:00"
        ranges.append((start, end))
    return ranges


def _header(rows: Rows, first_band: str, workbook: str, table: str) -> tuple[int, dict[str, int]]:
    found = find_cell(rows, lambda t: t.startswith(f"{first_band} time band"))
    if found is None:
        raise TariffImportError(workbook, table, f"no heading '{first_band.title()} Time Band'")
    r, c = found
    bands: dict[str, int] = {}
    for col in range(c, len(rows[r])):
        text = norm(rows[r][col])
        match = re.match(r"(red|amber|green|black|yellow|super red) time band", text)
        if not match:
            continue
        name = match.group(1)
        if name in bands or (name == "black" and first_band == "red"):
            break  # the next table (UMS) starts
        bands[name] = col
    return r, bands


def _band_table(
    periods: list[BandPeriod],
    labels: list[str],
    data: list[tuple[int, str, dict[str, str]]],
    header_row: int,
    notes: list[str] | None = None,
) -> BandTable:
    """A BandTable keeping `_read_rows`' data as published text, with its 1-based sheet rows."""
    return BandTable(
        periods, labels,
        rows=[{"row": str(r), "days": re.sub(r"\s+", " ", lab).strip(), **t} for r, lab, t in data],
        notes=[] if notes is None else notes,
        first_row=header_row + 1, last_row=data[-1][0] if data else header_row + 1,
    )


def _read_rows(
    rows: Rows, header_row: int, label_col: int, bands: dict[str, int]
) -> tuple[list[tuple[int, str, dict[str, str]]], int]:
    """(sheet row, label, {band: text}) for each data row below a header, up to 'Notes'."""
    out = []
    r = header_row + 1
    while r < len(rows):
        label = cell(rows, r, label_col)
        if label is None or norm(label).startswith("notes"):
            break
        texts = {band: str(cell(rows, r, col) or "") for band, col in bands.items()}
        out.append((r + 1, str(label), texts))
        r += 1
    return out, r


def _to_periods(data, workbook: str, table: str) -> tuple[list[BandPeriod], list[str]]:
    periods: list[BandPeriod] = []
    labels: list[str] = []
    for sheet_row, label, texts in data:
        days = day_type(label)
        if days is None:
            raise TariffImportError(
                workbook, table, f"row {sheet_row}: cannot tell the days from {label!r}"
            )
        months = months_of(label)
        clean = re.sub(r"\s+", " ", label).strip()
        if clean not in labels:
            labels.append(clean)
        for band, text in texts.items():
            for start, end in time_ranges(text):
                try:
                    periods.append(BandPeriod(band, days, start, end, months))
                except TimeBandError as exc:
                    raise TariffImportError(workbook, table, f"row {sheet_row}: {exc}") from exc
    return periods, labels


def hh_time_bands(
    book: Workbook, sheet: str, distributor_id: int, year: int
) -> tuple[TimeBands, BandTable]:
    """The HH red/amber/green table of Annex 1, checked to cover every half hour exactly once."""
    table = "Annex 1 HH time-band table (Red/Amber/Green Time Band)"
    rows = book.rows(sheet)
    header_row, bands = _header(rows, "red", book.name, table)
    if set(bands) != {"red", "amber", "green"}:
        raise TariffImportError(
            book.name, table, f"expected red/amber/green columns, got {sorted(bands)}"
        )
    label_at = find_cell(rows, lambda t: t == "time periods")
    label_col = label_at[1] if label_at and label_at[0] == header_row else 0
    data, _ = _read_rows(rows, header_row, label_col, bands)
    periods, labels = _to_periods(data, book.name, table)
    last = data[-1][0] if data else header_row + 1
    source = f"{book.name} / {sheet} / rows {header_row + 1}-{last}"
    notes = tuple(f"workbook day label: {label!r}" for label in labels)
    notes += tuple(date_exceptions(labels))
    holiday = [label for label in labels if "bank holiday" in label.lower()]
    if holiday:
        notes += (f"bank holidays: the workbook says {holiday[0]!r}, so bank holidays are "
                  "charged as weekdays",)
    else:
        notes += ("bank holidays: the workbook's HH time-band table does not mention them; "
                  "they are treated as the weekday/weekend they fall on",)
    bands_obj = TimeBands(distributor_id, year, tuple(periods), source=source, notes=notes)
    try:
        bands_obj.slot_table()
    except TimeBandError as exc:
        raise TariffImportError(book.name, table, str(exc)) from exc
    parsed = _band_table(periods, labels, data, header_row)
    return bands_obj, parsed


def ums_table(book: Workbook, sheet: str) -> BandTable | None:
    """The unmetered black/yellow/green table: its text as published, and its periods where
    every row parses and together they cover each half hour of the year exactly once (else no
    periods, and `notes` says why)."""
    rows = book.rows(sheet)
    found = find_cell(rows, lambda t: t.startswith("black time band"))
    if found is None:
        return None
    header_row, _ = found
    bands: dict[str, int] = {}
    for col in range(found[1], len(rows[header_row])):
        match = re.match(r"(black|yellow|green) time band", norm(rows[header_row][col]))
        if match and match.group(1) not in bands:
            bands[match.group(1)] = col
    # Its day labels sit in the first column after the HH table that has text below the header.
    label_col = next(
        (c for c in range(found[1] - 1, -1, -1)
         if day_type(str(cell(rows, header_row + 1, c) or "")) is not None),
        None,
    )
    if label_col is None:
        return None
    data, _ = _read_rows(rows, header_row, label_col, bands)
    table = "Annex 1 UMS time-band table (Black/Yellow/Green Time Band)"
    try:
        periods, labels = _to_periods(data, book.name, table)
        TimeBands(0, 0, tuple(periods)).slot_table()
    except (TariffImportError, TimeBandError) as exc:
        why = str(exc).split(": ", 1)[-1] if isinstance(exc, TimeBandError) else str(exc)
        return _band_table([], [], data, header_row, notes=[f"not structured: {why}"])
    return _band_table(periods, labels, data, header_row, notes=date_exceptions(labels))


def super_red_table(book: Workbook, sheet: str) -> BandTable | None:
    """Annex 2's 'Super Red Time Band' periods (weekday, the months named per row)."""
    rows = book.rows(sheet)
    found = find_cell(rows, lambda t: t.startswith("super red time band"))
    if found is None:
        return None
    header_row, col = found
    label_at = find_cell(rows, lambda t: t == "time periods")
    label_col = label_at[1] if label_at and label_at[0] == header_row else 0
    data, _ = _read_rows(rows, header_row, label_col, {"super red": col})
    periods: list[BandPeriod] = []
    labels: list[str] = []
    for sheet_row, label, texts in data:
        days = day_type(label)
        for start, end in time_ranges(texts["super red"]):
            if days is None:
                raise TariffImportError(
                    book.name, "Annex 2 super red time band",
                    f"row {sheet_row}: cannot tell the days from {label!r}",
                )
            periods.append(BandPeriod("red", days, start, end, months_of(label)))
        labels.append(re.sub(r"\s+", " ", label).strip())
    return _band_table(periods, labels, data, header_row, notes=date_exceptions(labels))

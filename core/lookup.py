"""One site lookup, end to end: inputs -> distributor, tariff, time bands, DUoS, features, flex.

This is the orchestration the webhook, the CLI and the demo share. It knows nothing of cells,
HTTP or gspread: `parse_inputs` checks the raw inputs (every bad field at once) and
`run_lookup` values the site with `core.valuation.value_site` (the valuation the portfolio
uses too, with the `LOOKUP` policy) into a `LookupResult`; the webhook's layout module maps
a result to the sheet's cells (`bess_duos.webhook.layout.result_fields`).

Rules (decisions documented in docs/webhook.md; those that differ from a portfolio run are the
settings of `core.valuation.LOOKUP`):

- The area comes from `core.site_area.decide_site_area`: a DNO MPAN decides and a postcode
  or GSP group pointing elsewhere is reported; an IDNO MPAN takes its area from the GSP group
  if given (no postcode lookup, so it works offline), else from the postcode.
- One of `mpan`, `postcode` and `gsp_group` is needed. `gsp_group` alone is accepted (like a
  postcode alone, the area's DNO is named and its tariff used); it is meant for an IDNO MPAN
  whose postcode cannot be resolved. The sheet has no cell for it: JSON and CLI only.
- A wrong MPAN check digit is a *warning*, not an error: the distributor is still named and
  everything is computed, and the status says which digit was expected. (`/mpan/validate`
  reports the same MPAN as invalid.) Wrong length, letters or an unknown distributor are errors.
- The tariff is the one in force on the lookup date (`on`, default today). If the bundled
  config has no tariffs for that charging year, the latest earlier year available is used and
  the status says so (never invented numbers).
- Annual DUoS £ charges the profile's half hours at that one tariff (its unit rates, fixed,
  capacity and time bands, applied to every half hour, whatever year the profile is from), then
  annualises (`core.duos`). So E15 is consistent with B9:D9 and B10:D13.
- Flexibility prices are the tariff's DUoS unit rates per half hour (p/kWh).
- With no profile, the DUoS, feature and flexibility fields stay empty and a note says why.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bess_duos.core.battery_value import (
    BATTERY_FIELDS,
    BatteryInputs,
    BatteryValue,
    parse_battery_inputs,
)
from bess_duos.core.defaults import defaults
from bess_duos.core.distributors import Distributor
from bess_duos.core.load_shape import weekday_load
from bess_duos.core.mpan import CORE_LENGTH, Mpan, MpanError, mpan_from_cell, parse_mpan
from bess_duos.core.plain import json_safe
from bess_duos.core.postcodes import parse_postcode
from bess_duos.core.profile_loader import (  # the one loader and its policy
    DEFAULT_OPTIONS,
    RESAMPLE_CHOICES,
    TZ_CHOICES,
    ReadOptions,
)
from bess_duos.core.profile_loader import read_profile as read_profile
from bess_duos.core.site_area import SiteArea, SiteAreaError, parse_gsp_group
from bess_duos.core.tariffs import DuosTariff, normalise_voltage
from bess_duos.core.timebands import BANDS
from bess_duos.core.valuation import (
    FEATURE_FIELDS,
    LOOKUP,
    FeatureValues,
    Site,
    ValuationError,
    site_area,
    value_site,
    year_label,
)

__all__ = ["FEATURE_FIELDS", "INPUT_FIELDS", "FeatureValues", "FlexValues", "InputErrors",
           "LookupFailed", "LookupInputs", "LookupResult", "decide_area", "parse_inputs",
           "parse_mpan_input", "read_profile", "run_lookup", "year_label"]

PROFILE_OPTION_FIELDS = ("tz", "resample")  # the reading policy's overrides (JSON and CLI)
INPUT_FIELDS = ("postcode", "mpan", "voltage", "kva", "flex_fraction", "profile_url",
                "gsp_group", "tariff_name", *PROFILE_OPTION_FIELDS, *BATTERY_FIELDS)
# The longest text (or integer digits) each input may have; checked before any parsing, so
# no pattern or number conversion ever sees more. Generous for what people type or paste.
MAX_INPUT_CHARS: dict[str, int] = {
    "mpan": 64, "postcode": 32, "voltage": 32, "kva": 32, "flex_fraction": 32,
    "profile_url": 2048, "gsp_group": 16, "tariff_name": 160, "tz": 32, "resample": 32,
    **{name: 32 for name in BATTERY_FIELDS},
}
_LABELS = {"mpan": "the MPAN", "postcode": "the postcode", "voltage": "the voltage level",
           "kva": "the agreed capacity", "flex_fraction": "the flexible share",
           "profile_url": "the profile link", "gsp_group": "the GSP group",
           "tariff_name": "the tariff name"}


class InputErrors(ValueError):
    """One or more bad inputs: `errors` maps each field name to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (lookups may run in a process pool)
        return (InputErrors, (self.errors,))


class LookupFailed(RuntimeError):
    """The inputs were fine but no tariff could be found; `result` holds what was decided."""

    def __init__(self, message: str, result: LookupResult) -> None:
        super().__init__(message)
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (LookupFailed, (str(self), self.result))


@dataclass(frozen=True)
class LookupInputs:
    """Checked inputs. `voltage` None = from the LLFC, else LV; `flex_fraction` is 0..1."""

    mpan: Mpan | None = None
    postcode: str | None = None
    voltage: str | None = None
    kva: float | None = None
    flex_fraction: float = 0.30
    profile_url: str | None = None
    notes: tuple[str, ...] = ()
    gsp_group: str | None = None  # "_E" (normalised); decides the area of an IDNO MPAN
    tariff_name: str | None = None  # a published tariff name: picks that row outright
    battery: BatteryInputs | None = None  # JSON/CLI only: valued by core.battery_value
    profile_options: ReadOptions = DEFAULT_OPTIONS  # JSON/CLI `tz`, `resample`


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class JsonNumber(float):
    """A JSON number with a decimal point or exponent that remembers how it was written
    (`json.loads(..., parse_float=JsonNumber)`), so an MPAN such as 1.40557E+12 is refused
    as the same text is on the command line."""

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


def parse_mpan_input(value: object) -> Mpan:
    """A sheet cell or JSON value -> Mpan; a wrong check digit is kept (reported later)."""
    if isinstance(value, JsonNumber) and "e" in value.text.lower():
        digits = value.text.lower().split("e")[0].replace(".", "").lstrip("+-0")
        if len(digits) < CORE_LENGTH:
            raise MpanError(
                f"MPAN {value.text} is in scientific notation with only {len(digits)} "
                "significant digits: the number was rounded; send the 13-digit MPAN as text, "
                "e.g. \"1405566778898\" (in the sheet: format the cell as plain text)")
    try:
        return mpan_from_cell(value)
    except MpanError as exc:
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else value
        if not isinstance(text, str | int) or isinstance(text, bool):
            raise
        try:
            parsed = parse_mpan(text)
        except MpanError:
            raise exc from None
        if parsed.check_digit_valid:
            raise  # e.g. a number the sheet rounded: mpan_from_cell's reason stands
        return parsed


def _too_long(name: str, value: object) -> str | None:
    """Why `value` is too long for input `name` (text length, or digits of an integer)."""
    limit = MAX_INPUT_CHARS[name]
    label = _LABELS.get(name, name.replace("_", " "))
    if isinstance(value, list | dict):
        return f"{label} must be text or a number, not a JSON {type(value).__name__}"
    if isinstance(value, str) and len(value) > limit:
        return (f"{label} is {len(value):,} characters long: at most {limit} are "
                "accepted; check the cell holds only this input")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"{label} has over {limit} digits: not a usable value"
    return None


def _number(value: object, unit: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            raise ValueError(f"{value!r} is too large") from None
    text = re.sub(rf"\s*{unit}\s*$", "", str(value).strip(), flags=re.IGNORECASE)
    text = text.replace(",", "")
    return float(text)


def parse_inputs(raw: Mapping[str, object]) -> LookupInputs:
    """Check the raw inputs (sheet strings or JSON values); raise `InputErrors` naming each bad one.

    - `mpan`: 13-digit core or full MPAN (spaces/dashes allowed); a wrong check digit passes.
    - `postcode`: a GB postcode.
    - `gsp_group`: the site's GSP group, "_E", "E" or "e" (stored as "_E"); for an IDNO MPAN
      it decides the area without a postcode lookup. One of `mpan`, `postcode` and
      `gsp_group` is required.
    - `voltage`: LV, LV Sub, HV or EHV; blank = from the MPAN's LLFC, else LV.
    - `kva`: agreed capacity > 0 (`"500"`, `"500 kVA"`, `"1,000"`); blank = none.
    - `flex_fraction`: `"30%"`, `0.3` or `30` (a number above 1 is read as a percentage);
      blank = the layout's default (30%).
    - `profile_url`: kept as given (the webhook fetches it).
    - `tariff_name`: a published tariff name (`bess-duos tariffs list`); picks that row.
    - battery (JSON and CLI only): see `core.battery_value.parse_battery_inputs`.
    """
    unknown = sorted(set(raw) - set(INPUT_FIELDS))
    if unknown:
        raise InputErrors({name[:40]: "unknown input field" for name in unknown[:10]})
    given = [name for name in INPUT_FIELDS if name in raw]  # an absent input is blank
    too_long = {name: why for name in given if (why := _too_long(name, raw[name]))}
    if too_long:
        raise InputErrors(too_long)
    errors: dict[str, str] = {}
    notes: list[str] = []
    values: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        if name not in raw or _blank(raw[name]):
            continue
        try:
            values[name] = parse(raw[name], notes)
        except ValueError as exc:  # MpanError, PostcodeError and SiteAreaError too
            errors[name] = str(exc)
    if all(_blank(raw.get(name)) for name in ("mpan", "postcode", "gsp_group")):
        message = ("enter the site's MPAN or its postcode (one of the two is needed; or its "
                   "GSP group)")
        errors["mpan"] = errors["postcode"] = message
    battery = parse_battery_inputs(raw, errors)
    if errors:
        raise InputErrors(errors)
    return LookupInputs(
        values.get("mpan"), values.get("postcode"), values.get("voltage"), values.get("kva"),
        values["flex_fraction"] if "flex_fraction" in values else defaults().flex_fraction,
        values.get("profile_url"), tuple(notes), values.get("gsp_group"),
        values.get("tariff_name"), battery,
        ReadOptions(tz=values.get("tz"), resample=values.get("resample")),
    )


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text{_EXAMPLES[what]}")
    return value


_EXAMPLES = {"postcode": ", e.g. 'B1 1AA'", "the GSP group": ", e.g. '_E'",
             "the profile link": " (an https:// link)",
             "the tariff name": ", e.g. 'LV Site Specific Band 2'"}


def _postcode(value: object, _notes: list[str]) -> str:
    return parse_postcode(_text(value, "postcode")).unit


def _gsp_group(value: object, _notes: list[str]) -> str:
    return str(parse_gsp_group(_text(value, "the GSP group")).gsp_group_id)


def _voltage(value: object, _notes: list[str]) -> str:
    try:
        return normalise_voltage(str(value))
    except ValueError as exc:
        raise ValueError(f"{exc}; leave it blank to use the MPAN's LLFC (else LV)") from None


def _kva(value: object, _notes: list[str]) -> float:
    try:
        kva = _number(value, "kva")
    except ValueError:
        kva = math.nan
    if not math.isfinite(kva) or kva <= 0:
        raise ValueError(f"agreed capacity {value!r} is not a positive number of kVA (e.g. 500)")
    return kva


def _flex_fraction(value: object, notes: list[str]) -> float:
    bad = ValueError(f"flexible share {value!r} must be between 0% and 100% (e.g. 30% or 0.3)")
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        flex = _number(text.rstrip("%"), "") if isinstance(value, str) else _number(value, "")
    except ValueError:
        raise bad from None
    if percent or flex > 1:
        if not percent:
            notes.append(f"flexible share {value!r} read as {flex:g}%")
        flex /= 100.0
    if not 0.0 <= flex <= 1.0 or not math.isfinite(flex):
        raise bad
    return flex


def _profile_url(value: object, _notes: list[str]) -> str:
    link = _text(value, "the profile link").strip()
    try:
        urlsplit(link).port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ValueError(f"the profile link is not a well-formed address ({exc}): copy the whole "
                         "https:// link") from None
    return link


def _choice(choices: tuple[str, ...], what: str) -> Callable[[object, list[str]], str]:
    def parse(value: object, _notes: list[str]) -> str:
        text = value.strip() if isinstance(value, str) else None
        found = next((c for c in choices if text and c.lower() == text.lower()), None)
        if found is None:
            raise ValueError(f"{what} {value!r}: use {' or '.join(choices)}, or leave it out "
                             "for the reading policy (docs/duos.md)")
        return found
    return parse


_PARSERS: dict[str, Callable[[object, list[str]], Any]] = {
    "mpan": lambda value, _notes: parse_mpan_input(value),
    "postcode": _postcode,
    "gsp_group": _gsp_group,
    "voltage": _voltage,
    "kva": _kva,
    "flex_fraction": _flex_fraction,
    "profile_url": _profile_url,
    "tariff_name": lambda value, _notes: _text(value, "the tariff name").strip(),
    "tz": _choice(TZ_CHOICES, "tz (zone of naive timestamps)"),
    "resample": _choice(RESAMPLE_CHOICES, "resample"),
}


@dataclass(frozen=True)
class FlexValues:
    """Flexibility value over the profile and per year (£), and the saving in % of DUoS units."""

    value_gbp: float
    annual_value_gbp: float | None  # None: too little data (core.valuation.annual_figures)
    saving_pct: float | None
    shifted_kwh: float
    power_limit_kw: float


@dataclass(frozen=True)
class LookupResult:
    """Everything one lookup decided and computed, with its warnings and notes."""

    inputs: LookupInputs
    site: SiteArea
    distributor: Distributor  # named by the MPAN (an IDNO for 24+), else the area's DNO
    tariff: DuosTariff | None
    periods: dict[str, list[str]]  # band -> readable periods, e.g. ['Mon–Fri 16:00–19:00']
    duos: Any | None = None  # core.duos.DuosSummary
    features: FeatureValues | None = None
    flexibility: FlexValues | None = None
    profile_quality: Any | None = None  # core.profiles.DataQualityReport
    weekday_load: dict[str, Any] | None = None  # core.load_shape.weekday_load (for a chart)
    battery: BatteryValue | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None
    request_id: str = ""
    time: str = ""

    @property
    def status(self) -> str:
        """'error' if the lookup failed, 'warning' if anything was reported, else 'ok'."""
        if self.error:
            return "error"
        return "warning" if self.warnings else "ok"

    @property
    def message(self) -> str:
        """The status cell's text: the error, else the warnings, else a one-line summary."""
        if self.error:
            return self.error
        if self.warnings:
            return " | ".join(self.warnings)
        d = self.distributor
        tariff = f"; {self.tariff.tariff_name} ({year_label(self.tariff.year)})" if (
            self.tariff and self.tariff.year) else ""
        return f"{d.short_code} (ID {d.distributor_id}){tariff}"

    def to_dict(self) -> dict[str, Any]:
        """Every computed value, the warnings and notes, as plain JSON values
        (`core.plain.json_safe`'s; the sheet's cells are the webhook's business:
        `bess_duos.webhook.layout.result_fields`)."""
        tariff, inputs = self.tariff, self.inputs
        return {
            "status": self.status,
            "message": self.message,
            "request_id": self.request_id,
            "time": self.time,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "inputs": json_safe({
                "mpan": inputs.mpan.core if inputs.mpan else None,
                "postcode": inputs.postcode,
                "voltage": inputs.voltage,
                "kva": inputs.kva,
                "flex_fraction": inputs.flex_fraction,
                "profile_url": inputs.profile_url,
                "gsp_group": inputs.gsp_group,
                "battery": inputs.battery.to_dict() if inputs.battery else None,
            }),
            "mpan": inputs.mpan.to_dict() if inputs.mpan else None,
            "distributor": self.distributor.to_dict(),
            "site_area": self.site.to_dict(),
            "tariff": None if tariff is None else json_safe({
                "name": tariff.tariff_name,
                **tariff.charges(),
                "source": tariff.source,
                "selection_note": getattr(tariff, "selection_note", ""),
            }),
            "time_bands": json_safe(self.periods),
            "duos": None if self.duos is None else self.duos.to_dict(),
            "features": None if self.features is None else json_safe({
                **{n: _finite(getattr(self.features, n)) for n in FEATURE_FIELDS},
                "refused": self.features.reasons,
            }),
            "flexibility": None if self.flexibility is None else json_safe({
                "value_gbp": self.flexibility.value_gbp,
                "annual_value_gbp": _finite(self.flexibility.annual_value_gbp),
                "saving_pct": _finite(self.flexibility.saving_pct),
                "shifted_kwh": self.flexibility.shifted_kwh,
                "power_limit_kw": self.flexibility.power_limit_kw,
                "prices": "DUoS unit rates of the resolved tariff (p/kWh)",
            }),
            # the report's fields (what its `to_dict` gives, without copying them first)
            "profile_quality": json_safe(self.profile_quality),
            "weekday_load": json_safe(self.weekday_load),
            "battery": None if self.battery is None else self.battery.to_dict(),
        }


def _finite(value: float | None) -> float | None:
    """A number, or None (blank) when it was not computed or is not finite."""
    return value if value is not None and math.isfinite(value) else None


def decide_area(
    inputs: LookupInputs, area_lookup: Callable[[Any], Any] | None = None
) -> SiteArea:
    """The site's area by `core.site_area`'s rules; `InputErrors` names the field to fix."""
    try:
        return site_area(_site(inputs), LOOKUP, area_lookup)
    except SiteAreaError as exc:
        field_name = "postcode" if inputs.mpan is not None or inputs.postcode else "mpan"
        if inputs.gsp_group is not None and not inputs.postcode:
            field_name = "gsp_group"
        raise InputErrors({field_name: str(exc)}) from exc


def _site(inputs: LookupInputs) -> Site:
    return Site(inputs.mpan, inputs.postcode, inputs.gsp_group, inputs.voltage, inputs.kva,
                inputs.tariff_name)


def run_lookup(
    inputs: LookupInputs,
    *,
    profile: Any | None = None,
    on: dt.date | None = None,
    area_lookup: Callable[[Any], Any] | None = None,
    request_id: str = "",
    now: str | None = None,
    site: SiteArea | None = None,
) -> LookupResult:
    """Run one lookup: `core.valuation.value_site` with the `LOOKUP` policy. `profile` is a
    `core.profiles.Profile` or a frame with a `kwh` column (UTC index of half-hour starts);
    `site` an area already decided by `decide_area` (else it is decided here with
    `area_lookup`). Raises `InputErrors` when no area can be decided from the inputs and
    `LookupFailed` when no tariff can be found (its `result` names the DNO).
    """
    stamp = now or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")
    if site is None:
        site = decide_area(inputs, area_lookup)
    named = site.mpan_distributor or site.distributor
    quality = getattr(profile, "quality", None)
    data = None if profile is None else getattr(profile, "data", profile)
    try:
        valued = value_site(
            _site(inputs), data, policy=LOOKUP, flex_fraction=inputs.flex_fraction, area=site,
            on=on or dt.date.today(),
            profile_warnings=[f"profile: {w}" for w in quality.warnings] if quality else (),
        )
    except ValuationError as exc:
        failed = LookupResult(inputs, site, named, None, {}, warnings=exc.warnings,
                              error=f"no tariff: {exc}", request_id=request_id, time=stamp)
        raise LookupFailed(str(exc), failed) from exc
    tariff = valued.tariff
    bands = tariff.time_bands
    periods = {band: bands.describe(band, len(bands.periods)) if bands else []
               for band in BANDS}
    flex = valued.flexibility
    warnings, notes = list(valued.warnings), list(valued.notes)
    battery = None if data is None else _battery(inputs, data, tariff, warnings, notes)
    return LookupResult(
        inputs, site, named, tariff, periods,
        duos=valued.duos,
        features=valued.features,
        flexibility=None if flex is None else FlexValues(
            flex.value_gbp, flex.annual_value_gbp, flex.saving_pct, flex.shifted_kwh,
            flex.power_limit_kw),
        profile_quality=quality if data is not None else None,
        weekday_load=None if data is None else weekday_load(_kwh_read(valued, data), bands,
                                                            valued.key),
        battery=battery,
        warnings=(*warnings, *filter(None, [tariff.residual_doubt])),
        notes=(*inputs.notes, tariff.selection_note or f"tariff {tariff.tariff_name}", *notes),
        request_id=request_id,
        time=stamp,
    )


def _kwh_read(valued: Any, data: Any) -> Any:
    """The profile's kWh column: the valuation's kWh series when it is that column (no half
    hour was missing, so none was added as 0 kWh), else the column itself."""
    kwh = valued.kwh
    return kwh if kwh is not None and len(kwh) == len(data) else data["kwh"]


def _battery(inputs: LookupInputs, data: Any, tariff: DuosTariff, warnings: list[str],
             notes: list[str]) -> BatteryValue | None:
    """The battery's value when battery inputs were given (core.battery_value), else None."""
    if inputs.battery is None:
        return None
    from bess_duos.core.battery_value import battery_value
    from bess_duos.core.duos import default_power_factor, unit_costs

    series = data["kwh"].fillna(0.0)  # a missing half hour is no load, as for the features
    try:
        unit_rates = unit_costs(series.index, series.to_numpy(), tariff)[1]
        value = battery_value(series, unit_rates, tariff, inputs.battery, kva=inputs.kva,
                              power_factor=default_power_factor())
    except ValueError as exc:  # BatteryError, FeatureError and DuosError are ValueErrors
        warnings.append(f"battery not valued: {exc}")
        return None
    warnings.extend(value.warnings)
    notes.append(f"battery: {inputs.battery.power_kw:g} kW / {inputs.battery.energy_kwh:g} kWh "
                 f"worth £{value.annual_value_gbp:,.0f} a year "
                 f"({value.cycles_per_year:,.0f} cycles)")
    return value

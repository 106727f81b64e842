"""One site lookup, end to end: inputs -> distributor, tariff, time bands, DUoS, features, flex.

This is the orchestration the webhook, the CLI and the demo share. It knows nothing of cells,
HTTP or gspread: `parse_inputs` checks the raw inputs (every bad field at once), `run_lookup`
computes a `LookupResult`, and `LookupResult.fields()` gives the flat values keyed by the
sheet layout's field names (config/sheet_layout.yaml); the webhook maps those to cells.

Rules (decisions documented in docs/webhook.md):

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
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import yaml
from bess_duos.core.distributors import Distributor
from bess_duos.core.memo import LruMemo
from bess_duos.core.mpan import Mpan, MpanError, mpan_from_cell, parse_mpan
from bess_duos.core.paths import config_dir
from bess_duos.core.postcodes import PostcodeError, parse_postcode
from bess_duos.core.profile_loader import read_profile as read_profile  # the one loader
from bess_duos.core.site_area import SiteArea, SiteAreaError, decide_site_area, parse_gsp_group
from bess_duos.core.tariffs import (
    DuosTariff,
    TariffNotFoundError,
    available_years,
    charging_year,
    normalise_voltage,
    resolve_tariff,
)
from bess_duos.core.timebands import BANDS

INPUT_FIELDS = ("postcode", "mpan", "voltage", "kva", "flex_fraction", "profile_url",
                "gsp_group")
MAX_PERIOD_ROWS = 4
# The longest text (or integer digits) each input may have; checked before any parsing, so
# no pattern or number conversion ever sees more. Generous for what people type or paste.
MAX_INPUT_CHARS: dict[str, int] = {
    "mpan": 64, "postcode": 32, "voltage": 32, "kva": 32, "flex_fraction": 32,
    "profile_url": 2048, "gsp_group": 16,
}
FEATURE_FIELDS = ("peak_ratio", "load_factor", "weekend_factor")


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


@cache
def _layout_defaults() -> dict[str, Any]:
    with open(config_dir() / "defaults.yaml", encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return {"voltage": raw.get("voltage", "LV"), "flex_fraction": float(raw["flex_fraction"])}


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


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_mpan_input(value: object) -> Mpan:
    """A sheet cell or JSON value -> Mpan; a wrong check digit is kept (reported later)."""
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


_LABELS = {"mpan": "the MPAN", "postcode": "the postcode", "voltage": "the voltage level",
           "kva": "the agreed capacity", "flex_fraction": "the flexible share",
           "profile_url": "the profile link", "gsp_group": "the GSP group"}


def _too_long(name: str, value: object) -> str | None:
    """Why `value` is too long for input `name` (text length, or digits of an integer)."""
    limit = MAX_INPUT_CHARS[name]
    if isinstance(value, list | dict):
        return f"{_LABELS[name]} must be text or a number, not a JSON {type(value).__name__}"
    if isinstance(value, str) and len(value) > limit:
        return (f"{_LABELS[name]} is {len(value):,} characters long: at most {limit} are "
                "accepted; check the cell holds only this input")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"{_LABELS[name]} has over {limit} digits: not a usable value"
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


def _link_problem(link: str) -> str | None:
    """Why `link` is not even a well-formed web address (its content is checked on fetch)."""
    try:
        urlsplit(link).port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return (f"the profile link is not a well-formed address ({exc}): copy the whole "
                "https:// link")
    return None


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
    """
    errors: dict[str, str] = {}
    notes: list[str] = []
    unknown = sorted(set(raw) - set(INPUT_FIELDS))
    if unknown:
        raise InputErrors({name: "unknown input field" for name in unknown})
    too_long = {name: why for name in INPUT_FIELDS if (why := _too_long(name, raw.get(name)))}
    if too_long:
        raise InputErrors(too_long)
    mpan = None
    if not _blank(raw.get("mpan")):
        try:
            mpan = parse_mpan_input(raw["mpan"])
        except MpanError as exc:
            errors["mpan"] = str(exc)
    postcode = None
    if not _blank(raw.get("postcode")):
        if not isinstance(raw["postcode"], str):
            errors["postcode"] = "postcode must be text, e.g. 'B1 1AA'"
        else:
            try:
                postcode = parse_postcode(raw["postcode"]).unit
            except PostcodeError as exc:
                errors["postcode"] = str(exc)
    gsp_group = None
    if not _blank(raw.get("gsp_group")):
        if not isinstance(raw["gsp_group"], str):
            errors["gsp_group"] = "the GSP group must be text, e.g. '_E'"
        else:
            try:
                gsp_group = str(parse_gsp_group(raw["gsp_group"]).gsp_group_id)
            except SiteAreaError as exc:
                errors["gsp_group"] = str(exc)
    if _blank(raw.get("mpan")) and _blank(raw.get("postcode")) and _blank(raw.get("gsp_group")):
        message = ("enter the site's MPAN or its postcode (one of the two is needed; or its "
                   "GSP group)")
        errors["mpan"] = errors["postcode"] = message
    voltage = None
    if not _blank(raw.get("voltage")):
        try:
            voltage = normalise_voltage(str(raw["voltage"]))
        except ValueError as exc:
            errors["voltage"] = f"{exc}; leave it blank to use the MPAN's LLFC (else LV)"
    kva = None
    if not _blank(raw.get("kva")):
        try:
            kva = _number(raw["kva"], "kva")
            if not math.isfinite(kva) or kva <= 0:
                raise ValueError("not positive")
        except ValueError:
            errors["kva"] = (
                f"agreed capacity {raw['kva']!r} is not a positive number of kVA (e.g. 500)"
            )
    flex = _layout_defaults()["flex_fraction"]
    if not _blank(raw.get("flex_fraction")):
        value = raw["flex_fraction"]
        try:
            text = str(value).strip()
            percent = text.endswith("%")
            flex = _number(text.rstrip("%"), "") if isinstance(value, str) else _number(value, "")
            if percent or flex > 1:
                if not percent:
                    notes.append(f"flexible share {value!r} read as {flex:g}%")
                flex /= 100.0
            if not 0.0 <= flex <= 1.0 or not math.isfinite(flex):
                raise ValueError("out of range")
        except ValueError:
            errors["flex_fraction"] = (
                f"flexible share {value!r} must be between 0% and 100% (e.g. 30% or 0.3)"
            )
    profile_url = None
    if not _blank(raw.get("profile_url")):
        if not isinstance(raw["profile_url"], str):
            errors["profile_url"] = "the profile link must be text (an https:// link)"
        else:
            profile_url = raw["profile_url"].strip()
            problem = _link_problem(profile_url)
            if problem:
                errors["profile_url"] = problem
    if errors:
        raise InputErrors(errors)
    return LookupInputs(mpan, postcode, voltage, kva, flex, profile_url, tuple(notes),
                        gsp_group)


@dataclass(frozen=True)
class FeatureValues:
    """The three features the sheet shows (NaN when refused) and the refusal reasons."""

    peak_ratio: float
    load_factor: float
    weekend_factor: float
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FlexValues:
    """Flexibility value over the profile and per year (£), and the saving in % of DUoS units."""

    value_gbp: float
    annual_value_gbp: float
    saving_pct: float
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

    def fields(self) -> dict[str, object]:
        """Flat values keyed by the layout's field names; None clears the cell."""
        d = self.distributor
        out: dict[str, object] = {
            "status": self.status,
            "message": self.message,
            "time": self.time,
            "request_id": self.request_id,
            "distributor_id": d.distributor_id,
            "dno_name": d.name,
            "short_code": d.short_code,
            "mpid": d.mpid,
            "gsp_group_id": self.site.gsp_group_id,
            "gsp_group_name": self.site.distributor.gsp_group_name,
        }
        tariff = self.tariff
        for band, rate in zip(BANDS, tariff.unit_rates_p_per_kwh if tariff else (None,) * 3,
                              strict=True):
            out[f"{band}_rate_p_per_kwh"] = rate
            rows = self.periods.get(band, [])
            for i in range(MAX_PERIOD_ROWS):
                out[f"{band}_period_{i + 1}"] = rows[i] if i < len(rows) else None
        out["annual_duos_gbp"] = (
            round(self.duos.annualised_total_gbp, 2) if self.duos is not None else None
        )
        for name in FEATURE_FIELDS:
            value = getattr(self.features, name) if self.features else None
            out[name] = None if value is None or not math.isfinite(value) else round(value, 4)
        flex = self.flexibility
        out["flex_value_gbp_per_year"] = round(flex.annual_value_gbp, 2) if flex else None
        out["flex_saving_pct"] = (
            round(flex.saving_pct, 2) if flex and math.isfinite(flex.saving_pct) else None
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every computed value, the warnings, notes and the sheet fields."""
        tariff = self.tariff
        return {
            "status": self.status,
            "message": self.message,
            "request_id": self.request_id,
            "time": self.time,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "inputs": {
                "mpan": self.inputs.mpan.core if self.inputs.mpan else None,
                "postcode": self.inputs.postcode,
                "voltage": self.inputs.voltage,
                "kva": self.inputs.kva,
                "flex_fraction": self.inputs.flex_fraction,
                "profile_url": self.inputs.profile_url,
                "gsp_group": self.inputs.gsp_group,
            },
            "mpan": self.inputs.mpan.to_dict() if self.inputs.mpan else None,
            "distributor": self.distributor.to_dict(),
            "site_area": self.site.to_dict(),
            "tariff": None if tariff is None else {
                "name": tariff.tariff_name,
                "voltage_level": tariff.voltage_level,
                "charging_year": tariff.year,
                "red_rate_p_per_kwh": tariff.red_rate,
                "amber_rate_p_per_kwh": tariff.amber_rate,
                "green_rate_p_per_kwh": tariff.green_rate,
                "fixed_p_per_day": tariff.fixed_p_per_day,
                "capacity_p_per_kva_per_day": tariff.capacity_p_per_kva_per_day,
                "exceeded_capacity_p_per_kva_per_day": tariff.exceeded_capacity_p_per_kva_per_day,
                "reactive_p_per_kvarh": tariff.reactive_p_per_kvarh,
                "residual_band": tariff.residual_band,
                "source": tariff.source,
                "selection_note": getattr(tariff, "selection_note", ""),
            },
            "time_bands": self.periods,
            "duos": None if self.duos is None else self.duos.to_dict(),
            "features": None if self.features is None else {
                **{n: _finite(getattr(self.features, n)) for n in FEATURE_FIELDS},
                "refused": self.features.reasons,
            },
            "flexibility": None if self.flexibility is None else {
                "value_gbp": self.flexibility.value_gbp,
                "annual_value_gbp": self.flexibility.annual_value_gbp,
                "saving_pct": _finite(self.flexibility.saving_pct),
                "shifted_kwh": self.flexibility.shifted_kwh,
                "power_limit_kw": self.flexibility.power_limit_kw,
                "prices": "DUoS unit rates of the resolved tariff (p/kWh)",
            },
            "profile_quality": None if self.profile_quality is None
            else self.profile_quality.to_dict(),
            "fields": self.fields(),
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def year_label(year: int | None) -> str:
    """2026 -> "2026/27" (a charging year, April to March); None -> ""."""
    return "" if year is None else f"{year}/{(year + 1) % 100:02d}"


def _tariff_with_fallback(
    distributor_id: int, area: int, on: dt.date, inputs: LookupInputs, llfc: str | None,
    warnings: list[str],
) -> DuosTariff:
    """The tariff in force on `on`; the latest earlier bundled year if that one is missing."""
    kwargs: dict[str, Any] = {
        "voltage": inputs.voltage, "kva": inputs.kva,
        "area_distributor_id": None if distributor_id == area else area,
    }

    def resolve(day: dt.date) -> DuosTariff:
        if llfc and inputs.voltage is None:
            try:
                return resolve_tariff(distributor_id, on=day, llfc=llfc, **kwargs)
            except TariffNotFoundError as exc:
                if "LLFC" not in str(exc):
                    raise
                warnings.append(f"{exc} Using the site-specific tariff for the voltage instead.")
        return resolve_tariff(distributor_id, on=day, **kwargs)

    try:
        return resolve(on)
    except TariffNotFoundError as exc:
        wanted = charging_year(on)
        earlier = [y for y in available_years().get(area, []) if y < wanted]
        if not earlier:
            raise
        year = max(earlier)
        warnings.append(
            f"no {year_label(wanted)} tariffs bundled for area {area}: using "
            f"{year_label(year)}, the latest year available (import the new workbook to update)"
        )
        del exc
        return resolve(dt.date(year, 4, 1))


def _profile_series(data: pd.DataFrame) -> tuple[pd.Series, int]:
    """kWh per half hour on a regular grid (gaps filled with 0) and the number filled."""
    kwh = data["kwh"].astype(float)
    index = pd.DatetimeIndex(kwh.index)
    full = pd.date_range(index[0], index[-1], freq="30min")
    if len(full) == len(index):
        return kwh, 0
    return kwh.reindex(full, fill_value=0.0), len(full) - len(index)


MEMO_SIZE = 16  # profiles (x tariff, kVA) whose results are remembered, per process


# The sheet re-runs the whole lookup on every input edit with the same profile: features
# depend on the profile's half hours alone, DUoS on those, the tariff and the kVA.
_feature_memo = LruMemo(MEMO_SIZE)
_duos_memo = LruMemo(MEMO_SIZE)
_flex_memo = LruMemo(MEMO_SIZE)  # flexibility plans per (profile digest, tariff): shares differ


def clear_memos() -> None:
    """Forget the remembered features, DUoS charges and flexibility plans (tests, benchmarks)."""
    _feature_memo.clear()
    _duos_memo.clear()
    _flex_memo.clear()


def _data_digest(data: pd.DataFrame) -> bytes | None:
    """A digest of a profile frame's times and numbers (None if a column is not numeric)."""
    digest = hashlib.blake2b(str(getattr(data.index, "tz", None)).encode(), digest_size=20)
    try:
        digest.update(np.ascontiguousarray(pd.DatetimeIndex(data.index).asi8).tobytes())
        for name in data.columns:
            digest.update(repr(name).encode())
            digest.update(np.ascontiguousarray(data[name].to_numpy(np.float64)).tobytes())
    except (TypeError, ValueError):
        return None
    return digest.digest()


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _features(
    series: pd.Series, warnings: list[str], key: bytes | None = None
) -> FeatureValues | None:
    """The sheet's features of the profile and their warnings; remembered under `key` (the
    digest of the profile they come from), so a repeated lookup reuses them."""
    def compute() -> tuple[FeatureValues | None, tuple[str, ...]]:
        said: list[str] = []
        return _compute_features(series, said), tuple(said)

    values, said = compute() if key is None else _feature_memo.get(key, compute)
    warnings.extend(said)
    return None if values is None else replace(values, reasons=dict(values.reasons))


def _compute_features(series: pd.Series, warnings: list[str]) -> FeatureValues | None:
    from bess_duos.core.features import FeatureError, profile_features

    try:
        result = profile_features(series)
    except FeatureError as exc:
        warnings.append(f"profile features not computed: {exc}")
        return None
    reasons = {n: result.reasons[n] for n in FEATURE_FIELDS if n in result.reasons}
    for name, why in reasons.items():
        warnings.append(f"{name.replace('_', ' ')} not computed: {why}")
    return FeatureValues(*(result.values[n] for n in FEATURE_FIELDS), reasons=reasons)


def decide_area(
    inputs: LookupInputs, area_lookup: Callable[[Any], Any] | None = None
) -> SiteArea:
    """The site's area by `core.site_area`'s rules; `InputErrors` names the field to fix."""
    try:
        return decide_site_area(inputs.mpan, inputs.postcode, lookup=area_lookup,
                                gsp_group=inputs.gsp_group)
    except SiteAreaError as exc:
        field_name = "postcode" if inputs.mpan is not None or inputs.postcode else "mpan"
        if inputs.gsp_group is not None and not inputs.postcode:
            field_name = "gsp_group"
        raise InputErrors({field_name: str(exc)}) from exc


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
    """Run one lookup. `profile` is a `core.profiles.Profile` or a frame with a `kwh` column
    (UTC index of half-hour starts); `site` an area already decided by `decide_area` (else it
    is decided here with `area_lookup`). Raises `InputErrors` when no area can be decided from
    the inputs and `LookupFailed` when no tariff can be found (its `result` names the DNO).
    """
    on = on or dt.date.today()
    stamp = now or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")
    warnings: list[str] = []
    notes = list(inputs.notes)
    if site is None:
        site = decide_area(inputs, area_lookup)
    warnings.extend(site.warnings)
    named = site.mpan_distributor or site.distributor
    base = LookupResult(inputs, site, named, None, {}, request_id=request_id, time=stamp)
    llfc = inputs.mpan.llfc if inputs.mpan else None
    try:
        tariff = _tariff_with_fallback(
            named.distributor_id, site.distributor_id, on, inputs, llfc, warnings
        )
    except (TariffNotFoundError, ValueError) as exc:
        failed = replace(base, warnings=tuple(warnings), error=f"no tariff: {exc}")
        raise LookupFailed(str(exc), failed) from exc
    notes.append(getattr(tariff, "selection_note", "") or f"tariff {tariff.tariff_name}")
    bands = tariff.time_bands
    periods = {band: bands.describe(band, MAX_PERIOD_ROWS) if bands else [] for band in BANDS}
    if bands and any(len(bands.describe(b, 99)) > MAX_PERIOD_ROWS for b in BANDS):
        notes.append(f"more than {MAX_PERIOD_ROWS} periods in a band: the sheet shows the first "
                     f"{MAX_PERIOD_ROWS}; all are in time_bands")
        periods = {band: bands.describe(band, 99) for band in BANDS}
    result = replace(base, tariff=tariff, periods=periods)
    if profile is None:
        notes.append("no profile: annual DUoS, features and flexibility left blank")
        return replace(result, warnings=tuple(warnings), notes=tuple(notes))
    return _with_profile(result, profile, warnings, notes)


def _with_profile(
    result: LookupResult, profile: Any, warnings: list[str], notes: list[str]
) -> LookupResult:
    from bess_duos.core.duos import DuosError, default_power_factor, duos_charges, unit_costs
    from bess_duos.core.flexibility import plan_flexibility

    quality = getattr(profile, "quality", None)
    data: pd.DataFrame = getattr(profile, "data", profile)
    if quality is not None:
        warnings.extend(f"profile: {w}" for w in quality.warnings)
    tariff = result.tariff
    assert tariff is not None
    summary = None
    key = _data_digest(data)
    if not _hashable(tariff):
        key = None  # nothing is remembered
    kva = result.inputs.kva
    unit_rates = None

    def charge() -> tuple[Any, np.ndarray]:
        """The summary and each half hour's unit rate (all the lookup keeps of the charges)."""
        charged = duos_charges(data, tariff, agreed_kva=kva)
        return charged.summary, np.asarray(charged.frame["unit_rate_p_per_kwh"], dtype=float)

    try:
        if key is None:
            summary, unit_rates = charge()
        else:
            summary, unit_rates = _duos_memo.get((key, tariff, kva, default_power_factor()),
                                                 charge)
    except DuosError as exc:
        warnings.append(f"annual DUoS not computed: {exc}")
    else:
        notes.append(
            f"annual DUoS: the profile charged at {tariff.tariff_name} "
            f"({year_label(tariff.year)}), {summary.annualisation_method}"
        )
    series, filled = _profile_series(data)
    if filled:
        warnings.append(f"profile: {filled} missing half hour(s) counted as 0 kWh for the "
                        "features and flexibility")
    features = _features(series, warnings, key)
    flex_values = None

    def plan() -> Any:
        if summary is not None and not filled:
            rates = unit_rates
        else:  # the band rate of every half hour of the regular grid, gaps included
            rates = unit_costs(series.index, series.to_numpy(), tariff)[1]
        return plan_flexibility(series, pd.Series(rates, index=series.index))

    try:
        # The plan (days, prices, orders) is the same for every flexible share: remembered.
        plan_ = plan() if key is None else _flex_memo.get((key, tariff, summary is None), plan)
        flex = plan_.value(result.inputs.flex_fraction)
    except ValueError as exc:  # FeatureError and DuosError are ValueErrors
        warnings.append(f"flexibility not computed: {exc}")
    else:
        flex_values = FlexValues(flex.value_gbp, flex.annual_value_gbp, flex.saving_pct,
                                 flex.shifted_kwh, flex.power_limit_kw)
        notes.append(
            f"flexibility: up to {result.inputs.flex_fraction:.0%} of each day's kWh moved to "
            f"cheaper DUoS bands under a {flex.power_limit_kw:,.1f} kW limit (the site's max "
            "demand)"
        )
    return replace(
        result,
        duos=summary,
        features=features,
        flexibility=flex_values,
        profile_quality=quality,
        warnings=tuple(warnings),
        notes=tuple(notes),
    )

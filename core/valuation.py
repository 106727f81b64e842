"""One site valuation: area -> tariff -> DUoS -> features -> flexibility.

The single-site lookup (`core.lookup.run_lookup`) and the portfolio (`core.portfolio.run_batch`)
both value a site with `site_area` and `value_site`. Their deliberate differences are the
settings of a `ValuationPolicy` (`LOOKUP` and `PORTFOLIO`), not copies of the code:

setting: `LOOKUP` (the sheet, one site) / `PORTFOLIO` (thousands of sites)

- `tariff_per_year`: False, the tariff in force on the lookup date charges every half hour
  (so the annual £ agrees with the rates and bands shown) / True, each charging year's own
  tariff and time bands.
- `bad_check_digit`: "warn", the distributor is still named and all is computed / "fail", the
  site fails at stage ``mpan``.
- `llfc_over_voltage`: False, the MPAN's LLFC decides only when no voltage is given / True, a
  given LLFC always decides.
- `unpublished_llfc`: "voltage", warn and use the site-specific tariff for the voltage /
  "fail" (stage ``tariff``).
- `missing_year`: "latest", the latest earlier bundled year, warned / "fail" (``tariff``).
- `check_postcode`: True, a postcode is looked up to check it against a deciding MPAN or GSP
  group / False, only parsed (no lookups).
- `gaps`: "zero", missing half hours count as 0 kWh for features and flexibility (warned) /
  "refuse", the site fails at stage ``profile``.
- `partial`: True, a DUoS or flexibility step that fails is a warning and the rest is kept /
  False, the site fails at that stage.
- `sheet_features`: True, the sheet's peak ratio, load factor and weekend factor / False, the
  portfolio computes its features for a whole batch in one array (from `SiteValuation.bands`).
- `remember`: True, DUoS, features and flexibility plans are remembered per profile digest
  (the sheet re-runs the lookup on every edit) / False.

Every policy applies the one too-little-data rule of `core.profile_loader.annual_span` (via
`annual_figures`): under 28 days of data the annual figures carry a warning, under 7 they are
blank (None) with the reason, never 0.

A step that cannot go on raises `ValuationError` with the `stage` (``mpan``, ``area``,
``profile``, ``tariff``, ``duos``, ``flexibility``) and the reason.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from bess_duos.core.bands import NS_PER_HALF_HOUR
from bess_duos.core.memo import LruMemo
from bess_duos.core.mpan import Mpan
from bess_duos.core.profile_loader import annual_span
from bess_duos.core.profiles import index_grid
from bess_duos.core.site_area import SiteArea, decide_site_area
from bess_duos.core.tariffs import (
    AmbiguousTariffError,
    DuosTariff,
    TariffNotFoundError,
    TariffQuery,
    available_years,
    charging_year,
    resolve_query,
    resolve_remembered,
)

FEATURE_FIELDS = ("peak_ratio", "load_factor", "weekend_factor")
MEMO_SIZE = 16  # profiles (x tariff, kVA) whose results are remembered, per process
Stage = Literal["mpan", "area", "profile", "tariff", "duos", "flexibility"]


class ValuationError(ValueError):
    """A site that cannot be valued: `stage` is the step that failed, `reason` says why, and
    `warnings` what had been said before it failed."""

    def __init__(self, stage: Stage, reason: str, warnings: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.stage: Stage = stage
        self.reason = reason
        self.warnings = warnings

    def __reduce__(self) -> tuple[Any, ...]:
        return (ValuationError, (self.stage, self.reason, self.warnings))


@dataclass(frozen=True)
class ValuationPolicy:
    """How a caller wants a site valued (the settings are described in the module doc)."""

    tariff_per_year: bool
    bad_check_digit: Literal["warn", "fail"]
    llfc_over_voltage: bool
    unpublished_llfc: Literal["voltage", "fail"]
    missing_year: Literal["latest", "fail"]
    check_postcode: bool
    gaps: Literal["zero", "refuse"]
    partial: bool
    sheet_features: bool
    remember: bool


LOOKUP = ValuationPolicy(
    tariff_per_year=False, bad_check_digit="warn", llfc_over_voltage=False,
    unpublished_llfc="voltage", missing_year="latest", check_postcode=True, gaps="zero",
    partial=True, sheet_features=True, remember=True,
)
PORTFOLIO = ValuationPolicy(
    tariff_per_year=True, bad_check_digit="fail", llfc_over_voltage=True,
    unpublished_llfc="fail", missing_year="fail", check_postcode=False, gaps="refuse",
    partial=False, sheet_features=False, remember=False,
)


@dataclass(frozen=True)
class Site:
    """What is known of a site: its MPAN, postcode and/or GSP group, voltage and capacity."""

    mpan: Mpan | None = None
    postcode: str | None = None
    gsp_group: str | None = None
    voltage: str | None = None  # None = from the MPAN's LLFC, else LV
    kva: float | None = None
    tariff_name: str | None = None  # a published tariff name: picks that row outright


@dataclass(frozen=True)
class FeatureValues:
    """The three features the sheet shows (NaN when refused) and the refusal reasons."""

    peak_ratio: float
    load_factor: float
    weekend_factor: float
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SiteValuation:
    """A valued site. `tariff` is the tariff in force (one-tariff policy) or the first charging
    year's; `kwh` the profile the features and flexibility read (gaps filled or refused);
    `bands` the band index (into `BANDS`) of each half hour charged. Everything computed from
    the profile is None without one (or when a step failed under a `partial` policy)."""

    area: SiteArea
    tariff: DuosTariff
    duos: Any | None = None  # core.duos.DuosSummary
    kwh: pd.Series | None = None
    bands: np.ndarray | None = None
    features: FeatureValues | None = None
    flexibility: Any | None = None  # core.flexibility.FlexibilityResult
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    key: Any | None = None  # the profile's memo key (`profile_key`) when results are remembered


# ---------------------------------------------------------------- area


def site_area(
    site: Site, policy: ValuationPolicy, lookup: Callable[[Any], Any] | None = None
) -> SiteArea:
    """The site's DNO area by `core.site_area.decide_site_area`'s rules (`lookup` maps a
    postcode to its area when one is needed). Raises `ValuationError` (stage ``mpan``) for a
    wrong check digit under a "fail" policy, and `SiteAreaError` when no area can be decided.
    """
    mpan = site.mpan
    if mpan is not None and not mpan.check_digit_valid and policy.bad_check_digit == "fail":
        raise ValuationError(
            "mpan", f"MPAN {mpan.core}: wrong check digit {mpan.check_digit} (expected "
            f"{mpan.expected_check_digit}); check it against the bill")
    return decide_site_area(mpan, site.postcode or None, lookup=lookup,
                            gsp_group=site.gsp_group, check_postcode=policy.check_postcode)


# ---------------------------------------------------------------- tariff


def tariff_query(site: Site, area: SiteArea, policy: ValuationPolicy,
                 on: dt.date | None = None) -> TariffQuery:
    """The `TariffQuery` of a site in its decided area (the LLFC used as the policy says)."""
    named = area.mpan_distributor or area.distributor
    llfc = site.mpan.llfc if site.mpan else None
    use_llfc = bool(llfc) and (policy.llfc_over_voltage or site.voltage is None)
    return TariffQuery(
        named.distributor_id,
        None if named.distributor_id == area.distributor_id else area.distributor_id,
        voltage=site.voltage, llfc=llfc if use_llfc else None, kva=site.kva, on=on,
        tariff_name=site.tariff_name,
        profile_class=site.mpan.profile_class if site.mpan else None,
    )


def year_label(year: int | None) -> str:
    """2026 -> "2026/27" (a charging year, April to March); None -> ""."""
    return "" if year is None else f"{year}/{(year + 1) % 100:02d}"


def _resolve(query: TariffQuery, policy: ValuationPolicy, warnings: list[str]) -> DuosTariff:
    """`query`'s tariff, with the policy's fallbacks for an unpublished LLFC and a missing
    year. A run over many years (the portfolio) remembers each answer; one lookup reads the
    config afresh, so a server sees newly imported tariffs."""
    try:
        return resolve_remembered(query) if policy.tariff_per_year else resolve_query(query)
    except TariffNotFoundError as exc:
        if exc.field == "llfc" and query.llfc and policy.unpublished_llfc == "voltage" \
                and not isinstance(exc, AmbiguousTariffError):
            warnings.append(f"{exc} Using the site-specific tariff for the voltage instead.")
            return _resolve(replace(query, llfc=None), policy, warnings)
        if exc.field != "year" or policy.missing_year != "latest":
            raise
        wanted = charging_year(query.on or dt.date.today())
        area = query.area
        earlier = [y for y in available_years().get(area, []) if y < wanted]
        if not earlier:
            raise
        year = max(earlier)
        warnings.append(
            f"no {year_label(wanted)} tariffs bundled for area {area}: using "
            f"{year_label(year)}, the latest year available (import the new workbook to update)"
        )
        return _resolve(query.for_year(year), policy, warnings)


def site_tariffs(
    query: TariffQuery, policy: ValuationPolicy, warnings: list[str]
) -> DuosTariff | Callable[[int], DuosTariff]:
    """The tariff in force on `query.on`, or (tariff per year) a callable charging year ->
    tariff, each year's resolved once (charging and the result both ask for the first);
    either way with the policy's fallbacks. Raises `TariffNotFoundError`."""
    if policy.tariff_per_year:
        return functools.cache(lambda year: _resolve(query.for_year(int(year)), policy, warnings))
    return _resolve(query, policy, warnings)


# ---------------------------------------------------------------- the valuation


_feature_memo = LruMemo(MEMO_SIZE)
_duos_memo = LruMemo(MEMO_SIZE)
_flex_memo = LruMemo(MEMO_SIZE)  # flexibility plans per (profile digest, tariff): shares differ
# Each distinct profile key kept as one object: a key equal to a kept one (compared once, in
# full) is replaced by it, so the memos above find it by identity instead of comparing the
# arrays again at every step (~0.1 ms a repeated lookup).
_profile_keys = LruMemo(MEMO_SIZE)


def clear_memos() -> None:
    """Forget the remembered features, DUoS charges and flexibility plans (tests, benchmarks)."""
    for memo in (_feature_memo, _duos_memo, _flex_memo, _profile_keys):
        memo.clear()


def _times(index: pd.Index) -> pd.DatetimeIndex:
    """`index` as a DatetimeIndex (itself when it is one)."""
    return index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index)


class _ProfileKey:
    """A profile's zone, times and numbers as a memo key: equal only to a key of exactly the
    same bits (compared in full, so two profiles never share results); hashed on the times,
    the column names and a sample of the numbers. Holds read-only copies of the columns."""

    __slots__ = ("_arrays", "_hash", "_head")
    _SAMPLE = 64  # numbers per column that go into the hash

    def __init__(self, head: tuple[Any, ...], arrays: tuple[np.ndarray, ...]) -> None:
        self._head = head
        self._arrays = arrays
        sample = b"".join(a[:: max(1, a.size // self._SAMPLE)].tobytes() for a in arrays)
        self._hash = hash((head, sample))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _ProfileKey):
            return NotImplemented
        return self is other or (
            self._hash == other._hash and self._head == other._head
            and len(self._arrays) == len(other._arrays)
            and all(np.array_equal(a.view(np.int64), b.view(np.int64))  # bits, NaN too
                    for a, b in zip(self._arrays, other._arrays, strict=True)))


def _utc_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """int64 ns UTC instants of a DatetimeIndex (no new index when it is in ns already)."""
    return index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8


def _zoned_ns(index: pd.Index) -> pd.DatetimeIndex | np.ndarray:
    """A zoned index's int64 ns UTC instants, else the index as a DatetimeIndex (for the DUoS
    engine to read, or refuse when it has no zone)."""
    times = _times(index)
    return _utc_ns(times) if times.tz is not None else times


def profile_key(data: pd.DataFrame | pd.Series) -> _ProfileKey | None:
    """The memo key of a profile frame's times and numbers (None if a column is not
    numeric): equal for frames of the same zone, times, column names and numbers (a kWh
    Series: as its frame of one column)."""
    if isinstance(data, pd.Series):
        data = data.to_frame()
    try:
        index = _times(data.index)
        times, grid = _utc_ns(index), index_grid(index)
        arrays = [] if grid is not None else [times.copy()]  # a grid: first instant and count
        names = tuple(repr(name) for name in data.columns)
        matrix = data.to_numpy(copy=True)  # [half hours, columns], of their common type
        if matrix.dtype == np.float64:  # floats (or ints with floats): each column as float64
            arrays.extend(matrix.T)
        else:
            for _, column in data.items():
                arrays.append(np.array(column.to_numpy(np.float64), dtype=np.float64, copy=True))
    except (TypeError, ValueError):
        return None
    for array in arrays:
        array.flags.writeable = False
    key = _ProfileKey((str(getattr(data.index, "tz", None)), grid, names), tuple(arrays))
    return _profile_keys.get(key, lambda: key)  # an equal key seen before: that one


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _remembered(memo: LruMemo, key: Any, compute: Callable[[], Any]) -> Any:
    return compute() if key is None else memo.get(key, compute)


@dataclass
class _Run:
    """One valuation in progress: its inputs, what has been said so far and what is done."""

    policy: ValuationPolicy
    tariff: DuosTariff | Callable[[int], DuosTariff]
    kva: float | None
    power_factor: float | None
    key: _ProfileKey | None  # the profile's key when results are remembered, else None
    warnings: list[str]
    notes: list[str]
    area: SiteArea | None = None
    query: TariffQuery | None = None
    profile: pd.DataFrame | pd.Series | None = None
    label: str = "profile"
    checked: pd.Series | None = None  # the kWh checked gap-free ("refuse" policy)
    summary: Any | None = None  # core.duos.DuosSummary
    bands: np.ndarray | None = None  # each charged half hour's band index
    rates: np.ndarray | None = None  # and its unit rate, p/kWh
    too_little: str | None = None  # the too-little-data warning, said after the rest
    first: DuosTariff | None = None  # the tariff in force, or the first charging year's
    series: pd.Series | None = None  # the kWh features and flexibility read
    features: FeatureValues | None = None
    flex: Any | None = None  # core.flexibility.FlexibilityResult
    grids: dict[int, tuple[pd.Index, Any]] = field(default_factory=dict)  # by `_grid_of`
    column: pd.Series | None = None  # the profile's kWh column, taken once (`_kwh_column`)

    def failed(self, stage: Stage, message: str, reason: str) -> None:
        """Under a partial policy, warn `message` and go on; else fail the site."""
        if not self.policy.partial:
            raise ValuationError(stage, reason)
        self.warnings.append(message)


def _kwh_column(data: pd.DataFrame | pd.Series, run: _Run) -> pd.Series:
    """`data["kwh"]` (`data` itself when it is that Series), taken once per run when `data` is
    the run's profile (every stage reads it; each taking builds a Series)."""
    if isinstance(data, pd.Series):
        return data
    if data is not run.profile:
        return data["kwh"]
    if run.column is None:
        run.column = data["kwh"]
    return run.column


def _kwh_series(data: pd.DataFrame, run: _Run, label: str) -> pd.Series:
    """The kWh per half hour the features and flexibility read: on a regular grid with gaps
    as 0 kWh ("zero"), or checked to have no gaps ("refuse", stage ``profile``)."""
    from bess_duos.core.features import FeatureError, _checked_grid, validate_profile

    kwh = _kwh_column(data, run)
    if run.policy.gaps == "refuse":
        try:
            if kwh.dtype != np.float64 or str(getattr(kwh.index, "tz", None)) != "UTC" \
                    or kwh.name != "kwh":
                return validate_profile(kwh.rename("kwh"), label)
            # validate_profile's checks; the series it would build is this one
            run.grids[id(kwh.index)] = (kwh.index, _checked_grid(kwh, label)[2])
            return kwh
        except FeatureError as exc:
            raise ValuationError("profile", str(exc)) from None
    if kwh.dtype != np.float64:
        kwh = kwh.astype(float)
    index = _times(kwh.index)
    times = _utc_ns(index)
    if (times[-1] - times[0]) // NS_PER_HALF_HOUR + 1 == len(index):  # no half hour missing
        return kwh
    full = pd.date_range(index[0], index[-1], freq="30min")
    run.warnings.append(f"profile: {len(full) - len(index)} missing half hour(s) counted as "
                        "0 kWh for the features and flexibility")
    return kwh.reindex(full, fill_value=0.0)


def _kvarh(data: pd.DataFrame | pd.Series) -> np.ndarray | None:
    """The profile's kVArh per half hour as float64, or None (none given)."""
    if isinstance(data, pd.Series) or "kvarh" not in data.columns:
        return None
    return data["kvarh"].to_numpy(np.float64)


def _charge(data: pd.DataFrame | pd.Series, run: _Run
            ) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """(DUoS summary, each half hour's band and unit rate), or None if it failed (partial)."""
    from bess_duos.core.duos import DuosError, charge_arrays, default_power_factor

    power_factor = run.power_factor or default_power_factor()  # what the engine would take

    def charge() -> tuple[Any, np.ndarray, np.ndarray]:
        columns, summary = charge_arrays(
            _zoned_ns(data.index), _kwh_column(data, run).to_numpy(np.float64), run.tariff,
            kvarh=_kvarh(data), agreed_kva=run.kva, power_factor=power_factor, all_columns=False)
        return (summary, np.asarray(columns["band"], dtype=np.int8),
                np.asarray(columns["unit_rate_p_per_kwh"], dtype=float))

    key = None if run.key is None else (run.key, run.tariff, run.kva, power_factor)
    try:
        return _remembered(_duos_memo, key, charge)
    except TariffNotFoundError as exc:
        raise ValuationError("tariff", str(exc)) from None
    except (DuosError, ValueError) as exc:
        run.failed("duos", f"annual DUoS not computed: {exc}", str(exc))
        return None


def _features(series: pd.Series, run: _Run) -> FeatureValues | None:
    """The sheet's features of the profile and their warnings (remembered per profile)."""
    def compute() -> tuple[FeatureValues | None, tuple[str, ...]]:
        said: list[str] = []
        return _compute_features(series, said), tuple(said)

    values, said = _remembered(_feature_memo, run.key, compute)
    run.warnings.extend(said)
    return None if values is None else replace(values, reasons=dict(values.reasons))


def _compute_features(series: pd.Series, warnings: list[str]) -> FeatureValues | None:
    from bess_duos.core.features import FeatureError, profile_features

    try:
        result = profile_features(series, None, FEATURE_FIELDS)  # only the sheet's three
    except FeatureError as exc:
        warnings.append(f"profile features not computed: {exc}")
        return None
    reasons = {n: result.reasons[n] for n in FEATURE_FIELDS if n in result.reasons}
    for name, why in reasons.items():
        warnings.append(f"{name.replace('_', ' ')} not computed: {why}")
    return FeatureValues(*(result.values[n] for n in FEATURE_FIELDS), reasons=reasons)


def _flexibility(series: pd.Series, rates: np.ndarray | None, fraction: float, run: _Run
                 ) -> Any | None:
    """Flexibility against the DUoS unit rates of each half hour of `series` (`rates` when
    the charge covered exactly those half hours, else the band rates of the grid)."""
    from bess_duos.core.duos import unit_costs
    from bess_duos.core.flexibility import plan_flexibility

    def plan() -> Any:
        prices = rates
        if prices is None:  # the band rate of every half hour of the grid, gaps included
            prices = unit_costs(series.index, series.to_numpy(), run.tariff)[1]
        # The rates of the series' own half hours, in order: a read-only array when all are
        # finite (what a Series of them on its index gives), else that Series (it words a NaN)
        if np.isfinite(prices).all():
            aligned = prices.view()
            aligned.flags.writeable = False
        else:
            aligned = pd.Series(prices, index=series.index, copy=False)
        return plan_flexibility(series, aligned, published_rates=True)

    key = None if run.key is None else (run.key, run.tariff, rates is None)
    try:
        # The plan (days, prices, orders) is the same for every flexible share: remembered.
        return _remembered(_flex_memo, key, plan).value(fraction)
    except ValueError as exc:  # FeatureError and DuosError are ValueErrors
        run.failed("flexibility", f"flexibility not computed: {exc}", str(exc))
        return None


def annual_figures(half_hours: int, summary: Any | None, flex: Any | None = None
                   ) -> tuple[Any | None, Any | None, str | None]:
    """(DUoS summary, flexibility result, warning) after the too-little-data rule
    (`core.profile_loader.annual_span`) for `half_hours` half hours of data: below the minimum
    the annual DUoS £, the flexibility £/yr and its saving % become None (blank), never 0."""
    span = annual_span(half_hours)
    if span.blank:
        if summary is not None:
            summary = replace(summary, annualised_total_gbp=None,
                              annualisation_method=f"not extrapolated: {span.warning}")
        if flex is not None:
            flex = replace(flex, annual_value_gbp=None, saving_pct=None)
    return summary, flex, span.warning


@dataclass(frozen=True)
class SiteJob:
    """One site to value (see `value_site` for the fields)."""

    site: Site
    profile: pd.DataFrame | pd.Series | None
    area: SiteArea | None = None
    profile_warnings: Sequence[str] = ()
    label: str = "profile"


def value_site(
    site: Site,
    profile: pd.DataFrame | pd.Series | None,
    *,
    policy: ValuationPolicy,
    flex_fraction: float,
    area: SiteArea | None = None,
    area_lookup: Callable[[Any], Any] | None = None,
    on: dt.date | None = None,
    power_factor: float | None = None,
    profile_warnings: Sequence[str] = (),
    label: str = "profile",
) -> SiteValuation:
    """Value one site: area (unless `area` is given), tariff, DUoS, features, flexibility.

    `profile` has a ``kwh`` column (optional ``kvarh``) on a UTC index of half-hour starts (or
    is that column alone, a Series named ``kwh``), or is None (the tariff only). `on` is the
    date whose tariff applies (default today; ignored with a tariff per year);
    `profile_warnings` are what reading the profile said (kept after the area's and the
    tariff's warnings); `label` names the profile in messages. Raises `ValuationError` (and
    `SiteAreaError` when no area can be decided).
    """
    (outcome,) = value_sites(
        [SiteJob(site, profile, area, profile_warnings, label)], policy=policy,
        flex_fraction=flex_fraction, area_lookup=area_lookup, on=on, power_factor=power_factor)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def value_sites(
    jobs: Sequence[SiteJob],
    *,
    policy: ValuationPolicy,
    flex_fraction: float,
    area_lookup: Callable[[Any], Any] | None = None,
    on: dt.date | None = None,
    power_factor: float | None = None,
) -> list[SiteValuation | Exception]:
    """`value_site` for many sites at once: each site's valuation, or the exception that
    stopped it (`ValuationError`, `SiteAreaError`, or an unforeseen one: only that site's).
    Sites whose profiles share one half-hour grid are charged and their flexibility planned
    together (one array per grid); every site's result is what `value_site` gives it alone."""
    outcomes: list[Any] = []
    for job in jobs:
        try:
            outcomes.append(_start(job, policy, area_lookup, on, power_factor))
        except Exception as exc:  # the site's own failure, kept as its outcome
            outcomes.append(exc)
    stages: list[Callable[[list[_Run]], list[tuple[int, Exception]]]] = [
        _charge_stage, _series_stage, functools.partial(_flexibility_stage, flex_fraction)]
    for stage in stages:
        at = [i for i, o in enumerate(outcomes) if isinstance(o, _Run)]
        for i, failure in stage([outcomes[i] for i in at]):
            outcomes[at[i]] = failure
    return [_finish(o, flex_fraction) if isinstance(o, _Run) else _detached(o) for o in outcomes]


def _detached(outcome: Any) -> Any:
    """A site's `ValuationError` without the tracebacks of it and of its causes (a reason for
    the site's data, not a bug: nothing reads them). Each traceback holds the frames it
    passed through, and those frames this batch's lists of outcomes, which hold the error: a
    reference cycle that kept the whole batch alive until the garbage collector's next full
    pass. Other outcomes as they are (an unforeseen error keeps its traceback)."""
    if isinstance(outcome, ValuationError):
        error: BaseException | None = outcome
        while error is not None:
            error.__traceback__ = None
            error = error.__cause__ or error.__context__
    return outcome


def _start(job: SiteJob, policy: ValuationPolicy, area_lookup: Callable[[Any], Any] | None,
           on: dt.date | None, power_factor: float | None) -> _Run | SiteValuation:
    """Area, tariff and the profile's checks of one site (a `SiteValuation` if it has no
    profile: the tariff only)."""
    site, profile = job.site, job.profile
    area = job.area if job.area is not None else site_area(site, policy, area_lookup)
    warnings = list(area.warnings)
    query = tariff_query(site, area, policy, on or dt.date.today())
    try:
        tariffs = site_tariffs(query, policy, warnings)
    except (TariffNotFoundError, ValueError) as exc:
        raise ValuationError("tariff", str(exc), tuple(warnings)) from exc
    if profile is None:
        if not isinstance(tariffs, DuosTariff):  # a tariff per year: the one of `on`'s year
            try:
                tariffs = tariffs(charging_year(query.on or dt.date.today()))
            except (TariffNotFoundError, ValueError) as exc:
                raise ValuationError("tariff", str(exc), tuple(warnings)) from exc
        return SiteValuation(area, tariffs, warnings=tuple(warnings), notes=(
            "no profile: annual DUoS, features and flexibility left blank",))
    warnings.extend(job.profile_warnings)
    key = profile_key(profile) if policy.remember and _hashable(tariffs) else None
    run = _Run(policy, tariffs, site.kva, power_factor, key, warnings, [], area=area,
               query=query, profile=profile, label=job.label)
    if policy.gaps == "refuse":
        run.checked = _kwh_series(profile, run, job.label)
    return run


def _each(runs: list[_Run], step: Callable[[_Run], None]) -> list[tuple[int, Exception]]:
    """Run `step` on every run; the (position, exception) of those it failed."""
    failures: list[tuple[int, Exception]] = []
    for i, run in enumerate(runs):
        try:
            step(run)
        except Exception as exc:  # only that site's failure
            failures.append((i, exc))
    return failures


def _grid_of(run: _Run, index: pd.Index) -> tuple[int, int] | None:
    """`index_grid` of one of the run's indexes, found once per index object (the profile
    and the kWh series are read by several stages)."""
    found = run.grids.get(id(index))
    if found is not None and found[0] is index:
        return found[1]
    grid = index_grid(index)
    run.grids[id(index)] = (index, grid)
    return grid


def _grid_groups(indexes: Sequence[pd.Index],
                 grid_of: Callable[[int, pd.Index], tuple[int, int] | None] | None = None
                 ) -> list[list[int]]:
    """Positions grouped by half-hour grid (the same first half hour, count and zone), in
    order; an index that is not consecutive half hours is a group of its own. `grid_of`
    (position, index) -> grid, when the caller remembers them."""
    if len(indexes) < 2:
        return [list(range(len(indexes)))] if indexes else []
    groups: dict[Any, list[int]] = {}
    for i, index in enumerate(indexes):
        grid = (grid_of(i, index) if grid_of is not None
                else index_grid(index))
        key = i if grid is None else (str(getattr(index, "tz", None)), grid)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _grouped(
    runs: list[_Run],
    index_of: Callable[[_Run], pd.Index],
    can_share: Callable[[_Run], bool],
    together: Callable[[list[_Run]], None],
    alone: Callable[[_Run], None],
) -> list[tuple[int, Exception]]:
    """`together` on the runs of each half-hour grid (`can_share` all; a batch that fails is
    halved until its parts succeed), `alone` on every other run: the (position, exception) of
    the runs that failed, each with its own reason."""
    solo: list[int] = []
    for group in _grid_groups([index_of(run) for run in runs],
                              lambda i, index: _grid_of(runs[i], index)):
        if all(can_share(runs[i]) for i in group):
            solo.extend(_halving(group, lambda part: together([runs[i] for i in part])))
        else:
            solo.extend(group)
    failures = _each([runs[i] for i in solo], alone)
    return [(solo[i], exc) for i, exc in failures]


def _halving(group: list[int], together: Callable[[list[int]], None]) -> list[int]:
    """`together` on `group`; where it fails, on each half, and so on: the positions left to
    run alone, in order. (A loop, not a function calling itself: a nested function that
    refers to itself is a reference cycle, which kept every batch's runs, frames and results
    alive until the garbage collector's next full pass.)"""
    solo: list[int] = []
    parts = [group]
    while parts:
        part = parts.pop()
        if len(part) < 2:
            solo.extend(part)
            continue
        try:
            together(part)
        except Exception:  # a site the batch cannot take: find it by halves
            parts += [part[len(part) // 2:], part[: len(part) // 2]]  # first half next
    return solo


def _charge_stage(runs: list[_Run]) -> list[tuple[int, Exception]]:
    """DUoS of every run (each half hour's band and rate kept for the flexibility): the runs
    on one grid as one array (`core.duos.charge_many`), alone when remembered."""
    def charge(run: _Run) -> None:
        assert run.profile is not None
        run.summary, run.bands, run.rates = _charge(run.profile, run) or (None, None, None)

    return _grouped(runs, _charged_index, lambda run: run.key is None, _charge_together, charge)


def _charged_index(run: _Run) -> pd.Index:
    """The profile's times: its kWh column's index once taken (the same times, and its grid
    already found by the profile's check), else the profile's."""
    return (run.profile if run.column is None else run.column).index  # type: ignore[union-attr]


def _charge_together(runs: list[_Run]) -> None:
    """`_charge` of runs whose profiles share one index, as one 2-D array per kind of profile
    (with kvarh, without)."""
    from bess_duos.core.duos import charge_many

    given = [(run, _kvarh(run.profile)) for run in runs]  # type: ignore[arg-type]
    for reactive in (False, True):
        kind = [(run, kvarh) for run, kvarh in given if (kvarh is not None) == reactive]
        if not kind:
            continue
        kwh = stacked_rows([_kwh_column(run.profile, run).to_numpy(np.float64)  # type: ignore[arg-type]
                            for run, _ in kind])
        charged = charge_many(
            pd.DatetimeIndex(kind[0][0].profile.index), kwh,  # type: ignore[union-attr]
            [run.tariff for run, _ in kind],
            kvarh=stacked_rows([kvarh for _, kvarh in kind]) if reactive else None,  # type: ignore[misc]
            agreed_kva=[run.kva for run, _ in kind],
            power_factor=[run.power_factor for run, _ in kind], all_columns=False,
            finite=all(run.checked is not None for run, _ in kind))  # checked by `_start`
        for (run, _), (columns, summary) in zip(kind, charged, strict=True):
            run.summary = summary
            run.bands = np.asarray(columns["band"], dtype=np.int8)
            run.rates = np.asarray(columns["unit_rate_p_per_kwh"], dtype=float)


def stacked_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """`np.vstack(rows)` of equal 1-D arrays, read-only. Rows that already lie one after
    another in one array (a portfolio batch's profiles are views of their Parquet part) are
    viewed as the 2-D array they form, not copied (~5 ms for 100 site-years)."""
    first = rows[0]
    base, size, item = first.base, first.size, first.itemsize
    start = first.__array_interface__["data"][0]
    if base is not None and all(
            row.base is base and row.ndim == 1 and row.size == size and row.dtype == first.dtype
            and row.strides == (item,)
            and row.__array_interface__["data"][0] == start + i * size * item
            for i, row in enumerate(rows)):
        return np.lib.stride_tricks.as_strided(first, shape=(len(rows), size),
                                               strides=(size * item, item), writeable=False)
    stacked = np.vstack(rows)
    stacked.flags.writeable = False
    return stacked


def _series_stage(runs: list[_Run]) -> list[tuple[int, Exception]]:
    """The too-little-data rule on the DUoS, the kWh series and (sheet) features."""
    def series(run: _Run) -> None:
        assert run.profile is not None and run.query is not None
        run.summary, _, run.too_little = annual_figures(len(run.profile), run.summary)
        tariffs, summary = run.tariff, run.summary
        if summary is not None and isinstance(tariffs, DuosTariff):
            run.notes.append(f"annual DUoS: the profile charged at {tariffs.tariff_name} "
                             f"({year_label(tariffs.year)}), {summary.annualisation_method}")
        run.series = run.checked if run.checked is not None else _kwh_series(
            run.profile, run, run.label)
        run.first = tariffs if isinstance(tariffs, DuosTariff) else tariffs(
            summary.charging_years[0] if summary is not None
            else charging_year(run.query.on or dt.date.today()))
        if run.policy.sheet_features:
            run.features = _features(run.series, run)

    return _each(runs, series)


def _flexibility_stage(flex_fraction: float, runs: list[_Run]) -> list[tuple[int, Exception]]:
    """Flexibility of every run against its half hours' DUoS unit rates: the runs on one grid
    planned as one array (`core.flexibility.plan_flexibility_many`), alone when remembered or
    charged on another grid."""
    def flexibility(run: _Run) -> None:
        assert run.series is not None
        run.flex = _flexibility(run.series, run.rates if _same_grid(run) else None,
                                flex_fraction, run)

    return _grouped(runs, lambda run: run.series.index,  # type: ignore[union-attr]
                    lambda run: run.key is None and _same_grid(run),
                    functools.partial(_plan_together, flex_fraction=flex_fraction),
                    flexibility)


def _same_grid(run: _Run) -> bool:
    """Whether the run's DUoS rates are those of its kWh series' half hours."""
    return run.rates is not None and run.series is not None and len(run.rates) == len(run.series)


def _plan_together(runs: list[_Run], *, flex_fraction: float) -> None:
    """`_flexibility` of runs whose kWh series share one index, as one 2-D array."""
    from bess_duos.core.flexibility import plan_flexibility_many

    series = [run.series for run in runs]
    rows: dict[int, int] = {}  # sites of one tariff share one row of rates (one array)
    price_rows = [rows.setdefault(id(run.rates), len(rows)) for run in runs]
    rates = {id(run.rates): run.rates for run in runs}
    plans = plan_flexibility_many(
        stacked_rows([s.to_numpy(np.float64) for s in series]),  # type: ignore[union-attr]
        np.vstack(list(rates.values())), series[0].index,  # type: ignore[union-attr]
        price_rows=np.array(price_rows), published_rates=True,
        finite=all(run.checked is not None for run in runs))  # checked by `_start`
    for run, result in zip(runs, plans.value(flex_fraction), strict=True):
        run.flex = result


def _finish(run: _Run, flex_fraction: float) -> SiteValuation:
    assert run.profile is not None and run.area is not None and run.first is not None
    _, flex, _ = annual_figures(len(run.profile), None, run.flex)
    if run.too_little:
        run.warnings.append(run.too_little)
    if flex is not None:
        run.notes.append(
            f"flexibility: up to {flex_fraction:.0%} of each day's kWh moved to cheaper DUoS "
            f"bands under a {flex.power_limit_kw:,.1f} kW limit (the site's max demand)")
    return SiteValuation(run.area, run.first, run.summary, run.series, run.bands, run.features,
                         flex, tuple(run.warnings), tuple(run.notes), run.key)

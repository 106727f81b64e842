"""Battery dispatch optimiser: a HiGHS LP, or MILP where simultaneity would pay (core/bess_model).

Variables per half hour t (energies in kWh per half hour; power P kW moves P x 0.5 kWh):

- c_t charge into the battery from the site, d_t discharge out of it (AC side, kWh),
- s_t state of charge at the END of half hour t (kWh),
- m_t import from the grid, x_t export to the grid (only when export is modelled),
- e_k >= 0 exceeded capacity (kVA) of each calendar month k in the block (only when a
  capacity charge is modelled).

Constraints:

- energy balance  m_t - x_t = load_t + c_t - d_t
- state of charge s_t = s_{t-1} + eta c_t - d_t / eta, eta = sqrt(round-trip efficiency)
  (the loss is split evenly between charging and discharging), s_{-1} = initial SoC
- bounds 0 <= c_t, d_t <= P x 0.5; soc_min E <= s_t <= soc_max E; 0 <= m_t <= import
  limit x 0.5; 0 <= x_t <= export limit x 0.5, x_t <= d_t (the site has no generation:
  it exports only what the battery discharges) and x_t <= P x 0.5 - load_t (load first)
- optional cycles cap: per UK clock day, sum d_t / eta <= cycles_per_day x E
- optional exceeded capacity: e_k >= m_t x 2 / power factor - agreed kVA for every t of month
  k, costing rate x (days of month k in the profile) x e_k (the DUoS charge is per calendar
  month on the month's maximum)
- exclusivity (binaries, MILP) only in the half hours where breaking it could pay: import and
  export not both at once where the export value beats the import price; charge and discharge
  not both at once up to the last negative import price of the block (burning stored energy
  pays only before a negative price). Elsewhere the plain LP is exact: there, raising import
  and export (or charge and discharge) together never lowers the cost. Binaries are added
  lazily, only where a solution breaks exclusivity (core/bess_model.solve_block).

Objective (pence): sum import_price_t m_t - sum export_value_t x_t + capacity term, where
export_value_t = export_price_t - generation DUoS unit rate_t (a negative generation rate is a
credit: exporting earns -rate). A negligible 1e-6 p/kWh on discharge removes degenerate
simultaneous charge/discharge; it changes costs by < £0.0001 a year.

Horizon: solved in blocks (UK clock weeks by default) with the SoC at each block boundary
returned to the initial SoC (``end_soc="initial"``) or carried over (``end_soc="free"``).
``block="year"`` solves the whole horizon at once. The exceeded-capacity charge couples the
half hours of a calendar month, so with that charge blocks sharing a month are solved as one
problem (still with the SoC rule at each block end): every block choice then gives the
whole-horizon optimum except for what the end-of-block SoC rule costs. A block solution with
``end_soc="initial"`` is feasible for the whole horizon, so it is never cheaper.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from bess_duos.core.bess_model import (
    HOURS_PER_HH,
    BlockData,
    BlockLimits,
    binary_count,
    solve_block,
)
from bess_duos.core.features import UK_TZ, validate_profile
from bess_duos.core.flexibility import aligned_prices
from bess_duos.core.tariffs import warn_if_pounds_per_kwh
from numpy.typing import ArrayLike

BLOCKS = ("day", "week", "month", "year")
BINARIES = ("auto", "all", "none")
DEFAULT_TIME_LIMIT_S = 60.0
MIN_BLOCK_TIME_S = 1.0
DEFAULT_MIP_GAP = 1e-3


class BatteryError(ValueError):
    """Bad battery or grid parameters, or an infeasible/failed optimisation."""


@dataclass(frozen=True)
class Battery:
    """Battery parameters; SoC values are fractions of `energy_kwh`."""

    power_kw: float
    energy_kwh: float
    round_trip_efficiency: float = 0.90
    soc_min: float = 0.0
    soc_max: float = 1.0
    initial_soc: float = 0.5
    cycles_per_day: float | None = None

    def __post_init__(self) -> None:
        checks = {
            "power_kw": self.power_kw >= 0,
            "energy_kwh": self.energy_kwh > 0,
            "round_trip_efficiency": 0 < self.round_trip_efficiency <= 1,
            "soc_min": 0 <= self.soc_min <= self.soc_max,
            "soc_max": self.soc_min <= self.soc_max <= 1,
            "initial_soc": self.soc_min <= self.initial_soc <= self.soc_max,
            "cycles_per_day": self.cycles_per_day is None or self.cycles_per_day >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise BatteryError(
                    f"battery {name}={getattr(self, name)!r} is out of range (power >= 0, "
                    "energy > 0, 0 < efficiency <= 1, 0 <= soc_min <= initial <= soc_max <= 1)"
                )

    @property
    def one_way_efficiency(self) -> float:
        """sqrt(round-trip efficiency), applied once on charge and once on discharge."""
        return float(np.sqrt(self.round_trip_efficiency))


@dataclass(frozen=True)
class ExceededCapacity:
    """The DUoS exceeded-capacity charge: p/kVA/day on each month's max kVA above agreed."""

    rate_p_per_kva_day: float
    agreed_kva: float
    power_factor: float = 0.95


@dataclass(frozen=True)
class BatteryResult:
    """Dispatch and money (£) of `optimise_battery` over the profile's span.

    `mip_gap` is the largest relative MIP gap (HiGHS: |cost - bound| / |cost| of the block)
    of the blocks solved as MILPs and `mip_gap_gbp` the sum of their absolute gaps (None:
    every block was a plain LP); `binaries` counts binary variables over all blocks;
    `time_limited` says a block stopped at its time limit with its best solution so far.
    """

    dispatch: pd.DataFrame
    base_cost_gbp: float
    cost_gbp: float
    saving_gbp: float
    annual_saving_gbp: float
    equivalent_full_cycles: float
    solve_seconds: float
    blocks: int
    mip_gap: float | None = None
    mip_gap_gbp: float | None = None
    binaries: int = 0
    time_limited: bool = False


def _block_codes(local: pd.DatetimeIndex, block: str) -> np.ndarray:
    if block == "year":
        return np.zeros(len(local), dtype=np.int64)
    if block == "day":
        keys = local.normalize()
    elif block == "week":
        keys = local.normalize() - pd.to_timedelta(local.day_of_week, unit="D")
        keys = keys.tz_localize(None).normalize()
    else:
        keys = local.year * 12 + local.month
    return pd.factorize(keys)[0].astype(np.int64)


def _capacity_cost(imp: np.ndarray, month: np.ndarray, month_days: np.ndarray,
                   cap: ExceededCapacity | None) -> float:
    """Exceeded-capacity pence for an import series (per calendar month)."""
    if cap is None:
        return 0.0
    excess = np.zeros(len(month_days))
    np.maximum.at(excess, month, imp * 2.0 / cap.power_factor - cap.agreed_kva)
    return float((excess * month_days).sum() * cap.rate_p_per_kva_day)


def optimise_battery(
    load: pd.Series,
    battery: Battery,
    import_prices: ArrayLike | pd.Series,
    *,
    export_prices: ArrayLike | pd.Series | None = None,
    generation_duos_rates: ArrayLike | pd.Series | None = None,
    import_limit_kw: float | None = None,
    export_limit_kw: float | None = None,
    exceeded_capacity: ExceededCapacity | None = None,
    block: str = "week",
    end_soc: str = "initial",
    binaries: str = "auto",
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_rel_gap: float = DEFAULT_MIP_GAP,
    published_rates: bool = False,
) -> BatteryResult:
    """Least-cost battery dispatch for a site's half-hourly `load` (kWh, tz-aware index).

    `import_prices` are p/kWh per half hour (DUoS unit rates, plus energy prices if the
    caller adds them). Export is modelled when `export_prices` (p/kWh earned) or
    `generation_duos_rates` (p/kWh, negative = credit) are given and `export_limit_kw` is not 0.
    `block` is 'day', 'week', 'month' or 'year' (one problem for the whole span); `end_soc` is
    'initial' (each block ends where it started) or 'free' (carried over). `binaries`: 'auto'
    (only where simultaneity could pay), 'all' (every half hour, a check) or 'none' (the LP
    relaxation). MILP blocks share `time_limit_s` seconds (each gets the rest of the budget
    over the MILP blocks left, at least 1 s) and stop there with their best solution, or at
    relative gap `mip_rel_gap`. `published_rates`: the import prices are a tariff's own p/kWh
    rates (no £/kWh check).
    """
    if block not in BLOCKS:
        raise BatteryError(f"block must be one of {BLOCKS}, got {block!r}")
    if end_soc not in ("initial", "free"):
        raise BatteryError(f"end_soc must be 'initial' or 'free', got {end_soc!r}")
    if binaries not in BINARIES:
        raise BatteryError(f"binaries must be one of {BINARIES}, got {binaries!r}")
    if not time_limit_s > 0 or not mip_rel_gap >= 0:
        raise BatteryError(f"time_limit_s={time_limit_s!r} must be > 0 and "
                           f"mip_rel_gap={mip_rel_gap!r} >= 0")
    series = validate_profile(load, "load")
    index = series.index
    kwh = series.to_numpy()
    p_import = aligned_prices(import_prices, index)
    if not published_rates:  # a tariff's own p/kWh rates need no £/kWh check
        warn_if_pounds_per_kwh(p_import, "import_prices", stacklevel=3)
    exports = (export_prices is not None or generation_duos_rates is not None) and (
        export_limit_kw is None or export_limit_kw > 0
    )
    v_export = None
    if exports:
        v_export = np.zeros(len(index))
        if export_prices is not None:
            v_export += aligned_prices(export_prices, index)
        if generation_duos_rates is not None:
            v_export -= aligned_prices(generation_duos_rates, index)
    import_cap = np.inf if import_limit_kw is None else import_limit_kw * HOURS_PER_HH
    export_cap = np.inf if export_limit_kw is None else export_limit_kw * HOURS_PER_HH
    if import_limit_kw is not None and (kwh > import_cap + 1e-9).any() and battery.power_kw == 0:
        raise BatteryError("load exceeds import_limit_kw and there is no battery power to cover it")

    local = index.tz_convert(UK_TZ)
    day = pd.factorize(local.normalize())[0]
    month = pd.factorize(np.asarray(local.year * 12 + local.month))[0]
    month_days = np.bincount(month[np.r_[0, np.flatnonzero(np.diff(day)) + 1]])
    codes = _block_codes(local, block)
    bounds = np.r_[0, np.flatnonzero(np.diff(codes)) + 1, len(codes)]
    s0 = battery.initial_soc * battery.energy_kwh
    cap = exceeded_capacity
    limits = BlockLimits(
        step_kwh=battery.power_kw * HOURS_PER_HH, eta=battery.one_way_efficiency,
        soc_lo=battery.soc_min * battery.energy_kwh, soc_hi=battery.soc_max * battery.energy_kwh,
        cycles_kwh_per_day=None if battery.cycles_per_day is None
        else battery.cycles_per_day * battery.energy_kwh,
        import_cap=import_cap, export_cap=export_cap,
        cap_rate_p_per_kva_day=None if cap is None else cap.rate_p_per_kva_day,
        agreed_kva=0.0 if cap is None else cap.agreed_kva,
        power_factor=1.0 if cap is None else cap.power_factor,
    )

    # One problem per group of blocks: blocks are solved alone unless a calendar month (its
    # exceeded-capacity variable) spans their boundary; in a group the SoC still returns to
    # the initial SoC at each block end (end_soc="initial").
    ends = bounds[1:] - 1
    cut = bounds[1:-1][month[bounds[1:-1]] != month[bounds[1:-1] - 1]] if cap else bounds[1:-1]
    groups = np.r_[0, cut, len(kwh)]

    def block_data(span: slice, s_start: float) -> BlockData:
        fixed = ends[(ends >= span.start) & (ends < span.stop)] - span.start
        return BlockData(kwh[span], p_import[span], None if v_export is None else v_export[span],
                         day[span], month[span], s_start,
                         fixed if end_soc == "initial" else fixed[:0], s0)

    spans = [slice(lo, hi) for lo, hi in itertools.pairwise(groups)]
    milp_left = sum(binary_count(block_data(span, s0), limits, binaries) > 0 for span in spans)
    deadline = time.perf_counter() + time_limit_s
    started = time.perf_counter()
    parts, s_start = [], s0
    for span in spans:
        data = block_data(span, s_start)
        present = np.unique(month[span])
        share = (deadline - time.perf_counter()) / max(milp_left, 1)
        milp_left -= binary_count(data, limits, binaries) > 0
        try:
            part = solve_block(data, limits, month_days[present], binaries,
                               max(share, MIN_BLOCK_TIME_S), mip_rel_gap)
        except RuntimeError as exc:
            raise BatteryError(
                f"battery optimisation failed: {exc} (check that the import limit covers "
                "the load, and the SoC bounds and initial SoC are consistent)"
            ) from exc
        parts.append(part)
        s_start = s0 if end_soc == "initial" else float(part.columns["soc_kwh"][-1])
    elapsed = time.perf_counter() - started

    frame = pd.DataFrame({k: np.concatenate([p.columns[k] for p in parts])
                          for k in parts[0].columns}, index=index)
    frame.insert(0, "load_kwh", kwh)
    frame["import_price_p"] = p_import
    frame["export_value_p"] = v_export if v_export is not None else np.zeros(len(index))

    base_p = float(kwh.clip(min=0) @ p_import) - float(
        (-kwh).clip(min=0) @ frame["export_value_p"].to_numpy()
    ) + _capacity_cost(kwh.clip(min=0), month, month_days, cap)
    cost_p = (
        float(frame["import_kwh"].to_numpy() @ p_import)
        - float(frame["export_kwh"].to_numpy() @ frame["export_value_p"].to_numpy())
        + _capacity_cost(frame["import_kwh"].to_numpy(), month, month_days, cap)
    )
    saving = (base_p - cost_p) / 100.0
    days = len(index) / 48.0
    cells = frame["discharge_kwh"].sum() / battery.one_way_efficiency
    gaps = [p.mip_gap for p in parts if p.mip_gap is not None]
    gaps_p = [p.mip_gap_p for p in parts if p.mip_gap_p is not None]
    return BatteryResult(
        dispatch=frame,
        base_cost_gbp=base_p / 100.0,
        cost_gbp=cost_p / 100.0,
        saving_gbp=saving,
        annual_saving_gbp=saving * 365.0 / days,
        equivalent_full_cycles=float(cells / battery.energy_kwh),
        solve_seconds=elapsed,
        blocks=len(bounds) - 1,
        mip_gap=max(gaps) if gaps else None,
        mip_gap_gbp=sum(gaps_p) / 100.0 if gaps_p else None,
        binaries=sum(p.binaries for p in parts),
        time_limited=any(p.hit_time_limit for p in parts),
    )

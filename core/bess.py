"""Battery dispatch optimiser: a linear programme solved with HiGHS (scipy.optimize.linprog).

Variables per half hour t (energies in kWh per half hour; power P kW moves P x 0.5 kWh):

- c_t charge into the battery from the site, d_t discharge out of it (AC side, kWh),
- s_t state of charge at the END of half hour t (kWh),
- m_t import from the grid, x_t export to the grid (only when export is modelled),
- per block, e >= 0 exceeded capacity in kVA (only when a capacity charge is modelled).

Constraints:

- energy balance  m_t - x_t = load_t + c_t - d_t
- state of charge s_t = s_{t-1} + eta c_t - d_t / eta, eta = sqrt(round-trip efficiency)
  (the loss is split evenly between charging and discharging), s_{-1} = initial SoC
- bounds 0 <= c_t, d_t <= P x 0.5; soc_min E <= s_t <= soc_max E; 0 <= m_t <= import
  limit x 0.5; 0 <= x_t <= export limit x 0.5 and x_t <= d_t (the site has no generation:
  it exports only what the battery discharges)
- optional cycles cap: per UK clock day, sum d_t / eta <= cycles_per_day x E
- optional exceeded capacity: e >= m_t x 2 / power factor - agreed kVA, for every t in the
  calendar month (the DUoS charge is per month on the month's maximum)

Objective (pence): sum import_price_t m_t - sum export_value_t x_t + rate x days x e, where
export_value_t = export_price_t - generation DUoS unit rate_t (a negative generation rate is a
credit: exporting earns -rate). A negligible 1e-6 p/kWh on discharge removes degenerate
simultaneous charge/discharge; it changes costs by < £0.0001 a year.

Horizon: the year is solved in blocks (UK clock weeks by default) with the SoC at each block
boundary returned to the initial SoC (``end_soc="initial"``) or left free and carried over
(``end_soc="free"``). A block solution with ``end_soc="initial"`` is feasible for the whole
horizon problem, so it can only cost the same or more; with DUoS bands (cheap nights) the
optimum can pass through the initial SoC at midnight at no cost, so the two agree (checked in
tests to 1e-6 of the cost). ``block="year"`` solves the whole horizon at once.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from bess_duos.core.features import UK_TZ, validate_profile
from bess_duos.core.flexibility import aligned_prices
from bess_duos.core.tariffs import warn_if_pounds_per_kwh
from numpy.typing import ArrayLike
from scipy import sparse
from scipy.optimize import linprog

HOURS_PER_HH = 0.5
TIE_BREAK_P_PER_KWH = 1e-6
BLOCKS = ("day", "week", "month", "year")


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
    """Dispatch and money (£) of `optimise_battery` over the profile's span."""

    dispatch: pd.DataFrame
    base_cost_gbp: float
    cost_gbp: float
    saving_gbp: float
    annual_saving_gbp: float
    equivalent_full_cycles: float
    solve_seconds: float
    blocks: int


def _block_codes(index: pd.DatetimeIndex, block: str) -> np.ndarray:
    local = index.tz_convert(UK_TZ)
    if block == "year":
        return np.zeros(len(index), dtype=np.int64)
    if block == "day":
        keys = local.normalize()
    elif block == "week":
        keys = local.normalize() - pd.to_timedelta(local.day_of_week, unit="D")
        keys = keys.tz_localize(None).normalize()
    else:
        keys = local.year * 12 + local.month
    return pd.factorize(keys)[0].astype(np.int64)


def _capacity_cost(imp: np.ndarray, month: np.ndarray, days: np.ndarray,
                   cap: ExceededCapacity | None) -> float:
    """Exceeded-capacity pence for an import series (per calendar month)."""
    if cap is None:
        return 0.0
    kva = imp * 2.0 / cap.power_factor
    peak = pd.Series(kva).groupby(month).max().to_numpy()
    day_count = pd.Series(days).groupby(month).nunique().to_numpy()
    excess = np.maximum(peak - cap.agreed_kva, 0.0)
    return float((excess * day_count).sum() * cap.rate_p_per_kva_day)


def _solve_block(
    load: np.ndarray,
    p_import: np.ndarray,
    v_export: np.ndarray | None,
    day: np.ndarray,
    s_start: float,
    s_end: float | None,
    battery: Battery,
    import_cap: float,
    export_cap: float,
    cap: ExceededCapacity | None,
) -> dict[str, np.ndarray]:
    n = len(load)
    eta = battery.one_way_efficiency
    e_kwh = battery.energy_kwh
    eye = sparse.identity(n, format="csr")
    exports = v_export is not None
    n_vars = n * (5 if exports else 4) + (1 if cap else 0)

    # equality rows: balance (n), state of charge (n); columns c, d, s, m, [x], [e]
    soc_step = sparse.identity(n, format="csr") - sparse.eye(n, k=-1, format="csr")
    row_bal = [-eye, eye, None, eye] + ([-eye] if exports else [])
    row_soc = [-eta * eye, (1 / eta) * eye, soc_step, None] + ([None] if exports else [])
    if cap:
        row_bal.append(sparse.csr_matrix((n, 1)))
        row_soc.append(None)
    a_eq = sparse.bmat([row_bal, row_soc], format="csr")
    b_eq = np.r_[load, s_start, np.zeros(n - 1)]

    ub_rows, b_ub = [], []
    if exports:  # x_t - d_t <= 0
        ub_rows.append([None, -eye, None, None, eye] + ([None] if cap else []))
        b_ub.append(np.zeros(n))
    if battery.cycles_per_day is not None:
        days, pos = np.unique(day, return_inverse=True)
        per_day = sparse.csr_matrix((np.full(n, 1 / eta), (pos, np.arange(n))), (len(days), n))
        ub_rows.append([None, per_day, None, None] + ([None] if exports else [])
                       + ([None] if cap else []))
        b_ub.append(np.full(len(days), battery.cycles_per_day * e_kwh))
    if cap:  # m_t x 2 / pf - e <= agreed
        ub_rows.append([None, None, None, (2.0 / cap.power_factor) * eye]
                       + ([None] if exports else []) + [sparse.csr_matrix(-np.ones((n, 1)))])
        b_ub.append(np.full(n, cap.agreed_kva))
    if ub_rows:
        for row in ub_rows:  # give empty blocks a shape so bmat can infer column widths
            widths = [n, n, n, n] + ([n] if exports else []) + ([1] if cap else [])
            rows = next(b.shape[0] for b in row if b is not None)
            for i, b in enumerate(row):
                if b is None:
                    row[i] = sparse.csr_matrix((rows, widths[i]))
        a_ub = sparse.bmat(ub_rows, format="csr")
        b_ub_arr = np.concatenate(b_ub)
    else:
        a_ub, b_ub_arr = None, None

    step = battery.power_kw * HOURS_PER_HH
    lo = np.zeros(n_vars)
    hi = np.full(n_vars, np.inf)
    hi[:n] = step
    hi[n : 2 * n] = step
    lo[2 * n : 3 * n] = battery.soc_min * e_kwh
    hi[2 * n : 3 * n] = battery.soc_max * e_kwh
    if s_end is not None:
        lo[3 * n - 1] = hi[3 * n - 1] = s_end
    hi[3 * n : 4 * n] = import_cap
    if exports:
        hi[4 * n : 5 * n] = export_cap

    cost = np.zeros(n_vars)
    cost[n : 2 * n] = TIE_BREAK_P_PER_KWH
    cost[3 * n : 4 * n] = p_import
    if exports:
        cost[4 * n : 5 * n] = -v_export
    if cap:
        cost[-1] = cap.rate_p_per_kva_day * len(np.unique(day))

    res = linprog(cost, A_ub=a_ub, b_ub=b_ub_arr, A_eq=a_eq, b_eq=b_eq,
                  bounds=np.column_stack([lo, hi]), method="highs")
    if res.status != 0:
        raise BatteryError(
            f"battery optimisation failed: {res.message} (check that the import limit covers "
            "the load, and the SoC bounds and initial SoC are consistent)"
        )
    x = res.x
    return {
        "charge_kwh": x[:n],
        "discharge_kwh": x[n : 2 * n],
        "soc_kwh": x[2 * n : 3 * n],
        "import_kwh": x[3 * n : 4 * n],
        "export_kwh": x[4 * n : 5 * n] if exports else np.zeros(n),
    }


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
) -> BatteryResult:
    """Least-cost battery dispatch for a site's half-hourly `load` (kWh, tz-aware index).

    `import_prices` are p/kWh per half hour (DUoS unit rates, plus energy prices if the
    caller adds them). Export is modelled when `export_prices` (p/kWh earned) or
    `generation_duos_rates` (p/kWh, negative = credit) are given and `export_limit_kw` is not 0.
    `block` is 'day', 'week', 'month' or 'year' (one LP for the whole span); with an
    exceeded-capacity charge it must be 'month' or 'year'. `end_soc` is 'initial' (each block
    ends where it started) or 'free' (carried over).
    """
    if block not in BLOCKS:
        raise BatteryError(f"block must be one of {BLOCKS}, got {block!r}")
    if end_soc not in ("initial", "free"):
        raise BatteryError(f"end_soc must be 'initial' or 'free', got {end_soc!r}")
    if exceeded_capacity is not None and block in ("day", "week"):
        raise BatteryError("an exceeded-capacity charge is monthly: use block='month' or 'year'")
    series = validate_profile(load, "load")
    index = series.index
    kwh = series.to_numpy()
    p_import = aligned_prices(import_prices, index)
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
    month = np.asarray(local.year * 12 + local.month)
    codes = _block_codes(index, block)
    bounds = np.r_[0, np.flatnonzero(np.diff(codes)) + 1, len(codes)]
    s0 = battery.initial_soc * battery.energy_kwh

    started = time.perf_counter()
    parts: list[dict[str, np.ndarray]] = []
    s_start = s0
    for lo, hi in itertools.pairwise(bounds):
        span = slice(lo, hi)
        part = _solve_block(
            kwh[span], p_import[span], None if v_export is None else v_export[span], day[span],
            s_start, s0 if end_soc == "initial" else None, battery, import_cap, export_cap,
            exceeded_capacity,
        )
        parts.append(part)
        s_start = s0 if end_soc == "initial" else float(part["soc_kwh"][-1])
    elapsed = time.perf_counter() - started

    frame = pd.DataFrame({k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, index=index)
    frame.insert(0, "load_kwh", kwh)
    frame["import_price_p"] = p_import
    frame["export_value_p"] = v_export if v_export is not None else np.zeros(len(index))

    base_p = float(kwh.clip(min=0) @ p_import) - float(
        (-kwh).clip(min=0) @ frame["export_value_p"].to_numpy()
    ) + _capacity_cost(kwh.clip(min=0), month, day, exceeded_capacity)
    cost_p = (
        float(frame["import_kwh"].to_numpy() @ p_import)
        - float(frame["export_kwh"].to_numpy() @ frame["export_value_p"].to_numpy())
        + _capacity_cost(frame["import_kwh"].to_numpy(), month, day, exceeded_capacity)
    )
    saving = (base_p - cost_p) / 100.0
    days = len(index) / 48.0
    cells = frame["discharge_kwh"].sum() / battery.one_way_efficiency
    return BatteryResult(
        dispatch=frame,
        base_cost_gbp=base_p / 100.0,
        cost_gbp=cost_p / 100.0,
        saving_gbp=saving,
        annual_saving_gbp=saving * 365.0 / days,
        equivalent_full_cycles=float(cells / battery.energy_kwh),
        solve_seconds=elapsed,
        blocks=len(parts),
    )

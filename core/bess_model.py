"""One block of the battery dispatch problem as a HiGHS LP or MILP (scipy.optimize.milp).

Columns, in this order (kWh per half hour unless said): charge c_t, discharge d_t, state of
charge s_t (end of t), import m_t, [export x_t], [exceeded kVA e_k per calendar month k in the
block], [binary u_j: 1 = may charge, 0 = may discharge], [binary w_j: 1 = may import,
0 = may export]. Rows: energy balance, SoC recursion, x_t <= d_t, the daily cycle cap,
2 m_t / pf - e_k(t) <= agreed kVA, and the big-M rows of the binaries. See core/bess.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

HOURS_PER_HH = 0.5
TIE_BREAK_P_PER_KWH = 1e-6
SIMULTANEOUS_KWH = 1e-6  # both flows above this in one half hour break exclusivity
MIN_SOLVE_S = 0.5


@dataclass(frozen=True)
class BlockData:
    """The half hours of one block and what the optimiser knows about them."""

    load: np.ndarray
    p_import: np.ndarray
    v_export: np.ndarray | None  # None: export not modelled
    day: np.ndarray  # UK clock day code per half hour
    month: np.ndarray  # calendar month code per half hour (any integers)
    s_start: float
    s_fixed_at: np.ndarray  # half hours (in the block) whose end SoC is fixed ...
    s_fixed_kwh: float  # ... to this (the initial SoC); none: a free end SoC


@dataclass(frozen=True)
class BlockLimits:
    """Battery, grid and capacity-charge parameters shared by every block."""

    step_kwh: float  # battery power x 0.5 h
    eta: float  # one-way efficiency
    soc_lo: float
    soc_hi: float
    cycles_kwh_per_day: float | None
    import_cap: float  # kWh per half hour (inf = none)
    export_cap: float
    cap_rate_p_per_kva_day: float | None  # None: no exceeded-capacity charge
    agreed_kva: float = 0.0
    power_factor: float = 1.0


@dataclass(frozen=True)
class BlockSolution:
    """Arrays per half hour; the MIP gap, relative (HiGHS) and in pence (None: a plain LP)."""

    columns: dict[str, np.ndarray]
    mip_gap: float | None
    mip_gap_p: float | None
    binaries: int
    hit_time_limit: bool


def export_room(data: BlockData, lim: BlockLimits) -> np.ndarray:
    """Most a half hour can export, kWh: the battery's output above the site's own load."""
    return np.clip(lim.step_kwh - np.maximum(data.load, 0.0), 0.0, lim.export_cap)


def exclusivity_flags(data: BlockData, lim: BlockLimits,
                      mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Half hours needing binaries: (charge/discharge, import/export) boolean masks.

    Simultaneous import and export pays only where the export value beats the import price;
    burning energy by charging and discharging at once pays only when stored energy is worth
    less than nothing, i.e. before a negative import price. `mode` 'all' flags every half hour
    (a check), 'none' none (the LP relaxation, a lower bound on the cost).
    """
    n = len(data.load)
    exports = data.v_export is not None
    room = export_room(data, lim)
    if mode == "all":
        return np.ones(n, bool), np.full(n, exports)
    if mode == "none":
        return np.zeros(n, bool), np.zeros(n, bool)
    negative = np.flatnonzero(data.p_import < 0)
    cd = np.arange(n) <= (negative[-1] if negative.size else -1)
    mx = (data.v_export > data.p_import) & (room > 0) if exports else np.zeros(n, bool)
    return cd, mx


def binary_count(data: BlockData, lim: BlockLimits, mode: str) -> int:
    """How many binaries `solve_block` would use (0: the block is a plain LP)."""
    cd, mx = exclusivity_flags(data, lim, mode)
    return int(cd.sum() + mx.sum())


def _triplets(rows: list, cols: list, vals: list, r, c, v) -> None:
    r, c = np.broadcast_arrays(np.asarray(r), np.asarray(c))
    rows.append(r.ravel())
    cols.append(c.ravel())
    vals.append(np.broadcast_to(np.asarray(v, dtype=float), r.shape).ravel())


def solve_block(data: BlockData, lim: BlockLimits, days_per_month: np.ndarray,
                binaries: str, time_limit_s: float, mip_rel_gap: float) -> BlockSolution:
    """Solve one block; `days_per_month[k]` are the days charged for the k-th calendar month
    in it (the exceeded-capacity charge). Raises RuntimeError.

    With `binaries="auto"` binaries are added lazily: solve with binaries only on the flagged
    half hours that so far broke exclusivity (none at first: the LP), add those that break it
    now, repeat. Every round is a relaxation of the fully constrained problem, so the first
    solution that breaks it nowhere is optimal for it (within the MIP gap).
    """
    cd, mx = exclusivity_flags(data, lim, binaries)
    if binaries != "auto":
        return _solve(data, lim, days_per_month, cd, mx, time_limit_s, mip_rel_gap)
    deadline = time.perf_counter() + time_limit_s
    use_cd, use_mx = np.zeros_like(cd), np.zeros_like(mx)
    while True:
        left = max(deadline - time.perf_counter(), MIN_SOLVE_S)
        part = _solve(data, lim, days_per_month, use_cd, use_mx, left, mip_rel_gap)
        col = part.columns
        broke_cd = cd & (col["charge_kwh"] > SIMULTANEOUS_KWH) & (
            col["discharge_kwh"] > SIMULTANEOUS_KWH)
        broke_mx = mx & (col["import_kwh"] > SIMULTANEOUS_KWH) & (
            col["export_kwh"] > SIMULTANEOUS_KWH)
        if not ((broke_cd & ~use_cd).any() or (broke_mx & ~use_mx).any()):
            return part  # (a half hour already with a binary breaks it only by tolerance)
        use_cd |= broke_cd
        use_mx |= broke_mx


def _solve(data: BlockData, lim: BlockLimits, days_per_month: np.ndarray,
           cd: np.ndarray, mx: np.ndarray,
           time_limit_s: float, mip_rel_gap: float) -> BlockSolution:
    """The block with binaries on the half hours `cd` (charge/discharge) and `mx`."""
    n = len(data.load)
    t = np.arange(n)
    exports = data.v_export is not None
    months, month_pos = np.unique(data.month, return_inverse=True)
    n_e = len(months) if lim.cap_rate_p_per_kva_day is not None else 0
    room = export_room(data, lim)
    cd_idx, mx_idx = np.flatnonzero(cd), np.flatnonzero(mx)
    col_c, col_d, col_s, col_m = 0, n, 2 * n, 3 * n
    col_x = 4 * n
    col_e = col_x + (n if exports else 0)
    col_u = col_e + n_e
    col_w = col_u + len(cd_idx)
    n_vars = col_w + len(mx_idx)

    rows: list = []
    cols: list = []
    vals: list = []
    lo_rows: list = []
    hi_rows: list = []
    row = 0

    def add(block_rows: int, lo: np.ndarray, hi: np.ndarray) -> int:
        nonlocal row
        start = row
        row += block_rows
        lo_rows.append(np.broadcast_to(lo, block_rows))
        hi_rows.append(np.broadcast_to(hi, block_rows))
        return start

    # balance: m - x - c + d = load
    r = add(n, data.load, data.load) + t
    _triplets(rows, cols, vals, r, col_m + t, 1.0)
    _triplets(rows, cols, vals, r, col_c + t, -1.0)
    _triplets(rows, cols, vals, r, col_d + t, 1.0)
    if exports:
        _triplets(rows, cols, vals, r, col_x + t, -1.0)
    # state of charge: s_t - s_{t-1} - eta c_t + d_t / eta = 0 (s_{-1} = s_start)
    rhs = np.r_[data.s_start, np.zeros(n - 1)]
    r = add(n, rhs, rhs) + t
    _triplets(rows, cols, vals, r, col_s + t, 1.0)
    _triplets(rows, cols, vals, r[1:], col_s + t[:-1], -1.0)
    _triplets(rows, cols, vals, r, col_c + t, -lim.eta)
    _triplets(rows, cols, vals, r, col_d + t, 1.0 / lim.eta)
    if exports:  # x_t - d_t <= 0: only the battery exports
        r = add(n, -np.inf, 0.0) + t
        _triplets(rows, cols, vals, r, col_x + t, 1.0)
        _triplets(rows, cols, vals, r, col_d + t, -1.0)
    if lim.cycles_kwh_per_day is not None:
        days, day_pos = np.unique(data.day, return_inverse=True)
        r = add(len(days), -np.inf, lim.cycles_kwh_per_day)
        _triplets(rows, cols, vals, r + day_pos, col_d + t, 1.0 / lim.eta)
    if n_e:  # 2 m_t / pf - e_k(t) <= agreed kVA
        r = add(n, -np.inf, lim.agreed_kva) + t
        _triplets(rows, cols, vals, r, col_m + t, 2.0 / lim.power_factor)
        _triplets(rows, cols, vals, r, col_e + month_pos, -1.0)
    if len(cd_idx):  # c_t <= step u_j ; d_t <= step (1 - u_j)
        j = np.arange(len(cd_idx))
        r = add(len(cd_idx), -np.inf, 0.0) + j
        _triplets(rows, cols, vals, r, col_c + cd_idx, 1.0)
        _triplets(rows, cols, vals, r, col_u + j, -lim.step_kwh)
        r = add(len(cd_idx), -np.inf, lim.step_kwh) + j
        _triplets(rows, cols, vals, r, col_d + cd_idx, 1.0)
        _triplets(rows, cols, vals, r, col_u + j, lim.step_kwh)
    if len(mx_idx):  # w_j = 1: import mode (x = 0), w_j = 0: export mode (m = 0, c = 0)
        j = np.arange(len(mx_idx))
        step = lim.step_kwh
        own = np.maximum(data.load[mx_idx], 0.0)  # the site's own load, served first
        big_m = np.minimum(own + step, lim.import_cap)
        r = add(len(mx_idx), -np.inf, 0.0) + j  # m <= (load + P/2) w
        _triplets(rows, cols, vals, r, col_m + mx_idx, 1.0)
        _triplets(rows, cols, vals, r, col_w + j, -big_m)
        r = add(len(mx_idx), -np.inf, room[mx_idx]) + j  # x <= room (1 - w)
        _triplets(rows, cols, vals, r, col_x + mx_idx, 1.0)
        _triplets(rows, cols, vals, r, col_w + j, room[mx_idx])
        # Tightening: exporting, the battery covers the load first (x - d <= -load (1 - w));
        # importing, it discharges at most load + charge (d - c <= P/2 - (P/2 - load) w); and
        # no charging while exporting (c <= P/2 w): that only burns energy, which pays only
        # before a negative price, where the charge/discharge binary forbids it anyway.
        r = add(len(mx_idx), -np.inf, 0.0) + j
        _triplets(rows, cols, vals, r, col_c + mx_idx, 1.0)
        _triplets(rows, cols, vals, r, col_w + j, -step)
        r = add(len(mx_idx), -np.inf, -own) + j
        _triplets(rows, cols, vals, r, col_x + mx_idx, 1.0)
        _triplets(rows, cols, vals, r, col_d + mx_idx, -1.0)
        _triplets(rows, cols, vals, r, col_w + j, -own)
        r = add(len(mx_idx), -np.inf, step) + j
        _triplets(rows, cols, vals, r, col_d + mx_idx, 1.0)
        _triplets(rows, cols, vals, r, col_c + mx_idx, -1.0)
        _triplets(rows, cols, vals, r, col_w + j, step - own)
    a = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), (row, n_vars))

    lo = np.zeros(n_vars)
    hi = np.full(n_vars, np.inf)
    hi[col_c:col_s] = lim.step_kwh
    lo[col_s:col_m] = lim.soc_lo
    hi[col_s:col_m] = lim.soc_hi
    lo[col_s + data.s_fixed_at] = hi[col_s + data.s_fixed_at] = data.s_fixed_kwh
    hi[col_m:col_m + n] = lim.import_cap
    if exports:
        hi[col_x:col_e] = room
    hi[col_u:] = 1.0
    cost = np.zeros(n_vars)
    cost[col_d:col_s] = TIE_BREAK_P_PER_KWH
    cost[col_m:col_m + n] = data.p_import
    if exports:
        cost[col_x:col_e] = -data.v_export
    if n_e:
        cost[col_e:col_u] = lim.cap_rate_p_per_kva_day * days_per_month
    integrality = np.zeros(n_vars, dtype=np.uint8)
    integrality[col_u:] = 1

    options = {"time_limit": time_limit_s, "mip_rel_gap": mip_rel_gap} if col_u < n_vars \
        else {}
    res = milp(cost, integrality=integrality, bounds=Bounds(lo, hi),
               constraints=LinearConstraint(a, np.concatenate(lo_rows), np.concatenate(hi_rows)),
               options=options)
    if res.x is None and res.status == 1:
        raise RuntimeError(f"no schedule found within {time_limit_s:.1f} s: give the "
                           "optimiser a larger time_limit_s")
    if res.x is None or res.status not in (0, 1):
        raise RuntimeError(res.message)
    x = res.x
    milp_used = col_u < n_vars
    return BlockSolution(
        columns={
            "charge_kwh": x[col_c:col_d],
            "discharge_kwh": x[col_d:col_s],
            "soc_kwh": x[col_s:col_m],
            "import_kwh": x[col_m:col_m + n],
            "export_kwh": x[col_x:col_e] if exports else np.zeros(n),
        },
        mip_gap=float(res.mip_gap) if milp_used and res.mip_gap is not None else None,
        mip_gap_p=float(res.fun - res.mip_dual_bound) if milp_used
        and res.mip_dual_bound is not None else None,
        binaries=n_vars - col_u,
        hit_time_limit=res.status == 1,
    )

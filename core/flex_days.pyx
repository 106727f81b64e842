# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The daily shifting search of `core.flexibility`, compiled: one pass per day of each site.

Each day of each site is copied from its half hours into grid order (padding slots hold 0
kWh), its kWh summed (as numpy sums a row of the grid). The slots are then taken in price
order (dearest first to give energy up, cheapest first to take it: the caller's stable
argsorts), the capacities summed along that order, the quantity to move chosen as the module
docstring of `core.flexibility` says, and the moved energy laid back on the day's half
hours. Every number is computed with the same operations in the same order as the array code
it replaced, so the results are the same to the bit (the tests check them against pricing
every candidate).
"""

from libc.math cimport INFINITY, fabs
from libc.string cimport memcmp

include "pairwise_sum.pxi"

ctypedef const double[:, ::1] Grid
ctypedef const unsigned char[:, ::1] Flags


cdef inline double _max(double a, double b) noexcept nogil:
    return a if a >= b else b


cdef inline double _min(double a, double b) noexcept nogil:
    return a if a <= b else b


cdef inline Py_ssize_t _first_at_least(const double* cum, double x, Py_ssize_t width
                                       ) noexcept nogil:
    """The first position whose cumulative sum is >= x (0 when none is)."""
    cdef Py_ssize_t k
    for k in range(width):
        if cum[k] >= x:
            return k
    return 0


cdef inline double _rise_to(const double* r_cum, const double* a_cum, const double* r_price,
                            const double* a_price, double x, Py_ssize_t width,
                            Py_ssize_t* k_r, Py_ssize_t* k_a) noexcept nogil:
    """How much S rises into x over its last stretch (the segments ending at x in k_r, k_a)."""
    k_r[0] = _first_at_least(r_cum, x, width)
    k_a[0] = _first_at_least(a_cum, x, width)
    cdef double below_r = r_cum[k_r[0] - 1] if k_r[0] > 0 else 0.0
    cdef double below_a = a_cum[k_a[0] - 1] if k_a[0] > 0 else 0.0
    return (r_price[k_r[0]] - a_price[k_a[0]]) * (x - _max(below_r, below_a))


cdef double _peak(const double* r_cum, const double* a_cum, const double* r_price,
                  const double* a_price, double* room, Py_ssize_t width) noexcept nogil:
    """q*, where S stops rising: the last of the first run of remove segments along which
    the add slots cheaper than each segment's price still have room."""
    cdef Py_ssize_t i, start = 0, last = width - 1
    # room[i]: the add capacity in slots cheaper than remove slot i (whose price is that of
    # ascending slot width - 1 - i): a_cum before the start of that price's run.
    for i in range(width):
        if i > 0 and a_price[i] != a_price[i - 1]:
            start = i
        room[width - 1 - i] = a_cum[start - 1] if start > 0 else 0.0
    for i in range(width):
        if (room[0] <= 0.0) if i == 0 else (room[i] <= r_cum[i - 1]):
            last = i - 1
            break
    if last < 0:
        return 0.0
    return _min(room[last], r_cum[last])


cdef double _smallest_best(const double* r_cum, const double* a_cum, const double* r_cap,
                           const double* a_cap, const double* r_price, const double* a_price,
                           double* scratch, double q_max, Py_ssize_t k_r, Py_ssize_t k_a,
                           double margin, Py_ssize_t width) noexcept nogil:
    """The smallest candidate (0, a knot below q_max, q_max) whose saving is within `margin`
    of the best, each saving estimated from the sums at the knots (the lines R and A)."""
    cdef double* r_total = scratch
    cdef double* a_total = scratch + width
    cdef double* r_line = scratch + 2 * width
    cdef double* a_line = scratch + 3 * width
    cdef double* at_r = scratch + 4 * width
    cdef double* at_a = scratch + 5 * width
    cdef Py_ssize_t j, i, n
    for j in range(width):
        r_total[j] = r_cap[j] * r_price[j]
        a_total[j] = a_cap[j] * a_price[j]
        if j > 0:
            r_total[j] = r_total[j - 1] + r_total[j]
            a_total[j] = a_total[j - 1] + a_total[j]
        r_line[j] = r_total[j] - r_price[j] * r_cum[j]
        a_line[j] = a_total[j] - a_price[j] * a_cum[j]
    # Each remove knot lies on the add segment of the add knots below it, and vice versa.
    n = 0
    for j in range(width):
        while n < width and a_cum[n] < r_cum[j]:
            n += 1
        i = n if n < width - 1 else width - 1
        at_r[j] = (r_total[j] - (a_line[i] + a_price[i] * r_cum[j])
                   if r_cum[j] < q_max else -INFINITY)
    n = 0
    for i in range(width):
        while n < width and r_cum[n] <= a_cum[i]:
            n += 1
        j = n if n < width - 1 else width - 1
        at_a[i] = (r_line[j] + r_price[j] * a_cum[i] - a_total[i]
                   if a_cum[i] < q_max else -INFINITY)
    cdef double at_max = (r_line[k_r] + r_price[k_r] * q_max
                          - (a_line[k_a] + a_price[k_a] * q_max))
    cdef double best_r = -INFINITY, best_a = -INFINITY
    for j in range(width):
        best_r = _max(best_r, at_r[j])
        best_a = _max(best_a, at_a[j])
    cdef double floor = _max(_max(_max(best_r, best_a), at_max), 0.0) - margin
    if floor <= 0.0:
        return 0.0
    cdef double smallest = INFINITY
    for j in range(width):
        if at_r[j] >= floor:
            smallest = _min(smallest, r_cum[j])
        if at_a[j] >= floor:
            smallest = _min(smallest, a_cum[j])
    if at_max >= floor:
        smallest = _min(smallest, q_max)
    return smallest


cdef double _quantity(const double* r_cum, const double* a_cum, const double* r_cap,
                      const double* a_cap, const double* r_price, const double* a_price,
                      double* scratch, double budget, double margin_share,
                      Py_ssize_t width, bint full_search) noexcept nogil:
    """kWh to move this day: q_max when S still rises into it, 0 when the first kWh saves
    nothing, q* when S peaks there surely, else (or with `full_search`, always) the full
    search (`_smallest_best`)."""
    cdef double r_total = r_cum[width - 1], a_total = a_cum[width - 1]
    cdef double scale = (_max(fabs(r_price[0]), fabs(r_price[width - 1]))
                         * (r_total + a_total))
    cdef double margin = margin_share * scale
    cdef double q_max = _min(budget, _min(r_total, a_total))
    cdef Py_ssize_t k_r, k_a, k_r2, k_a2, i, f_r = 0, f_a = 0
    cdef double rising = _rise_to(r_cum, a_cum, r_price, a_price, q_max, width, &k_r, &k_a)
    if full_search:
        return _smallest_best(r_cum, a_cum, r_cap, a_cap, r_price, a_price, scratch, q_max,
                              k_r, k_a, margin, width)
    if rising > margin or q_max <= 0.0:
        return q_max
    for i in range(width):
        if r_cap[i] > 0.0:
            f_r = i
            break
    for i in range(width):
        if a_cap[i] > 0.0:
            f_a = i
            break
    if r_price[f_r] <= a_price[f_a]:
        return 0.0
    cdef double peak = _peak(r_cum, a_cum, r_price, a_price, scratch, width)
    cdef bint below_max = peak < q_max
    rising = _rise_to(r_cum, a_cum, r_price, a_price, peak if below_max else 0.0, width,
                      &k_r2, &k_a2)
    if below_max and rising > 2.0 * margin:
        return peak
    return _smallest_best(r_cum, a_cum, r_cap, a_cap, r_price, a_price, scratch, q_max, k_r,
                          k_a, margin, width)


def shift_days(const double[:, ::1] loads, const Py_ssize_t[::1] day_start,
               const Py_ssize_t[::1] day_first, const Py_ssize_t[::1] day_count,
               Grid price, const Py_ssize_t[::1] price_of_site,
               const Py_ssize_t[::1] codes, const Py_ssize_t[:, :, ::1] orders,
               const double[::1] half_limit, Flags red, const double[::1] share,
               bint shift_energy, double margin_share, double[:, ::1] moved_kwh,
               double[:, ::1] flexed, bint full_search=False):
    """Move each day's energy: `loads` [sites, half hours] kWh; day d of every site is its
    half hours day_start[d] on, `day_count[d]` of them, in grid slots day_first[d] on (the
    day's other slots are padding: no kWh, they take nothing); `price` [n_days x k, width]
    (width: the grid's), site s's days priced by block `price_of_site[s]` of its rows (row
    p's sort orders `orders[side, codes[p]]`, side 0 descending, side 1 ascending when
    shifting); `half_limit` per site the kWh a slot may hold; `red` [1 or sites, half hours]
    the half hours that may give energy (or None); `share` per site the share of each day's
    kWh (floored at 0) that may move. Writes the kWh moved per site and day and the flexed
    kWh per half hour.
    `full_search` searches every day in full, shortcuts aside (the tests check that the
    shortcuts give what it gives)."""
    cdef Py_ssize_t sites = loads.shape[0], n_days = day_start.shape[0]
    cdef Py_ssize_t width = price.shape[1]
    cdef bint has_red = red is not None
    _check_days(loads, day_start, day_first, day_count, price, price_of_site, codes, orders,
                half_limit, red, share, shift_energy, moved_kwh, flexed)
    cdef double[:, ::1] work = _scratch(width)
    cdef double* r_cap = &work[0, 0]
    cdef double* a_cap = &work[1, 0]
    cdef double* r_cum = &work[2, 0]
    cdef double* a_cum = &work[3, 0]
    cdef double* r_price = &work[4, 0]
    cdef double* a_price = &work[5, 0]
    cdef double* r_moved = &work[6, 0]
    cdef double* a_moved = &work[7, 0]
    cdef double* scratch = &work[8, 0]
    cdef double* day_load = &work[14, 0]
    cdef double* day_red = &work[15, 0]  # 1.0 where the slot may give energy up
    cdef Py_ssize_t s, d, k, slot, pr, code, first, count, at
    cdef double cap, q, taken, half, day_kwh, total = 0.0
    cdef const Py_ssize_t* r_order
    cdef const Py_ssize_t* a_order = NULL
    cdef const double* row_price
    with nogil:
        for s in range(sites):
            half = half_limit[s]
            for d in range(n_days):
                first, count, at = day_first[d], day_count[d], day_start[d]
                if count < width:  # padding: no kWh (and, with red flags, none to give)
                    for k in range(width):
                        day_load[k] = 0.0
                        day_red[k] = 0.0
                for k in range(count):
                    day_load[first + k] = loads[s, at + k]
                if has_red:
                    for k in range(count):
                        day_red[first + k] = 1.0 if red[
                            s if red.shape[0] > 1 else 0, at + k] else 0.0
                day_kwh = 0.0 + pairwise_sum(day_load, NULL, width, False)
                if not day_kwh > 0.0:  # np.maximum(day_kwh, 0.0)
                    day_kwh = 0.0
                pr = price_of_site[s] * n_days + d
                code = codes[pr]
                row_price = &price[pr, 0]
                r_order = &orders[0, code, 0]
                for k in range(width):
                    slot = r_order[k]
                    cap = _max(day_load[slot], 0.0)
                    if not shift_energy and not row_price[slot] > 0.0:
                        cap = 0.0
                    if has_red and day_red[slot] == 0.0:  # (padding has no kWh to give)
                        cap = 0.0
                    r_cap[k] = cap
                    total = total + cap if k > 0 else cap  # r_cum[k - 1] + cap, in a register
                    r_cum[k] = total
                    r_price[k] = row_price[slot]
                if shift_energy:
                    a_order = &orders[1, code, 0]
                    for k in range(width):
                        slot = a_order[k]
                        cap = _max(half - day_load[slot], 0.0)
                        if slot < first or slot >= first + count:  # padding
                            cap = 0.0
                        if has_red and day_red[slot] != 0.0:
                            cap = 0.0
                        a_cap[k] = cap
                        total = total + cap if k > 0 else cap
                        a_cum[k] = total
                        a_price[k] = row_price[slot]
                    q = _quantity(r_cum, a_cum, r_cap, a_cap, r_price, a_price, scratch,
                                  share[s] * day_kwh, margin_share, width, full_search)
                else:
                    q = _min(share[s] * day_kwh, r_cum[width - 1])
                moved_kwh[s, d] = q
                for k in range(width):
                    taken = _min(_max(q - (r_cum[k] - r_cap[k]), 0.0), r_cap[k])
                    r_moved[r_order[k]] = taken
                if shift_energy:
                    for k in range(width):
                        taken = _min(_max(q - (a_cum[k] - a_cap[k]), 0.0), a_cap[k])
                        a_moved[a_order[k]] = taken
                    for k in range(count):
                        flexed[s, at + k] = ((day_load[first + k] - r_moved[first + k])
                                             + a_moved[first + k])
                else:
                    for k in range(count):
                        flexed[s, at + k] = day_load[first + k] - r_moved[first + k]


cdef void _check_days(const double[:, ::1] loads, const Py_ssize_t[::1] day_start,
                      const Py_ssize_t[::1] day_first, const Py_ssize_t[::1] day_count,
                      Grid price, const Py_ssize_t[::1] price_of_site,
                      const Py_ssize_t[::1] codes, const Py_ssize_t[:, :, ::1] orders,
                      const double[::1] half_limit, Flags red, const double[::1] share,
                      bint shift_energy, double[:, ::1] moved_kwh, double[:, ::1] flexed
                      ) except *:
    """Raise ValueError unless every index `shift_days` follows stays inside its array (it
    reads and writes without bounds checks)."""
    cdef Py_ssize_t sites = loads.shape[0], n_days = day_start.shape[0], width = price.shape[1]
    cdef Py_ssize_t i, k, j
    if (day_first.shape[0] != n_days or day_count.shape[0] != n_days
            or half_limit.shape[0] != sites or share.shape[0] != sites
            or price_of_site.shape[0] != sites or codes.shape[0] != price.shape[0]
            or moved_kwh.shape[0] != sites or moved_kwh.shape[1] != n_days
            or flexed.shape[0] != sites or flexed.shape[1] != loads.shape[1]
            or orders.shape[0] < 1 + shift_energy or orders.shape[2] != width
            or (red is not None and (red.shape[1] != loads.shape[1]
                                     or red.shape[0] not in (1, sites)))):
        raise ValueError("shift_days: the arrays' shapes do not agree")
    for i in range(n_days):
        if (day_start[i] < 0 or day_first[i] < 0 or day_count[i] < 0
                or day_start[i] + day_count[i] > loads.shape[1]
                or day_first[i] + day_count[i] > width):
            raise ValueError(f"shift_days: day {i} lies outside the half hours or the grid")
    for i in range(sites):
        if price_of_site[i] < 0 or (price_of_site[i] + 1) * n_days > price.shape[0]:
            raise ValueError(f"shift_days: site {i} is priced by a block of rows not given")
    for i in range(codes.shape[0]):
        if codes[i] < 0 or codes[i] >= orders.shape[1]:
            raise ValueError(f"shift_days: price row {i} has no sort order")
    for i in range(orders.shape[0]):
        for k in range(orders.shape[1]):
            for j in range(width):
                if orders[i, k, j] < 0 or orders[i, k, j] >= width:
                    raise ValueError("shift_days: a sort order names a slot outside the grid")


cdef bint _rows_match(Grid rows, Grid patterns, const Py_ssize_t[::1] codes) noexcept nogil:
    cdef Py_ssize_t r, k, width = rows.shape[1]
    cdef const double* row
    cdef const double* pattern
    for r in range(rows.shape[0]):
        row, pattern = &rows[r, 0], &patterns[codes[r], 0]
        for k in range(width):
            if row[k] != pattern[k]:
                return False
    return True


def rows_match(Grid rows, Grid patterns, const Py_ssize_t[::1] codes):
    """Whether every row r of `rows` equals (==, element for element) row codes[r] of
    `patterns`: `np.array_equal(patterns[codes], rows)`, without making `patterns[codes]`
    (`codes` are rows of `patterns`)."""
    cdef bint match = codes.shape[0] == rows.shape[0] and patterns.shape[1] == rows.shape[1]
    cdef Py_ssize_t r
    for r in range(codes.shape[0]):
        if not 0 <= codes[r] < patterns.shape[0]:
            raise ValueError(f"rows_match: code {codes[r]} names no row of the patterns")
    if match:
        with nogil:
            match = _rows_match(rows, patterns, codes)
    return match


def days_hold(Grid grid, const double[::1] values, const Py_ssize_t[::1] day_start,
              const Py_ssize_t[::1] day_first, const Py_ssize_t[::1] day_count):
    """Whether row d of `grid` [days, width] holds, from slot day_first[d] on, the
    day_count[d] values of `values` from day_start[d] on, bit for bit, for every day d."""
    cdef Py_ssize_t d
    cdef bint same = (grid.shape[0] == day_start.shape[0] == day_first.shape[0]
                      == day_count.shape[0])
    with nogil:
        for d in range(day_start.shape[0] if same else 0):
            if day_first[d] < 0 or day_start[d] < 0 or day_count[d] < 0 or \
                    day_first[d] + day_count[d] > grid.shape[1] or \
                    day_start[d] + day_count[d] > values.shape[0] or memcmp(
                        &grid[d, day_first[d]], &values[day_start[d]],
                        day_count[d] * sizeof(double)) != 0:
                same = False
                break
    return same


def _scratch(Py_ssize_t width):
    """Work rows for one day: 8 of the day's own, the search's 6, the day's kWh and red."""
    from numpy import empty
    return empty((16, width))

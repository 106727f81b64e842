# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The daily shifting search of `core.flexibility`, compiled: one pass per day (row).

Each row is one UK clock day of one site, its half hours in grid order (padding slots hold 0
kWh). For each row the slots are taken in price order (dearest first to give energy up,
cheapest first to take it: the caller's stable argsorts), the capacities summed along that
order, the quantity to move chosen as the module docstring of `core.flexibility` says, and
the moved energy laid back on the grid. Every number is computed with the same operations in
the same order as the array code it replaced, so the results are the same to the bit (the
tests check them against pricing every candidate).
"""

from libc.math cimport INFINITY, fabs

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


def shift_days(Grid load, Grid price, const Py_ssize_t[::1] price_of_site,
               const Py_ssize_t[::1] codes, const Py_ssize_t[:, :, ::1] orders,
               const double[::1] half_limit, Py_ssize_t n_days, Flags pad, Flags red,
               const double[::1] budget,
               bint shift_energy, double margin_share, double[::1] moved_kwh,
               double[:, ::1] flexed, bint full_search=False):
    """Move each row's energy: `load` [rows, width] kWh per grid slot, row r being day
    r % n_days of site r // n_days; `price` [n_days x k, width], site s's days priced by
    block `price_of_site[s]` of its rows (row p's sort orders `orders[side, codes[p]]`, side 0
    descending, side 1 ascending when shifting); `half_limit` per site the kWh a slot may
    hold; `pad` [n_days, width] slots that take nothing (or None); `red` [p', width] (row
    r % p') the slots that may give energy (or None); `budget` per row. Writes the kWh moved
    per row and the flexed kWh per slot.
    `full_search` searches every day in full, shortcuts aside (the tests check that the
    shortcuts give what it gives)."""
    cdef Py_ssize_t rows = load.shape[0], width = load.shape[1]
    cdef Py_ssize_t red_rows = red.shape[0] if red is not None else 1
    cdef bint has_pad = pad is not None, has_red = red is not None
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
    cdef Py_ssize_t r, k, slot, pr, code
    cdef double cap, q, taken, half
    cdef const Py_ssize_t* r_order
    cdef const Py_ssize_t* a_order = NULL
    cdef const double* row_load
    cdef const double* row_price
    with nogil:
        for r in range(rows):
            pr = price_of_site[r // n_days] * n_days + r % n_days
            code = codes[pr]
            row_load = &load[r, 0]
            row_price = &price[pr, 0]
            half = half_limit[r // n_days]
            r_order = &orders[0, code, 0]
            for k in range(width):
                slot = r_order[k]
                cap = _max(row_load[slot], 0.0)
                if not shift_energy and not row_price[slot] > 0.0:
                    cap = 0.0
                if has_red and not red[r % red_rows, slot]:
                    cap = 0.0
                r_cap[k] = cap
                r_cum[k] = r_cum[k - 1] + cap if k > 0 else cap
                r_price[k] = row_price[slot]
            if shift_energy:
                a_order = &orders[1, code, 0]
                for k in range(width):
                    slot = a_order[k]
                    cap = _max(half - row_load[slot], 0.0)
                    if has_pad and pad[r % n_days, slot]:
                        cap = 0.0
                    if has_red and red[r % red_rows, slot]:
                        cap = 0.0
                    a_cap[k] = cap
                    a_cum[k] = a_cum[k - 1] + cap if k > 0 else cap
                    a_price[k] = row_price[slot]
                q = _quantity(r_cum, a_cum, r_cap, a_cap, r_price, a_price, scratch,
                              budget[r], margin_share, width, full_search)
            else:
                q = _min(budget[r], r_cum[width - 1])
            moved_kwh[r] = q
            for k in range(width):
                taken = _min(_max(q - (r_cum[k] - r_cap[k]), 0.0), r_cap[k])
                r_moved[r_order[k]] = taken
            if shift_energy:
                for k in range(width):
                    taken = _min(_max(q - (a_cum[k] - a_cap[k]), 0.0), a_cap[k])
                    a_moved[a_order[k]] = taken
                for k in range(width):
                    flexed[r, k] = (row_load[k] - r_moved[k]) + a_moved[k]
            else:
                for k in range(width):
                    flexed[r, k] = row_load[k] - r_moved[k]


def _scratch(Py_ssize_t width):
    """Work rows for one day: 8 of the day's own, then the search's 6."""
    from numpy import empty
    return empty((14, width))

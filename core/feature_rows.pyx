# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The load-shape features' passes over each profile row, compiled (`core.features`): each row
read once from memory, then passed over in cache for numpy's sum of it (the same pairwise
order, so the same bits), its maximum, the two order statistics of a percentile (exact), the
kWh of each (day kind, clock half hour) cell, its sum of squares and the centred lag
products of the autocorrelations.

The cell sums, squares and lag products are summed in another order than numpy's (partial
sums kept in lanes), so they may differ from numpy's in their last bits; every other output
is what numpy gives, to the bit. Built without fused multiply-adds.
"""

from libc.math cimport INFINITY, NAN, sqrt
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memcpy, memset

include "pairwise_sum.pxi"

DEF N_KINDS = 6  # day kinds: (weekday, weekend) x (winter, summer, other)
DEF N_CELLS = 288  # N_KINDS x 48 clock half hours
DEF N_SUMS = 54  # weekday, weekend, day, night, winter, summer, then the 48 half hours
DEF LANES = 8  # partial sums kept apart (and summed pairwise at the end)
DEF SAMPLE = 1024  # values sampled for a percentile's bound


cdef double _lanes_total(const double* s) noexcept nogil:
    """The LANES partial sums s[:8], added pairwise."""
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))


cdef double _dot(const double* a, const double* b, Py_ssize_t n) noexcept nogil:
    """sum(a_i * b_i), i < n, in LANES lanes (lane l: i = l mod LANES)."""
    cdef double s[LANES]
    cdef Py_ssize_t t, lane, full = n // LANES * LANES
    for lane in range(LANES):
        s[lane] = 0.0
    for t in range(0, full, LANES):
        for lane in range(LANES):
            s[lane] = s[lane] + a[t + lane] * b[t + lane]
    for t in range(full, n):
        s[0] = s[0] + a[t] * b[t]
    return _lanes_total(s)


cdef void _centred_products(const double* a, double mean, Py_ssize_t n, double* centred,
                            double* out) noexcept nogil:
    """out = (sum(c_t^2), sum(c_t c_t+48), sum(c_t c_t+336)), c = a[:n] - mean (made in
    `centred` while its squares are summed); a lag's sum is 0 when n < twice it."""
    cdef double s[LANES]
    cdef Py_ssize_t t, lane, full = n // LANES * LANES
    cdef double c
    for lane in range(LANES):
        s[lane] = 0.0
    for t in range(0, full, LANES):
        for lane in range(LANES):
            c = a[t + lane] - mean
            centred[t + lane] = c
            s[lane] = s[lane] + c * c
    for t in range(full, n):
        c = a[t] - mean
        centred[t] = c
        s[0] = s[0] + c * c
    out[0] = _lanes_total(s)
    out[1] = _dot(centred, centred + 48, n - 48) if n >= 96 else 0.0
    out[2] = _dot(centred, centred + 336, n - 336) if n >= 672 else 0.0


cdef inline void _swap(double* b, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    cdef double keep = b[i]
    b[i] = b[j]
    b[j] = keep


cdef Py_ssize_t _partition(double* b, Py_ssize_t lo, Py_ssize_t hi, double pivot, bint equal
                           ) noexcept nogil:
    """Move the values of b[lo:hi] below `pivot` (with `equal`: at most it) to the front,
    without branches on the values; returns where the others start."""
    cdef Py_ssize_t i, at = lo
    cdef double value
    for i in range(lo, hi):
        value = b[i]
        b[i] = b[at]
        b[at] = value
        at += (value < pivot) | (equal & (value == pivot))
    return at


cdef int _compare(const void* a, const void* b) noexcept nogil:
    cdef double x = (<const double*> a)[0], y = (<const double*> b)[0]
    return (x > y) - (x < y)


cdef Py_ssize_t _round_limit(Py_ssize_t size) noexcept nogil:
    """Quickselect rounds allowed before `_select` sorts what is left: 2 log2(size) + 8."""
    cdef Py_ssize_t rounds = 8
    while size > 1:
        size >>= 1
        rounds += 2
    return rounds


cdef double _select(double* b, Py_ssize_t size, Py_ssize_t k, Py_ssize_t rounds
                    ) noexcept nogil:
    """Reorder b[:size] (no NaN) so that b[k] is its k-th smallest, none before it larger and
    none after it smaller (quickselect: median-of-three pivots, three-way partitions, each
    round leaving out at least the pivot); returns b[k]. After `rounds` rounds what is left
    is sorted (qsort), so no input, however chosen, costs more than O(size log size)."""
    cdef Py_ssize_t lo = 0, hi = size, mid, below, upto
    cdef double pivot
    while hi - lo > 1:
        if rounds <= 0:
            qsort(b + lo, hi - lo, sizeof(double), _compare)
            return b[k]
        rounds -= 1
        mid = lo + (hi - lo) // 2
        if b[mid] < b[lo]:
            _swap(b, mid, lo)
        if b[hi - 1] < b[lo]:
            _swap(b, hi - 1, lo)
        if b[hi - 1] < b[mid]:
            _swap(b, hi - 1, mid)
        pivot = b[mid]
        below = _partition(b, lo, hi, pivot, False)
        if k < below:
            hi = below
            continue
        upto = _partition(b, below, hi, pivot, True)
        if k < upto:
            return pivot  # b[below:upto] all equal the pivot
        lo = upto
    return b[k]


cdef double _least(const double* b, Py_ssize_t size) noexcept nogil:
    """The least of b[:size] (size >= 1, no NaN)."""
    cdef double least = b[0]
    cdef Py_ssize_t i
    for i in range(1, size):
        least = b[i] if b[i] < least else least
    return least


cdef double _bound(const double* a, Py_ssize_t n, Py_ssize_t j, double sign, double* sample
                   ) noexcept nogil:
    """A bound under which some j + 2 of sign * a[:n] likely lie (a few times j + 2 at
    most), read off every stride-th value (about SAMPLE of them); +inf for short rows."""
    cdef Py_ssize_t i, stride = n // SAMPLE, taken, rank
    cdef double expect
    if stride < 4:
        return INFINITY
    taken = n // stride
    expect = <double> (j + 2) * taken / n
    rank = <Py_ssize_t> (expect + 3.0 * sqrt(expect) + 8.0)
    if rank >= taken:
        return INFINITY
    for i in range(taken):
        sample[i] = sign * a[i * stride]
    return _select(sample, taken, rank, _round_limit(taken))


cdef bint _peak_and_squares(const double* a, Py_ssize_t n, double* peak, double* squares
                            ) noexcept nogil:
    """The maximum and sum of squares (in lanes) of a[:n] (n >= 1); whether a value is NaN
    (then and only then is the sum of squares NaN)."""
    cdef double top[LANES]
    cdef double sq[LANES]
    cdef Py_ssize_t t, lane, full = n // LANES * LANES
    cdef double value
    for lane in range(LANES):
        top[lane] = a[0]
        sq[lane] = 0.0
    for t in range(0, full, LANES):
        for lane in range(LANES):
            value = a[t + lane]
            top[lane] = value if value > top[lane] else top[lane]
            sq[lane] = sq[lane] + value * value
    for t in range(full, n):
        value = a[t]
        top[0] = value if value > top[0] else top[0]
        sq[0] = sq[0] + value * value
    for lane in range(1, LANES):
        top[0] = top[lane] if top[lane] > top[0] else top[0]
    peak[0] = top[0]
    squares[0] = _lanes_total(sq)
    return squares[0] != squares[0]


cdef inline double _min(double a, double b) noexcept nogil:
    return a if a < b else b


cdef Py_ssize_t _chosen(const double* a, Py_ssize_t n, double sign, double bound,
                        double* chosen) noexcept nogil:
    """Copy the values of sign * a[:n] (no NaN) at most `bound` to chosen[:count], in order;
    returns count. Runs of 8 values whose least is above the bound are passed over whole."""
    cdef Py_ssize_t i, t, c = 0, full = n // 8 * 8
    cdef double value, least
    for t in range(0, full, 8):
        least = _min(_min(_min(sign * a[t], sign * a[t + 1]),
                          _min(sign * a[t + 2], sign * a[t + 3])),
                     _min(_min(sign * a[t + 4], sign * a[t + 5]),
                          _min(sign * a[t + 6], sign * a[t + 7])))
        if least <= bound:
            for i in range(t, t + 8):
                value = sign * a[i]
                chosen[c] = value
                c += value <= bound
    for i in range(full, n):
        value = sign * a[i]
        chosen[c] = value
        c += value <= bound
    return c


cdef void _row_stats(const double* a, Py_ssize_t n, Py_ssize_t k, double* scratch,
                     double* stats, Py_ssize_t rounds=-1) noexcept nogil:
    """stats[0:4] = max, sum of squares, the k-th and (k+1)-th smallest of a[:n] (0-based;
    both the max when k = n - 1; NaN but the sum of squares for a row with a NaN). The
    order statistics are picked from the smaller side (the k + 2 smallest or the n - k
    largest: j + 2 values of sign * a), among the values under a sampled bound when enough
    are (then they hold those j + 2), else among all. scratch: `_scratch_size(n)`."""
    cdef double sign = 1.0 if k + 2 <= n - k else -1.0
    cdef Py_ssize_t j = k if sign > 0 else n - 2 - k, count
    cdef double first, second
    if _peak_and_squares(a, n, &stats[0], &stats[1]):
        stats[0] = stats[2] = stats[3] = NAN
        return
    if k == n - 1:
        stats[2] = stats[3] = stats[0]
        return
    count = _chosen(a, n, sign, _bound(a, n, j, sign, scratch + n), scratch)
    if count < j + 2:  # the sample misled: every value
        count = _chosen(a, n, sign, INFINITY, scratch)
    first = _select(scratch, count, j, rounds if rounds >= 0 else _round_limit(count))
    second = _least(scratch + j + 1, count - j - 1)
    if sign > 0:
        stats[2], stats[3] = first, second
    else:
        stats[2], stats[3] = -second, -first


cdef void _cell_sums(const double* a, const Py_ssize_t[:, ::1] blocks,
                     const signed char[::1] day_kind, const Py_ssize_t[::1] rest,
                     const short[::1] rest_cell, const unsigned char[::1] slot_is_day,
                     double* cells, double* sums) noexcept nogil:
    """The kWh of each (day kind, clock half hour) cell, then the 54 group sums."""
    cdef Py_ssize_t b, d, s, kind, day = 0
    cdef const double* p
    cdef double* cell
    cdef double total
    memset(cells, 0, N_CELLS * sizeof(double))
    for b in range(blocks.shape[0]):
        p = a + blocks[b, 0]
        for d in range(blocks[b, 1]):
            cell = cells + 48 * day_kind[day]
            for s in range(48):
                cell[s] += p[s]
            p += 48
            day += 1
    for s in range(rest.shape[0]):
        cells[rest_cell[s]] += a[rest[s]]
    memset(sums, 0, N_SUMS * sizeof(double))
    for kind in range(N_KINDS):
        total = 0.0
        for s in range(48):
            total += cells[48 * kind + s]
            sums[6 + s] += cells[48 * kind + s]
        sums[0 if kind < 3 else 1] += total  # weekday, weekend
        if kind % 3 < 2:
            sums[4 + kind % 3] += total  # winter, summer
    for s in range(48):
        sums[2 if slot_is_day[s] else 3] += sums[6 + s]  # day, night


cdef void _check_groups(Py_ssize_t n, const Py_ssize_t[:, ::1] blocks,
                        const signed char[::1] day_kind, const Py_ssize_t[::1] rest,
                        const short[::1] rest_cell, const unsigned char[::1] slot_is_day
                        ) except *:
    """Raise ValueError unless every half hour and cell the sums read is inside its array."""
    cdef Py_ssize_t b, i, days = 0
    if blocks.shape[1] != 2 or rest_cell.shape[0] != rest.shape[0] or slot_is_day.shape[0] != 48:
        raise ValueError("feature_sums: the groups' shapes do not agree")
    for b in range(blocks.shape[0]):
        if not (blocks[b, 0] >= 0 and blocks[b, 1] >= 0 and blocks[b, 0] + 48 * blocks[b, 1] <= n):
            raise ValueError(f"feature_sums: block {b} is outside the rows")
        days += blocks[b, 1]
    if day_kind.shape[0] != days:
        raise ValueError("feature_sums: one day kind is needed per day of the blocks")
    for i in range(days):
        if not 0 <= day_kind[i] < N_KINDS:
            raise ValueError("feature_sums: a day kind is outside 0..5")
    for i in range(rest.shape[0]):
        if not (0 <= rest[i] < n and 0 <= rest_cell[i] < N_CELLS):
            raise ValueError("feature_sums: a half hour or cell is outside the arrays")


cdef Py_ssize_t _scratch_size(Py_ssize_t n) noexcept nogil:
    """Doubles `_row_stats` needs for rows of n values: the chosen values, then the sample."""
    return n + 2 * SAMPLE


def row_totals(const double[:, ::1] x, double[::1] out) -> None:
    """out[i] = numpy's x[i].sum() (the same pairwise order: the same bits)."""
    cdef Py_ssize_t i
    if out.shape[0] != x.shape[0]:
        raise ValueError("row_totals: one output per row")
    with nogil:
        for i in range(x.shape[0]):
            out[i] = 0.0 + pairwise_sum(&x[i, 0], NULL, x.shape[1], False)


def order_pairs(const double[:, ::1] x, Py_ssize_t k, double[:, ::1] out,
                Py_ssize_t rounds=-1) -> None:
    """out[i] = the k-th and (k+1)-th smallest of row i (0-based; both the largest when
    k = n - 1), as numpy's partition gives them; NaN for a row with a NaN. `rounds`: the
    quickselect rounds before the rest is sorted (-1: `_round_limit`; tests force 0)."""
    cdef Py_ssize_t i, n = x.shape[1]
    cdef double stats[4]
    cdef double* scratch
    if not (0 <= k < n and out.shape[0] == x.shape[0] and out.shape[1] == 2):
        raise ValueError("order_pairs: k must be a position in the rows, out [rows, 2]")
    scratch = <double*> malloc(_scratch_size(n) * sizeof(double))
    if scratch == NULL:
        raise MemoryError()
    with nogil:
        for i in range(x.shape[0]):
            _row_stats(&x[i, 0], n, k, scratch, stats, rounds)
            out[i, 0], out[i, 1] = stats[2], stats[3]
    free(scratch)


cdef void _row_features(const double* a, Py_ssize_t n, const Py_ssize_t[:, ::1] blocks,
                        const signed char[::1] day_kind, const Py_ssize_t[::1] rest,
                        const short[::1] rest_cell, const unsigned char[::1] slot_is_day,
                        Py_ssize_t k, bint lags, double* scratch, double* total, double* sums,
                        double* stats) noexcept nogil:
    """`feature_sums` of one row a[:n]."""
    cdef double cells[N_CELLS]
    total[0] = 0.0 + pairwise_sum(a, NULL, n, False)
    _cell_sums(a, blocks, day_kind, rest, rest_cell, slot_is_day, cells, sums)
    if k >= 0:
        _row_stats(a, n, k, scratch, stats)
    else:
        if _peak_and_squares(a, n, &stats[0], &stats[1]):
            stats[0] = NAN
        stats[2] = stats[3] = NAN
    if lags:
        _centred_products(a, total[0] / n, n, scratch, &stats[4])
    else:
        stats[4] = stats[5] = stats[6] = NAN


def feature_sums(list rows, Py_ssize_t n, double[:, ::1] copy, double[::1] total,
                 const Py_ssize_t[:, ::1] blocks, const signed char[::1] day_kind,
                 const Py_ssize_t[::1] rest, const short[::1] rest_cell,
                 const unsigned char[::1] slot_is_day, Py_ssize_t k, bint lags,
                 double[:, ::1] sums, double[:, ::1] stats) -> None:
    """Per row i of `rows` (float64 arrays of n values), in one read of it: copy[i] = the
    row (unless `copy` has no rows), total[i] = numpy's sum of it (same bits), sums[i] =
    kWh in the 54 groups of `core.features._row_passes` (blocks of whole days (first half
    hour, days), each day's kind, and the other half hours with their cells kind * 48 +
    clock half hour), and stats[i] = (max, sum of squares, k-th smallest, (k+1)-th smallest,
    sum((x_t - m)^2), sum((x_t - m)(x_t+48 - m)), the same at lag 336), m = total / n; a
    lag's sum is 0 where n < twice the lag; max and order statistics NaN for a row with a
    NaN. k = -1: no order statistics (NaN); not `lags`: no centred sums (NaN)."""
    cdef Py_ssize_t i, count = len(rows)
    cdef const double[::1] row
    cdef double* scratch
    cdef bint copying = copy.shape[0] > 0
    if not (n > 0 and -1 <= k < n and total.shape[0] == count and sums.shape[0] == count
            and sums.shape[1] == N_SUMS and stats.shape[0] == count and stats.shape[1] == 7
            and (not copying or (copy.shape[0] == count and copy.shape[1] == n))):
        raise ValueError("feature_sums: k must be a position in the rows, copy none or "
                         "[rows, n], total one sum per row, sums [rows, 54] and stats [rows, 7]")
    _check_groups(n, blocks, day_kind, rest, rest_cell, slot_is_day)
    scratch = <double*> malloc(_scratch_size(n) * sizeof(double))
    if scratch == NULL:
        raise MemoryError()
    try:
        for i in range(count):
            row = rows[i]
            if row.shape[0] != n:
                raise ValueError(f"feature_sums: row {i} has {row.shape[0]} values, not {n}")
            with nogil:
                if copying:
                    memcpy(&copy[i, 0], &row[0], n * sizeof(double))
                _row_features(&row[0], n, blocks, day_kind, rest, rest_cell, slot_is_day, k,
                              lags, scratch, &total[i], &sums[i, 0], &stats[i, 0])
    finally:
        free(scratch)

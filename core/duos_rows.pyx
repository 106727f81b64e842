# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The per-half-hour pass of `core.duos` charging, compiled: active import and unit £ of each
half hour, their sums by band and in all, (kVArh not given) the demand kVA with its maximum
per month and its first peak, and whether the site exports, per site.

Each number is computed with the same operations as the array code it replaced (max(kWh, 0);
kWh x p/kWh, then / 100; kWh x 2, then / power factor; each rounded on its own: built without
fused multiply-adds), so the arrays are the same to the bit. Each sum is numpy's pairwise sum
(`np.add.reduce` of a contiguous float64 row: 8 accumulators over blocks of up to 128 values,
halves above that, added to the initial 0.0) of the values in row order, so it is the same to
the bit as `unit.sum(axis=1)` and `np.take(values, order)[start:end].sum()`. The demand kVA is
never NaN or -0.0 (NaN kWh are refused by the callers), so its maxima are numpy's
(`np.maximum.reduceat` by month, `argmax`: the first of the largest) whatever the order.
"""

from libc.math cimport INFINITY

include "pairwise_sum.pxi"


cdef inline double _active(double x) noexcept nogil:
    return x if not x <= 0.0 else 0.0  # np.maximum(x, 0.0): NaN kept, +0.0 for -0.0


cdef bint _import_row(const double* kwh, const double* rate, double* active, double* unit,
                      Py_ssize_t size) noexcept nogil:
    """The row's unit £ and active import (unless `active` is NULL); whether a half hour is
    negative (net export). Each a loop of its own, which the C compiler vectorises."""
    cdef Py_ssize_t j
    for j in range(size):
        unit[j] = _active(kwh[j]) * rate[j] / 100.0
    if active != NULL:
        for j in range(size):
            active[j] = _active(kwh[j])
    for j in range(size):
        if kwh[j] < 0.0:
            return True
    return False


cdef Py_ssize_t _demand(const double* kwh, double power_factor, const Py_ssize_t* month,
                        double* kva, double* month_max, Py_ssize_t months, Py_ssize_t size
                        ) noexcept nogil:
    """The row's demand kVA (written unless `kva` is NULL) and its maximum per month; the
    first half hour of the largest."""
    cdef Py_ssize_t j, m, peak = 0
    cdef double k, best = -INFINITY
    for m in range(months):
        month_max[m] = -INFINITY
    for j in range(size):
        k = _active(kwh[j]) * 2.0 / power_factor
        if kva != NULL:
            kva[j] = k
        m = month[j]
        if k > month_max[m]:
            month_max[m] = k
        if k > best:
            best, peak = k, j
    return peak


cdef void _band_sums(const double* values, const Py_ssize_t* order, const Py_ssize_t* starts,
                     Py_ssize_t bands, bint clip, double* out) noexcept nogil:
    """out[b] = 0.0 + the pairwise sum of band b's values (rows order[starts[b]:starts[b + 1]])."""
    cdef Py_ssize_t b
    for b in range(bands):
        out[b] = 0.0 + pairwise_sum(values, order + starts[b], starts[b + 1] - starts[b], clip)


cdef void _check_sites(const double[:, ::1] kwh, const Py_ssize_t[::1] sources,
                       const Py_ssize_t[::1] sites, Py_ssize_t rows) except *:
    """Raise ValueError unless every site names an output row and a kWh row inside them."""
    cdef Py_ssize_t k
    if sources.shape[0] != sites.shape[0]:
        raise ValueError("sources must give one kWh row per site")
    for k in range(sites.shape[0]):
        if not (0 <= sites[k] < rows and 0 <= sources[k] < kwh.shape[0]):
            raise ValueError(f"site {k} names a row outside the arrays")


cdef bint _fits(const double[:, ::1] array, Py_ssize_t rows, Py_ssize_t columns,
                bint optional) noexcept:
    """Whether `array` is [rows, columns] (or, if `optional`, has no rows)."""
    return (optional and array.shape[0] == 0) or (
        array.shape[0] == rows and array.shape[1] == columns)


cdef void _check_units(const double[:, ::1] kwh, const double[::1] rate,
                       const Py_ssize_t[::1] order, const Py_ssize_t[::1] starts,
                       double[:, ::1] active, double[:, ::1] unit, double[:, ::1] kwh_by_band,
                       double[:, ::1] gbp_by_band, double[::1] unit_total,
                       unsigned char[::1] exports) except *:
    """Raise ValueError unless every half hour and band `import_units` reads or writes is
    inside its array (it runs without bounds checks)."""
    cdef Py_ssize_t k, size = order.shape[0], rows = unit.shape[0]
    cdef Py_ssize_t bands = starts.shape[0] - 1
    if kwh.shape[1] != size or rate.shape[0] != size:
        raise ValueError("kwh, rate and order must have one value per half hour")
    if (bands < 0 or not _fits(unit, rows, size, False) or not _fits(active, rows, size, True)
            or not _fits(kwh_by_band, rows, bands, False)
            or not _fits(gbp_by_band, rows, bands, False)
            or unit_total.shape[0] != rows or exports.shape[0] != rows):
        raise ValueError("the output arrays' shapes do not agree")
    for k in range(size):
        if not 0 <= order[k] < size:
            raise ValueError("the order names a half hour outside the rows")
    for k in range(bands):
        if not 0 <= starts[k] <= starts[k + 1] <= size:
            raise ValueError("the band starts are not rising within the rows")


def import_units(const double[:, ::1] kwh, const Py_ssize_t[::1] sources,
                 const Py_ssize_t[::1] sites, const double[::1] rate, const Py_ssize_t[::1] order,
                 const Py_ssize_t[::1] starts, double[:, ::1] active, double[:, ::1] unit,
                 double[:, ::1] kwh_by_band, double[:, ::1] gbp_by_band,
                 double[::1] unit_total, unsigned char[::1] exports) -> None:
    """For each site (output row) sites[k], from kwh row sources[k]: active = max(kwh, 0) (NaN
    kept, as `np.maximum`; not written if `active` has no rows) and unit = active x rate / 100
    (£ at `rate` p/kWh) of each half hour; their sums by band, kwh_by_band[site, b] and
    gbp_by_band[site, b], each `np.take(values, order)[starts[b]:starts[b + 1]].sum()` to the
    bit, and unit_total[site] = `unit[site].sum()`; exports[site] = whether a kWh is < 0."""
    cdef Py_ssize_t k, site, size = order.shape[0], bands = starts.shape[0] - 1
    cdef bint with_active = active.shape[0] > 0
    cdef double* active_row = NULL
    _check_sites(kwh, sources, sites, unit.shape[0])
    _check_units(kwh, rate, order, starts, active, unit, kwh_by_band, gbp_by_band, unit_total,
                 exports)
    with nogil:
        for k in range(sites.shape[0]):
            site = sites[k]
            if with_active:
                active_row = &active[site, 0]
            exports[site] = _import_row(&kwh[sources[k], 0], &rate[0], active_row,
                                        &unit[site, 0], size)
            _band_sums(&kwh[sources[k], 0], &order[0], &starts[0], bands, True,
                       &kwh_by_band[site, 0])
            _band_sums(&unit[site, 0], &order[0], &starts[0], bands, False,
                       &gbp_by_band[site, 0])
            unit_total[site] = 0.0 + pairwise_sum(&unit[site, 0], NULL, size, False)


def import_demand(const double[:, ::1] kwh, const Py_ssize_t[::1] sources,
                  const Py_ssize_t[::1] sites, const double[::1] power_factor,
                  const Py_ssize_t[::1] month, double[:, ::1] kva, double[:, ::1] month_max,
                  Py_ssize_t[::1] peak) -> None:
    """For each site (output row) sites[k], from kwh row sources[k] (no NaN, power factors
    > 0): the demand kVA of each half hour, max(kwh, 0) x 2 / power_factor[site] (not
    written if `kva` has no rows), its maximum in each month (month[j]: half hour j's month, from 0), the same as
    `np.maximum.reduceat` over the months' rows, and peak[site], the first half hour of the
    largest (`argmax`)."""
    cdef Py_ssize_t k, site, size = month.shape[0], months = month_max.shape[1]
    cdef bint with_kva = kva.shape[0] > 0
    cdef double* kva_row = NULL
    _check_sites(kwh, sources, sites, power_factor.shape[0])
    if (kwh.shape[1] != size or not _fits(kva, power_factor.shape[0], size, True)
            or month_max.shape[0] != power_factor.shape[0]
            or peak.shape[0] != power_factor.shape[0]):
        raise ValueError("the output arrays' shapes do not agree")
    for k in range(size):
        if not 0 <= month[k] < months:
            raise ValueError("a half hour's month is outside the months")
    with nogil:
        for k in range(sites.shape[0]):
            site = sites[k]
            if with_kva:
                kva_row = &kva[site, 0]
            peak[site] = _demand(&kwh[sources[k], 0], power_factor[site], &month[0], kva_row,
                                 &month_max[site, 0], months, size)

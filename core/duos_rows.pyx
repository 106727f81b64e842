# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The per-half-hour pass of `core.duos` charging, compiled: active import and unit £ of each
half hour, their sums by band, (kVArh not given) the demand kVA, and whether the site exports,
per site.

Each number is computed with the same operations as the array code it replaced (max(kWh, 0);
kWh x p/kWh, then / 100; kWh x 2, then / power factor; each rounded on its own: built without
fused multiply-adds), so the arrays are the same to the bit. Each band's sum is numpy's
pairwise sum (`np.add.reduce` of a contiguous float64 row: 8 accumulators over blocks of up
to 128 values, halves above that, added to the initial 0.0) of the band's values in row order,
so it is the same to the bit as `np.take(values, order)[start:end].sum()`.
"""


cdef inline double _active(double x) noexcept nogil:
    return x if not x <= 0.0 else 0.0  # np.maximum(x, 0.0): NaN kept, +0.0 for -0.0


cdef bint _import_row(const double* kwh, const double* rate, double* active, double* unit,
                      double* kva, double power_factor, Py_ssize_t size) noexcept nogil:
    """The row's unit £, active import (unless `active` is NULL) and demand kVA (unless `kva`
    is NULL); whether a half hour is negative (net export)."""
    cdef Py_ssize_t j
    cdef double x, a
    cdef bint exports = False
    for j in range(size):
        x = kwh[j]
        exports = exports | (x < 0.0)
        a = _active(x)
        unit[j] = a * rate[j] / 100.0
        if active != NULL:
            active[j] = a
        if kva != NULL:
            kva[j] = a * 2.0 / power_factor
    return exports


cdef inline double _value(const double* values, Py_ssize_t i, bint clip) noexcept nogil:
    return _active(values[i]) if clip else values[i]


cdef double _pairwise(const double* values, const Py_ssize_t* at, Py_ssize_t n, bint clip
                      ) noexcept nogil:
    """numpy's pairwise sum of values[at[0]], ..., values[at[n - 1]] (each max(v, 0) if
    `clip`), in that order."""
    cdef Py_ssize_t i, j, half
    cdef double res
    cdef double r[8]
    if n < 8:
        res = 0.0
        for i in range(n):
            res += _value(values, at[i], clip)
        return res
    if n <= 128:  # numpy's PW_BLOCKSIZE
        for j in range(8):
            r[j] = _value(values, at[j], clip)
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] += _value(values, at[i + j], clip)
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += _value(values, at[i], clip)
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise(values, at, half, clip) + _pairwise(values, at + half, n - half, clip)


cdef void _band_sums(const double* values, const Py_ssize_t* order, const Py_ssize_t* starts,
                     Py_ssize_t bands, bint clip, double* out) noexcept nogil:
    """out[b] = 0.0 + the pairwise sum of band b's values (rows order[starts[b]:starts[b + 1]])."""
    cdef Py_ssize_t b
    for b in range(bands):
        out[b] = 0.0 + _pairwise(values, order + starts[b], starts[b + 1] - starts[b], clip)


cdef void _check_rows(const double[:, ::1] kwh, const Py_ssize_t[::1] sources,
                      const Py_ssize_t[::1] sites, const Py_ssize_t[::1] order,
                      const Py_ssize_t[::1] starts, double[:, ::1] active, double[:, ::1] unit,
                      double[:, ::1] kwh_by_band, double[:, ::1] gbp_by_band,
                      const double[::1] power_factor, double[:, ::1] kva,
                      unsigned char[::1] exports) except *:
    """Raise ValueError unless every row and half hour `import_units` reads or writes is
    inside its array (it runs without bounds checks)."""
    cdef Py_ssize_t k, size = order.shape[0], rows = unit.shape[0]
    cdef Py_ssize_t bands = starts.shape[0] - 1
    if (unit.shape[1] != size or bands < 0 or kwh_by_band.shape[0] != rows
            or kwh_by_band.shape[1] != bands or gbp_by_band.shape[0] != rows
            or gbp_by_band.shape[1] != bands or exports.shape[0] != rows
            or (active.shape[0] > 0 and (active.shape[0] != rows or active.shape[1] != size))
            or (power_factor.shape[0] > 0 and (power_factor.shape[0] != rows
                                              or kva.shape[0] != rows or kva.shape[1] != size))):
        raise ValueError("import_units: the output arrays' shapes do not agree")
    for k in range(sites.shape[0]):
        if not (0 <= sites[k] < rows and 0 <= sources[k] < kwh.shape[0]):
            raise ValueError(f"import_units: site {k} names a row outside the arrays")
    for k in range(size):
        if not 0 <= order[k] < size:
            raise ValueError("import_units: the order names a half hour outside the rows")
    for k in range(bands):
        if not 0 <= starts[k] <= starts[k + 1] <= size:
            raise ValueError("import_units: the band starts are not rising within the rows")


def import_units(const double[:, ::1] kwh, const Py_ssize_t[::1] sources,
                 const Py_ssize_t[::1] sites, const double[::1] rate, const Py_ssize_t[::1] order,
                 const Py_ssize_t[::1] starts, double[:, ::1] active, double[:, ::1] unit,
                 double[:, ::1] kwh_by_band, double[:, ::1] gbp_by_band,
                 const double[::1] power_factor, double[:, ::1] kva,
                 unsigned char[::1] exports) -> None:
    """For each site (output row) sites[k], from kwh row sources[k]: active = max(kwh, 0) (NaN
    kept, as `np.maximum`; not written if `active` has no rows) and unit = active x rate / 100
    (£ at `rate` p/kWh) of each half hour; their sums by band, kwh_by_band[site, b] and
    gbp_by_band[site, b], each `np.take(values, order)[starts[b]:starts[b + 1]].sum()` to the
    bit; unless `power_factor` (one per site) is empty kva = active x 2 / power_factor[site];
    and exports[site] = whether a kWh is < 0."""
    cdef Py_ssize_t k, site, size = order.shape[0], bands = starts.shape[0] - 1
    cdef bint with_kva = power_factor.shape[0] > 0, with_active = active.shape[0] > 0
    cdef double* active_row = NULL
    cdef double* kva_row = NULL
    cdef double factor = 1.0
    if kwh.shape[1] != size or rate.shape[0] != size or sources.shape[0] != sites.shape[0]:
        raise ValueError("kwh, rate and order must have one value per half hour, and sources "
                         "one row per site")
    _check_rows(kwh, sources, sites, order, starts, active, unit, kwh_by_band, gbp_by_band,
                power_factor, kva, exports)
    with nogil:
        for k in range(sites.shape[0]):
            site = sites[k]
            if with_active:
                active_row = &active[site, 0]
            if with_kva:
                kva_row, factor = &kva[site, 0], power_factor[site]
            exports[site] = _import_row(&kwh[sources[k], 0], &rate[0], active_row,
                                        &unit[site, 0], kva_row, factor, size)
            _band_sums(&kwh[sources[k], 0], &order[0], &starts[0], bands, True,
                       &kwh_by_band[site, 0])
            _band_sums(&unit[site, 0], &order[0], &starts[0], bands, False,
                       &gbp_by_band[site, 0])

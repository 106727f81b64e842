# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The per-half-hour pass of `core.duos` charging, compiled: active import and unit £ of each
half hour, in row order and in band order, (kVArh not given) the demand kVA, and whether the
site exports, per site.

Each number is computed with the same operations as the array code it replaced (max(kWh, 0);
kWh x p/kWh, then / 100; kWh x 2, then / power factor; each rounded on its own: built without
fused multiply-adds), so the arrays, and the numpy sums the caller takes over them, are the
same to the bit.
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


cdef void _gather(const double* values, const Py_ssize_t* order, double* out, Py_ssize_t size
                  ) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        out[i] = values[order[i]]


cdef void _gather_active(const double* kwh, const Py_ssize_t* order, double* out,
                         Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        out[i] = _active(kwh[order[i]])


cdef void _check_rows(const double[:, ::1] kwh, const Py_ssize_t[::1] sources,
                      const Py_ssize_t[::1] sites, const Py_ssize_t[::1] order,
                      double[:, ::1] active, double[:, ::1] unit, double[:, ::1] active_by_band,
                      double[:, ::1] unit_by_band, const double[::1] power_factor,
                      double[:, ::1] kva, unsigned char[::1] exports) except *:
    """Raise ValueError unless every row and half hour `import_units` reads or writes is
    inside its array (it runs without bounds checks)."""
    cdef Py_ssize_t k, size = order.shape[0], rows = unit.shape[0]
    if (unit.shape[1] != size or active_by_band.shape[0] != rows
            or active_by_band.shape[1] != size or unit_by_band.shape[0] != rows
            or unit_by_band.shape[1] != size or exports.shape[0] != rows
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


def import_units(const double[:, ::1] kwh, const Py_ssize_t[::1] sources,
                 const Py_ssize_t[::1] sites, const double[::1] rate, const Py_ssize_t[::1] order,
                 double[:, ::1] active, double[:, ::1] unit, double[:, ::1] active_by_band,
                 double[:, ::1] unit_by_band, const double[::1] power_factor,
                 double[:, ::1] kva, unsigned char[::1] exports) -> None:
    """For each site (output row) sites[k], from kwh row sources[k]: active = max(kwh, 0) (NaN
    kept, as `np.maximum`; not written if `active` has no rows) and unit = active x rate / 100
    (£ at `rate` p/kWh) of each half hour, both again in the order `order`
    (active_by_band[site, i] = active[site, order[i]]), unless `power_factor` (one per site) is
    empty kva = active x 2 / power_factor[site], and exports[site] = whether a kWh is < 0."""
    cdef Py_ssize_t k, site, size = order.shape[0]
    cdef bint with_kva = power_factor.shape[0] > 0, with_active = active.shape[0] > 0
    cdef double* active_row = NULL
    cdef double* kva_row = NULL
    cdef double factor = 1.0
    if kwh.shape[1] != size or rate.shape[0] != size or sources.shape[0] != sites.shape[0]:
        raise ValueError("kwh, rate and order must have one value per half hour, and sources "
                         "one row per site")
    _check_rows(kwh, sources, sites, order, active, unit, active_by_band, unit_by_band,
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
            _gather_active(&kwh[sources[k], 0], &order[0], &active_by_band[site, 0], size)
            _gather(&unit[site, 0], &order[0], &unit_by_band[site, 0], size)

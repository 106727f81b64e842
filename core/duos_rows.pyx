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


cdef bint _import_row(const double* kwh, const double* rate, double* active, double* unit,
                      Py_ssize_t size) noexcept nogil:
    """The row's active import and unit £; whether a half hour is negative (net export)."""
    cdef Py_ssize_t j
    cdef double x, a
    cdef bint exports = False
    for j in range(size):
        x = kwh[j]
        exports = exports | (x < 0.0)
        a = x if not x <= 0.0 else 0.0  # np.maximum(x, 0.0): NaN kept, +0.0 for -0.0
        active[j] = a
        unit[j] = a * rate[j] / 100.0
    return exports


cdef void _demand_kva(const double* active, double power_factor, double* kva, Py_ssize_t size
                     ) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(size):
        kva[j] = active[j] * 2.0 / power_factor


cdef void _gather(const double* values, const Py_ssize_t* order, double* out, Py_ssize_t size
                  ) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        out[i] = values[order[i]]


def import_units(const double[:, ::1] kwh, const Py_ssize_t[::1] sources,
                 const Py_ssize_t[::1] sites, const double[::1] rate, const Py_ssize_t[::1] order,
                 double[:, ::1] active, double[:, ::1] unit, double[:, ::1] active_by_band,
                 double[:, ::1] unit_by_band, const double[::1] power_factor,
                 double[:, ::1] kva, unsigned char[::1] exports) -> None:
    """For each site (output row) sites[k], from kwh row sources[k]: active = max(kwh, 0) (NaN
    kept, as `np.maximum`) and unit = active x rate / 100 (£ at `rate` p/kWh) of each half
    hour, both again in the order `order` (active_by_band[site, i] = active[site, order[i]]),
    unless `power_factor` (one per site) is empty kva = active x 2 / power_factor[site], and
    exports[site] = whether a kWh is < 0."""
    cdef Py_ssize_t k, site, size = order.shape[0]
    cdef bint with_kva = power_factor.shape[0] > 0
    if kwh.shape[1] != size or rate.shape[0] != size or sources.shape[0] != sites.shape[0]:
        raise ValueError("kwh, rate and order must have one value per half hour, and sources "
                         "one row per site")
    with nogil:
        for k in range(sites.shape[0]):
            site = sites[k]
            exports[site] = _import_row(&kwh[sources[k], 0], &rate[0], &active[site, 0],
                                        &unit[site, 0], size)
            _gather(&active[site, 0], &order[0], &active_by_band[site, 0], size)
            _gather(&unit[site, 0], &order[0], &unit_by_band[site, 0], size)
            if with_kva:
                _demand_kva(&active[site, 0], power_factor[site], &kva[site, 0], size)

# numpy's pairwise summation, for the compiled modules that must give numpy's sums to the bit
# (included by core/duos_rows.pyx, core/feature_rows.pyx and core/flex_days.pyx).


cdef inline double _pairwise_term(const double* values, const Py_ssize_t* at, Py_ssize_t i,
                                  bint clip) noexcept nogil:
    """values[at[i]] (values[i] when `at` is NULL), as np.maximum(v, 0.0) if `clip` (NaN
    kept, +0.0 for -0.0)."""
    cdef double v = values[i if at == NULL else at[i]]
    if clip:
        return v if not v <= 0.0 else 0.0
    return v


cdef double pairwise_sum(const double* values, const Py_ssize_t* at, Py_ssize_t n, bint clip
                         ) noexcept nogil:
    """numpy's `pairwise_sum` of values[at[0]], ..., values[at[n - 1]] (values[0], ...,
    values[n - 1] when `at` is NULL; each max(v, 0) if `clip`), in that order: -0.0 plus each
    value below 8 values, 8 accumulators over blocks of up to 128, halves above. A row's
    `np.add.reduce` is 0.0 + this."""
    cdef Py_ssize_t i, j, half
    cdef double res
    cdef double r[8]
    if n < 8:
        res = -0.0
        for i in range(n):
            res += _pairwise_term(values, at, i, clip)
        return res
    if n <= 128:  # numpy's PW_BLOCKSIZE
        for j in range(8):
            r[j] = _pairwise_term(values, at, j, clip)
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] += _pairwise_term(values, at, i + j, clip)
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += _pairwise_term(values, at, i, clip)
            i += 1
        return res
    half = n // 2
    half -= half % 8
    if at == NULL:
        return (pairwise_sum(values, NULL, half, clip)
                + pairwise_sum(values + half, NULL, n - half, clip))
    return pairwise_sum(values, at, half, clip) + pairwise_sum(values, at + half, n - half, clip)

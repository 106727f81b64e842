"""The spool's quicker writer gives what `DataFrame.to_parquet` gave: each batch's results and
errors read back as the same frames (whole and by columns), and the same Arrow columns as
`pa.Table.from_pandas`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from bess_duos.core.features import FEATURES
from bess_duos.core.portfolio import (
    ERROR_DTYPES,
    _results_frame,
    result_dtypes,
)
from bess_duos.core.portfolio_engines import SpoolSink, _arrow_table, _spool

_WORDS = ["", " ", "LV", "a; b", "Ünïcode £", "2025-03-31 23:00", "x" * 300, "nan", "None"]


def _random_results(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """A results frame of `n` seeded random rows: NaN, None, infinities, signed zeros and
    subnormals among the figures; blank, non-ASCII and long text."""
    specials = [np.nan, None, np.inf, -np.inf, -0.0, 0.0, 5e-324, -np.nan]
    rows: list[dict] = []
    for _ in range(n):
        row: dict = {}
        for name, dtype in result_dtypes().items():
            if dtype == "int64":
                row[name] = int(rng.integers(-(2**62), 2**62))
            elif dtype == "float64":
                row[name] = (float(rng.normal() * 10.0 ** rng.integers(-300, 300))
                             if rng.random() < 0.6 else specials[int(rng.integers(len(specials)))])
            else:
                row[name] = _WORDS[int(rng.integers(len(_WORDS)))]
        rows.append(row)
    features = pd.DataFrame({name: [row[name] for row in rows] for name in FEATURES})
    features["pattern"] = [row["pattern"] for row in rows]
    features["notes"] = [row["feature_notes"] for row in rows]
    return _results_frame(rows, features)


def _random_errors(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "site_id": [_WORDS[int(i)] for i in rng.integers(len(_WORDS), size=n)],
        "row": rng.integers(1, 2**40, size=n),
        "stage": [["input", "area", "profile", "duos", "internal"][int(i)]
                  for i in rng.integers(5, size=n)],
        "reason": [_WORDS[int(i)] * 3 for i in rng.integers(len(_WORDS), size=n)],
    }).astype(ERROR_DTYPES)


@pytest.mark.parametrize("seed", range(6))
def test_spool_files_read_back_as_to_parquet_files_do(tmp_path: Path, seed: int) -> None:
    """Seeded random batches: the spool's files (`_spool`) read back by `SpoolSink` equal the
    frames written and what `DataFrame.to_parquet` files read back as, frame for frame, dtype
    for dtype, the NaNs' bits and the strings' Arrow type too; read by columns alike."""
    rng = np.random.default_rng(seed)
    sizes = [(int(rng.integers(1, 120)), int(rng.integers(0, 20))) for _ in range(3)]
    sizes.append((0, int(rng.integers(1, 5))))  # a batch of errors only
    batches = [(_random_results(rng, r) if r else _results_frame([], {}), _random_errors(rng, e))
               for r, e in sizes]
    quick, plain = SpoolSink(tmp_path / "quick"), SpoolSink(tmp_path / "plain")
    for index, (results, errors) in enumerate(batches):
        assert _spool(quick.folder, index, results, errors) == (len(results), len(errors))
        for kind, frame in (("results", results), ("errors", errors)):
            if len(frame):
                frame.to_parquet(plain.folder / f"{kind}-{index:09d}.parquet", index=False)
    assert sorted(p.name for p in quick.folder.iterdir()) == sorted(
        p.name for p in plain.folder.iterdir())
    for kind in ("results", "errors"):
        got, want = list(quick._read(kind)), list(plain._read(kind))
        assert len(got) == len(want) == sum(1 for r, e in sizes if (r, e)[kind == "errors"])
        written = [b[kind == "errors"] for b in batches if len(b[kind == "errors"])]
        for mine, theirs, frame in zip(got, want, written, strict=True):
            pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
            pd.testing.assert_frame_equal(mine, frame, check_exact=True)
            for name in mine.columns:
                a, b = mine[name].to_numpy(), theirs[name].to_numpy()
                if a.dtype == np.float64:
                    assert a.view(np.uint64).tobytes() == b.view(np.uint64).tobytes(), name
                else:
                    assert pa.array(mine[name].array).type == pa.array(theirs[name].array).type
    columns = ["site_id", "load_factor", "row", "warnings"]
    pd.testing.assert_frame_equal(quick.read_results_columns(columns),
                                  plain.read_results_columns(columns), check_exact=True)


@pytest.mark.parametrize("seed", range(3))
def test_arrow_table_has_from_pandas_columns(seed: int) -> None:
    """`_arrow_table` makes the columns `pa.Table.from_pandas` makes (types, nulls, values)."""
    rng = np.random.default_rng(100 + seed)
    for frame in (_random_results(rng, int(rng.integers(1, 60))),
                  _random_errors(rng, int(rng.integers(1, 30)))):
        quick = _arrow_table(frame)
        plain = pa.Table.from_pandas(frame, preserve_index=False)
        assert quick.schema.equals(plain.schema.remove_metadata())
        assert quick.equals(plain.replace_schema_metadata(None))


_REFAULTS = """
import resource, sys
import numpy as np
from bess_duos.core.worker_process import reuse_freed_memory
reused = reuse_freed_memory() if sys.argv[1] == "reuse" else False
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = np.empty(8 << 20)  # 64 MB: above glibc's largest adaptive mmap threshold
    block.fill(1.0)
    del block
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(reused, sum(faults[1:]))
"""


def test_workers_reuse_freed_memory() -> None:
    """With `reuse_freed_memory` (the local workers' initializer) a freed 64 MB block is used
    again without new page faults; without it each new block is mapped and faulted in afresh."""
    import os
    import subprocess
    import sys

    if not (hasattr(os, "confstr") and "CS_GNU_LIBC_VERSION" in os.confstr_names):
        pytest.skip("glibc only")

    def refaults(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _REFAULTS, mode], check=True,
                             capture_output=True, text=True).stdout.split()
        return out[0], int(out[1])

    (set_reuse, reused), (set_plain, plain) = refaults("reuse"), refaults("plain")
    assert (set_reuse, set_plain) == ("True", "False")
    assert reused < 16 and plain >= 3 * 16 and reused * 4 < plain, (reused, plain)

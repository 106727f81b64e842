"""One keyed Parquet file is read by the Parquet reader itself (`pq.ParquetFile.read`), not a
dataset scan: on seeded random files (several row groups, unsorted or interleaved sites, null
or unwanted site ids, kW, kvarh, other columns) the rows, site codes and sites equal those of
the dataset scan the portfolio used before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
from bess_duos.core import portfolio

from tests.test_portfolio_keyed_profiles import _portfolio_file


def _scanned(path: Path, site_ids: list[str]) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The dataset scan's (rows without site_id, codes, sites), the wanted sites kept."""
    table = ds.dataset(str(path), format=ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(dictionary_columns=["site_id"]))).to_table()
    table = table.unify_dictionaries()
    sites = table.column("site_id")
    table = table.drop_columns(["site_id"])
    if sites.null_count:
        table, sites = table.filter(sites.is_valid()), sites.filter(sites.is_valid())
    sites = sites.combine_chunks()
    keys = sites.dictionary.to_numpy(zero_copy_only=False)
    codes = sites.indices.to_numpy(zero_copy_only=False)
    keep = np.isin(keys, site_ids)[codes]
    return table.filter(pa.array(keep)), codes[keep], keys


def test_one_file_read_equals_the_dataset_scan(tmp_path: Path) -> None:
    for seed in range(40):
        rng = np.random.default_rng(70_000 + seed)
        path = tmp_path / f"p{seed}.parquet"
        wanted = _portfolio_file(rng, path)
        rows, codes, keys = portfolio._keyed_rows(portfolio._Source(str(path)), wanted, False)
        expected_rows, expected_codes, expected_keys = _scanned(path, wanted)
        assert isinstance(rows, pa.Table)
        assert rows.schema.equals(expected_rows.schema, check_metadata=True)
        assert rows.combine_chunks().equals(expected_rows.combine_chunks())
        assert codes.dtype == expected_codes.dtype
        np.testing.assert_array_equal(codes, expected_codes)
        np.testing.assert_array_equal(keys, expected_keys)

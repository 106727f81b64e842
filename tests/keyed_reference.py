"""Each wanted site's own rows of a keyed profile file, as frames: what the portfolio read
for every site before sites of one grid were read at once (`core.portfolio`'s own steps,
composed here as the reference the tests and benchmarks compare with)."""

from __future__ import annotations

import pandas as pd
from bess_duos.core import portfolio


def read_keyed(source: portfolio._Source, site_ids: list[str], is_dir: bool
               ) -> dict[str, pd.DataFrame]:
    """{site_id: that site's rows, in file order} for the wanted sites found in `source`."""
    rows, codes, keys = portfolio._keyed_rows(source, site_ids, is_dir)
    order, bounds = portfolio._site_bounds(codes, len(keys))
    frame = portfolio._rows_frame(rows, order, source)
    return {str(keys[i]): frame.iloc[bounds[i]:bounds[i + 1]] for i in range(len(keys))
            if bounds[i + 1] > bounds[i]}

"""Speed of reading one site-year profile, beside the time pyarrow takes to parse the same bytes.

Run: .venv/bin/python benchmarks/bench_profiles.py [--repeat 300]

Min of N single runs (the 2 cores are shared and noisy) for a one-year half-hourly CSV
(`generate_profile("office", 180_000, start="2025-04-01", seed=5)`, ISO times with Z, 17,520 rows)
and for the same year as the portfolio passes it (a slice of a frame read from a Parquet part:
columns timestamp datetime64[us, UTC] and kwh):
- `pyarrow parse`: pyarrow.csv.read_csv of the file's bytes (Arrow's defaults, threaded);
- `load_profile(path)`, `read_profile(bytes)`: the way every caller gets (Arrow for a plain
  long CSV), and the same with the fast ways off (the general pandas path);
- `read_profile(frame)`: the typed-frame way, and the general path;
- a portfolio part (100 site-years keyed by site_id in one Parquet file, as the demo writes
  them), per site: the batch way (`portfolio._read_keyed_profiles`: the sites' times checked
  all at once), and each site's rows read alone (`tests/keyed_reference.read_keyed` +
  `read_profile`), both
  including the Parquet read, whose own time (`pyarrow.parquet.read_table`) is the floor.
Targets (issue 18): the file read within 1.3 ms (~0.3 ms above the parse), a frame well under
0.5 ms, a portfolio site within 0.2 ms.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from bess_duos.core import portfolio, profiles
from bess_duos.core.profile_loader import read_profile
from bess_duos.core.profiles import load_profile
from timing import best_ms, loadavg, write_office_year

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.keyed_reference import read_keyed


@contextmanager
def _general_path():
    """The fast ways off: every read goes through pandas and the general checks."""
    saved = profiles._long_from_csv, profiles._long_from_clean_frame
    profiles._long_from_csv = lambda *args, **kwargs: None
    profiles._long_from_clean_frame = lambda *args, **kwargs: None
    try:
        yield
    finally:
        profiles._long_from_csv, profiles._long_from_clean_frame = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="runs per figure (min taken)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "year.csv"
        series = write_office_year(path)
        content = path.read_bytes()
        part = Path(folder) / "part.parquet"
        pd.concat([pd.DataFrame({"site_id": f"S{i}", "timestamp": series.index,
                                 "kwh": series.to_numpy()}) for i in range(3)],
                  ignore_index=True).to_parquet(part, index=False)
        frame = pd.read_parquet(part).drop(columns="site_id").iloc[17_520:35_040]

        parse = best_ms(lambda: pcsv.read_csv(io.BytesIO(content)), args.repeat)
        rows = [("pyarrow parse (the floor)", parse, None)]
        for label, func in (("load_profile(path)", lambda: load_profile(path)),
                            ("read_profile(bytes)", lambda: read_profile(content, name="y.csv")),
                            ("read_profile(frame)", lambda: read_profile(frame))):
            fast = best_ms(func, args.repeat)
            with _general_path():
                general = best_ms(func, args.repeat)
            rows.append((label, fast, general))
        sites = [f"S{i:03d}" for i in range(100)]
        keyed = Path(folder) / "sites.parquet"
        pd.concat([pd.DataFrame({"site_id": sid, "timestamp": series.index,
                                 "kwh": series.to_numpy() * (1 + i / 100)})
                   for i, sid in enumerate(sites)], ignore_index=True).to_parquet(keyed,
                                                                                 index=False)
        source = portfolio._Source(str(keyed))
        repeat = max(3, args.repeat // 30)
        floor = best_ms(lambda: pq.read_table(keyed, read_dictionary=["site_id"]), repeat)
        batch = best_ms(lambda: [found if isinstance(found, profiles.Profile)
                                 else read_profile(found) for found in
                                 portfolio._read_keyed_profiles(source, sites, False).values()],
                        repeat)
        alone = best_ms(lambda: [read_profile(frame) for frame in
                                 read_keyed(source, sites, False).values()], repeat)
    print(f"one site-year ({len(series):,} half hours, {len(content) / 2**20:.2f} MB CSV); "
          f"min of {args.repeat}; /proc/loadavg {loadavg()}")
    print(f"{'':28}{'ms':>8}{'general':>10}{'x parse':>9}")
    for label, fast, general in rows:
        shown = f"{general:10.3f}" if general is not None else " " * 10
        print(f"{label:28}{fast:8.3f}{shown}{fast / parse:9.2f}")
    print(f"portfolio part of {len(sites)} site-years, ms per site (min of {repeat}): "
          f"Parquet read {floor / len(sites):.3f}, batch {batch / len(sites):.3f}, "
          f"each site alone {alone / len(sites):.3f}")
    print("targets: file read <= 1.3 ms; frame well under 0.5 ms; portfolio site <= 0.2 ms")


if __name__ == "__main__":
    main()

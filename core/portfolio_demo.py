"""A synthetic portfolio to try portfolio runs on: mixed archetypes and DNO areas, valid MPANs.

`make_demo_portfolio(out_dir, sites)` writes:

- ``sites.csv`` with the `core.portfolio.SITES_COLUMNS`; MPANs are valid 13-digit cores of
  the 14 DNO areas (`core.mpan.generate_cores`), so the MPAN decides the area and the
  postcode column is left blank (no postcode lookups are needed);
- ``profiles/part-NNNNN.parquet``: long Parquet files keyed by ``site_id`` (columns
  site_id, timestamp [UTC], kwh), `sites_per_file` sites each, from
  `core.synthetic.generate_profile` (illustrative shapes, not measured data);
- ``broken.csv`` (site_id, kind, stage): the sites broken on purpose (`broken_share`), each
  with the stage at which the run must report it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from bess_duos.core.mpan import generate_cores
from bess_duos.core.synthetic import ARCHETYPES, generate_profile

DNO_AREAS: tuple[int, ...] = tuple(range(10, 24))
# kWh a year, log-uniform between these (illustrative sizes of each kind of site).
ANNUAL_KWH: dict[str, tuple[float, float]] = {
    "office": (1.0e5, 2.0e6),
    "retail": (2.0e5, 3.0e6),
    "school": (1.0e5, 8.0e5),
    "industrial_24_7": (1.0e6, 2.0e7),
    "domestic": (2.0e4, 2.0e5),
    "ev_depot": (2.0e5, 3.0e6),
}
# Broken on purpose: kind -> the stage `core.portfolio.run_batch` reports it at.
BROKEN_KINDS: dict[str, str] = {
    "bad_check_digit": "mpan",
    "mpan_letters": "mpan",
    "missing_file": "profile",
    "ehv_without_llfc": "tariff",
    "no_tariff_year": "tariff",
    "profile_gap": "profile",
    "bad_kva": "input",
    "no_profile_rows": "profile",
}
NO_TARIFF_START = "2019-04-01"  # no 2019/20 tariffs are bundled in config/tariffs


@dataclass(frozen=True)
class DemoPortfolio:
    """Where the demo was written and which sites were broken on purpose."""

    sites_csv: Path
    profiles_dir: Path
    broken: pd.DataFrame  # site_id, kind, stage
    sites: int


def _plan(sites: int, seed: int, broken_share: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    archetypes = np.array(list(ARCHETYPES))
    kind = archetypes[rng.integers(len(archetypes), size=sites)]
    area = np.array(DNO_AREAS)[rng.integers(len(DNO_AREAS), size=sites)]
    lo = np.array([ANNUAL_KWH[k][0] for k in kind])
    hi = np.array([ANNUAL_KWH[k][1] for k in kind])
    annual = np.exp(rng.uniform(np.log(lo), np.log(hi))).round(-2)
    voltage = np.where(kind == "industrial_24_7", "HV",
                       rng.choice(["LV", "LV", "LV", "LV Sub", "HV"], size=sites))
    mpans = np.empty(sites, dtype="<U13")
    for dno in DNO_AREAS:
        mask = area == dno
        mpans[mask] = generate_cores(int(mask.sum()), dno, seed=seed * 100 + dno)
    plan = pd.DataFrame({
        "site_id": [f"S{i:06d}" for i in range(1, sites + 1)],
        "archetype": kind,
        "area": area,
        "mpan": mpans,
        "voltage": voltage,
        "kwh_per_year": annual,
        "seed": rng.integers(0, 2**31, size=sites),
        "broken": "",
    })
    n_broken = round(broken_share * sites)
    if n_broken:
        chosen = rng.choice(sites, size=n_broken, replace=False)
        kinds = list(BROKEN_KINDS)
        plan.loc[np.sort(chosen), "broken"] = [kinds[i % len(kinds)] for i in range(n_broken)]
    return plan


def _part_name(part: int) -> str:
    return f"part-{part:05d}.parquet"


def _write_part(args: tuple[pd.DataFrame, Path, str, int]) -> list[float]:
    """Generate and write one part's profiles; return each site's agreed kVA."""
    plan, path, start, days = args
    frames, kvas = [], []
    end = pd.Timestamp(start) + pd.Timedelta(days=days)
    for site in plan.itertuples(index=False):
        first = NO_TARIFF_START if site.broken == "no_tariff_year" else start
        last = pd.Timestamp(first) + pd.Timedelta(days=days) if first != start else end
        profile = generate_profile(site.archetype, float(site.kwh_per_year), first, last,
                                   seed=int(site.seed))
        # Agreed capacity: peak kW at a 0.95 power factor with 25% headroom, in 5 kVA steps.
        kvas.append(5.0 * math.ceil(2.0 * float(profile.max()) / 0.95 * 1.25 / 5.0))
        if site.broken == "no_profile_rows":
            continue
        if site.broken == "profile_gap":
            profile = profile.drop(profile.index[100:148])  # a day of half hours missing
        frames.append(pd.DataFrame({
            "site_id": site.site_id, "timestamp": profile.index, "kwh": profile.to_numpy(),
        }))
    if frames:
        pd.concat(frames, ignore_index=True).to_parquet(path, index=False)
    return kvas


def _parts(plan: pd.DataFrame, profiles_dir: Path, start: str, days: int, per_file: int
           ) -> Iterator[tuple[pd.DataFrame, Path, str, int]]:
    for part, lo in enumerate(range(0, len(plan), per_file)):
        yield plan.iloc[lo:lo + per_file], profiles_dir / _part_name(part), start, days


def make_demo_portfolio(
    out_dir: str | Path,
    sites: int = 1000,
    *,
    seed: int = 0,
    start: str = "2025-04-01",
    days: int = 365,
    broken_share: float = 0.0,
    sites_per_file: int = 100,
    workers: int = 1,
) -> DemoPortfolio:
    """Write a synthetic portfolio of `sites` sites under `out_dir` (see the module doc).

    Profiles run `days` days from `start` (UK clock midnight). `broken_share` of the sites are
    broken on purpose, cycling through `BROKEN_KINDS`. `workers` > 1 generates part files
    in parallel processes. The same arguments always write the same files.
    """
    if sites < 1:
        raise ValueError(f"sites must be at least 1, got {sites}")
    if not 0.0 <= broken_share <= 1.0:
        raise ValueError(f"broken_share must be between 0 and 1, got {broken_share}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    out = Path(out_dir)
    profiles_dir = out / "profiles"
    profiles_dir.mkdir(parents=True, exist_ok=True)
    plan = _plan(sites, seed, broken_share)
    jobs = list(_parts(plan, profiles_dir, start, days, sites_per_file))
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            kva_parts = list(pool.map(_write_part, jobs))
    else:
        kva_parts = [_write_part(job) for job in jobs]
    kva = np.concatenate([np.asarray(k, dtype=float) for k in kva_parts])

    part_of = np.arange(sites) // sites_per_file
    table = pd.DataFrame({
        "site_id": plan["site_id"],
        "mpan": plan["mpan"],
        "postcode": "",
        "voltage": plan["voltage"],
        "kva": [f"{v:g}" for v in kva],
        "profile_path": [f"profiles/{_part_name(p)}" for p in part_of],
    })
    broken = plan["broken"].to_numpy()
    core = table["mpan"].to_numpy()
    bad = broken == "bad_check_digit"
    table.loc[bad, "mpan"] = [c[:12] + str((int(c[12]) + 1) % 10) for c in core[bad]]
    letters = broken == "mpan_letters"
    table.loc[letters, "mpan"] = [c[:5] + "O" + c[6:] for c in core[letters]]
    table.loc[broken == "missing_file", "profile_path"] = "profiles/missing.parquet"
    table.loc[broken == "ehv_without_llfc", "voltage"] = "EHV"
    table.loc[broken == "bad_kva", "kva"] = "lots"
    sites_csv = out / "sites.csv"
    table.to_csv(sites_csv, index=False)
    marked = plan[plan["broken"] != ""]
    broken_frame = pd.DataFrame({
        "site_id": marked["site_id"].to_numpy(),
        "kind": marked["broken"].to_numpy(),
        "stage": [BROKEN_KINDS[k] for k in marked["broken"]],
    })
    broken_frame.to_csv(out / "broken.csv", index=False)
    return DemoPortfolio(sites_csv, profiles_dir, broken_frame, sites)

"""The site-specific tariffs of a voltage are read once and shared between kVAs (`_SiteSpecific`):
every answer (tariff, notes, residual band and doubt) and every error is the same as the old
resolution's, which read everything afresh per query (`tests/tariff_reference.py`)."""

from __future__ import annotations

import csv
import datetime
import math
import os
import random
import re
import shutil
from dataclasses import replace

import pytest
from bess_duos.core.paths import config_dir
from bess_duos.core.tariffs import TariffQuery, resolve_query, resolve_remembered

from tests.tariff_reference import resolve_site_specific

# (distributor, IDNO's area, charging year): DNO areas, IDNOs, the one area-year with an
# alternative threshold set (11, 2027) and area-years without residual bands (12, 13 in 2022).
SITES = [(10, None, 2026), (11, None, 2027), (11, None, 2026), (12, None, 2022),
         (13, None, 2022), (14, None, 2024), (17, None, 2025), (20, None, 2023),
         (23, None, 2027), (24, 23, 2026), (24, 11, 2027), (24, 14, 2025)]
VOLTAGES = ["LV", "LV Sub", "HV", None, "hv", "lv-sub", "EHV", "MV"]


def _outcome(resolve, query: TariffQuery) -> tuple:
    """What a resolution gives: the tariff (every field) or the error's type, text and field."""
    try:
        tariff = resolve(query)
    except (LookupError, ValueError) as exc:
        return ("error", type(exc), str(exc), getattr(exc, "field", None))
    return ("tariff", tariff, tariff.selection_note, tariff.residual_doubt, hash(tariff))


def _thresholds(area: int, year: int) -> list[float]:
    path = config_dir() / "residual_bands" / str(year) / f"{area:02d}.csv"
    if not path.exists():
        return [100.0]
    with path.open(newline="", encoding="utf-8") as handle:
        uppers = {row["upper"] for row in csv.DictReader(handle)}
    return sorted(float(text) for text in uppers if re.fullmatch(r"\d+(\.\d*)?", text))


def _kvas(rng: random.Random, area: int, year: int) -> list[float | int | None]:
    """Random capacities, every threshold and the kVAs either side of it, odd ones too."""
    kvas: list[float | int | None] = [None, 0, 0.0, -5, 1, 1e-9, math.nan, math.inf, 1e12]
    for upper in _thresholds(area, year):
        kvas += [upper, int(upper), math.nextafter(upper, 0.0), math.nextafter(upper, math.inf),
                 upper - 1, upper + 1, upper - 0.5, upper + 0.5]
    kvas += [rng.uniform(0.1, 10_000) for _ in range(25)]
    kvas += [rng.randint(1, 5_000) for _ in range(10)]
    rng.shuffle(kvas)
    return kvas


@pytest.mark.parametrize(("distributor", "host", "year"), SITES)
def test_each_kva_resolves_as_the_old_resolution_did(distributor, host, year) -> None:
    rng = random.Random(distributor * 10_000 + year)
    on = datetime.date(year, rng.choice([4, 9, 12]), 1)
    area = host or distributor
    for voltage in VOLTAGES:
        for generation in (False, True):
            for kva in _kvas(rng, area, year):
                query = TariffQuery(distributor, host, voltage=voltage, kva=kva, on=on,
                                    generation=generation)
                expected = _outcome(resolve_site_specific, query)
                assert _outcome(resolve_query, query) == expected, query
                assert _outcome(resolve_query, query) == expected, query  # remembered


@pytest.mark.parametrize("band", ["1", "Band 2", 3, "none", "0", "band 9", "x"])
def test_a_given_residual_band_resolves_as_it_did(band) -> None:
    for distributor, host, year in SITES:
        for voltage in ("LV", "HV", None):
            query = TariffQuery(distributor, host, voltage=voltage, kva=500.0,
                                residual_band=band, on=datetime.date(year, 6, 1))
            assert _outcome(resolve_query, query) == _outcome(resolve_site_specific, query)


def test_kvas_share_one_reading_until_a_residual_file_changes(tmp_path, monkeypatch) -> None:
    """A site differing only in kVA reads no file; a rewritten (or new) residual bands or
    threshold check file is read afresh, as `resolve_query`'s answers are."""
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    monkeypatch.setenv("BESS_DUOS_CONFIG", str(config))
    on = datetime.date(2026, 6, 1)

    def both(kva: float) -> tuple:
        query = TariffQuery(14, voltage="LV", kva=kva, on=on)
        got = _outcome(resolve_query, query)
        assert got == _outcome(resolve_site_specific, query)
        return got

    before = [both(kva) for kva in (50.0, 85.0, 120.0, 300.0)]
    path = config / "residual_bands" / "2026" / "14.csv"
    rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    upper = str(int(_thresholds(14, 2026)[0]))
    at = next(i for i, row in enumerate(rows) if f",{upper}," in row and ",LV," in row)
    rows[at] = rows[at].replace(f",{upper},", ",100,", 1)  # LV band 1 now up to 100 kVA
    path.write_text("".join(rows), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    after = [both(kva) for kva in (50.0, 85.0, 120.0, 300.0)]
    assert after != before
    check = config / "residual_bands" / "2027" / "11_check.yaml"
    shutil.copy(check, config / "residual_bands" / "2026" / "14_check.yaml")
    doubted = both(95.0)  # band 1 under 14's thresholds (now), band 2 under the copied check's
    assert doubted[3].startswith("RESIDUAL BAND IN DOUBT") and "band 2" in doubted[3]


@pytest.mark.parametrize(("distributor", "host", "year"), SITES)
def test_the_remembered_resolution_answers_as_resolve_query(distributor, host, year) -> None:
    """`resolve_remembered` (a portfolio's: the voltage's tariffs shared by every kVA, files not
    checked again) gives every site what `resolve_query` gives, errors too; named and LLFC
    queries included."""
    rng = random.Random(distributor * 7_919 + year)
    on = datetime.date(year, rng.choice([4, 9, 12]), 1)
    queries = [TariffQuery(distributor, host, voltage=voltage, kva=kva, on=on,
                           generation=generation, residual_band=band)
               for voltage in VOLTAGES for generation in (False, True)
               for kva in _kvas(rng, host or distributor, year)
               for band in (None, None, None, rng.choice(["1", "Band 2", 4, "none", "x"]))]
    queries += [TariffQuery(distributor, host, voltage="HV", kva=300.0, on=on, llfc=llfc,
                            tariff_name=name) for llfc in (None, "", " ", "123", "X99")
                for name in (None, "", "Domestic Aggregated", "LV Site Specific Band 1")]
    rng.shuffle(queries)
    for query in queries + queries[:50]:  # and again, remembered
        assert _outcome(resolve_remembered, query) == _outcome(resolve_query, query), query


def test_for_year_is_replace_of_on() -> None:
    query = TariffQuery(24, 23, voltage="HV", llfc="123", kva=1e3, on=datetime.date(2026, 6, 1),
                        tariff_name="x", profile_class="05", annex=3, generation=True)
    moved = query.for_year(2027)
    assert moved == replace(query, on=datetime.date(2027, 4, 1))
    assert type(moved) is TariffQuery and hash(moved) == hash(replace(query, on=moved.on))
    assert query.on == datetime.date(2026, 6, 1)

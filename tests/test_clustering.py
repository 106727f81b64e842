"""KMeans clustering of site features: recovers archetypes, deterministic, named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.clustering import CLUSTER_FEATURES, cluster_sites
from bess_duos.core.features import create_features_dataframe
from bess_duos.core.synthetic import ARCHETYPES, generate_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def portfolio() -> tuple[pd.DataFrame, pd.Series]:
    """Six sites of each archetype, different sizes and seeds, over 2025."""
    profiles, truth = {}, {}
    for name in ARCHETYPES:
        for i in range(6):
            site = f"{name}-{i}"
            profiles[site] = generate_profile(name, 50_000 * (i + 1), "2025-01-01", seed=i)
            truth[site] = name
    return create_features_dataframe(profiles), pd.Series(truth)


def test_silhouette_chooses_six_clusters_that_match_the_archetypes(portfolio):
    features, truth = portfolio
    result = cluster_sites(features, seed=0)
    assert result.k == 6
    assert max(result.silhouette, key=result.silhouette.get) == 6
    table = pd.crosstab(truth, result.labels)
    assert ((table > 0).sum(axis=1) == 1).all()  # each archetype in exactly one cluster
    assert ((table > 0).sum(axis=0) == 1).all()  # each cluster holds one archetype
    assert result.summary["sites"].tolist() == [6] * 6
    assert len(set(result.names.values())) == 6
    names = result.named_labels()
    assert names["industrial_24_7-0"] == "24/7 industrial: high load factor"
    assert names["ev_depot-3"].startswith("night load (e.g. EV depot): ")
    assert names["domestic-1"].startswith("domestic-like: ")


def test_deterministic_with_a_seed_and_k_given(portfolio):
    features, _ = portfolio
    a = cluster_sites(features, k=3, seed=11)
    b = cluster_sites(features, k=3, seed=11)
    pd.testing.assert_series_equal(a.labels, b.labels)
    assert a.names == b.names and a.k == 3 and a.silhouette == {}


def test_missing_features_are_filled_or_dropped_and_bad_k_refused(portfolio):
    features, _ = portfolio
    holed = features.copy()
    holed.loc["office-0", "seasonal_ratio"] = np.nan
    result = cluster_sites(holed, k=6, seed=0)
    assert result.filled_values == 1
    assert "red_share" not in result.features_used  # asked for below: all NaN, dropped
    with_red = cluster_sites(holed, k=2, columns=["load_factor", "red_share"])
    assert with_red.features_used == ("load_factor",)
    with pytest.raises(ValueError, match="k=99"):
        cluster_sites(features, k=99)
    with pytest.raises(ValueError, match="columns \\['nonsense'\\] are missing"):
        cluster_sites(features, columns=["nonsense"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10**6), sites=st.integers(4, 30), k=st.sampled_from([None, 2, 3, 5]),
       peak=st.booleans(), blanks=st.floats(0.0, 0.6), levels=st.sampled_from([None, 2, 3]))
def test_every_cluster_gets_its_own_name_on_random_feature_tables(
        seed: int, sites: int, k: int | None, peak: bool, blanks: float, levels: int | None
) -> None:
    """Random tables (continuous or a few repeated levels, blanks, peak times a cluster may not
    have at all): one distinct name per cluster, never a crash. Found: a cluster whose sites
    all lacked a peak time crashed the naming (NaN hour)."""
    rng = np.random.default_rng(seed)
    columns = [*CLUSTER_FEATURES, *(["peak_time_h"] if peak else [])]
    values = (rng.normal(size=(sites, len(columns))) if levels is None
              else rng.integers(0, levels, (sites, len(columns))).astype(float))
    features = pd.DataFrame(values, columns=columns)
    if peak:
        features["peak_time_h"] = rng.integers(0, 48, sites) / 2
    features = features.mask(rng.random(features.shape) < blanks)
    features["pattern"] = rng.choice(["flat", "office/commercial"], sites)
    try:
        result = cluster_sites(features, k=k, columns=columns)
    except ValueError as exc:  # too few distinct sites for k, or every value blank: said so
        assert "distinct sites" in str(exc) or "empty (NaN)" in str(exc)
        return
    names = list(result.names.values())
    assert len(names) == result.k and len(set(names)) == len(names), names
    assert set(result.named_labels()) <= set(names)

"""Group sites by load shape: KMeans on standardised features, with readable cluster names.

Method: take the feature columns (default `CLUSTER_FEATURES`), drop any column that is NaN
for every site, fill remaining NaNs with the column median (counted in the result), scale
each column to zero mean and unit variance (StandardScaler), and run KMeans with a fixed
seed and `n_init` so the same input always gives the same clusters. When `k` is not given,
every k in `k_range` is tried and the one with the highest silhouette score is kept
(ties: the smaller k). Peak time is left out by default (on flat profiles it is noise); if
asked for, it is used as its angle on the 24 h clock (cos, sin) so 23:30 sits next to 00:00.
Silhouette scores use at most `SILHOUETTE_SAMPLE` sites, seeded.

Names: each cluster is named after the most common pattern label of its sites (see
`core.features.PATTERN_RULES`) and its most distinctive trait, the feature whose centroid is
furthest from the portfolio mean in standard deviations ("high load factor", "low weekend
use"); if two names would clash the second trait is added, then the cluster number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

CLUSTER_FEATURES: tuple[str, ...] = (
    "load_factor",
    "weekend_factor",
    "day_night_ratio",
    "base_load_ratio",
    "seasonal_ratio",
    "autocorr_24h",
    "autocorr_168h",
)
SILHOUETTE_SAMPLE = 5_000
N_INIT = 10
_TRAIT_WORDS = {
    "load_factor": "load factor",
    "weekend_factor": "weekend use",
    "day_night_ratio": "day/night ratio",
    "base_load_ratio": "base load",
    "seasonal_ratio": "winter/summer ratio",
    "autocorr_24h": "daily regularity",
    "autocorr_168h": "weekly regularity",
    "peak_time_h": "peak time",
    "peak_ratio": "peak ratio",
    "red_share": "red-band share",
}


@dataclass(frozen=True)
class ClusterResult:
    """Cluster of every site, the chosen k, and per-cluster summaries and names."""

    labels: pd.Series  # cluster number per site (index = the features' index)
    names: dict[int, str]
    k: int
    silhouette: dict[int, float]  # k -> score (only k tried)
    summary: pd.DataFrame  # per cluster: name, sites, dominant pattern, feature means
    features_used: tuple[str, ...]
    filled_values: int  # NaNs replaced by the column median

    def named_labels(self) -> pd.Series:
        """The cluster name of every site."""
        return self.labels.map(self.names).rename("cluster_name")


def _matrix(features: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, list[str], int]:
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"features: columns {missing} are missing (build them with "
                         "bess_duos.core.features.create_features_dataframe)")
    frame = features[list(columns)].astype(float)
    frame = frame.loc[:, frame.notna().any()]
    if frame.shape[1] == 0:
        raise ValueError("features: every feature column is empty (NaN) - profiles too short?")
    filled = int(frame.isna().sum().sum())
    frame = frame.fillna(frame.median())
    if "peak_time_h" in frame.columns:  # a clock time wraps at midnight: use its angle
        angle = 2 * np.pi * frame.pop("peak_time_h") / 24.0
        frame["peak_time_cos"], frame["peak_time_sin"] = np.cos(angle), np.sin(angle)
    return frame.to_numpy(), list(frame.columns), filled


def _circular_mean_hour(hours: pd.Series) -> float:
    """The mean clock hour on the 24 h circle, to the half hour; NaN when none is known."""
    angle = 2 * np.pi * hours.dropna().to_numpy(dtype=float) / 24.0
    if angle.size == 0:
        return float("nan")
    mean = np.arctan2(np.sin(angle).mean(), np.cos(angle).mean())
    return float(np.round(mean % (2 * np.pi) * 24.0 / (2 * np.pi) * 2) / 2 % 24)


def _traits(z_row: np.ndarray, columns: list[str], peak_hour: float) -> list[str]:
    """Centroid traits, most distinctive first (largest |z|)."""
    out = []
    for i in np.argsort(-np.abs(z_row), kind="stable"):
        if columns[i].startswith("peak_time"):
            text = ("peak time not known" if not np.isfinite(peak_hour) else  # none measured
                    f"peak around {int(peak_hour):02d}:{round(peak_hour % 1 * 60):02d}")
        else:
            word = _TRAIT_WORDS.get(columns[i], columns[i])
            text = f"{'high' if z_row[i] > 0 else 'low'} {word}"
        if text not in out:
            out.append(text)
    return out


def cluster_sites(
    features: pd.DataFrame,
    k: int | None = None,
    k_range: Sequence[int] = range(2, 9),
    seed: int = 0,
    columns: Sequence[str] = CLUSTER_FEATURES,
) -> ClusterResult:
    """KMeans clusters of sites from their features (rows = sites), deterministic by `seed`.

    `k` fixes the number of clusters; otherwise it is chosen by silhouette score over
    `k_range` (each k must be below the number of distinct sites).
    """
    x, used, filled = _matrix(features, columns)
    n = len(x)
    z = StandardScaler().fit_transform(x)
    z = np.nan_to_num(z)  # a constant column scales to 0/0
    distinct = len(np.unique(z.round(12), axis=0))

    def fit(kk: int) -> KMeans:
        return KMeans(n_clusters=kk, n_init=N_INIT, random_state=seed).fit(z)

    scores: dict[int, float] = {}
    if k is not None:
        if not 1 <= k <= distinct:
            raise ValueError(f"k={k} must be between 1 and the {distinct} distinct sites")
        model = fit(k)
    else:
        tried = [kk for kk in k_range if 2 <= kk < distinct]
        if not tried:
            raise ValueError(
                f"cannot choose k from {list(k_range)} with {distinct} distinct sites; give k"
            )
        models = {}
        for kk in tried:
            models[kk] = fit(kk)
            scores[kk] = float(silhouette_score(
                z, models[kk].labels_, sample_size=min(n, SILHOUETTE_SAMPLE), random_state=seed))
        best = max(tried, key=lambda kk: (scores[kk], -kk))
        model = models[best]

    labels = pd.Series(model.labels_, index=features.index, name="cluster")
    centres = model.cluster_centers_
    patterns = features["pattern"] if "pattern" in features.columns else None
    names: dict[int, str] = {}
    rows = []
    for c in range(model.n_clusters):
        members = labels == c
        dominant = (
            patterns[members].value_counts().index[0] if patterns is not None else "sites"
        )
        peak_hour = (
            _circular_mean_hour(features.loc[members, "peak_time_h"])
            if "peak_time_h" in features.columns else float("nan")
        )
        traits = _traits(centres[c], used, peak_hour)
        name = f"{dominant}: {traits[0]}"
        if name in names.values() and len(traits) > 1:
            name = f"{name}, {traits[1]}"
        if name in names.values():
            name = f"{name} ({c + 1})"
        names[c] = name
        shown = [col for col in used if col in features.columns]
        means = features.loc[members, shown].astype(float).mean()
        if "peak_time_h" in features.columns:
            means["peak_time_h"] = peak_hour
        rows.append({"cluster": c, "name": name, "sites": int(members.sum()),
                     "dominant_pattern": dominant, **means.to_dict()})
    summary = pd.DataFrame(rows).set_index("cluster")
    return ClusterResult(
        labels=labels,
        names=names,
        k=int(model.n_clusters),
        silhouette=scores,
        summary=summary,
        features_used=tuple(used),
        filled_values=filled,
    )

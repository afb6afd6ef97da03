"""Group unit vectors into themes, the number of themes chosen from the data.

Agglomerative clustering (average linkage, cosine) on a bounded sample builds the whole tree
once; every cut of
2…``max_themes`` groups is scored by its silhouette (cosine) and the best cut wins. Every vector
then joins the nearest centroid of that cut, so a step of 10,000 items costs one sample's tree
and one matrix product, not a tree over all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Above this many vectors the tree is built on a sample (the tree is quadratic in memory).
SAMPLE = 1000
#: The most themes a step shows; the silhouette picks how many below it.
MAX_THEMES = 8
#: A group with fewer members is no theme: its items stay unthemed.
MIN_THEME_SIZE = 2
#: Fewer vectors than this: no grouping (a silhouette on a handful of points means nothing).
MIN_VECTORS = 6


@dataclass(frozen=True, slots=True)
class Clustering:
    labels: NDArray[np.intp]  # per vector, its theme (0…k-1), -1 for none
    centroids: NDArray[np.float32]  # (k, d), unit length: what trends match themes by
    silhouette: float
    # The common direction removed before grouping: a vector placed later is centred alike.
    centre: NDArray[np.float32] | None = None

    def nearest(self, vectors: NDArray[np.floating]) -> NDArray[np.intp]:
        """The theme each of ``vectors`` (not part of the grouping) is closest to."""
        if not len(self.centroids) or self.centre is None:
            return np.full(len(vectors), -1, dtype=np.intp)
        unit = normalise(vectors, self.centre)
        nearest: NDArray[np.intp] = np.argmax(unit @ self.centroids.T, axis=1).astype(np.intp)
        return nearest


def normalise(
    vectors: NDArray[np.floating], centre: NDArray[np.floating] | None = None
) -> NDArray[np.float32]:
    """Unit rows after removing the common direction: models such as E5 put every sentence in
    a narrow cone (cosine 0.8 between unrelated ones); centring spreads the cone out."""
    v = np.asarray(vectors, dtype=np.float32)
    v = v - (v.mean(axis=0, keepdims=True) if centre is None else centre)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit: NDArray[np.float32] = v / np.maximum(norms, 1e-12)
    return unit


def cluster(
    vectors: NDArray[np.floating],
    *,
    max_themes: int = MAX_THEMES,
    min_size: int = MIN_THEME_SIZE,
    sample: int = SAMPLE,
    seed: int = 0,
) -> Clustering:
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    empty = Clustering(np.full(n, -1, dtype=np.intp), np.zeros((0, 0), np.float32), 0.0)
    if n < MIN_VECTORS:
        return empty
    centre = np.asarray(vectors, dtype=np.float32).mean(axis=0, keepdims=True)
    unit = normalise(vectors, centre)
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(n, sample, replace=False)) if n > sample else np.arange(n)
    part = unit[picked]
    # Average linkage beat Ward and complete linkage on the labelled answers (docs/themes.md).
    tree = linkage(part, method="average", metric="cosine")
    distances = np.clip(1.0 - part @ part.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    best: tuple[float, NDArray[np.intp]] | None = None
    for k in range(2, min(max_themes, len(part) // min_size) + 1):
        cut = fcluster(tree, k, criterion="maxclust").astype(np.intp) - 1
        if len(np.unique(cut)) < 2:
            continue
        score = float(silhouette_score(distances, cut, metric="precomputed"))
        if best is None or score > best[0]:
            best = (score, cut)
    if best is None:
        return empty
    score, cut = best
    k = int(cut.max()) + 1
    centroids = np.stack([part[cut == c].mean(axis=0) for c in range(k)])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    labels = np.argmax(unit @ centroids.T, axis=1).astype(np.intp)
    sizes = np.bincount(labels, minlength=k)
    keep = sizes >= min_size
    if not keep.all():
        renumber = np.full(k, -1, dtype=np.intp)
        renumber[keep] = np.arange(int(keep.sum()))
        labels = np.where(labels >= 0, renumber[labels], -1)
        centroids = centroids[keep]
    return Clustering(labels, centroids.astype(np.float32), score, centre)

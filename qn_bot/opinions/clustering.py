"""Opinion groups: k-means on the map for k = 2…5, k chosen by silhouette, stable from one
computation to the next.

Stability: each k starts from the last groups where it can (their members' new places give the
starting centres), the new groups take the ids of the old ones they share most members with,
and k itself changes only when another k has won several computations running.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from qn_bot.opinions.model import FloatArray, IntArray, KChoice

CANDIDATE_KS = (2, 3, 4, 5)
#: A new k replaces the current one after winning this many computations in a row.
WINS_TO_CHANGE_K = 3
#: The silhouette is measured on at most this many participants (it is quadratic).
SILHOUETTE_SAMPLE = 2000
SEED = 0


def _seeds(points: FloatArray, previous: IntArray, k: int) -> FloatArray | None:
    """The last groups' centres on the new map, if there were k of them with members still
    counted."""
    ids = np.unique(previous[previous >= 0])
    if len(ids) != k:
        return None
    return np.stack([points[previous == gid].mean(axis=0) for gid in ids])


def _cluster(points: FloatArray, previous: IntArray, k: int) -> tuple[IntArray, float]:
    seeds = _seeds(points, previous, k)
    model = KMeans(
        n_clusters=k,
        init="k-means++" if seeds is None else seeds,
        n_init=4 if seeds is None else 1,
        random_state=SEED,
    )
    labels = np.asarray(model.fit_predict(points), dtype=np.int64)
    if len(np.unique(labels)) < 2:
        return labels, -1.0
    sample = min(len(points), SILHOUETTE_SAMPLE)
    score = silhouette_score(points, labels, sample_size=sample, random_state=SEED)
    return labels, float(score)


def choose_k(scores: Mapping[int, float], last: KChoice) -> KChoice:
    """The k to use now: the silhouette's best, unless the current k holds (the best has not
    won often enough yet)."""
    best = max(scores, key=lambda k: (scores[k], -k))
    if last.k is None or last.k not in scores or best == last.k:
        return KChoice(best)
    streak = last.streak + 1 if last.challenger == best else 1
    if streak >= WINS_TO_CHANGE_K:
        return KChoice(best)
    return KChoice(last.k, best, streak)


def _stable_ids(labels: IntArray, previous: IntArray, k: int) -> IntArray:
    """Group ids for the new clusters: the id of the old group each shares most members with
    (one old group per new cluster), fresh ids for the others — ordered by size when there is
    no history, so that group 1 is the largest."""
    sizes = np.bincount(labels, minlength=k)
    old_ids = np.unique(previous[previous >= 0])
    mapping = np.full(k, -1, dtype=np.int64)
    if len(old_ids):
        overlap = np.zeros((k, len(old_ids)), dtype=np.int64)
        had = previous >= 0
        np.add.at(overlap, (labels[had], np.searchsorted(old_ids, previous[had])), 1)
        new, old = linear_sum_assignment(overlap, maximize=True)
        for n, o in zip(new, old, strict=True):
            if overlap[n, o] > 0:
                mapping[n] = old_ids[o]
    taken = set(int(i) for i in mapping if i >= 0)
    fresh = (i for i in range(1, k + len(taken) + 2) if i not in taken)
    for cluster in np.argsort(-sizes, kind="stable"):
        if mapping[cluster] < 0:
            mapping[cluster] = next(fresh)
    return mapping[labels]


def groups(points: FloatArray, previous: IntArray, last: KChoice) -> tuple[IntArray, KChoice]:
    """Each participant's group id, and the k choice to remember. ``previous``: each row's
    group id in the last computation, -1 for none."""
    n = len(points)
    scored = {k: _cluster(points, previous, k) for k in CANDIDATE_KS if k < n}
    choice = choose_k({k: score for k, (_, score) in scored.items()}, last)
    assert choice.k is not None
    labels, _ = scored[choice.k]
    return _stable_ids(labels, previous, choice.k), choice

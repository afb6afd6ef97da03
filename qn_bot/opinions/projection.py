"""The opinion map's two axes: PCA of the vote matrix, a missing vote counting as the
statement's mean vote.

With missing votes at the mean, centring leaves them at exactly zero and every column's mean
at zero: the centred matrix stays sparse, and a truncated SVD of it *is* its PCA.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from qn_bot.opinions.matrix import VoteMatrix
from qn_bot.opinions.model import Basis, FloatArray

#: Same input, same map: the randomised solver's seed.
SEED = 0


def statement_means(matrix: VoteMatrix) -> FloatArray:
    n_statements = matrix.shape[1]
    count = np.bincount(matrix.cols, minlength=n_statements)
    total = np.bincount(matrix.cols, weights=matrix.values, minlength=n_statements)
    return np.divide(total, count, out=np.zeros(n_statements), where=count > 0)


def project(matrix: VoteMatrix) -> tuple[Basis, FloatArray]:
    """The axes and each counted participant's place on them, scaled by sqrt(statements /
    statements voted on): without it, someone who voted on few cards sits near the centre only
    because their missing votes were filled with means."""
    n, m = matrix.shape
    means = statement_means(matrix)
    centred = sp.csr_matrix(
        (matrix.values - means[matrix.cols], (matrix.rows, matrix.cols)), shape=(n, m)
    )
    components = np.zeros((2, m))
    if n >= 2 and m >= 2:
        if min(n, m) > 2:
            svd = TruncatedSVD(n_components=2, algorithm="randomized", random_state=SEED)
            svd.fit(centred)
            components = np.asarray(svd.components_, dtype=np.float64)
        else:  # TruncatedSVD wants fewer components than features: tiny, exact
            _, _, vt = np.linalg.svd(centred.toarray(), full_matrices=False)
            components[: len(vt)] = vt[:2]
    # A component's sign is arbitrary: fix it (largest loading positive) so that the map does
    # not flip from one computation to the next.
    for axis in components:
        if axis.size and axis[np.argmax(np.abs(axis))] < 0:
            axis *= -1
    voted = np.maximum(matrix.voted(), 1)
    points = np.asarray(centred @ components.T) * np.sqrt(m / voted)[:, None]
    return Basis(matrix.statement_ids, means, components), points


def place(basis: Basis, votes: dict[int, int]) -> FloatArray | None:
    """Where one set of votes (item id -> vote) lands on the map; None without a vote on a
    statement of the map."""
    ids = basis.statement_ids
    m = len(ids)
    if m == 0:
        return None
    item_ids = np.fromiter(votes, dtype=np.int64, count=len(votes))
    values = np.fromiter(votes.values(), dtype=np.float64, count=len(votes))
    cols = np.searchsorted(ids, item_ids)
    known = (cols < m) & (ids[np.minimum(cols, m - 1)] == item_ids)
    if not known.any():
        return None
    cols, values = cols[known], values[known]
    point = basis.components[:, cols] @ (values - basis.means[cols])
    return np.asarray(point * np.sqrt(m / len(cols)), dtype=np.float64)

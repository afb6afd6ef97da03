"""Which statements speak for a group, and which for everyone.

Counts get pseudocounts (+1 success, +2 trials: a statement one person agreed with is not "100 %
agreed"), and a statement must pass significance tests before it is reported, as Pol.is
describes:
- *representative* of a group: agreed (or disagreed) with in the group more than outside it —
  a two-proportion z-test of the group against the rest — and by most of the group — a
  one-proportion z-test against one half —, ranked by (group rate / rest rate) × both z × group
  rate;
- *consensus*: agreed (or disagreed) with by most of every group (each group's one-proportion
  test), ranked by group-informed consensus: the product over groups of (agree + 1) / (votes +
  2), so a large majority group cannot carry a statement the others reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from qn_bot.opinions.matrix import VoteMatrix
from qn_bot.opinions.model import FloatArray, IntArray, StatementRate

#: One-sided 90 % significance.
Z_90 = 1.2816
#: At most this many statements per group, and of consensus.
TOP = 5


@dataclass(frozen=True, slots=True)
class Tally:
    """Votes per group (rows) and statement (columns)."""

    agree: IntArray
    disagree: IntArray
    votes: IntArray

    @property
    def by_everyone(self) -> Tally:
        return Tally(
            self.agree.sum(axis=0, keepdims=True),
            self.disagree.sum(axis=0, keepdims=True),
            self.votes.sum(axis=0, keepdims=True),
        )


def tally(matrix: VoteMatrix, row_groups: IntArray, n_groups: int) -> Tally:
    """``row_groups``: each counted participant's group index (0…n_groups - 1)."""
    m = matrix.shape[1]
    cell = row_groups[matrix.rows] * m + matrix.cols
    size = n_groups * m

    def count(mask: np.ndarray | None) -> IntArray:
        cells = cell if mask is None else cell[mask]
        return np.bincount(cells, minlength=size).reshape(n_groups, m)

    return Tally(count(matrix.values == 1), count(matrix.values == -1), count(None))


def _rate(success: IntArray, trials: IntArray) -> FloatArray:
    return (success + 1.0) / (trials + 2.0)


def one_proportion_z(success: IntArray, trials: IntArray) -> FloatArray:
    """How far the rate is above one half, in standard errors."""
    z = (_rate(success, trials) - 0.5) * 2.0 * np.sqrt(trials + 2.0)
    return np.asarray(z, dtype=np.float64)


def two_proportion_z(
    success: IntArray, trials: IntArray, success_rest: IntArray, trials_rest: IntArray
) -> FloatArray:
    """How far the first rate is above the second, in standard errors of their difference."""
    p1, p2 = _rate(success, trials), _rate(success_rest, trials_rest)
    pooled = (success + success_rest + 2.0) / (trials + trials_rest + 4.0)
    spread = pooled * (1 - pooled) * (1 / (trials + 2.0) + 1 / (trials_rest + 2.0))
    return np.asarray((p1 - p2) / np.sqrt(spread), dtype=np.float64)


def _rates(
    counts: Tally, row: int, cols: IntArray, texts: Mapping[int, str], ids: IntArray
) -> tuple[StatementRate, ...]:
    out = []
    for c in cols:
        votes = int(counts.votes[row, c])
        out.append(
            StatementRate(
                item_id=int(ids[c]),
                text=texts[int(ids[c])],
                agree=round(float(counts.agree[row, c]) / votes, 3) if votes else 0.0,
                disagree=round(float(counts.disagree[row, c]) / votes, 3) if votes else 0.0,
                votes=votes,
            )
        )
    return tuple(out)


def _top(score: FloatArray) -> IntArray:
    order = np.argsort(-score, kind="stable")
    return order[score[order] > 0][:TOP]


def representative(
    counts: Tally, group: int, texts: Mapping[int, str], ids: IntArray
) -> tuple[StatementRate, ...]:
    """The statements that set this group apart (rates within the group)."""
    everyone = counts.by_everyone
    best = np.zeros(counts.votes.shape[1])
    for success, total in ((counts.agree, everyone.agree), (counts.disagree, everyone.disagree)):
        s, n = success[group], counts.votes[group]
        s_rest, n_rest = total[0] - s, everyone.votes[0] - n
        p, p_rest = _rate(s, n), _rate(s_rest, n_rest)
        z, z_rest = one_proportion_z(s, n), two_proportion_z(s, n, s_rest, n_rest)
        score = np.where((z > Z_90) & (z_rest > Z_90), (p / p_rest) * z_rest * p * z, 0.0)
        best = np.maximum(best, score)
    return _rates(counts, group, _top(best), texts, ids)


def consensus(
    counts: Tally, texts: Mapping[int, str], ids: IntArray
) -> tuple[tuple[StatementRate, ...], tuple[StatementRate, ...]]:
    """The consensus statements (agreed or disagreed with by most of every group, rates over
    everyone), and the bridges: the statements most agreed with across the groups, whether or
    not significantly so."""
    best = np.zeros(counts.votes.shape[1])
    for success in (counts.agree, counts.disagree):
        everywhere = (one_proportion_z(success, counts.votes) > Z_90).all(axis=0)
        informed = _rate(success, counts.votes).prod(axis=0)
        best = np.maximum(best, np.where(everywhere, informed, 0.0))
    agreed = _rate(counts.agree, counts.votes)
    bridging = np.where((agreed > 0.5).all(axis=0), agreed.prod(axis=0), 0.0)
    everyone = counts.by_everyone
    return (
        _rates(everyone, 0, _top(best), texts, ids),
        _rates(everyone, 0, _top(bridging), texts, ids),
    )

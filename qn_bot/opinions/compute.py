"""The whole computation: votes in, opinion map out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from qn_bot.opinions.clustering import groups
from qn_bot.opinions.matrix import vote_matrix
from qn_bot.opinions.model import Group, GroupHistory, OpinionMap
from qn_bot.opinions.projection import project
from qn_bot.opinions.statements import consensus, representative, tally
from qn_bot.records import Statement, VoteColumns

#: No groups are formed before this many participants are counted.
MIN_PARTICIPANTS = 15


def compute_opinions(
    statements: Sequence[Statement],
    votes: VoteColumns,
    history: GroupHistory,
    *,
    min_group_size: int,
) -> OpinionMap:
    """The opinion map of these statements' votes. ``history``: the last computation's groups
    (stability); ``min_group_size``: the anonymity threshold — a smaller group is not shown,
    and nothing is when fewer participants are counted. Votes on anything but ``statements``
    are ignored: pass the public ones only."""
    # One native thread: the data is small per step (2-D points, one sparse product), and
    # OpenMP's worker threads spin for cores other processes hold — k-means took 16 times
    # longer with them on this shared 2-core machine.
    with threadpool_limits(limits=1):
        return _compute(statements, votes, history, min_group_size)


def _compute(
    statements: Sequence[Statement],
    votes: VoteColumns,
    history: GroupHistory,
    min_group_size: int,
) -> OpinionMap:
    texts = {s.item_id: s.text for s in statements}
    matrix = vote_matrix(list(texts), votes)
    basis, points = project(matrix)
    n = matrix.shape[0]
    threshold = max(min_group_size, 1)
    if n >= MIN_PARTICIPANTS:
        previous = np.array(
            [history.groups.get(int(p), -1) for p in matrix.participant_ids], dtype=np.int64
        )
        group_of, choice = groups(points, previous, history.k)
        new_history = GroupHistory(
            dict(zip(matrix.participant_ids.tolist(), group_of.tolist(), strict=True)), choice
        )
    else:
        group_of = np.full(n, -1, dtype=np.int64)
        new_history = history
    ids, row_groups = np.unique(group_of, return_inverse=True)
    counts = tally(matrix, row_groups.astype(np.int64), len(ids))
    shown: list[Group] = []
    for index, gid in enumerate(ids.tolist()):
        members = row_groups == index
        size = int(members.sum())
        if gid < 0 or size < threshold:
            continue
        centre = points[members].mean(axis=0)
        shown.append(
            Group(
                id=gid,
                size=size,
                representative=representative(counts, index, texts, matrix.statement_ids),
                centre=(float(centre[0]), float(centre[1])),
            )
        )
    shown.sort(key=lambda g: (-g.size, g.id))
    agreed, bridges = consensus(counts, texts, matrix.statement_ids)
    if n < threshold:
        agreed, bridges = (), ()
    shown_ids = np.array([g.id for g in shown], dtype=np.int64)
    return OpinionMap(
        participants_counted=n,
        statements=len(texts),
        groups=tuple(shown),
        consensus=agreed,
        history=new_history,
        basis=basis,
        points=points,
        point_groups=np.where(np.isin(group_of, shown_ids), group_of, -1),
        bridges=bridges,
    )

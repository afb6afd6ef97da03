"""The participants × statements vote matrix, kept as its non-empty cells (most citizens vote on
a handful of the statements: 500,000 votes among 20 million cells)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qn_bot.opinions.model import IntArray
from qn_bot.records import VoteColumns

#: A participant counts once they voted on this many statements (fewer if there are fewer).
MIN_VOTES = 7


@dataclass(frozen=True, slots=True)
class VoteMatrix:
    """The votes of the counted participants, one entry per vote (coordinates and value)."""

    participant_ids: IntArray  # sorted; row r is participant_ids[r]
    statement_ids: IntArray  # sorted; column c is statement_ids[c]
    rows: IntArray
    cols: IntArray
    values: npt.NDArray[np.int8]  # 1 agree, -1 disagree, 0 pass

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.participant_ids), len(self.statement_ids)

    def voted(self) -> IntArray:
        """How many statements each counted participant voted on."""
        return np.bincount(self.rows, minlength=len(self.participant_ids))


def vote_matrix(statement_ids: Sequence[int], votes: VoteColumns) -> VoteMatrix:
    """The votes on these statements (any other vote — on a withdrawn, erased or hidden item —
    is left out) of the participants who voted on at least min(7, statements) of them."""
    statements = np.unique(np.asarray(statement_ids, dtype=np.int64))
    participants = np.asarray(votes.participant_ids, dtype=np.int64)
    items = np.asarray(votes.item_ids, dtype=np.int64)
    values = np.asarray(votes.values, dtype=np.int8)
    keep = np.isin(items, statements)
    participants, items, values = participants[keep], items[keep], values[keep]
    cols = np.searchsorted(statements, items)
    ids, rows = np.unique(participants, return_inverse=True)
    voted = np.bincount(rows, minlength=len(ids))
    counted = voted >= max(1, min(MIN_VOTES, len(statements)))
    new_row = np.cumsum(counted) - 1
    keep = counted[rows]
    return VoteMatrix(
        participant_ids=ids[counted],
        statement_ids=statements,
        rows=new_row[rows[keep]].astype(np.int64),
        cols=cols[keep].astype(np.int64),
        values=values[keep],
    )

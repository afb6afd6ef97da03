"""Opinion groups and consensus from peer votes (issue 15), the method Pol.is published:
participants × statements, PCA to two components, k-means groups made stable from one run to the
next, each group's representative statements and the statements every group agrees on.

Pure: no I/O, no clock. Written from the published description of the method (Small et al.,
"Polis: Scaling Deliberation by Mapping High Dimensional Opinion Spaces", 2021, and the Pol.is
documentation); no code of Pol.is (AGPL) is used. The store read and the outputs are in
qn_bot/opinion_map.py.
"""

from qn_bot.opinions.compute import MIN_PARTICIPANTS, compute_opinions
from qn_bot.opinions.model import (
    Group,
    GroupHistory,
    KChoice,
    OpinionMap,
    Standing,
    StatementRate,
)
from qn_bot.opinions.standing import standing

__all__ = [
    "MIN_PARTICIPANTS",
    "Group",
    "GroupHistory",
    "KChoice",
    "OpinionMap",
    "Standing",
    "StatementRate",
    "compute_opinions",
    "standing",
]

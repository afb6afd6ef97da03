"""The anonymity threshold: what a public output may show of a campaign.

Public outputs are everything that leaves the facilitator's own hands: digests (chat text, their
chart, the attached synthesis; in team rooms, by e-mail, with ``/digest`` in a chat, in the
preview) and the published site. Facilitator exports (``qn-bot export``, ``/export``) are the data
controller's copy and show everything.

The rule is decided per section: a section shows its answers (texts, choice counts, number
summaries, and whatever is derived from texts, such as themes) only when at least ``minimum``
participants gave an answer in it; below, it shows how many answers it holds and nothing else.
That holds even when the campaign as a whole has many participants: a question only one person
answered would otherwise publish that person's words among many others. The campaign rule
follows (a section never has more respondents than the campaign has participants).

Several thresholds may apply (a team's, the site's, the campaign's own): the strictest wins.
Who counts as a participant or a respondent is :mod:`qn_bot.participants`' business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qn_bot.flows.format import Step
from qn_bot.flows.kinds import KINDS

#: The threshold when nobody says otherwise: the site, teams and new campaigns.
DEFAULT_MIN_RESPONDENTS = 5


def strictest(*minimums: int) -> int:
    """The threshold that applies when several do: the highest."""
    return max(minimums)


def answers_per_participant(step: Step) -> int:
    """The most live answers one participant can have in ``step``.

    A list step takes up to ``max_items`` items; every other kind, one answer. The respondent
    count reads that many rows per respondent at most (:mod:`qn_bot.participants`).
    """
    return KINDS.of(step).answers_at_most(step)


@dataclass(frozen=True, slots=True)
class Disclosure:
    """How far a public output may go for one campaign.

    ``respondents`` holds, per step, its respondents counted up to ``minimum`` (a count that
    reached it may be capped there: only "enough or not" matters). A step missing from it has
    none.
    """

    minimum: int
    respondents: Mapping[str, int]

    def shows(self, step_id: str) -> bool:
        return self.respondents.get(step_id, 0) >= self.minimum

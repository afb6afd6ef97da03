"""Who took part in a campaign: the one definition of a participant, and of a respondent.

**A participant of a campaign** is a citizen who consented to it (when its flow has a consent
step) and has at least one live answer in it — an answer not deleted, not withdrawn, not erased.
Someone who refused consent, consented and never answered, deleted every answer or erased
everything with /oublier is not one. People are told apart by who they are, never by the name
they show: two citizens who sign alike are two participants. A participant joined in the week
their session began, and completed the flow when it was last completed.

**The respondents of a section** are the participants with at least one live answer in it.

``/stats``, digests, exports and the site all count with the functions below, so a campaign has
one number of participants wherever it is shown. Everything is counted by the database (the SQL
is the participants repository's, qn_bot.store.participants); nothing here loads a campaign's
answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from qn_bot.disclosure import Disclosure, answers_per_participant
from qn_bot.flows.format import Flow, Step
from qn_bot.flows.kinds import KINDS
from qn_bot.records import Participation
from qn_bot.synthesis import utc

if TYPE_CHECKING:
    from qn_bot.records import CampaignRecord
    from qn_bot.repositories import Transaction

__all__ = [
    "Participation",
    "answer_steps",
    "asks_consent",
    "campaign_disclosure",
    "campaign_participants",
    "completed_between",
    "count_participants",
    "joined_between",
    "section_respondents",
]


def asks_consent(flow: Flow) -> bool:
    return any(KINDS.of(step).asks_consent for step in flow.steps)


async def campaign_participants(
    tx: Transaction, campaign: CampaignRecord, flow: Flow
) -> list[Participation]:
    return await tx.participants.campaign_participants(
        campaign.id, consent_required=asks_consent(flow)
    )


def _within(instant: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    if instant is None:
        return False
    instant = utc(instant)
    return (start is None or start <= instant) and (end is None or instant < end)


def count_participants(people: Iterable[Participation]) -> int:
    return len({p.participant for p in people})


def joined_between(
    people: Iterable[Participation], start: datetime | None, end: datetime | None = None
) -> int:
    """Participants whose session began in [start, end)."""
    return len({p.participant for p in people if _within(p.created_at, start, end)})


def completed_between(
    people: Iterable[Participation], start: datetime | None = None, end: datetime | None = None
) -> int:
    """Participants who completed the flow in [start, end) (ever, without bounds)."""
    return len({p.participant for p in people if _within(p.completed_at, start, end)})


# --- respondents ----------------------------------------------------------------------------------


def _window(step: Step, enough: int) -> int:
    """The rows that could hold ``enough`` respondents of ``step``.

    Only "enough or not" matters, so the database reads at most the rows that could hold
    ``enough`` respondents: ``enough - 1`` respondents have at most ``enough - 1`` times the
    step's answers per participant, one row more belongs to someone else. That is a few dozen
    rows whatever the campaign's size (a range of ``ix_items_campaign_step_live``, each row
    looked up for its author), where an exact count would read the whole step. Should a
    participant ever hold more answers than the flow allows, the count can only come out lower:
    the section is then withheld, never shown wrongly.
    """
    return max(enough - 1, 0) * answers_per_participant(step) + 1


async def section_respondents(
    tx: Transaction,
    campaign_id: int,
    steps: Sequence[Step],
    *,
    enough: int,
    consent_required: bool,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, int]:
    """Respondents per step, each counted up to ``enough`` (one statement for every step);
    with ``since`` / ``until``, of the answers given in [since, until) only."""
    if not steps:
        return {}
    found = await tx.participants.section_respondents(
        campaign_id,
        {step.id: _window(step, enough) for step in steps},
        consent_required=consent_required,
        since=since,
        until=until,
    )
    return {step.id: min(n, enough) for step in steps if (n := found[step.id])}


def answer_steps(flow: Flow) -> list[Step]:
    """The steps a synthesis has a section for."""
    # Info and consent steps hold no answer: they are in no synthesis and have no respondents.
    return [step for step in flow.steps if KINDS.of(step).stores_answers]


async def campaign_disclosure(
    tx: Transaction, campaign: CampaignRecord, flow: Flow, minimum: int
) -> Disclosure:
    """What a public output may show of ``campaign`` under ``minimum`` (the strictest
    threshold that applies: see :func:`qn_bot.disclosure.strictest`)."""
    respondents: Mapping[str, int] = await section_respondents(
        tx,
        campaign.id,
        answer_steps(flow),
        enough=minimum,
        consent_required=asks_consent(flow),
    )
    return Disclosure(minimum, respondents)

"""What the engine asks the host to do, in order: persist these, then send the replies."""

from __future__ import annotations

from dataclasses import dataclass

from qn_bot.domain import OutboundMessage
from qn_bot.flows.state import AnswerValue


@dataclass(frozen=True, slots=True)
class Say:
    message: OutboundMessage


@dataclass(frozen=True, slots=True)
class ItemAdded:
    seq: int
    step_id: str
    text: str
    value: AnswerValue


@dataclass(frozen=True, slots=True)
class ItemRevised:
    """A new revision of an item: the history keeps the earlier ones."""

    seq: int
    revision: int
    text: str
    value: AnswerValue


@dataclass(frozen=True, slots=True)
class ItemDeleted:
    seq: int


@dataclass(frozen=True, slots=True)
class ItemWithdrawn:
    """The item's step no longer applies (its `when` became false after an answer changed): the
    host keeps it as a deleted revision, shown nowhere. Asked again, the step starts afresh."""

    seq: int
    step_id: str


@dataclass(frozen=True, slots=True)
class ConsentGiven:
    flow_version: int


@dataclass(frozen=True, slots=True)
class ConsentRefused:
    pass


@dataclass(frozen=True, slots=True)
class Completed:
    pass


@dataclass(frozen=True, slots=True)
class LanguageChanged:
    language: str


Event = (
    Say
    | ItemAdded
    | ItemRevised
    | ItemDeleted
    | ItemWithdrawn
    | ConsentGiven
    | ConsentRefused
    | Completed
    | LanguageChanged
)

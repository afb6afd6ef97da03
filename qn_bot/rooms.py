"""Room decisions: what a message means given where it was written.

Beside the participant machine (qn_bot.conversation), which decides what a citizen's message in
their private chat does, this decides what comes before it: answers are never collected in
public, so in a group only /start (answered with a private chat, which the adapter opens:
qn_bot.ports.Adapter.open_private_chat) and facilitator commands are served and the rest is
people talking among themselves; a private chat that gained a member is private no more; a
message the bot cannot read (a photo, one it holds no key for) is said so. No participant
record is made for someone who only speaks in a group.

Pure like the machine: ``decide(room snapshot, arrival) → effects``, no I/O, no clock. A
snapshot may lack what a decision needs (:class:`Unknown`): the service loads it and decides
again. The service applies the effects in order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from qn_bot.commands import Command, Route, routed
from qn_bot.domain import InboundKind, OutboundMessage, UnsupportedReason
from qn_bot.flows.events import Say
from qn_bot.i18n import Catalog


class _NotLoaded(enum.Enum):
    NOT_LOADED = "not loaded"


NOT_LOADED = _NotLoaded.NOT_LOADED
NotLoaded = Literal[_NotLoaded.NOT_LOADED]


@dataclass(frozen=True, slots=True)
class Arrival:
    """What a room decision reads of a message (its command parsed once, by the service)."""

    private: bool
    kind: InboundKind
    command: Command | None = None
    unsupported_reason: UnsupportedReason | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """What a room decision reads of the sender's participant record."""

    language: str | None
    private_here: bool  # this room is the private chat that reaches them


class RoomNeed(enum.StrEnum):
    SENDER = "sender"  # the sender's participant record, if any
    OWNERS = "owners"  # the citizens whose private chat this room is


@dataclass(frozen=True, slots=True)
class Unknown:
    """The snapshot lacked ``need``: load it and decide again."""

    need: RoomNeed


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    default_language: str
    sender: Sender | NotLoaded | None = NOT_LOADED  # None: the bot has no record of them
    #: the languages of the citizens reached privately in this room (None: chose none)
    owners: tuple[str | None, ...] | NotLoaded = NOT_LOADED
    #: where the sender can talk to the bot privately, as the adapter gave it (asked before
    #: the transaction when :func:`private_chat_wanted` says so)
    private_link: str | None = None


# ---------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Claim:
    """Claim the message's idempotency key: a message already handled stops here."""


@dataclass(frozen=True, slots=True)
class NoLongerPrivate:
    """Reach no one privately in this room any more, and drop what waits to be sent there
    (reminders, recaps, files: nothing personal goes to a shared room)."""


@dataclass(frozen=True, slots=True)
class FacilitateHere:
    """A facilitator command typed in a group: run by qn_bot.facilitation, answered there."""

    command: Command
    language: str


@dataclass(frozen=True, slots=True)
class Converse:
    """A citizen's message in their private chat: the participant machine decides it."""


@dataclass(frozen=True, slots=True)
class Revise:
    """A platform edit or deletion of an earlier private message: its items are revised."""


RoomEffect = Claim | NoLongerPrivate | Say | FacilitateHere | Converse | Revise


def private_chat_wanted(arrival: Arrival) -> str | None:
    """The campaign (slug as typed, maybe "") to offer a private chat for: a /start in a
    group. The service asks the adapter for the chat before it decides (the platform is
    slow, and a transaction must not wait on it); None when nothing is to be asked."""
    command = arrival.command
    if arrival.private or command is None or command.name != "start" or not command.known:
        return None
    return command.arg


class Rooms:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def decide(self, room: RoomSnapshot, arrival: Arrival) -> tuple[RoomEffect, ...] | Unknown:
        if arrival.private:
            return self._private(room, arrival)
        if arrival.kind is InboundKind.SHARED:
            return self._shared(room)
        command = arrival.command
        if room.sender is NOT_LOADED:
            return Unknown(RoomNeed.SENDER)
        if command is None or not command.known:
            if room.sender is not None and room.sender.private_here:
                # Answering in what was their private chat: it gained a member without the
                # adapter telling us (a gap in its history) — the same as being told.
                return self._shared(room)
            return ()  # conversation between people: not even its key is kept
        language = self._language(room, room.sender)
        if command.name == "start":
            link = room.private_link if room.private_link is not None else ""
            return (Claim(), self._say(language, "group_use_private", link=link))
        if routed(command.name, Route.FACILITATOR):
            return (Claim(), FacilitateHere(command, language))
        return (Claim(),)  # a citizen's command: their private chat's business

    def _private(self, room: RoomSnapshot, arrival: Arrival) -> tuple[RoomEffect, ...] | Unknown:
        if arrival.kind is InboundKind.UNSUPPORTED:
            if room.sender is NOT_LOADED:
                return Unknown(RoomNeed.SENDER)
            key = (
                "undecryptable_message"
                if arrival.unsupported_reason is UnsupportedReason.UNDECRYPTABLE
                else "unsupported_message"
            )
            return (self._say(self._language(room, room.sender), key),)
        if arrival.kind in (InboundKind.EDIT, InboundKind.DELETE):
            return (Revise(),)
        return (Converse(),)

    def _shared(self, room: RoomSnapshot) -> tuple[RoomEffect, ...] | Unknown:
        """Told once: after the first time the room reaches no one (owners is empty)."""
        if room.owners is NOT_LOADED:
            return Unknown(RoomNeed.OWNERS)
        if not room.owners:
            return (Claim(),)  # a group room all along, or already told
        first = room.owners[0]
        language = first if first is not None else room.default_language
        return (Claim(), NoLongerPrivate(), self._say(language, "chat_shared"))

    def _language(self, room: RoomSnapshot, sender: Sender | None) -> str:
        if sender is None or sender.language is None:
            return room.default_language
        return sender.language

    def _say(self, language: str, key: str, **params: object) -> Say:
        return Say(OutboundMessage(self.catalog.t(language, key, **params)))

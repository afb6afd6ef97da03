"""The room decisions (qn_bot/rooms.py), pure: no database, no server, no clock.

What a message means given where it was written: a group /start is offered a private chat, a
facilitator command is served in the group, the rest of a group's conversation is none of the
bot's business, a private chat that gained a member is private no more, and a message the bot
cannot read (a photo, an undecryptable one) is said so in the citizen's language.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from qn_bot.commands import parse_command
from qn_bot.domain import InboundKind, OutboundMessage, UnsupportedReason
from qn_bot.flows.events import Say
from qn_bot.i18n import default_catalog
from qn_bot.rooms import (
    Arrival,
    Claim,
    Converse,
    FacilitateHere,
    NoLongerPrivate,
    Revise,
    RoomNeed,
    Rooms,
    RoomSnapshot,
    Sender,
    Unknown,
    private_chat_wanted,
)

CATALOG = default_catalog()
ROOMS = Rooms(CATALOG)
ROOM = RoomSnapshot(default_language="fr")
STRANGER = replace(ROOM, sender=None)
OWNER_HERE = replace(ROOM, sender=Sender(language="en", private_here=True))


def group(text: str = "", kind: InboundKind = InboundKind.TEXT) -> Arrival:
    command = parse_command(text) if kind is InboundKind.TEXT else None
    return Arrival(private=False, kind=kind, command=command)


def private(kind: InboundKind, reason: UnsupportedReason | None = None) -> Arrival:
    return Arrival(private=True, kind=kind, unsupported_reason=reason)


def said(effects: object) -> list[str]:
    assert isinstance(effects, tuple)
    return [effect.message.text for effect in effects if isinstance(effect, Say)]


# ---------------------------------------------------------------------- a group /start


@pytest.mark.parametrize(
    ("text", "campaign"),
    [
        ("/start", ""),
        ("/start@qn_test_bot ville-2040", "ville-2040"),
        ("!start construire-2030", "construire-2030"),
    ],
)
def test_a_group_start_wants_a_private_chat_and_nothing_else_does(text: str, campaign: str) -> None:
    assert private_chat_wanted(group(text)) == campaign
    assert private_chat_wanted(group("bonjour à tous")) is None
    assert private_chat_wanted(group("/stats")) is None
    assert private_chat_wanted(Arrival(True, InboundKind.TEXT, parse_command("/start"))) is None


def test_a_group_start_is_answered_with_the_link_the_adapter_gave() -> None:
    assert ROOMS.decide(ROOM, group("/start")) == Unknown(RoomNeed.SENDER)
    room = replace(STRANGER, private_link="https://t.me/bot?start=x")
    effects = ROOMS.decide(room, group("/start x"))
    assert isinstance(effects, tuple)
    assert effects[0] == Claim()
    assert said(effects) == [CATALOG.t("fr", "group_use_private", link="https://t.me/bot?start=x")]
    # In the language of a citizen the bot knows; without a link (a platform with no private
    # chats to offer) the sentence still stands.
    known = replace(room, sender=Sender(language="en", private_here=False), private_link=None)
    assert said(ROOMS.decide(known, group("/start"))) == [
        CATALOG.t("en", "group_use_private", link="")
    ]


# ---------------------------------------------------------------------- other group messages


def test_a_facilitator_command_in_a_group_is_served_there() -> None:
    effects = ROOMS.decide(replace(ROOM, sender=Sender("en", False)), group("/stats"))
    assert effects == (Claim(), FacilitateHere(parse_command("/stats"), "en"))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["/suivant", "/oublier", "/aide"])
def test_a_citizen_command_in_a_group_is_kept_once_and_not_answered(text: str) -> None:
    assert ROOMS.decide(STRANGER, group(text)) == (Claim(),)


@pytest.mark.parametrize("text", ["Révolution numérique", "1", "/inconnue"])
def test_conversation_between_people_is_ignored_without_a_trace(text: str) -> None:
    assert ROOMS.decide(ROOM, group(text)) == Unknown(RoomNeed.SENDER)
    assert ROOMS.decide(STRANGER, group(text)) == ()
    elsewhere = replace(ROOM, sender=Sender("fr", private_here=False))
    assert ROOMS.decide(elsewhere, group(text)) == ()
    assert ROOMS.decide(ROOM, group(kind=InboundKind.UNSUPPORTED)) == Unknown(RoomNeed.SENDER)
    assert ROOMS.decide(STRANGER, group(kind=InboundKind.UNSUPPORTED)) == ()


# ---------------------------------------------------------------------- a private chat shared


def test_a_private_chat_that_gained_a_member_is_private_no_more() -> None:
    shared = group(kind=InboundKind.SHARED)
    assert ROOMS.decide(ROOM, shared) == Unknown(RoomNeed.OWNERS)
    effects = ROOMS.decide(replace(ROOM, owners=("en", None)), shared)
    assert effects == (
        Claim(),
        NoLongerPrivate(),
        Say(OutboundMessage(CATALOG.t("en", "chat_shared"))),
    )
    # Told in the bot's language when the citizen chose none; a room that never was (or is no
    # longer) anyone's private chat: the key only.
    assert said(ROOMS.decide(replace(ROOM, owners=(None,)), shared)) == [
        CATALOG.t("fr", "chat_shared")
    ]
    assert ROOMS.decide(replace(ROOM, owners=()), shared) == (Claim(),)


def test_answering_in_ones_private_chat_after_it_was_shared_is_the_same_as_being_told() -> None:
    # The adapter missed the new member (a gap in its history): the citizen's answer, now in a
    # group, is what tells.
    assert ROOMS.decide(OWNER_HERE, group("une idée")) == Unknown(RoomNeed.OWNERS)
    effects = ROOMS.decide(replace(OWNER_HERE, owners=("en",)), group("une idée"))
    assert effects == (
        Claim(),
        NoLongerPrivate(),
        Say(OutboundMessage(CATALOG.t("en", "chat_shared"))),
    )


# ---------------------------------------------------------------------- private chats


@pytest.mark.parametrize(
    ("reason", "key"),
    [
        (UnsupportedReason.MEDIA, "unsupported_message"),
        (None, "unsupported_message"),
        (UnsupportedReason.UNDECRYPTABLE, "undecryptable_message"),
    ],
)
def test_a_message_the_bot_cannot_read_is_said_unread_in_the_citizens_language(
    reason: UnsupportedReason | None, key: str
) -> None:
    unread = private(InboundKind.UNSUPPORTED, reason)
    assert ROOMS.decide(ROOM, unread) == Unknown(RoomNeed.SENDER)
    assert said(ROOMS.decide(OWNER_HERE, unread)) == [CATALOG.t("en", key)]
    no_language = replace(ROOM, sender=Sender(language=None, private_here=True))
    assert said(ROOMS.decide(no_language, unread)) == [CATALOG.t("fr", key)]


def test_the_rest_of_a_private_chat_goes_to_the_participant() -> None:
    for kind in (InboundKind.TEXT, InboundKind.CHOICE):
        assert ROOMS.decide(ROOM, private(kind)) == (Converse(),)
    for kind in (InboundKind.EDIT, InboundKind.DELETE):
        assert ROOMS.decide(ROOM, private(kind)) == (Revise(),)

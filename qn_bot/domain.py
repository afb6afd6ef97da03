"""Platform-neutral messages exchanged between adapters and the core.

Adapters turn platform events into :class:`InboundMessage` and render :class:`OutboundMessage`;
no platform type ever crosses this boundary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    ARCHIVED = "archived"


class Moderation(enum.StrEnum):
    """When a campaign's items are public (qn_bot.moderation)."""

    POST = "post"  # until a facilitator hides them
    PRE = "pre"  # once a facilitator approved them


@dataclass(frozen=True, slots=True)
class Address:
    """Where a conversation takes place: a platform and its chat id (Telegram chat, Matrix room)."""

    platform: str
    chat_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.chat_id}"

    @classmethod
    def parse(cls, value: str) -> Address:
        platform, sep, chat_id = value.partition(":")
        if not sep or not platform or not chat_id:
            raise ValueError(f"expected PLATFORM:ID, got {value!r}")
        return cls(platform, chat_id)


@dataclass(frozen=True, slots=True)
class UserRef:
    """A platform account: `console:alice`, `telegram:12345`, `matrix:@bob:example.org`."""

    platform: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @classmethod
    def parse(cls, value: str) -> UserRef:
        platform, sep, user_id = value.partition(":")
        if not sep or not platform or not user_id:
            raise ValueError(f"expected PLATFORM:USER_ID, got {value!r}")
        return cls(platform, user_id)


class InboundKind(enum.StrEnum):
    TEXT = "text"  # typed text, commands included (`/suivant`)
    CHOICE = "choice"  # a button press or reaction naming a choice id
    UNSUPPORTED = "unsupported"  # photo, sticker, voice, file…: answered, never stored
    EDIT = "edit"  # the citizen edited an earlier message (target = its message id)
    DELETE = "delete"  # the citizen deleted / redacted an earlier message
    # A private chat gained another member (sent with is_private=False): it is private no more.
    SHARED = "shared"
    # The citizen opened the conversation (the console, at start): shown where they stand, if
    # anywhere; nothing is asked of, or stored about, someone the bot does not know yet.
    OPENED = "opened"


class UnsupportedReason(enum.StrEnum):
    MEDIA = "media"  # photo, sticker, voice, file…: we only read text
    UNDECRYPTABLE = "undecryptable"  # an encrypted message we hold no key for (yet)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One event from a citizen, already stripped of everything platform-specific.

    ``message_id`` is unique per platform and is the idempotency key: the same id delivered twice
    is handled once.
    """

    sender: UserRef
    address: Address
    message_id: str
    kind: InboundKind
    text: str = ""
    choice_id: str | None = None
    target_message_id: str | None = None
    is_private: bool = True
    display_name: str | None = None
    language_hint: str | None = None
    unsupported_reason: UnsupportedReason | None = None  # why an UNSUPPORTED message was unread
    # When it arrived (an aware datetime: when the adapter received it, or the homeserver's
    # timestamp): it answers only a question on screen by then. None: unknown, taken as the
    # moment it is handled (the console reads a line only once the last answer is printed).
    received_at: datetime | None = None
    # A platform that keeps the conversation (the web chat's page): the message as it shows it,
    # kept with the message, in the transaction that handles it (not when it is refused).
    kept: KeptMessage | None = None


@dataclass(frozen=True, slots=True, eq=False)  # its body is a dict: compared by identity
class KeptMessage:
    """A citizen's message as a transcript row (qn_bot.ports.Transcripts): role, the body the
    platform reads back, and its key, unique per person (a post sent twice is kept once)."""

    role: str
    body: dict[str, Any]
    key: str


class ButtonKind(enum.StrEnum):
    CHOICE = "choice"  # answers the question with a choice id
    COMMAND = "command"  # runs a command such as `suivant`


@dataclass(frozen=True, slots=True)
class Button:
    kind: ButtonKind
    value: str  # choice id or command name
    label: str


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DeviceLink:
    """What /lien shows: a link that carries the conversation to another device, and for how
    many minutes it works (once). Made by the platform's adapter (qn_bot.ports.DeviceLinks)."""

    url: str
    minutes: int


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What the bot says. ``text`` is plain text: adapters escape it for their markup."""

    text: str
    buttons: tuple[Button, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    @property
    def choices(self) -> tuple[Button, ...]:
        return tuple(b for b in self.buttons if b.kind is ButtonKind.CHOICE)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [[b.kind.value, b.value, b.label] for b in self.buttons],
            "attachments": [
                {"filename": a.filename, "media_type": a.media_type, "data": a.data.hex()}
                for a in self.attachments
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboundMessage:
        return cls(
            text=str(data["text"]),
            buttons=tuple(
                Button(ButtonKind(kind), str(value), str(label))
                for kind, value, label in data.get("buttons", [])
            ),
            attachments=tuple(
                Attachment(str(a["filename"]), str(a["media_type"]), bytes.fromhex(a["data"]))
                for a in data.get("attachments", [])
            ),
        )


@dataclass(frozen=True, slots=True)
class Envelope:
    """An outbox row handed to an adapter: the message and where it goes."""

    outbox_id: int
    address: Address
    message: OutboundMessage
    attempt: int = 1
    meta: dict[str, str] = field(default_factory=dict)

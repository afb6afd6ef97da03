"""Telegram updates → :class:`InboundMessage`. Nothing of ``telegram`` goes further.

Idempotency keys: ``<chat id>:<message id>`` for messages (Telegram numbers messages per chat),
``<chat id>:<message id>:e<edit date>`` for edits, ``cb:<callback query id>`` for button presses.
Display names are never read, and never kept: :func:`journal_entry` is what an update becomes as
soon as it arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import Bot, CallbackQuery, Chat, Message, Update
from telegram.constants import MessageAttachmentType

from qn_bot.domain import Address, InboundKind, InboundMessage, UserRef

from .render import CallbackCodec

log = logging.getLogger(__name__)

PLATFORM = "telegram"

#: What the bot asks Telegram for (others are never needed).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")

#: Added to a raw update when the bot receives it (ISO time), journaled with it: a message
#: answers only what was on screen by then. Telegram's own dates are whole seconds (an answer
#: typed within the second would look older than its question) and button presses have none.
RECEIVED_KEY = "qn_received_at"


@dataclass(frozen=True, slots=True)
class _Where:
    address: Address
    is_private: bool


@dataclass(frozen=True, slots=True)
class Reading:
    inbound: InboundMessage | None
    callback: CallbackQuery | None = None  # to answer, and whose keyboard to take away


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


#: Message fields that make it a photo, a sticker, a poll…: the bot only says it reads text.
_ATTACHMENTS = frozenset(kind.value for kind in MessageAttachmentType)


def _person(raw: Any) -> dict[str, Any] | None:
    """A user as replay needs them: id, bot or not, language. Names stay out of the database
    (python-telegram-bot insists on a first name: an empty one)."""
    if not isinstance(raw, dict):
        return None
    person = {"id": raw.get("id"), "is_bot": raw.get("is_bot", False), "first_name": ""}
    if "language_code" in raw:
        person["language_code"] = raw["language_code"]
    return person


def _chat(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    return {"id": raw.get("id"), "type": raw.get("type")}


def _message(raw: Any, *, keep_text: bool = True) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    message = {key: raw[key] for key in ("message_id", "date", "edit_date") if key in raw}
    message["chat"] = _chat(raw.get("chat"))
    if "from" in raw:
        message["from"] = _person(raw["from"])
    if keep_text and "text" in raw:
        message["text"] = raw["text"]
    elif keep_text and ("caption" in raw or _ATTACHMENTS.intersection(raw)):
        # Read as "not text" and answered so; what it was is not needed for that.
        message["caption"] = ""
    return message


def journal_entry(update: dict[str, Any]) -> dict[str, Any]:
    """The update with only what handling it needs: ids, chat type, language, text. Names,
    usernames, captions, files, entities and the bot's own message texts are left out, so the
    journal that keeps it until it is handled (receiving.py) holds nothing more about anyone."""
    entry: dict[str, Any] = {"update_id": update.get("update_id")}
    for kind in ("message", "edited_message"):
        if kind in update:
            entry[kind] = _message(update[kind])
    query = update.get("callback_query")
    if isinstance(query, dict):
        entry["callback_query"] = {
            key: query[key] for key in ("id", "data", "chat_instance") if key in query
        }
        entry["callback_query"]["from"] = _person(query.get("from"))
        if "message" in query:
            entry["callback_query"]["message"] = _message(query["message"], keep_text=False)
    return entry


def chat_key(raw: dict[str, Any]) -> str:
    """The conversation an update (raw JSON) belongs to: same key, handled in order."""
    for kind in ALLOWED_UPDATES:
        chat = _dig(raw, kind, "chat", "id") or _dig(raw, kind, "message", "chat", "id")
        if chat is not None:
            return str(chat)
        user = _dig(raw, kind, "from", "id")
        if user is not None:
            return str(user)
    return f"update:{raw.get('update_id')}"


class UpdateReader:
    def __init__(self, codec: CallbackCodec) -> None:
        self.codec = codec

    def _where(self, chat: Chat) -> _Where:
        return _Where(Address(PLATFORM, str(chat.id)), chat.type == Chat.PRIVATE)

    async def read_raw(self, raw: dict[str, Any], bot: Bot) -> Reading:
        """Parse and read one update; one python-telegram-bot cannot parse (a field of a newer
        Bot API) is still answered, as unsupported, when it is a private message."""
        stamp = raw.get(RECEIVED_KEY)
        received_at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        try:
            update = Update.de_json({k: v for k, v in raw.items() if k != RECEIVED_KEY}, bot)
        except Exception:
            log.warning("unparsable Telegram update %s", raw.get("update_id"), exc_info=True)
            return Reading(self._unparsable(raw))
        return await self.read(update, received_at)

    def _unparsable(self, raw: dict[str, Any]) -> InboundMessage | None:
        message = raw.get("message")
        chat_id = _dig(message, "chat", "id")
        user_id = _dig(message, "from", "id")
        message_id = _dig(message, "message_id")
        private = _dig(message, "chat", "type") == Chat.PRIVATE
        if not private or chat_id is None or user_id is None or message_id is None:
            return None
        if _dig(message, "from", "is_bot"):
            return None
        return InboundMessage(
            sender=UserRef(PLATFORM, str(user_id)),
            address=Address(PLATFORM, str(chat_id)),
            message_id=f"{chat_id}:{message_id}",
            kind=InboundKind.UNSUPPORTED,
            is_private=True,
            language_hint=_dig(message, "from", "language_code"),
        )

    async def read(self, update: Update, received_at: datetime | None = None) -> Reading:
        """``received_at``: when the bot received the update (else Telegram's date, if any)."""
        if update.callback_query is not None:
            return await self._callback(update.callback_query, received_at)
        if update.message is not None:
            return Reading(self._message(update.message, received_at))
        if update.edited_message is not None:
            return Reading(self._edit(update.edited_message, received_at))
        return Reading(None)

    def _message(
        self, message: Message, received_at: datetime | None = None
    ) -> InboundMessage | None:
        user = message.from_user
        if user is None or user.is_bot:
            return None
        if message.text is not None:
            kind, text = InboundKind.TEXT, message.text
        elif message.effective_attachment is not None or message.caption is not None:
            kind, text = InboundKind.UNSUPPORTED, ""  # photo, sticker, voice, location, poll…
        else:
            return None  # service messages: someone joined a group, a pinned message…
        where = self._where(message.chat)
        return InboundMessage(
            sender=UserRef(PLATFORM, str(user.id)),
            address=where.address,
            is_private=where.is_private,
            message_id=f"{message.chat.id}:{message.message_id}",
            kind=kind,
            text=text,
            language_hint=user.language_code,
            received_at=received_at if received_at is not None else message.date,
        )

    def _edit(self, message: Message, received_at: datetime | None = None) -> InboundMessage | None:
        user = message.from_user
        if user is None or user.is_bot or message.text is None:
            return None
        edited = int(message.edit_date.timestamp()) if message.edit_date else 0
        where = self._where(message.chat)
        return InboundMessage(
            sender=UserRef(PLATFORM, str(user.id)),
            address=where.address,
            is_private=where.is_private,
            message_id=f"{message.chat.id}:{message.message_id}:e{edited}",
            kind=InboundKind.EDIT,
            text=message.text,
            target_message_id=f"{message.chat.id}:{message.message_id}",
            language_hint=user.language_code,
            received_at=received_at if received_at is not None else message.edit_date,
        )

    async def _callback(self, query: CallbackQuery, received_at: datetime | None) -> Reading:
        user = query.from_user
        pressed = await self.codec.decode(query.data)
        if pressed is None or user.is_bot:
            return Reading(None, query)
        message = query.message
        if message is not None:
            where = self._where(message.chat)
        else:  # a message too old to be shown: the press can only come from a private chat
            where = _Where(Address(PLATFORM, str(user.id)), True)
        if pressed.command is not None:
            kind, text, choice = InboundKind.TEXT, f"/{pressed.command}", None
        else:
            kind, text, choice = InboundKind.CHOICE, "", pressed.choice_id
        inbound = InboundMessage(
            sender=UserRef(PLATFORM, str(user.id)),
            address=where.address,
            is_private=where.is_private,
            message_id=f"cb:{query.id}",
            kind=kind,
            text=text,
            choice_id=choice,
            language_hint=user.language_code,
            received_at=received_at,
        )
        return Reading(inbound, query)

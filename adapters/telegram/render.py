"""Plain text in, Telegram out: HTML escaping, splitting (qn_bot.textsplit), inline keyboards.

Everything an :class:`OutboundMessage` carries is plain text (participants' answers included), so
it is escaped as a whole; the bot adds no markup of its own. Buttons become inline keyboards whose
callback data says what pressing them means: ``c:<choice id>`` answers the question,
``k:<command>`` runs a command; data longer than Telegram's 64 bytes goes through a digest that
:class:`CallbackCodec` remembers.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from qn_bot.domain import Button, ButtonKind, OutboundMessage
from qn_bot.offering import offer
from qn_bot.ports import Capabilities, KeyValue
from qn_bot.textsplit import split_text

#: Telegram refuses longer messages (characters, counted after the HTML is parsed).
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64  # bytes
CHOICE_PREFIX = "c:"
COMMAND_PREFIX = "k:"
DIGEST_PREFIX = "h:"

CAPABILITIES = Capabilities(
    buttons=True,
    max_text_length=MAX_TEXT,
    attachments=True,
    messages_per_second=30.0,  # [telegram] messages_per_second sets each adapter's own
    paces_itself=True,  # TelegramAdapter.pacer: per chat, per group, per bot and 429 pauses
)


@dataclass(frozen=True, slots=True)
class Part:
    """One Telegram message: HTML text and, on the last part, the keyboard."""

    html: str
    keyboard: InlineKeyboardMarkup | None = None


@dataclass(frozen=True, slots=True)
class Pressed:
    """What a callback query means: a choice id, or a command to run as if typed."""

    choice_id: str | None = None
    command: str | None = None


def escape(text: str) -> str:
    """Plain text → Telegram HTML (only <, > and & are special)."""
    return html.escape(text, quote=False)


class CallbackCodec:
    """Button ↔ callback data. Long data is replaced by a digest kept in memory and in ``kv``."""

    def __init__(self, kv: KeyValue | None = None) -> None:
        self.kv = kv
        self._long: dict[str, str] = {}

    async def encode(self, button: Button) -> str:
        prefix = CHOICE_PREFIX if button.kind is ButtonKind.CHOICE else COMMAND_PREFIX
        data = prefix + button.value
        if len(data.encode()) <= MAX_CALLBACK_DATA:
            return data
        digest = DIGEST_PREFIX + hashlib.sha256(data.encode()).hexdigest()[:32]
        if digest not in self._long:
            self._long[digest] = data
            if self.kv is not None:
                await self.kv.set(f"callback:{digest}", data)
        return digest

    async def decode(self, data: str | None) -> Pressed | None:
        if not data:
            return None
        if data.startswith(DIGEST_PREFIX):
            found = self._long.get(data)
            if found is None and self.kv is not None:
                stored = await self.kv.get(f"callback:{data}")
                found = stored if isinstance(stored, str) else None
            if found is None:
                return None
            data = found
        if data.startswith(CHOICE_PREFIX):
            return Pressed(choice_id=data[len(CHOICE_PREFIX) :])
        if data.startswith(COMMAND_PREFIX):
            return Pressed(command=data[len(COMMAND_PREFIX) :])
        return None


async def keyboard(
    buttons: tuple[Button, ...], codec: CallbackCodec
) -> InlineKeyboardMarkup | None:
    """Choices one per row (labels are sentences), command buttons side by side below."""
    if not buttons:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    commands: list[InlineKeyboardButton] = []
    for button in buttons:
        key = InlineKeyboardButton(button.label, callback_data=await codec.encode(button))
        if button.kind is ButtonKind.CHOICE:
            rows.append([key])
        else:
            commands.append(key)
    if commands:
        rows.append(commands)
    return InlineKeyboardMarkup(rows)


async def render(
    message: OutboundMessage, codec: CallbackCodec, capabilities: Capabilities = CAPABILITIES
) -> list[Part]:
    """The text messages of ``message``, each at most the adapter's declared
    ``max_text_length``; the keyboard draws the buttons qn_bot.offering gives (Telegram declares
    buttons: all of them, in order); attachments are sent apart."""
    markup = await keyboard(offer(message, capabilities).buttons, codec)
    if not message.text.strip():
        if markup is None:
            return []
        return [Part("…", markup)]
    chunks = split_text(message.text, capabilities.max_text_length)
    parts = [Part(escape(chunk)) for chunk in chunks[:-1]]
    parts.append(Part(escape(chunks[-1]), markup))
    return parts

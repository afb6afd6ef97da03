"""OutboundMessage → Matrix ``m.notice`` content: plain body, escaped HTML, numbered choices.

The core's text is plain and may contain what participants typed (their answers quoted back):
every piece of it is escaped before it goes into ``formatted_body``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qn_bot.domain import OutboundMessage
from qn_bot.offering import Numbered, offer
from qn_bot.ports import Capabilities
from qn_bot.textsplit import split_text

HTML_FORMAT = "org.matrix.custom.html"
#: Reactions a citizen can put on a bot message to pick its n-th choice.
KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")
_VARIATION_SELECTOR = "\ufe0f"
#: Keep events well below Matrix's 64 KiB limit, even with the HTML copy and encryption.
MAX_BODY_CHARS = 12_000

CAPABILITIES = Capabilities(
    buttons=False, max_text_length=MAX_BODY_CHARS, attachments=True, messages_per_second=20.0
)


@dataclass(frozen=True, slots=True)
class Rendered:
    """One ``m.notice`` event; ``choice_ids`` are the choices it numbers (reaction targets), by
    number: ``choice_ids[n - 1]`` is answered by typing n or reacting with the n-th keycap, ""
    where the number is not offered here (a review's answers, listed in its text)."""

    body: str
    formatted_body: str
    choice_ids: tuple[str, ...] = field(default=())

    def content(self) -> dict[str, Any]:
        return {
            "msgtype": "m.notice",
            "body": self.body,
            "format": HTML_FORMAT,
            "formatted_body": self.formatted_body,
        }


def keycap_index(key: str) -> int | None:
    """0-based choice index of a keycap reaction (``1️⃣`` → 0), else None."""
    bare = key.replace(_VARIATION_SELECTOR, "")
    for index, cap in enumerate(KEYCAPS):
        if bare == cap.replace(_VARIATION_SELECTOR, ""):
            return index
    return None


def _html_lines(text: str) -> str:
    return "<br/>".join(html.escape(line) for line in text.split("\n"))


def render(
    message: OutboundMessage, capabilities: Capabilities = CAPABILITIES, limit: int | None = None
) -> list[Rendered]:
    """Render a message as one event, or several when the text is longer than ``limit`` (by
    default the adapter's declared ``max_text_length``).

    The numbered choices qn_bot.offering gives a platform without buttons become ``1. label``
    lines (an ordered list in HTML) at the end of the last event.
    """
    numbered = offer(message, capabilities).numbered
    parts = (
        split_text(message.text, limit or capabilities.max_text_length) if message.text else [""]
    )
    rendered = [Rendered(part, _html_lines(part)) for part in parts[:-1]]
    last = parts[-1]
    body = last
    formatted = _html_lines(last)
    if numbered:
        lines = "\n".join(f"{n.number}. {n.label}" for n in numbered)
        body = f"{last}\n\n{lines}" if last else lines
        # value="n": a review prints only some of its numbers (its answers are in the text).
        items = "".join(f'<li value="{n.number}">{html.escape(n.label)}</li>' for n in numbered)
        formatted = f"{formatted}<ol>{items}</ol>" if last else f"<ol>{items}</ol>"
    rendered.append(Rendered(body, formatted, _by_number(numbered)))
    return [r for r in rendered if r.body]


def _by_number(numbered: Sequence[Numbered]) -> tuple[str, ...]:
    ids = [""] * max((n.number for n in numbered), default=0)
    for n in numbered:
        ids[n.number - 1] = n.value
    return tuple(ids)

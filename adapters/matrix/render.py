"""OutboundMessage → Matrix ``m.notice`` content: plain body, escaped HTML, numbered choices.

The core's text is plain and may contain what participants typed (their answers quoted back):
every piece of it is escaped before it goes into ``formatted_body``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from qn_bot.domain import ButtonKind, OutboundMessage
from qn_bot.textsplit import split_text

HTML_FORMAT = "org.matrix.custom.html"
#: Reactions a citizen can put on a bot message to pick its n-th choice.
KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")
_VARIATION_SELECTOR = "\ufe0f"
#: Keep events well below Matrix's 64 KiB limit, even with the HTML copy and encryption.
MAX_BODY_CHARS = 12_000


@dataclass(frozen=True, slots=True)
class Rendered:
    """One ``m.notice`` event; ``choice_ids`` are the choices it numbers (reaction targets)."""

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


def render(message: OutboundMessage, limit: int = MAX_BODY_CHARS) -> list[Rendered]:
    """Render a message as one event, or several when the text is longer than ``limit`` (the
    adapter's declared ``max_text_length``).

    Choices become ``1. label`` lines (an ordered list in HTML) at the end of the last event;
    command buttons are left out: the text already names their commands (``/suivant``).
    """
    choices = [b for b in message.buttons if b.kind is ButtonKind.CHOICE]
    parts = split_text(message.text, limit) if message.text else [""]
    rendered = [Rendered(part, _html_lines(part)) for part in parts[:-1]]
    last = parts[-1]
    body = last
    formatted = _html_lines(last)
    if choices:
        numbered = "\n".join(f"{i}. {b.label}" for i, b in enumerate(choices, start=1))
        body = f"{last}\n\n{numbered}" if last else numbered
        items = "".join(f"<li>{html.escape(b.label)}</li>" for b in choices)
        formatted = f"{formatted}<ol>{items}</ol>" if last else f"<ol>{items}</ol>"
    rendered.append(Rendered(body, formatted, tuple(b.value for b in choices)))
    return [r for r in rendered if r.body]

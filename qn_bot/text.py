"""Cleaning what citizens type, before the engine sees it."""

from __future__ import annotations

import re
import unicodedata

# Invisible characters that carry no meaning in an answer. ZWJ/ZWNJ (U+200C/D) and the bidi
# marks are kept inside text: emoji sequences and right-to-left scripts need them.
_DROP = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad\u180e"), None)
# Bidi embeddings and overrides (U+202A–U+202E) can make exported text display other than it
# reads ("Trojan source"); the isolates and marks that right-to-left writing needs stay.
_DROP.update(dict.fromkeys(range(0x202A, 0x202F), None))
_BULLET_RE = re.compile(r"^\s*(?:[-*•◦▪‣·–—>+]|\d{1,3}[.)])\s+(.*)$")


def normalize(text: str) -> str:
    """NFC, control characters dropped (except newlines and tabs), outer whitespace stripped."""
    text = unicodedata.normalize("NFC", text).translate(_DROP)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs", "Co")
    )
    return text.strip()


def is_blank(text: str) -> bool:
    """True when nothing is left once whitespace and invisible (format) characters are removed."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc", "Zs") for ch in text)


def split_items(text: str) -> list[str]:
    """Split a list answer: a message of several bullet lines gives one item per bullet.

    A message without at least two bullet lines is a single item, newlines included. Lines that do
    not start with a bullet continue the item above them.
    """
    lines = text.split("\n")
    if sum(1 for line in lines if _BULLET_RE.match(line)) < 2:
        return [text]  # as typed: "> 1000 habitants" and "+ de vélos" keep their sign
    items: list[str] = []
    for line in lines:
        match = _BULLET_RE.match(line)
        if match:
            items.append(match.group(1).strip())
        elif line.strip():
            if items:
                items[-1] = f"{items[-1]}\n{line.strip()}"
            else:
                items.append(line.strip())
    return [item for item in items if not is_blank(item)]


def shorten(text: str, width: int) -> str:
    """One line of at most ``width`` characters, for button labels and summaries."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


#: The most of what someone typed that a reply quotes back (a command, a campaign name…).
QUOTE_WIDTH = 60


def quote(text: str, width: int = QUOTE_WIDTH) -> str:
    """What a citizen typed, as a reply quotes it: one short line. A reply never echoes a
    60,000-character message back (the outbox would store it, the platform split it)."""
    return shorten(text, width)

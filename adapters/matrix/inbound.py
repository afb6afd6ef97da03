"""Raw Matrix events (their JSON ``source``, already decrypted by nio) → what a citizen did.

Pure functions on dicts: no nio type is needed to classify an event, so this is easy to test.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from qn_bot.domain import InboundKind, UnsupportedReason

TEXT_MSGTYPES = frozenset({"m.text", "m.emote"})
MEDIA_MSGTYPES = frozenset({"m.image", "m.file", "m.audio", "m.video", "m.location"})


class Action(enum.Enum):
    MESSAGE = "message"  # becomes an InboundMessage as is
    REACTION = "reaction"  # needs the bot message's choices to become a CHOICE


@dataclass(frozen=True, slots=True)
class Parsed:
    action: Action
    kind: InboundKind
    text: str = ""
    target_event_id: str | None = None
    reaction_key: str | None = None
    unsupported_reason: UnsupportedReason | None = None


def strip_reply_fallback(body: str) -> str:
    """Drop the ``> <@user> quoted`` lines clients prepend to replies."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    return "\n".join(lines[index:]).lstrip("\n")


def _relation(content: dict[str, Any]) -> dict[str, Any]:
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, dict) else {}


def parse_event(source: dict[str, Any]) -> Parsed | None:
    """Classify one timeline event; None for what the bot ignores (state, notices, receipts…)."""
    event_type = source.get("type")
    content = source.get("content")
    if not isinstance(content, dict):
        content = {}
    if event_type == "m.room.redaction":
        target = source.get("redacts") or content.get("redacts")
        if isinstance(target, str):
            return Parsed(Action.MESSAGE, InboundKind.DELETE, target_event_id=target)
        return None
    if event_type == "m.sticker":
        return Parsed(Action.MESSAGE, InboundKind.UNSUPPORTED)
    if event_type == "m.reaction":
        rel = _relation(content)
        key, target = rel.get("key"), rel.get("event_id")
        if (
            rel.get("rel_type") == "m.annotation"
            and isinstance(key, str)
            and isinstance(target, str)
        ):
            return Parsed(
                Action.REACTION, InboundKind.CHOICE, target_event_id=target, reaction_key=key
            )
        return None
    if event_type != "m.room.message":
        return None
    msgtype = content.get("msgtype")
    rel = _relation(content)
    if rel.get("rel_type") == "m.replace":
        new = content.get("m.new_content")
        target = rel.get("event_id")
        if not isinstance(new, dict) or not isinstance(target, str):
            return None
        if new.get("msgtype", msgtype) not in TEXT_MSGTYPES:
            return None
        body = new.get("body")
        return Parsed(
            Action.MESSAGE,
            InboundKind.EDIT,
            text=body if isinstance(body, str) else "",
            target_event_id=target,
        )
    if msgtype in TEXT_MSGTYPES:
        body = content.get("body")
        text = body if isinstance(body, str) else ""
        if "m.in_reply_to" in rel:
            text = strip_reply_fallback(text)
        return Parsed(Action.MESSAGE, InboundKind.TEXT, text=text)
    if msgtype in MEDIA_MSGTYPES:
        return Parsed(Action.MESSAGE, InboundKind.UNSUPPORTED)
    return None  # m.notice (other bots), unknown msgtypes

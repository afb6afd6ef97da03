"""The adapter's pure parts: rendering, event classification, invitation policy, error mapping.

No server needed, but kept with the Matrix tests (they share the adapter's vocabulary).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from qn_bot.adapters.matrix.inbound import Action, parse_event, strip_reply_fallback
from qn_bot.adapters.matrix.logs import guard_nio_logs
from qn_bot.adapters.matrix.outbound import error_from_response
from qn_bot.adapters.matrix.policy import invite_allowed
from qn_bot.adapters.matrix.render import keycap_index, render

from qn_bot.domain import Button, ButtonKind, InboundKind, OutboundMessage
from qn_bot.errors import (
    PermanentDeliveryError,
    RecipientUnreachable,
    RetryAfter,
    TransientDeliveryError,
)

pytestmark = pytest.mark.integration


def test_a_review_keeps_its_numbers_in_html_and_reactions() -> None:
    """The review lists the answers in its text (1., 2.) and prints only « Valider » below, as
    3.: the HTML list says 3, and the 3️⃣ reaction — not 1️⃣ — answers it."""
    message = OutboundMessage(
        "Voici vos réponses :\n1. des vélos\n2. des arbres",
        buttons=(
            Button(ButtonKind.CHOICE, "item:1", "✏️ 1"),
            Button(ButtonKind.CHOICE, "item:2", "✏️ 2"),
            Button(ButtonKind.CHOICE, "done", "✅ Valider"),
        ),
    )
    [event] = render(message)
    assert event.body.endswith("3. ✅ Valider")
    assert '<li value="3">✅ Valider</li>' in event.formatted_body
    assert event.choice_ids == ("", "", "done")  # by number: 3️⃣ is "done", 1️⃣ and 2️⃣ nothing


def test_render_escapes_and_numbers_choices() -> None:
    message = OutboundMessage(
        "Vous avez écrit : <i>x</i> & y\nAcceptez-vous ?",
        buttons=(
            Button(ButtonKind.CHOICE, "accept", "J'accepte <vraiment>"),
            Button(ButtonKind.CHOICE, "refuse", "Je refuse"),
            Button(ButtonKind.COMMAND, "suivant", "Suivant"),
        ),
    )
    [event] = render(message)
    assert event.body.endswith("1. J'accepte <vraiment>\n2. Je refuse")
    assert "Suivant" not in event.body
    assert "&lt;i&gt;x&lt;/i&gt; &amp; y<br/>Acceptez-vous ?" in event.formatted_body
    assert '<li value="1">J&#x27;accepte &lt;vraiment&gt;</li>' in event.formatted_body
    assert event.choice_ids == ("accept", "refuse")
    assert event.content()["msgtype"] == "m.notice"


def test_render_splits_long_text_and_keeps_choices_last() -> None:
    text = "\n".join(f"ligne {i} " + "x" * 50 for i in range(100))
    events = render(
        OutboundMessage(text, buttons=(Button(ButtonKind.CHOICE, "a", "A"),)), limit=1000
    )
    assert len(events) > 1
    assert all(len(e.body) <= 1000 + len("\n\n1. A") for e in events)
    assert events[-1].choice_ids == ("a",)
    assert all(not e.choice_ids for e in events[:-1])
    assert "\n".join(e.body for e in events[:-1]) + "\n" + events[-1].body.split("\n\n")[0] == text


def test_keycaps() -> None:
    assert keycap_index("1️⃣") == 0
    assert keycap_index("3\u20e3") == 2  # without the variation selector
    assert keycap_index("🔟") == 9
    assert keycap_index("👍") is None


def _msg(content: dict[str, Any], event_type: str = "m.room.message") -> dict[str, Any]:
    return {"type": event_type, "content": content, "event_id": "$e", "sender": "@a:hs"}


def test_parse_event_kinds() -> None:
    text = parse_event(_msg({"msgtype": "m.text", "body": "bonjour"}))
    assert text is not None
    assert (text.kind, text.text) == (InboundKind.TEXT, "bonjour")
    edit = parse_event(
        _msg(
            {
                "msgtype": "m.text",
                "body": "* neuf",
                "m.new_content": {"msgtype": "m.text", "body": "neuf"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"},
            }
        )
    )
    assert edit is not None
    assert (edit.kind, edit.text, edit.target_event_id) == (InboundKind.EDIT, "neuf", "$old")
    redaction = parse_event({"type": "m.room.redaction", "redacts": "$old", "content": {}})
    assert redaction is not None
    assert (redaction.kind, redaction.target_event_id) == (InboundKind.DELETE, "$old")
    for media in ("m.image", "m.file", "m.audio", "m.video"):
        parsed = parse_event(_msg({"msgtype": media, "body": "f"}))
        assert parsed is not None
        assert parsed.kind is InboundKind.UNSUPPORTED
    sticker = parse_event(_msg({"body": "s", "url": "mxc://x/y"}, "m.sticker"))
    assert sticker is not None
    assert sticker.kind is InboundKind.UNSUPPORTED
    reaction = parse_event(
        _msg(
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$q", "key": "2️⃣"}},
            "m.reaction",
        )
    )
    assert reaction is not None
    assert (reaction.action, reaction.target_event_id) == (Action.REACTION, "$q")
    assert parse_event(_msg({"msgtype": "m.notice", "body": "another bot"})) is None
    assert parse_event(_msg({"membership": "join"}, "m.room.member")) is None


def test_reply_fallback_is_stripped() -> None:
    body = "> <@bot:hs> Acceptez-vous ?\n> 1. oui\n\n1"
    assert strip_reply_fallback(body) == "1"
    assert strip_reply_fallback("pas une réponse") == "pas une réponse"


def test_invite_policy() -> None:
    assert invite_allowed("@a:anywhere.org", ())
    assert invite_allowed("@a:example.org", ("example.org",))
    assert invite_allowed("@a:other.org", ("example.org", "@a:other.org"))
    assert not invite_allowed("@b:other.org", ("example.org", "@a:other.org"))


class _Transport:
    def __init__(self, status: int) -> None:
        self.status = status


class _Error:
    def __init__(self, code: str | None, status: int, retry_after_ms: int | None = None) -> None:
        self.status_code = code
        self.message = "boom"
        self.transport_response = _Transport(status)
        self.retry_after_ms = retry_after_ms


def test_error_mapping() -> None:
    limited = error_from_response(_Error("M_LIMIT_EXCEEDED", 429, 1500), "send")
    assert isinstance(limited, RetryAfter)
    assert limited.seconds == 1.5
    assert isinstance(error_from_response(_Error("M_FORBIDDEN", 403), "send"), RecipientUnreachable)
    assert isinstance(
        error_from_response(_Error("M_TOO_LARGE", 413), "send"), PermanentDeliveryError
    )
    assert isinstance(error_from_response(_Error(None, 502), "send"), TransientDeliveryError)
    assert isinstance(
        error_from_response(_Error("M_UNKNOWN_TOKEN", 401), "send"), TransientDeliveryError
    )


def test_nio_log_lines_name_no_one(caplog: pytest.LogCaptureFixture) -> None:
    guard_nio_logs()
    nio_logger = logging.getLogger("nio.crypto.log")
    with caplog.at_level(logging.WARNING, logger="nio"):
        nio_logger.warning(
            "Missing session for device %s of user %s in %s", "QWERTY", "@zoe:example.org", "!dm:hs"
        )
    (record,) = caplog.records
    assert record.getMessage() == "Missing session for device QWERTY of user <user> in <room>"


def test_delivery_errors_name_no_one() -> None:
    forbidden = _Error("M_FORBIDDEN", 403)
    forbidden.message = "User @zoe:example.org not in room !dm:hs"
    error = error_from_response(forbidden, "send")
    assert isinstance(error, RecipientUnreachable)
    assert "@zoe" not in str(error)
    assert "!dm" not in str(error)

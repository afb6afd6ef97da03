"""Rendering and error mapping of the Telegram adapter, without a server."""

from __future__ import annotations

import pytest
from qn_bot.adapters.telegram.errors import delivery_error
from qn_bot.adapters.telegram.render import CallbackCodec, escape, render
from telegram import error as tg

from qn_bot.domain import Button, ButtonKind, OutboundMessage
from qn_bot.errors import (
    PermanentDeliveryError,
    RecipientUnreachable,
    RetryAfter,
    TransientDeliveryError,
)

pytestmark = pytest.mark.integration


def test_escape_leaves_nothing_telegram_would_read_as_markup() -> None:
    assert escape('<b>&amp;</b> "l\'été"') == '&lt;b&gt;&amp;amp;&lt;/b&gt; "l\'été"'


async def test_buttons_become_a_keyboard_on_the_last_part_only() -> None:
    codec = CallbackCodec()
    long_id = "campaign:" + "x" * 80
    message = OutboundMessage(
        "a" * 5000,
        buttons=(
            Button(ButtonKind.CHOICE, "oui", "Oui"),
            Button(ButtonKind.CHOICE, long_id, "Long"),
            Button(ButtonKind.COMMAND, "suivant", "Suivant"),
        ),
    )
    first, last = await render(message, codec)
    assert first.keyboard is None
    assert last.keyboard is not None
    rows = last.keyboard.inline_keyboard
    assert [[b.text for b in row] for row in rows] == [["Oui"], ["Long"], ["Suivant"]]
    data = [b.callback_data for row in rows for b in row]
    assert all(isinstance(d, str) and len(d.encode()) <= 64 for d in data)
    decoded = [await codec.decode(str(d)) for d in data]
    assert [(p.choice_id, p.command) for p in decoded if p] == [
        ("oui", None),
        (long_id, None),
        (None, "suivant"),
    ]
    assert await codec.decode("nonsense") is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (tg.RetryAfter(3), RetryAfter),
        (tg.Forbidden("Forbidden: bot was blocked by the user"), RecipientUnreachable),
        (tg.BadRequest("Bad Request: chat not found"), RecipientUnreachable),
        (tg.BadRequest("Bad Request: can't parse entities"), PermanentDeliveryError),
        (tg.TimedOut(), TransientDeliveryError),
        (tg.NetworkError("connection reset"), TransientDeliveryError),
    ],
)
def test_telegram_errors_tell_the_outbox_what_to_do(
    error: tg.TelegramError, expected: type[Exception]
) -> None:
    mapped = delivery_error(error)
    assert type(mapped) is expected
    if isinstance(mapped, RetryAfter):
        assert mapped.seconds == 3

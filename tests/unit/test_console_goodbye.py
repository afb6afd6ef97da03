"""End of input on the console (Ctrl-D): a goodbye that says the citizen's place is kept, in the
bot's language, printed after every answer."""

from __future__ import annotations

import io

import pytest
from qn_bot.adapters.console import ConsoleAdapter

from qn_bot.domain import Address, Envelope, InboundMessage, OutboundMessage


@pytest.mark.parametrize(
    ("language", "goodbye"),
    [
        ("fr", "Au revoir\u00a0! Votre place est gardée"),
        ("en", "Goodbye! Your place is kept"),
    ],
)
async def test_end_of_input_says_goodbye(language: str, goodbye: str) -> None:
    out = io.StringIO()
    console = ConsoleAdapter("ann", stdin=io.StringIO("une idée\n"), stdout=out, language=language)

    async def answer(message: InboundMessage) -> None:
        reply = OutboundMessage(f"reçu : {message.text}")
        await console.send(Envelope(1, Address("console", "ann"), reply))

    await console.run(answer)
    lines = out.getvalue().splitlines()
    assert lines[-2] == "reçu : une idée"
    assert lines[-1].startswith(goodbye)

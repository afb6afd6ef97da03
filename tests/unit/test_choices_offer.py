"""How choices are offered (qn_bot.offering): the core decides from ``Capabilities.buttons``;
the adapters only draw what it decided."""

from __future__ import annotations

from qn_bot.adapters.telegram.render import CAPABILITIES, CallbackCodec, render

from qn_bot.domain import Button, ButtonKind, OutboundMessage
from qn_bot.flows.engine import Engine
from qn_bot.flows.events import ItemAdded, Say
from qn_bot.flows.loader import load_flow_text
from qn_bot.i18n import default_catalog
from qn_bot.offering import Numbered, by_number, numbered, offer
from qn_bot.ports import Capabilities
from tests.transcript import Run

WITH_BUTTONS = Capabilities(buttons=True)
WITHOUT_BUTTONS = Capabilities(buttons=False)

MESSAGE = OutboundMessage(
    "Couleur ?",
    buttons=(
        Button(ButtonKind.CHOICE, "rouge", "Rouge"),
        Button(ButtonKind.COMMAND, "suivant", "Suivant"),
        Button(ButtonKind.CHOICE, "bleu", "Bleu"),
    ),
)


def test_a_platform_with_buttons_keeps_every_button_in_order() -> None:
    offered = offer(MESSAGE, WITH_BUTTONS)
    assert offered.buttons == MESSAGE.buttons
    assert offered.numbered == ()
    assert offered.choice_ids == ()


def test_a_platform_without_buttons_gets_the_choices_numbered_and_no_commands() -> None:
    # The text already names the commands (/suivant): a command button is not drawn.
    offered = offer(MESSAGE, WITHOUT_BUTTONS)
    assert offered.buttons == ()
    assert offered.numbered == (Numbered(1, "rouge", "Rouge"), Numbered(2, "bleu", "Bleu"))
    assert offered.choice_ids == ("rouge", "bleu")


def test_one_definition_of_the_number_typed_for_an_option() -> None:
    # What offer() draws and what the engine accepts typed are both this numbering.
    assert numbered(MESSAGE.buttons) == offer(MESSAGE, WITHOUT_BUTTONS).numbered
    assert [by_number(MESSAGE.buttons, n) for n in range(4)] == [None, "rouge", "bleu", None]


def test_a_message_without_choices_offers_nothing() -> None:
    only_command = OutboundMessage("Vos idées ?", (Button(ButtonKind.COMMAND, "suivant", "S"),))
    assert offer(only_command, WITHOUT_BUTTONS).numbered == ()
    assert offer(OutboundMessage("Bonjour."), WITH_BUTTONS).buttons == ()


FLOW = """
id = "nombres"
version = 1
languages = ["fr", "en"]
title = { fr = "Nombres", en = "Numbers" }

[[steps]]
id = "ok"
kind = "consent"
prompt = { fr = "D'accord ?", en = "Agree?" }

[[steps]]
id = "couleur"
kind = "choice"
prompt = { fr = "Couleur ?", en = "Colour?" }
choices = [
  { id = "rouge", label = { fr = "Rouge", en = "Red" } },
  { id = "bleu", label = { fr = "Bleu", en = "Blue" } },
  { id = "vert", label = { fr = "Vert", en = "Green" } },
]

[[steps]]
id = "note"
kind = "scale"
prompt = { fr = "Note ?", en = "Score?" }
min = 1
max = 5

[[steps]]
id = "fin"
kind = "info"
prompt = { fr = "Merci.", en = "Thanks." }
"""


def test_typing_an_offered_number_picks_that_choice_in_the_engine() -> None:
    """The numbers drawn are the numbers the engine accepts when the citizen types them."""
    flow = load_flow_text(FLOW, "nombres.toml")
    run = Run.start(flow, Engine(flow, default_catalog()))
    picked: list[str] = []
    for pick in (1, 3, 2):  # consent: "J'accepte"; couleur: Vert; note: 2
        [shown] = [e for e in run.events if isinstance(e, Say) and e.message.choices][-1:]
        options = offer(shown.message, WITHOUT_BUTTONS).numbered
        assert [n.number for n in options] == list(range(1, len(options) + 1))
        picked.append(next(n.label for n in options if n.number == pick))
        run.send(str(pick))
    added = [e.text for e in run.events if isinstance(e, ItemAdded)]
    assert added == picked[1:]  # consent records no item
    assert run.state.consent_version == 1


async def test_telegram_draws_the_buttons_the_offer_gives() -> None:
    # Choices one per row, the command buttons side by side below, in the offer's order; a
    # platform the core offers no buttons gets no keyboard from the same renderer.
    codec = CallbackCodec()
    (part,) = await render(MESSAGE, codec, CAPABILITIES)
    assert part.keyboard is not None
    drawn = [[key.text for key in row] for row in part.keyboard.inline_keyboard]
    assert drawn == [["Rouge"], ["Bleu"], ["Suivant"]]
    pressed = [
        await codec.decode(str(key.callback_data))
        for row in part.keyboard.inline_keyboard
        for key in row
    ]
    assert [p.choice_id or p.command for p in pressed if p is not None] == [
        b.value for b in offer(MESSAGE, CAPABILITIES).buttons if b.kind is ButtonKind.CHOICE
    ] + ["suivant"]
    (plain,) = await render(MESSAGE, codec, WITHOUT_BUTTONS)
    assert plain.keyboard is None

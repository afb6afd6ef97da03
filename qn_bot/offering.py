"""How choices are offered: buttons where the platform has them, numbered options elsewhere.

The core decides it from ``Capabilities.buttons`` (qn_bot.ports), once for every adapter; an
adapter only draws what it is given (Telegram an inline keyboard, the console ``[1] label``
lines, Matrix ``1. label``, an HTML list and keycap reactions).

The numbers are defined here once (:func:`numbered`, :func:`by_number`), for what is drawn and
for what the engine accepts typed (``Engine.match``): the message's choice buttons, in their
order, counted from 1. Command buttons (Suivant, Exemples) are left out of numbered options: the
text already names their commands (``/suivant``), and a number must mean one answer only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qn_bot.domain import Button, ButtonKind, OutboundMessage

if TYPE_CHECKING:  # the engine reads the numbering: it imports nothing of the ports
    from qn_bot.ports import Capabilities


@dataclass(frozen=True, slots=True)
class Numbered:
    """One choice shown as a numbered option: typing ``number`` answers ``value``."""

    number: int
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Offer:
    """What an adapter draws under a message's text: ``buttons`` (only on a platform that has
    them) or ``numbered`` options (on one that has not); never both."""

    buttons: tuple[Button, ...] = ()
    numbered: tuple[Numbered, ...] = ()

    @property
    def choice_ids(self) -> tuple[str, ...]:
        """The numbered choices' ids, ``choice_ids[n - 1]`` for number ``n``."""
        return tuple(n.value for n in self.numbered)


def numbered(buttons: tuple[Button, ...]) -> tuple[Numbered, ...]:
    """The choices among ``buttons`` with the number that answers each."""
    choices = (b for b in buttons if b.kind is ButtonKind.CHOICE)
    return tuple(Numbered(number, b.value, b.label) for number, b in enumerate(choices, start=1))


def by_number(buttons: tuple[Button, ...], number: int) -> str | None:
    """The choice id that typing ``number`` answers, if any."""
    return next((n.value for n in numbered(buttons) if n.number == number), None)


def offer(message: OutboundMessage, capabilities: Capabilities) -> Offer:
    if capabilities.buttons:
        return Offer(buttons=message.buttons)
    # A choice labelled listed_label(n) is in the text already, numbered (a review's answers):
    # "[3] ✏️ 3" would say nothing more. Those after it keep their numbers all the same.
    return Offer(
        numbered=tuple(n for n in numbered(message.buttons) if n.label != listed_label(n.number))
    )


def listed_label(number: int) -> str:
    """The label of a choice that the message's text lists as item ``number`` (a review's
    answers): a button to press where there are buttons, nothing more to print elsewhere."""
    return f"✏️ {number}"

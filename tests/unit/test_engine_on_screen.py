"""A message answers a question only if that question was on screen before the message arrived.

The engine records when it put the current question (or review, or item menu) before the
citizen; the host tells it when each message arrived. A message that was already on its way
when the question appeared — a burst read in one poll, a pipe read ahead, a replay — answers
nothing: it is said so, and the question is shown again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from qn_bot.flows.engine import ChoiceInput, CommandInput, Engine, Input, TextInput
from qn_bot.flows.events import ConsentGiven, Event, ItemAdded, ItemRevised, Say
from qn_bot.flows.format import Flow
from qn_bot.flows.loader import load_flow_text
from qn_bot.flows.state import Mode, SessionState
from qn_bot.i18n import default_catalog
from tests.transcript import NOW
from tests.unit.test_engine import SMALL_FLOW

SECOND = timedelta(seconds=1)
NOT_ON_SCREEN = "avant que la question ne s’affiche"


@pytest.fixture
def engine() -> Engine:
    flow: Flow = load_flow_text(SMALL_FLOW, "petit.toml")
    return Engine(flow, default_catalog())


def said(events: list[Event]) -> str:
    return "\n".join(e.message.text for e in events if isinstance(e, Say))


def at_consent(engine: Engine) -> SessionState:
    state, _ = engine.start("fr", NOW)
    assert state.step_id == "ok"
    assert state.shown_at == NOW
    return state


@pytest.mark.parametrize(
    "inp",
    [TextInput("oui"), TextInput("1"), TextInput("J'accepte"), ChoiceInput("accept")],
    ids=["oui", "1", "label", "button"],
)
def test_consent_that_arrived_before_the_consent_was_shown_is_not_taken(
    engine: Engine, inp: Input
) -> None:
    state = at_consent(engine)
    after, events = engine.resume(state, inp, NOW + SECOND, arrived_at=NOW - SECOND)
    assert not any(isinstance(e, ConsentGiven) for e in events)
    assert after.step_id == "ok"
    assert after.consent_version is None
    text = said(events)
    assert NOT_ON_SCREEN in text
    assert "D'accord ?" in text  # shown again, with its buttons
    assert [b.value for e in events if isinstance(e, Say) for b in e.message.buttons] == [
        "accept",
        "refuse",
    ]
    # The same message, once the consent has been shown, is consent.
    _, events = engine.resume(after, inp, NOW + 2 * SECOND, arrived_at=NOW + SECOND)
    assert ConsentGiven(3) in events


def test_arrival_at_the_very_moment_the_question_was_shown_counts_as_after(
    engine: Engine,
) -> None:
    state = at_consent(engine)
    _, events = engine.resume(state, TextInput("oui"), NOW, arrived_at=NOW)
    assert ConsentGiven(3) in events


def test_unknown_arrival_time_is_taken_as_now(engine: Engine) -> None:
    """Hosts that read one message at a time (the console) know nothing earlier is waiting."""
    state = at_consent(engine)
    _, events = engine.resume(state, TextInput("oui"), NOW + SECOND)
    assert ConsentGiven(3) in events


def test_moving_on_puts_the_next_question_on_screen(engine: Engine) -> None:
    state = at_consent(engine)
    t1 = NOW + 10 * SECOND
    state, _ = engine.resume(state, TextInput("oui"), t1, arrived_at=t1)
    assert (state.step_id, state.shown_at) == ("idees", t1)
    # Items of a list question keep coming after it was shown: the screen has not changed.
    t2 = t1 + 5 * SECOND
    state, events = engine.resume(state, TextInput("une idée"), t2, arrived_at=t1 + SECOND)
    assert [e.text for e in events if isinstance(e, ItemAdded)] == ["une idée"]
    assert state.shown_at == t1
    # "/suivant" then an answer typed before the colour question appeared: not a colour.
    t3 = t2 + 5 * SECOND
    state, _ = engine.resume(state, CommandInput("suivant"), t3, arrived_at=t3)
    assert (state.step_id, state.shown_at) == ("couleur", t3)
    state, events = engine.resume(state, TextInput("2"), t3 + SECOND, arrived_at=t3 - SECOND)
    assert not any(isinstance(e, ItemAdded) for e in events)
    assert state.step_id == "couleur"
    assert NOT_ON_SCREEN in said(events)
    assert "Couleur ?" in said(events)


def test_next_and_skip_typed_before_the_question_appeared_do_not_pass_it(
    engine: Engine,
) -> None:
    state = at_consent(engine)
    state, _ = engine.resume(state, TextInput("oui"), NOW, arrived_at=NOW)
    state, _ = engine.resume(state, TextInput("idée"), NOW, arrived_at=NOW)
    t1 = NOW + 10 * SECOND
    state, _ = engine.resume(state, CommandInput("suivant"), t1, arrived_at=t1)
    state, _ = engine.resume(state, TextInput("Aucune"), t1, arrived_at=t1)
    assert state.step_id == "types"
    shown = state.shown_at
    assert shown == t1
    for name in ("suivant", "passer"):
        after, events = engine.resume(
            state, CommandInput(name), t1 + SECOND, arrived_at=t1 - SECOND
        )
        assert after.step_id == "types", name
        assert NOT_ON_SCREEN in said(events)
    # Commands that answer nothing still work whenever they arrived.
    after, events = engine.resume(state, CommandInput("exemple"), t1 + SECOND, arrived_at=NOW)
    assert said(events)
    assert NOT_ON_SCREEN not in said(events)


def test_after_back_a_message_sent_before_the_previous_question_reappeared_is_not_taken(
    engine: Engine,
) -> None:
    state = at_consent(engine)
    for text in ("oui", "idée", "/suivant", "Rouge"):
        inp: Input = CommandInput("suivant") if text == "/suivant" else TextInput(text)
        state, _ = engine.resume(state, inp, NOW, arrived_at=NOW)
    assert state.step_id == "pourquoi_couleur"
    t1 = NOW + 10 * SECOND
    state, _ = engine.resume(state, CommandInput("retour"), t1, arrived_at=t1)
    assert (state.step_id, state.shown_at) == ("couleur", t1)
    # "Bleu" was typed for the text question, before "Couleur ?" came back.
    after, events = engine.resume(state, TextInput("Bleu"), t1 + SECOND, arrived_at=t1 - SECOND)
    assert not any(isinstance(e, ItemRevised) for e in events)
    assert after.items == state.items


def test_review_numbers_typed_before_the_review_was_shown_pick_nothing(
    engine: Engine,
) -> None:
    state = at_consent(engine)
    for text in ("oui", "première", "deuxième"):
        state, _ = engine.resume(state, TextInput(text), NOW, arrived_at=NOW)
    t1 = NOW + 10 * SECOND
    state, _ = engine.resume(state, CommandInput("mes_reponses"), t1, arrived_at=t1)
    assert (state.mode, state.shown_at) == (Mode.REVIEW, t1)
    after, events = engine.resume(state, TextInput("2"), t1 + SECOND, arrived_at=t1 - SECOND)
    assert after.mode is Mode.REVIEW
    assert NOT_ON_SCREEN in said(events)
    after, _ = engine.resume(state, TextInput("2"), t1 + SECOND, arrived_at=t1 + SECOND)
    assert (after.mode, after.selected) == (Mode.ITEM_MENU, 2)


def test_a_state_written_before_screens_were_recorded_still_reads(engine: Engine) -> None:
    """Sessions already in databases (state version 1) keep working: nothing counts as early."""
    state = at_consent(engine)
    old = state.to_json()
    old["version"] = 1
    del old["shown_at"]
    del old["resume_step"]
    upgraded = SessionState.from_json(old)
    assert upgraded.shown_at is None
    assert upgraded.step_id == "ok"
    _, events = engine.resume(upgraded, TextInput("oui"), NOW, arrived_at=NOW - SECOND)
    assert ConsentGiven(3) in events
    assert SessionState.from_json(upgraded.to_json()) == upgraded


def test_a_button_of_an_older_item_menu_acts_on_nothing_else(engine: Engine) -> None:
    """Item menus look alike: "Supprimer" pressed on the menu of an item shown earlier must not
    delete the item selected now."""
    state = at_consent(engine)
    for text in ("oui", "première", "deuxième"):
        state, _ = engine.resume(state, TextInput(text), NOW)
    state, _ = engine.resume(state, CommandInput("mes_reponses"), NOW)
    state, events = engine.resume(state, ChoiceInput("item:1"), NOW)
    old_menu = [b for e in events if isinstance(e, Say) for b in e.message.buttons]
    old_delete = next(b.value for b in old_menu if "Supprimer" in b.label)
    state, _ = engine.resume(state, TextInput("Retour à la liste"), NOW)
    state, _ = engine.resume(state, ChoiceInput("item:2"), NOW)
    assert (state.mode, state.selected) == (Mode.ITEM_MENU, 2)
    after, events = engine.resume(state, ChoiceInput(old_delete), NOW)
    assert after.items == state.items
    assert "plus valable" in said(events)
    # The menu on screen still works, pressed or typed.
    after, events = engine.resume(state, TextInput("Supprimer"), NOW)
    after, events = engine.resume(after, TextInput("Oui, supprimer"), NOW)
    assert sorted(after.items) == [1]


def test_a_screen_shown_again_is_dated_again(engine: Engine) -> None:
    """Back in a campaign after another one: what was sent before it came back answers
    nothing, even though the question itself is the one shown long ago."""
    state = at_consent(engine)
    later = NOW + 60 * SECOND
    again, events = engine.show_again(state, later)
    assert again.shown_at == later
    assert "D'accord ?" in said(events)
    _, events = engine.resume(again, TextInput("oui"), later, arrived_at=later - SECOND)
    assert not any(isinstance(e, ConsentGiven) for e in events)

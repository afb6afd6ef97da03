"""Random conversations never crash the engine and never lose an acknowledged item."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qn_bot.flows.engine import ChoiceInput, CommandInput, Engine, Input, TextInput
from qn_bot.flows.events import (
    ConsentRefused,
    ItemAdded,
    ItemDeleted,
    ItemRevised,
    ItemWithdrawn,
    Say,
)
from qn_bot.flows.loader import load_flow_text, resolve_flow
from qn_bot.flows.state import SessionState
from qn_bot.i18n import default_catalog
from tests.transcript import NOW, check_conditions
from tests.unit.test_engine import SMALL_FLOW

ENGINES = [
    Engine(resolve_flow("construire-2030"), default_catalog()),
    Engine(load_flow_text(SMALL_FLOW, "petit.toml"), default_catalog()),
]
COMMANDS = [
    "suivant",
    "retour",
    "passer",
    "exemple",
    "aide",
    "mes_reponses",
    "reprendre",
    "langue",
    "stop",
    "inconnue",
]

texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "1",
            "2",
            "3",
            "oui",
            "non",
            "J'accepte",
            "Rouge",
            "1, 2",
            "  ",
            "\u200b",
            "- a\n- b\n- c",
            "x" * 600,
            "🙂",
            "مرحبا",
            "<i>x</i>",
            "Valider et terminer",
            "Supprimer",
            "Modifier",
            "Continuer",
            "42",
            "-3",
            "nan",
            "1e309",
        ]
    ),
)
inputs: st.SearchStrategy[Input] = st.one_of(
    texts.map(TextInput),
    st.sampled_from(COMMANDS).flatmap(
        lambda name: st.sampled_from(["", "en", "fr", "xx"]).map(
            lambda arg: CommandInput(name, arg, name != "inconnue")
        )
    ),
    st.sampled_from(
        [
            "accept",
            "refuse",
            "rouge",
            "a",
            "b",
            "3",
            "done",
            "edit",
            "delete",
            "edit:1",
            "delete:1",
            "delete:2",
            "back",
            "item:1",
            "item:2",
            "item:99",
            "juridiques",
            "financement",
            "economiques",
            "item:5",
            "item:6",
            "nonsense",
        ]
    ).map(ChoiceInput),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    engine_index=st.sampled_from([0, 1]),
    language=st.sampled_from(["fr", "en", "de"]),
    script=st.lists(inputs, max_size=60),
)
def test_random_conversations(engine_index: int, language: str, script: list[Input]) -> None:
    engine = ENGINES[engine_index]
    state, events = engine.start(language, NOW)
    model: dict[int, str] = {}  # what the host would have stored, from the events alone
    for inp in script:
        state = SessionState.from_json(json.loads(json.dumps(state.to_json())))
        before = dict(model)
        state, events = engine.resume(state, inp, NOW)
        assert any(isinstance(e, Say) for e in events), f"no reply to {inp!r}"
        deletions = [e.seq for e in events if isinstance(e, ItemDeleted)]
        refused = any(isinstance(e, ConsentRefused) for e in events)
        if deletions and not refused:
            # Only an explicit "delete" in the item menu removes an item, one at a time.
            assert inp in (
                ChoiceInput("delete:1"),
                ChoiceInput("delete:2"),
                TextInput("Supprimer"),
                TextInput("2"),
            )
            assert len(deletions) == 1
        withdrawn = [e.seq for e in events if isinstance(e, ItemWithdrawn)]
        for event in events:
            if isinstance(event, ItemAdded):
                assert event.seq not in model
                model[event.seq] = event.text
            elif isinstance(event, ItemRevised):
                assert event.seq in model
                model[event.seq] = event.text
            elif isinstance(event, ItemDeleted | ItemWithdrawn):
                del model[event.seq]
        lost = set(before) - set(model) - set(deletions) - set(withdrawn)
        assert not lost
        # Only a changed answer withdraws items: those of steps whose condition became false.
        values = engine.values(state)
        for event in events:
            if isinstance(event, ItemWithdrawn):
                when = engine.flow.step(event.step_id).when
                assert when is not None
                assert not when.evaluate(values)
        check_conditions(engine, state)
        assert {seq: item.text for seq, item in state.items.items()} == model
        for text in model.values():
            assert text.strip(), "a blank item was stored"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    engine_index=st.sampled_from([0, 1]),
    script=st.lists(st.tuples(inputs, st.booleans()), max_size=40),
)
def test_a_message_that_arrived_before_the_screen_answers_nothing(
    engine_index: int, script: list[tuple[Input, bool]]
) -> None:
    """Whatever was on screen, a message that arrived before it changes no answer, gives no
    consent and moves nothing: the citizen is told, and sees the screen again."""
    engine = ENGINES[engine_index]
    now = NOW
    state, _ = engine.start("fr", now)
    for inp, early in script:
        now += timedelta(seconds=10)
        shown = state.shown_at
        assert shown is not None
        arrived = shown - timedelta(seconds=1) if early else now
        before = state
        state, events = engine.resume(state, inp, now, arrived_at=arrived)
        assert any(isinstance(e, Say) for e in events), f"no reply to {inp!r}"
        answers = isinstance(inp, TextInput | ChoiceInput) or (
            isinstance(inp, CommandInput) and inp.name in ("suivant", "passer")
        )
        if early and answers:
            assert state == before, inp
            assert all(isinstance(e, Say) for e in events), events

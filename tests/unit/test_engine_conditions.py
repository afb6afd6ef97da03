"""The flow's conditions (`when`) stay true after answers change.

Whenever a value a condition reads changes — an answer changed in the review, after /retour, or
by a platform edit or deletion — the engine evaluates the conditions again: the items of steps
that no longer apply are withdrawn (events the host turns into deleted revisions), and questions
that now apply are asked before the review comes back. An option ticked again is asked again.
"""

from __future__ import annotations

import pytest

from qn_bot.flows.engine import DeleteItem, EditItem, Engine, TextInput
from qn_bot.flows.events import Event, ItemAdded, ItemDeleted, ItemWithdrawn, Say
from qn_bot.flows.format import Flow
from qn_bot.flows.loader import load_flow_text, resolve_flow
from qn_bot.flows.state import Mode, SessionState, Status
from qn_bot.i18n import default_catalog
from tests.transcript import NOW, Run, check_golden
from tests.unit.test_engine import SMALL_FLOW

THROUGH_TO_MEANS = ["1", "/suivant", "/suivant", "/suivant", "/suivant", "/suivant"]
FINANCING = "moyens_financement"


@pytest.fixture
def construire() -> tuple[Flow, Engine]:
    flow = resolve_flow("construire-2030")
    return flow, Engine(flow, default_catalog())


@pytest.fixture
def small() -> tuple[Flow, Engine]:
    flow = load_flow_text(SMALL_FLOW, "petit.toml")
    return flow, Engine(flow, default_catalog())


def seq_of(state: SessionState, step_id: str) -> int:
    (seq,) = [seq for seq, item in state.items.items() if item.step_id == step_id]
    return seq


def said(events: list[Event]) -> str:
    return "\n".join(e.message.text for e in events if isinstance(e, Say))


def live_steps(state: SessionState) -> list[str]:
    return sorted({item.step_id for item in state.items.values()})


def to_final_review(run: Run) -> None:
    """Consent, skip to the means, tick legal means and financing, one item each, review."""
    for line in [*THROUGH_TO_MEANS, "1, 4", "Régulations intelligentes", "/suivant"]:
        run.send(line)
    assert run.state.step_id == FINANCING
    for line in ["Plasticité", "Budgets participatifs", "/suivant", "/suivant"]:
        run.send(line)
    assert (run.state.mode, run.state.review_final) == (Mode.REVIEW, True)


def test_unticking_an_option_in_the_review_withdraws_its_items(
    construire: tuple[Flow, Engine],
) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    to_final_review(run)
    financing = sorted(s for s, i in run.state.items.items() if i.step_id == FINANCING)
    assert len(financing) == 2
    run.send(f"#item:{seq_of(run.state, 'moyens_types')}")
    events = run.send("1")  # legal means only: financing unticked
    assert [e.seq for e in events if isinstance(e, ItemWithdrawn)] == financing
    assert not any(isinstance(e, ItemDeleted) for e in events)
    assert FINANCING not in live_steps(run.state)
    assert FINANCING not in run.state.history
    # Back to the review, which no longer shows the financing section.
    assert (run.state.mode, run.state.review_final) == (Mode.REVIEW, True)
    review = said(events)
    assert "Des modes de financement" not in review
    assert "Plasticité" not in review
    assert "Régulations intelligentes" in review
    run.send("Valider et terminer")
    assert run.state.status is Status.COMPLETED


def test_ticking_an_option_in_the_review_asks_its_question_before_the_review(
    construire: tuple[Flow, Engine],
) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    to_final_review(run)
    run.send(f"#item:{seq_of(run.state, 'moyens_types')}")
    events = run.send("1, 4, 5")  # economic and organisational means added
    assert run.state.step_id == "moyens_economiques"
    assert run.state.mode is Mode.ASK
    assert "Des moyens économiques organisationnels\u00a0: lesquels\u00a0?" in said(events)
    assert "Voici vos réponses" not in said(events)
    run.send("Nouveaux instruments d'allocation")
    events = run.send("/suivant")
    assert (run.state.mode, run.state.review_final) == (Mode.REVIEW, True)
    assert "Nouveaux instruments d'allocation" in said(events)
    assert "moyens_economiques" in run.state.history
    # Nothing else was asked again: the financing items are still there.
    assert FINANCING in live_steps(run.state)


def test_an_option_ticked_again_is_asked_again(construire: tuple[Flow, Engine]) -> None:
    """Withdrawn items stay withdrawn (kept as deleted revisions); the question comes back."""
    flow, engine = construire
    run = Run.start(flow, engine)
    to_final_review(run)
    run.send(f"#item:{seq_of(run.state, 'moyens_types')}")
    run.send("1")
    run.send(f"#item:{seq_of(run.state, 'moyens_types')}")
    events = run.send("1, 4")
    assert run.state.step_id == FINANCING
    assert "Des modes de financement\u00a0: lesquels\u00a0?" in said(events)
    assert not any(isinstance(e, ItemAdded) for e in events)
    run.send("Fonds citoyens")
    run.send("/suivant")
    texts = [i.text for i in run.state.items.values() if i.step_id == FINANCING]
    assert texts == ["Fonds citoyens"]


def test_back_then_a_new_answer_withdraws_what_no_longer_applies(
    construire: tuple[Flow, Engine],
) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    for line in [*THROUGH_TO_MEANS, "1, 4", "Régulations intelligentes", "/suivant", "Plasticité"]:
        run.send(line)
    assert run.state.step_id == FINANCING
    run.send("/retour")
    run.send("/retour")
    assert run.state.step_id == "moyens_types"
    events = run.send("4")  # financing only: legal means unticked
    withdrawn = [e for e in events if isinstance(e, ItemWithdrawn)]
    assert [e.step_id for e in withdrawn] == ["moyens_juridiques"]
    assert run.state.step_id == FINANCING  # the legal means question is skipped now
    assert live_steps(run.state) == [FINANCING, "moyens_types"]


def test_deleting_the_choice_on_the_platform_withdraws_its_follow_ups(
    construire: tuple[Flow, Engine],
) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    for line in [*THROUGH_TO_MEANS, "1, 4", "Régulations intelligentes", "/suivant", "Plasticité"]:
        run.send(line)
    state, events = engine.resume(run.state, DeleteItem(seq_of(run.state, "moyens_types")), NOW)
    assert {e.step_id for e in events if isinstance(e, ItemWithdrawn)} == {
        "moyens_juridiques",
        FINANCING,
    }
    assert live_steps(state) == []
    # The question on screen no longer applies: the flow moves on to one that does.
    assert state.step_id == "acteurs"
    assert "Avec quels acteurs" in said(events)


def test_review_edit_mid_flow_comes_back_to_the_question_the_citizen_was_at(
    small: tuple[Flow, Engine],
) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    for line in ["oui", "idée", "/suivant", "Rouge"]:
        run.send(line)
    assert run.state.step_id == "pourquoi_couleur"
    run.send("/mes_reponses")
    run.send(f"#item:{seq_of(run.state, 'couleur')}")
    run.send("Bleu")
    assert run.state.mode is Mode.REVIEW
    events = run.send("#done")
    assert run.state.step_id == "pourquoi_couleur"
    assert "Pourquoi cette couleur ?" in said(events)


def test_review_edit_mid_flow_that_makes_a_passed_step_apply_asks_it_first(
    small: tuple[Flow, Engine],
) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    for line in ["oui", "idée", "/suivant", "Aucune"]:  # the "why" question is skipped
        run.send(line)
    assert run.state.step_id == "types"
    run.send("/mes_reponses")
    run.send(f"#item:{seq_of(run.state, 'couleur')}")
    events = run.send("Rouge")
    assert run.state.step_id == "pourquoi_couleur"
    assert "Pourquoi cette couleur ?" in said(events)
    run.send("parce que")
    assert run.state.mode is Mode.REVIEW
    events = run.send("Continuer")
    assert run.state.step_id == "types"  # where the citizen was
    assert "Types ?" in said(events)
    # And choosing "none" again withdraws the reason.
    run.send("/mes_reponses")
    run.send(f"#item:{seq_of(run.state, 'couleur')}")
    events = run.send("Aucune")
    assert [e.step_id for e in events if isinstance(e, ItemWithdrawn)] == ["pourquoi_couleur"]
    assert run.state.mode is Mode.REVIEW


def test_golden_construire_2030_review_changes(construire: tuple[Flow, Engine]) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    to_final_review(run)
    types_item = f"#item:{seq_of(run.state, 'moyens_types')}"
    for line in [types_item, "1", types_item, "1, 4, 5", "Fonds citoyens", "/suivant"]:
        run.send(line)
    run.send("/suivant")  # economic means: nothing to add
    run.send("Valider et terminer")
    check_golden("construire_2030_review_changes", run.text())
    assert run.state.status is Status.COMPLETED
    assert live_steps(run.state) == [
        FINANCING,
        "moyens_juridiques",
        "moyens_types",
    ]


CITY_FLOW = """
id = "ville"
version = 1
languages = ["fr"]
title = "Ville"

[[steps]]
id = "ville"
kind = "text"
prompt = "Votre ville ?"

[[steps]]
id = "metro"
kind = "list"
when = "ville == 'Paris'"
prompt = "Quelles lignes de métro ?"

[[steps]]
id = "fin"
kind = "list"
prompt = "Autre chose ?"
"""


def test_a_platform_edit_of_an_answer_a_condition_reads_keeps_the_condition_true() -> None:
    flow = load_flow_text(CITY_FLOW, "ville.toml")
    engine = Engine(flow, default_catalog())
    run = Run.start(flow, engine)
    for line in ["Paris", "ligne 14", "/suivant"]:
        run.send(line)
    assert run.state.step_id == "fin"
    city = seq_of(run.state, "ville")
    state, events = engine.resume(run.state, EditItem(city, "Lyon"), NOW)
    assert [e.step_id for e in events if isinstance(e, ItemWithdrawn)] == ["metro"]
    assert live_steps(state) == ["ville"]
    assert state.step_id == "fin"  # the question on screen still applies
    # Edited back: the metro question applies again; it is asked before the review.
    state, events = engine.resume(state, EditItem(city, "Paris"), NOW)
    assert not any(isinstance(e, ItemWithdrawn) for e in events)
    run.state = state
    events = run.send("/suivant")
    assert run.state.step_id == "metro"
    assert "Quelles lignes de métro ?" in said(events)
    run.send("ligne 1")
    events = run.send("/suivant")
    assert (run.state.mode, run.state.review_final) == (Mode.REVIEW, True)
    assert "ligne 1" in said(events)


def test_a_version_1_state_in_a_mid_flow_review_edit_returns_where_it_came_from(
    small: tuple[Flow, Engine],
) -> None:
    """Version 1 pushed the question a mid-flow review came from onto the history."""
    flow, engine = small
    run = Run.start(flow, engine)
    for line in ["oui", "idée", "/suivant", "Rouge", "/mes_reponses", "#item:2"]:
        run.send(line)
    assert (run.state.step_id, run.state.resume_step) == ("couleur", "pourquoi_couleur")
    old = run.state.to_json()
    old.update(version=1, history=[*old["history"], old["resume_step"]])
    del old["shown_at"], old["resume_step"]
    state = SessionState.from_json(old)
    assert state == run.state.evolve(shown_at=None)
    state, _ = engine.resume(state, TextInput("Bleu"), NOW)
    state, events = engine.resume(state, TextInput("Continuer"), NOW)
    assert state.step_id == "pourquoi_couleur"
    assert "Pourquoi cette couleur ?" in said(events)

"""The pure engine: golden transcripts and behaviours, state reloaded between every step."""

from __future__ import annotations

import pytest

from qn_bot.flows.engine import Engine
from qn_bot.flows.events import (
    Completed,
    ConsentGiven,
    ConsentRefused,
    ItemAdded,
    ItemDeleted,
    ItemRevised,
    Say,
)
from qn_bot.flows.format import Flow
from qn_bot.flows.loader import load_flow_text, resolve_flow
from qn_bot.flows.state import Mode, Status
from qn_bot.i18n import default_catalog
from tests.transcript import Run, check_golden

SMALL_FLOW = """
id = "petit"
version = 3
languages = ["fr", "en"]
title = { fr = "Petit", en = "Small" }

[[steps]]
id = "intro"
kind = "info"
prompt = { fr = "Bienvenue.", en = "Welcome." }

[[steps]]
id = "ok"
kind = "consent"
prompt = { fr = "D'accord ?", en = "Agree?" }

[[steps]]
id = "idees"
kind = "list"
prompt = { fr = "Vos idées ?", en = "Your ideas?" }
section = { fr = "Idées", en = "Ideas" }
examples = { fr = ["Exemple A", "Exemple B"], en = ["Example A"] }
min_items = 1
max_items = 3
max_length = 40

[[steps]]
id = "couleur"
kind = "choice"
prompt = { fr = "Couleur ?", en = "Colour?" }
choices = [
  { id = "rouge", label = { fr = "Rouge", en = "Red" } },
  { id = "bleu", label = { fr = "Bleu", en = "Blue" } },
  { id = "aucune", label = { fr = "Aucune", en = "None" } },
]

[[steps]]
id = "pourquoi_couleur"
kind = "text"
when = "couleur != 'aucune'"
prompt = { fr = "Pourquoi cette couleur ?", en = "Why this colour?" }
max_length = 50

[[steps]]
id = "types"
kind = "multichoice"
prompt = { fr = "Types ?", en = "Kinds?" }
choices = [
  { id = "a", label = { fr = "Type A", en = "Kind A" } },
  { id = "b", label = { fr = "Type B", en = "Kind B" } },
]

[[steps]]
id = "note"
kind = "scale"
prompt = { fr = "Note ?", en = "Score?" }
min = 1
max = 5

[[steps]]
id = "age"
kind = "number"
prompt = { fr = "Âge ?", en = "Age?" }
min = 0
max = 130

[[steps]]
id = "fin"
kind = "info"
prompt = { fr = "Au revoir.", en = "Goodbye." }
"""


@pytest.fixture
def small() -> tuple[Flow, Engine]:
    flow = load_flow_text(SMALL_FLOW, "petit.toml")
    return flow, Engine(flow, default_catalog())


@pytest.fixture
def construire() -> tuple[Flow, Engine]:
    flow = resolve_flow("construire-2030")
    return flow, Engine(flow, default_catalog())


def texts(events: list[object]) -> str:
    return "\n".join(e.message.text for e in events if isinstance(e, Say))


def test_golden_small_flow_every_kind(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    for line in [
        "/suivant",  # consent cannot be skipped
        "oui",
        "/suivant",  # min_items = 1
        "   \u200b  ",  # blank
        "une idée beaucoup trop longue pour la limite",
        "- première\n- deuxième",
        "troisième",  # reaches max_items → moves on
        "violet",
        "2",
        "parce que",
        "#a",
        "#b",
        "/suivant",
        "9",
        "4",
        "dix",
        "42,5",
        "42",
        "#item:1",
        "#edit:1",
        "première, corrigée",
        "#item:2",
        "#delete:2",
        "oui",  # confirmed
        "#done",
        "encore ?",
    ]:
        run.send(line)
    check_golden("small_flow_every_kind", run.text())
    assert run.state.status is Status.COMPLETED
    assert {item.text for item in run.state.items.values()} == {
        "première, corrigée",
        "troisième",
        "Bleu",
        "parce que",
        "Type A, Type B",
        "4",
        "42",
    }


def test_golden_construire_2030_whole_flow(construire: tuple[Flow, Engine]) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    for line in [
        "1",
        "Les temps longs de décision",
        "/exemple",
        "/suivant",
        "Pouvoir vertical",
        "/suivant",
        "/passer",
        "Individu au centre",
        "/suivant",
        "/retour",
        "/suivant",
        "Ville apprenante",
        "/suivant",
        "1, 4",
        "Régulations intelligentes",
        "/suivant",
        "Plasticité",
        "/suivant",
        "Chercheurs - citoyens, forums hybrides",
        "/suivant",
        "/mes_reponses",
        "Valider et terminer",
    ]:
        run.send(line)
    check_golden("construire_2030_whole_flow", run.text())
    assert run.state.status is Status.COMPLETED
    steps = [item.step_id for item in run.state.items.values()]
    assert steps == [
        "pourquoi",
        "meurt",
        "nait",
        "horizons",
        "moyens_types",
        "moyens_juridiques",
        "moyens_financement",
        "acteurs",
    ]


def test_golden_english(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine, language="en")
    for line in ["I agree", "/example", "/example", "idea", "/next", "/language fr", "1"]:
        run.send(line)
    check_golden("small_flow_english", run.text())
    assert run.state.language == "fr"


def test_refusal_stores_nothing_and_ends_politely(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    events = run.send("Je refuse")
    assert any(isinstance(e, ConsentRefused) for e in events)
    assert not any(isinstance(e, ItemAdded) for e in run.events)
    assert run.state.status is Status.REFUSED
    assert run.state.items == {}
    assert "rien n’a été enregistré" in texts(events)
    later = run.send("une idée")
    assert not any(isinstance(e, ItemAdded) for e in later)


def test_consent_records_flow_version(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    events = run.send("#accept")
    assert ConsentGiven(3) in events
    assert run.state.consent_version == 3


def test_over_long_item_is_refused_not_cut(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    run.send("oui")
    events = run.send("x" * 10_000)
    assert not any(isinstance(e, ItemAdded) for e in events)
    assert "10000 caractères" in texts(events)
    assert "limite est de 40" in texts(events)


def test_bullets_make_several_items_and_all_or_nothing(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    run.send("oui")
    events = run.send("• a\n• b\n• c\n• d")  # 4 items, max_items = 3
    assert not any(isinstance(e, ItemAdded) for e in events)
    events = run.send("• a\n• b")
    assert [e.text for e in events if isinstance(e, ItemAdded)] == ["a", "b"]


@pytest.mark.parametrize(
    "text",
    [
        "🙂👨‍👩‍👧",
        "مرحبا بالعالم",
        "<b>gras</b>",
        "**gras** _it_",
        "/",
        "&amp;",
        "'; DROP TABLE items; --",
    ],
)
def test_odd_text_is_stored_verbatim(small: tuple[Flow, Engine], text: str) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    run.send("oui")
    events = run.send(text)
    added = [e.text for e in events if isinstance(e, ItemAdded)]
    if text == "/":  # a lone slash is not a command, it is an (odd) answer
        assert added == ["/"]
    else:
        assert added == [text]


def test_unknown_command_changes_nothing(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    run.send("oui")
    before = run.state
    events = run.send("/nimportequoi")
    assert run.state == before
    assert "Commande inconnue" in texts(events)


def test_back_then_answer_revises_single_answer(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    for line in ["oui", "idée", "/suivant", "Rouge", "/retour"]:
        run.send(line)
    assert run.state.step_id == "couleur"
    events = run.send("Bleu")
    revised = [e for e in events if isinstance(e, ItemRevised)]
    assert len(revised) == 1
    assert revised[0].text == "Bleu"
    assert revised[0].revision == 2


def test_when_skips_steps(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    for line in ["oui", "idée", "/suivant"]:
        run.send(line)
    run.send("Aucune")
    assert run.state.step_id == "types"  # pourquoi_couleur skipped


def test_my_answers_mid_flow_returns_to_current_step(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    for line in ["oui", "idée"]:
        run.send(line)
    run.send("/mes_reponses")
    assert run.state.mode is Mode.REVIEW
    run.send("1")  # the item
    assert run.state.mode is Mode.ITEM_MENU
    run.send("Supprimer")
    events = run.send("oui")  # confirmed
    assert ItemDeleted(1) in events
    run.send("Continuer")
    assert run.state.mode is Mode.ASK
    assert run.state.step_id == "idees"
    assert run.state.items == {}


def test_completed_session_can_still_review(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    for line in ["oui", "idée", "/suivant", "Aucune", "1", "/suivant", "3", "30", "#done"]:
        run.send(line)
    assert any(isinstance(e, Completed) for e in run.events)
    run.send("/mes_reponses")
    assert run.state.mode is Mode.REVIEW
    run.send("#item:1")
    run.send("#edit:1")
    events = run.send("idée revue")
    assert any(isinstance(e, ItemRevised) and e.text == "idée revue" for e in events)
    run.send("#done")
    assert run.state.status is Status.COMPLETED
    assert run.state.mode is Mode.ASK


def test_stale_button_is_answered(small: tuple[Flow, Engine]) -> None:
    flow, engine = small
    run = Run.start(flow, engine)
    run.send("oui")
    before = run.state
    events = run.send("#rouge")  # a button from a later question
    assert run.state == before
    assert "plus valable" in texts(events)


def test_examples_cycle(construire: tuple[Flow, Engine]) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    run.send("1")
    first = texts(run.send("/exemple"))
    second = texts(run.send("/exemple"))
    assert first != second
    assert "Pouvoir centralisé vs pouvoir distribué" in first

"""What a citizen reads in the chat (issue 13, items 1–4): where they are, each thing said once,
answers typed as people type them, a light review."""

from __future__ import annotations

import re

import pytest

from qn_bot.flows.engine import Engine
from qn_bot.flows.events import Say
from qn_bot.flows.format import Flow
from qn_bot.flows.loader import resolve_flow
from qn_bot.i18n import default_catalog
from tests.transcript import Run


@pytest.fixture
def construire() -> tuple[Flow, Engine]:
    flow = resolve_flow("construire-2030")
    return flow, Engine(flow, default_catalog())


def said(events: list[object]) -> str:
    return "\n".join(e.message.text for e in events if isinstance(e, Say))


def started(construire: tuple[Flow, Engine], language: str = "fr") -> Run:
    flow, engine = construire
    run = Run.start(flow, engine, language)
    run.send("1")  # consent
    return run


# ---------------------------------------------------------------------- 1. where am I


def test_each_question_says_its_place_among_the_questions_this_citizen_is_asked(
    construire: tuple[Flow, Engine],
) -> None:
    run = started(construire)
    text = "\n".join(run.transcript)
    # Seven questions before the means are chosen: the five conditional ones do not count.
    assert "Question 1 sur 7" in text
    assert "Question 2 sur 7" in said(run.send("/suivant"))
    for _ in range(4):
        run.send("/suivant")
    assert "Question 6 sur 7" in said(run.events[-2:])
    # Two means chosen: two more questions, counted from now on.
    assert "Question 7 sur 9" in said(run.send("1, 4"))
    assert "Question 8 sur 9" in said(run.send("/suivant"))
    assert "Question 9 sur 9" in said(run.send("/suivant"))


def test_the_place_in_english(construire: tuple[Flow, Engine]) -> None:
    run = started(construire, "en")
    assert "Question 1 of 7" in "\n".join(run.transcript)


def test_info_and_consent_steps_show_no_place(construire: tuple[Flow, Engine]) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    assert not re.search(r"Question \d", "\n".join(run.transcript))  # welcome, consent


def test_a_part_heading_shows_when_a_new_part_begins_and_only_then(
    construire: tuple[Flow, Engine],
) -> None:
    run = started(construire)
    first = said(run.events[-1:]).replace("\u00a0", " ")
    assert first.startswith("1 – Pourquoi tout va changer ?\n")
    meurt = said(run.send("/suivant"))
    assert "faits déclencheurs" in meurt
    dysfonctionne = said(run.send("/suivant"))
    assert "faits déclencheurs" not in dysfonctionne
    # Asked again by /retour: the same part, no heading.
    again = said(run.send("/retour"))
    assert "faits déclencheurs" not in again
    run.send("/suivant")
    run.send("/suivant")
    horizons = said(run.send("/suivant"))
    assert horizons.startswith("2 – Expérimenter et construire\n")


def test_a_part_named_as_its_question_is_not_said_twice(construire: tuple[Flow, Engine]) -> None:
    run = started(construire)
    for _ in range(5):
        run.send("/suivant")
    moyens = said(run.events[-1:]).replace("\u00a0", " ")
    assert moyens.count("Avec quels moyens ?") == 1


# ---------------------------------------------------------------------- 2. say it once


def test_a_list_question_states_its_instruction_once(construire: tuple[Flow, Engine]) -> None:
    run = started(construire)
    for language in ("fr", "en"):
        if language == "en":
            run = started(construire, "en")
        question = said(run.events[-1:]).casefold()
        assert question.count("une idée par message") + question.count("one idea per message") == 1
        assert question.count("/suivant") + question.count("/next") == 1


def test_one_thank_you_at_the_end(construire: tuple[Flow, Engine]) -> None:
    run = started(construire)
    run.send("une idée")
    for _ in range(5):
        run.send("/suivant")
    run.send("/passer")  # the means: none chosen
    run.send("/suivant")  # the actors
    end = said(run.send("#done"))
    assert end.casefold().count("merci") == 1, end

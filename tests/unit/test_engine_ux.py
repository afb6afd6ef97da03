"""What a citizen reads in the chat (issue 13, items 1–4): where they are, each thing said once,
answers typed as people type them, a light review."""

from __future__ import annotations

import re

import pytest

from qn_bot.flows.engine import Engine, TextInput
from qn_bot.flows.events import Completed, Say
from qn_bot.flows.format import Flow
from qn_bot.flows.loader import resolve_flow
from qn_bot.flows.state import STATE_VERSION, SessionState
from qn_bot.i18n import default_catalog
from tests.transcript import NOW, Run


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


# ---------------------------------------------------------------------- 3. natural answers


def at_the_means(construire: tuple[Flow, Engine]) -> Run:
    run = started(construire)
    for _ in range(5):
        run.send("/suivant")
    return run


@pytest.mark.parametrize(
    ("typed", "chosen"),
    [
        ("1 et 4", ("juridiques", "financement")),
        ("1, 4", ("juridiques", "financement")),
        ("1 4", ("juridiques", "financement")),
        ("1 and 4", ("juridiques", "financement")),
        ("les deux premiers", ("juridiques", "politico_techniques")),
        ("les 3 premiers", ("juridiques", "politico_techniques", "lexicaux")),
        ("le dernier", ("economiques",)),
        ("des moyens juridiques et des modes de financement", ("juridiques", "financement")),
    ],
)
def test_several_choices_typed_as_people_type_them(
    construire: tuple[Flow, Engine], typed: str, chosen: tuple[str, ...]
) -> None:
    run = at_the_means(construire)
    run.send(typed)
    assert run.state.items_of("moyens_types")[0][1].value == chosen


def test_the_first_two_in_english(construire: tuple[Flow, Engine]) -> None:
    run = started(construire, "en")
    for _ in range(5):
        run.send("/next")
    run.send("the first two")
    assert run.state.items_of("moyens_types")[0][1].value == ("juridiques", "politico_techniques")


@pytest.mark.parametrize("typed", ["les premiers", "1 et 9", "les six premiers", "n'importe"])
def test_an_unclear_multichoice_answer_says_one_or_several_options(
    construire: tuple[Flow, Engine], typed: str
) -> None:
    run = at_the_means(construire)
    reply = said(run.send(typed))
    assert not run.state.items_of("moyens_types")
    assert "une ou plusieurs options" in reply


@pytest.mark.parametrize("typed", ["oui", "OK", "yes", "d’accord"])
def test_consent_by_a_plain_yes(construire: tuple[Flow, Engine], typed: str) -> None:
    flow, engine = construire
    run = Run.start(flow, engine)
    run.send(typed)
    assert run.state.consent_version == flow.version


@pytest.mark.parametrize("word", ["suivant", "Fini", "next", "suivant !"])
def test_next_without_the_slash_once_an_idea_is_given(
    construire: tuple[Flow, Engine], word: str
) -> None:
    run = started(construire)
    run.send("une idée")
    run.send(word)
    assert run.state.step_id == "meurt"
    assert len(run.state.items) == 1


def test_the_word_alone_as_a_first_idea_asks_which_was_meant(
    construire: tuple[Flow, Engine],
) -> None:
    run = started(construire)
    reply = said(run.send("suivant")).replace("\u00a0", " ")
    assert "Voulez-vous passer à la question suivante ou enregistrer « suivant » comme idée ?" in (
        reply
    )
    assert not run.state.items
    assert run.state.step_id == "pourquoi"
    run.send("2")  # the second option: keep it as an idea
    assert [item.text for item in run.state.items.values()] == ["suivant"]
    assert run.state.step_id == "pourquoi"
    # Asked again, and this time it means: move on.
    run2 = started(construire)
    run2.send("fini")
    run2.send("1")
    assert run2.state.step_id == "meurt"
    assert not run2.state.items
    # Anything else typed instead is an idea like any other.
    run3 = started(construire)
    run3.send("next")
    run3.send("Les temps longs de décision")
    assert [item.text for item in run3.state.items.values()] == ["Les temps longs de décision"]


def test_a_bare_number_on_a_list_step_is_still_an_idea(construire: tuple[Flow, Engine]) -> None:
    run = started(construire)
    run.send("1")
    run.send("2")
    assert [item.text for item in run.state.items.values()] == ["1", "2"]


def test_a_version_2_state_stored_by_a_running_campaign_still_resumes(
    construire: tuple[Flow, Engine],
) -> None:
    """State version 3 added ``pending_text``: a session stored before it goes on."""
    _, engine = construire
    stored = {
        "version": 2,
        "flow_id": "construire-2030",
        "flow_version": 1,
        "language": "fr",
        "status": "active",
        "mode": "ask",
        "step_id": "pourquoi",
        "history": ["consentement"],
        "items": {"1": {"step_id": "pourquoi", "text": "une idée", "value": None, "revision": 1}},
        "next_seq": 2,
        "selected": None,
        "review_final": False,
        "reviewed": False,
        "return_to_review": False,
        "pending_choices": [],
        "example_offsets": {},
        "consent_version": 1,
        "shown_at": "2026-01-15T09:00:00+00:00",
        "resume_step": None,
    }
    state = SessionState.from_json(stored)
    assert (state.version, state.pending_text) == (STATE_VERSION, None)
    state, _ = engine.resume(state, TextInput("suivant"), NOW)
    assert state.step_id == "meurt"
    assert SessionState.from_json(state.to_json()) == state


# ---------------------------------------------------------------------- 4. a light review


def at_the_review(construire: tuple[Flow, Engine]) -> Run:
    run = started(construire)
    run.send("Les temps longs de décision")
    run.send("/suivant")
    run.send("Pouvoir vertical")
    for _ in range(4):
        run.send("/suivant")
    run.send("1")  # the means: legal ones
    run.send("Régulations intelligentes")
    run.send("/suivant")
    run.send("/suivant")  # the actors: nothing
    assert run.state.review_final
    return run


def test_the_review_is_one_numbered_list_with_titles_above_their_items(
    construire: tuple[Flow, Engine],
) -> None:
    run = at_the_review(construire)
    (review,) = [e for e in run.events[-1:] if isinstance(e, Say)]
    text = review.message.text
    assert text.count("Pouvoir vertical") == 1
    assert "\nCe qui meurt\n2. Pouvoir vertical\n" in text
    items = [b for b in review.message.buttons if b.value.startswith("item:")]
    # The buttons name the numbers only: the answers are not shown twice, and no section title
    # squeezes an answer out of a button.
    assert [b.label for b in items] == ["✏️ 1", "✏️ 2", "✏️ 3", "✏️ 4"]
    assert all(b.label not in text.split("\n") for b in items)


def test_numbered_options_already_listed_in_the_text_are_not_printed_again() -> None:
    from qn_bot.domain import Button, ButtonKind, OutboundMessage
    from qn_bot.offering import listed_label, offer
    from qn_bot.ports import Capabilities

    message = OutboundMessage(
        "1. une idée\n2. une autre",
        (
            Button(ButtonKind.CHOICE, "item:1", listed_label(1)),
            Button(ButtonKind.CHOICE, "item:2", listed_label(2)),
            Button(ButtonKind.CHOICE, "done", "✅ Valider"),
        ),
    )
    without = Capabilities(buttons=False, max_text_length=1000, messages_per_second=1.0)
    assert [(n.number, n.label) for n in offer(message, without).numbered] == [(3, "✅ Valider")]


def test_an_edit_reprints_only_what_changed(construire: tuple[Flow, Engine]) -> None:
    run = at_the_review(construire)
    run.send("2")
    run.send("#edit:2")
    reply = said(run.send("Pouvoir vertical sans horizontalité"))
    assert "2. Pouvoir vertical sans horizontalité" in reply
    assert "Les temps longs de décision" not in reply
    assert "Régulations intelligentes" not in reply
    assert run.state.review_final


def test_a_delete_asks_to_confirm(construire: tuple[Flow, Engine]) -> None:
    run = at_the_review(construire)
    run.send("2")
    reply = said(run.send("#delete:2"))
    assert "Pouvoir vertical" in reply
    assert len(run.state.items) == 4
    run.send("non")
    assert len(run.state.items) == 4
    run.send("2")
    run.send("#delete:2")
    run.send("oui")
    assert [i.text for i in run.state.items.values()] == [
        "Les temps longs de décision",
        "Des moyens juridiques",
        "Régulations intelligentes",
    ]


def test_next_in_the_final_review_does_not_submit(construire: tuple[Flow, Engine]) -> None:
    run = at_the_review(construire)
    reply = said(run.send("/suivant")).replace("\u00a0", " ")
    assert not any(isinstance(e, Completed) for e in run.events)
    assert "« Valider et terminer »" in reply
    run.send("Valider")
    assert any(isinstance(e, Completed) for e in run.events)

"""`qn-bot chat` as a real process: whole flow, crash and restart, bad input, privacy, erasure."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

from qn_bot.export import md_escape
from tests.integration.construire import (
    ALL_MOYENS,
    CONSENT_QUESTION,
    LIST_STEPS,
    NOTED,
    THANKS,
    VALIDATE,
    WELCOME_BACK,
    choice_labels,
    prompt,
    section,
)
from tests.integration.processes import SLUG, ChatProcess, QnBot

pytestmark = pytest.mark.integration

ALICE = ("--campaign", SLUG, "--as", "alice")


def noted(count: int) -> str:
    return f"✓ Noté ({count} au total)"


def items_of(rows: list[dict[str, object]], step: str) -> list[object]:
    return [row["text"] for row in rows if row["step"] == step]


def accept_consent(chat: ChatProcess) -> None:
    assert CONSENT_QUESTION in chat.transcript[-1]
    chat.send("1", prompt("pourquoi"))


# ---------------------------------------------------------------------------------- whole flow

WHOLE_FLOW: dict[str, list[str]] = {
    "pourquoi": ["Révolution numérique", "Accélérateur de transition"],
    "meurt": ["Pouvoir vertical sans tenir compte de l’horizontalité des jeux d’acteurs"],
    "dysfonctionne": ["Les temps longs de décision"],
    "nait": ["Devient légitime celui qui fait"],
    "horizons": ["Ville apprenante", "Complexité assumée"],
    "moyens_juridiques": ["Régulations intelligentes"],
    "moyens_politico_techniques": ["Décloisonnement, transversalité"],
    "moyens_lexicaux": ["Formes de coopération vs compétition interterritoriale"],
    "moyens_financement": ["Plasticité"],
    "moyens_economiques": ["Nouveaux instruments d’allocation"],
    "acteurs": ["Des enfants ?"],
}


def whole_flow_lines() -> list[str]:
    lines = ["1"]
    for step in LIST_STEPS:
        if step == "moyens_juridiques":
            lines.append(ALL_MOYENS)
        lines += [*WHOLE_FLOW[step], "/suivant"]
    return [*lines, VALIDATE]


def test_whole_flow_through_stdin_then_export_and_campaign_list(qn: QnBot) -> None:
    result = qn.ok("chat", *ALICE, input="\n".join(whole_flow_lines()) + "\n")
    out = result.stdout

    # The intro and the consent come at once, then every question in the flow's order.
    assert out.startswith("Bienvenue"), str(result)
    assert CONSENT_QUESTION in out
    assert "[1] J’accepte" in out
    position = out.index(CONSENT_QUESTION)
    for step in ["pourquoi", "meurt", "dysfonctionne", "nait", "horizons", "moyens_types"]:
        position = out.index(prompt(step), position)
    for label_number, label in enumerate(choice_labels("moyens_types"), start=1):
        assert f"[{label_number}] {label}" in out
    for step in LIST_STEPS[5:]:
        position = out.index(prompt(step), position)
    position = out.index("Voici vos réponses", position)
    assert re.search(r"^\[\d+\] ✅ Valider et terminer$", out[position:], flags=re.M), out
    assert THANKS in out[position:], str(result)
    # Logs never go to stdout; nothing crashed.
    assert "Traceback" not in result.stderr, result.stderr

    exported, listed = qn.parallel(
        ("export", SLUG, "--format", "json"), ("campaign", "list", "--format", "tsv")
    )
    rows = exported.json()
    for step in LIST_STEPS:
        assert items_of(rows, step) == WHOLE_FLOW[step], step
        assert {row["section"] for row in rows if row["step"] == step} == {section(step)}
    (choice,) = items_of(rows, "moyens_types")
    assert isinstance(choice, str)
    for label in choice_labels("moyens_types"):
        assert label in choice
    assert len(rows) == sum(len(v) for v in WHOLE_FLOW.values()) + 1
    # One pseudonymous participant; the platform name never leaks into an export.
    assert len({row["participant"] for row in rows}) == 1
    assert all(row["campaign"] == SLUG and row["revision"] == 1 for row in rows)
    assert "alice" not in exported.stdout

    listing = listed.stdout.splitlines()[1:]  # after the header line
    assert [line.split("\t")[:2] for line in listing] == [[SLUG, "open"]]


# ---------------------------------------------------------------------------------- SIGKILL

MEURT = [
    "Pouvoir vertical sans tenir compte de l’horizontalité des jeux d’acteurs",
    "Fin de l’ère de l’individualité qui tend à disparaître (individu pour lui-même)",
    "La voie d’ignorance\u00a0: on risque de ne plus savoir ce à quoi chacun est exposé",
]


def test_sigkill_mid_flow_then_restart_resumes_the_same_step_with_nothing_lost(
    qn: QnBot,
) -> None:
    chat = qn.chat(*ALICE, intro=CONSENT_QUESTION)
    accept_consent(chat)
    chat.send("Révolution numérique", noted(1))
    chat.send("/suivant", prompt("meurt"))
    for count, item in enumerate(MEURT, start=1):
        answer = chat.send(item, noted(count))
        assert noted(count) in answer
    # The acknowledgement is printed after the commit: a crash now must lose nothing.
    chat.kill()
    assert chat.proc.returncode == -9

    again = qn.chat(*ALICE, intro=prompt("meurt"))
    opening = again.transcript[-1]
    assert prompt("meurt") in opening, opening
    assert CONSENT_QUESTION not in opening, "consent asked again after a restart"
    assert prompt("pourquoi") not in opening
    assert WELCOME_BACK in opening

    rows = qn.export_json()
    assert items_of(rows, "pourquoi") == ["Révolution numérique"]
    assert items_of(rows, "meurt") == MEURT

    # The count goes on from where it was, and the flow runs to its end in the new process.
    again.send("Le besoin de théoriser pour le Big Data", noted(4))
    again.send("/suivant", prompt("dysfonctionne"))
    again.send("/suivant", prompt("nait"))
    again.send("/suivant", prompt("horizons"))
    again.send("/suivant", prompt("moyens_types"))
    again.send("2", prompt("moyens_politico_techniques"))
    again.send("Formats ouverts, standards ouverts", noted(1))
    again.send("/suivant", prompt("acteurs"))
    review = again.send("/suivant", VALIDATE)
    for item in MEURT:
        assert item in review
    assert THANKS in again.send(VALIDATE, THANKS)
    assert again.close() == 0

    rows = qn.export_json()
    assert items_of(rows, "meurt") == [*MEURT, "Le besoin de théoriser pour le Big Data"]
    assert items_of(rows, "moyens_politico_techniques") == ["Formats ouverts, standards ouverts"]
    assert items_of(rows, "moyens_juridiques") == []
    assert len({row["participant"] for row in rows}) == 1


# ---------------------------------------------------------------------------------- bad input

NOTHING_STORED = re.compile(r"[Rr]ien n’a été enregistré")

# (what is typed, what the answer must say)
REFUSED: list[tuple[str, re.Pattern[str]]] = [
    ("", re.compile(r"vide")),
    ("     ", re.compile(r"vide")),
    ("\t \u00a0 \u3000 \t", re.compile(r"vide")),
    ("\u200b\u200b\ufeff\u2060", re.compile(r"vide")),
    ("\u200e\u200f\u00ad", re.compile(r"vide")),
    ("\x01\x02\x07\x1b\x7f", re.compile(r"vide")),
    ("x" * 10_000, re.compile(r"10[\s\u00a0\u202f]?000.*500", re.S)),
    ("é" * 501, re.compile(r"501.*500", re.S)),
]

ACCEPTED = [
    "Des vélos partout 🚲🌍 et des familles 👩‍👩‍👧‍👦 ✊🏽",
    "المدن الذكية للجميع",
    "עיר לומדת ושוויונית",
    "<script>alert('xss')</script><b>gras</b> & <a href=\"javascript:x\">lien</a>",
    "**gras** _italique_ [lien](https://example.org) `code` ~~barré~~ | a | b | # dièse",
    '=HYPERLINK("http://evil.example","clic")',
    "a" * 500,
    "42",
]

# Control and zero-width characters inside a real answer: the answer is kept, the visible
# text intact.
WITH_INVISIBLES = ["contrôle\x07au\x1bmilieu", "zéro\u200blargeur\ufeff"]


def visible(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) not in ("Cc", "Cf") or ch == "\u200d"  # ZWJ joins emoji
    )


def test_bad_input_gets_a_clear_reply_and_loses_nothing(qn: QnBot) -> None:
    chat = qn.chat(*ALICE, intro=CONSENT_QUESTION)
    accept_consent(chat)
    for text, reply in REFUSED:
        answer = chat.send(text, NOTHING_STORED)
        assert reply.search(answer), (text[:40], answer)
        assert NOTHING_STORED.search(answer), answer
        assert "✓" not in answer
    unknown = chat.send("/inconnue_42", "/aide")
    assert "Commande inconnue" in unknown
    assert "/inconnue_42" in unknown
    assert "/aide" in unknown
    for count, text in enumerate(ACCEPTED + WITH_INVISIBLES, start=1):
        assert noted(count) in chat.send(text, NOTED)
    # Still at the same question after all that.
    chat.send("/suivant", prompt("meurt"))
    assert chat.close() == 0

    exports = qn.exports()
    rows = json.loads(exports["json"])
    stored = items_of(rows, "pourquoi")
    assert stored[: len(ACCEPTED)] == ACCEPTED  # verbatim: emoji, RTL, HTML, Markdown
    assert [visible(str(s)) for s in stored[len(ACCEPTED) :]] == [
        visible(s) for s in WITH_INVISIBLES
    ]
    assert len(stored) == len(ACCEPTED) + len(WITH_INVISIBLES)
    for item in stored:
        assert isinstance(item, str)
        assert not any(unicodedata.category(ch) == "Cc" for ch in item), repr(item)

    html = exports["html"]
    assert "<script>" not in html
    assert "<b>gras</b>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript:' not in html

    md = exports["md"]
    assert "<script>" not in md
    for text in ACCEPTED:
        assert md_escape(text) in md, text

    csv_text = exports["csv"]
    assert "'=HYPERLINK(" in csv_text


# ---------------------------------------------------------------------------------- privacy

ALICE_ITEMS = ["Le secret d'Alice numéro un", "Le secret d'Alice numéro deux"]


def test_bob_sees_none_of_alice_and_forget_erases_only_alice(qn: QnBot) -> None:
    alice = qn.chat(*ALICE, intro=CONSENT_QUESTION)
    accept_consent(alice)
    for count, item in enumerate(ALICE_ITEMS, start=1):
        alice.send(item, noted(count))

    bob = qn.chat("--campaign", SLUG, "--as", "bob", intro=CONSENT_QUESTION)
    assert CONSENT_QUESTION in bob.transcript[-1], "bob is a new participant"
    accept_consent(bob)
    mine = bob.send("/mes_reponses", "[1] Continuer")
    assert "rien répondu" in mine
    bob.send("Continuer", prompt("pourquoi"))
    bob.send("L'idée de Bob", noted(1))
    mine = bob.send("/mes_reponses", "L'idée de Bob")
    bob.send("Continuer", prompt("pourquoi"))
    data = bob.send("/mes_donnees", "pseudonym")
    for item in ALICE_ITEMS:
        assert item not in mine
        assert item not in data
    assert "alice" not in data
    assert bob.close() == 0

    rows = qn.export_json()
    assert len({row["participant"] for row in rows}) == 2

    confirm = alice.send("/oublier", "[2]")
    assert "[1] Oui, tout effacer" in confirm
    gone = alice.send("1", "effacé")
    assert "effacé" in gone
    # Alice coming back is a new participant: she is asked for her consent again.
    assert CONSENT_QUESTION in alice.send(f"/start {SLUG}", CONSENT_QUESTION)
    assert alice.close() == 0

    exports = qn.exports()
    assert [row["text"] for row in json.loads(exports["json"])] == ["L'idée de Bob"]
    for fmt, out in exports.items():
        assert "secret d" not in out, fmt


# ---------------------------------------------------------------------------------- resume


def test_restart_without_campaign_resumes_the_question(qn: QnBot) -> None:
    chat = qn.chat(*ALICE, intro=CONSENT_QUESTION)
    accept_consent(chat)
    chat.send("/suivant", prompt("meurt"))
    chat.send("/suivant", prompt("dysfonctionne"))
    chat.send("Les temps longs de décision", noted(1))
    assert chat.close() == 0  # EOF: the session ends, its state stays saved

    again = qn.chat("--as", "alice", intro=prompt("dysfonctionne"))
    opening = again.transcript[-1]
    assert prompt("dysfonctionne") in opening, opening
    assert CONSENT_QUESTION not in opening
    again.send("Le fait que tout se sache (propagation entre pairs)", noted(2))
    assert again.close() == 0
    assert items_of(qn.export_json(), "dysfonctionne") == [
        "Les temps longs de décision",
        "Le fait que tout se sache (propagation entre pairs)",
    ]

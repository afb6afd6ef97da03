"""The recap as a citizen reads it (pure: themes, thresholds, wording), golden text in French and
English."""

from __future__ import annotations

from datetime import UTC, datetime

from qn_bot.domain import CampaignStatus
from qn_bot.flows.loader import load_flow_text
from qn_bot.i18n import default_catalog
from qn_bot.recap.model import build_recap, prepare
from qn_bot.recap.render import render_recap
from qn_bot.recap.themes import ThemeInput, item_themes
from qn_bot.records import CampaignRecord, ItemRecord
from tests.contract.test_service import FLOW

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
ADA, BOB, CLEO, DAN, EVE, FAY, GUS, HAL = range(1, 9)
CAMPAIGN = CampaignRecord(
    id=1,
    slug="mini-2030",
    title="Mini 2030",
    edition=None,
    flow_id="mini",
    flow_version=2,
    flow_source=FLOW,
    status=CampaignStatus.OPEN,
    opens_at=None,
    closes_at=None,
    created_at=T0,
    updated_at=T0,
    min_respondents=2,
)
ANSWERS = [
    (ADA, "idees", "Des pistes cyclables partout", False),
    (ADA, "idees", "Un jardin partagé", False),
    (ADA, "mot", "Merci", False),
    (BOB, "idees", "Des pistes cyclables sûres", False),
    (CLEO, "idees", "Des pistes cyclables pour les vélos", False),
    (DAN, "idees", "Un tramway jusqu'à la gare", False),
    (EVE, "idees", "Un tramway la nuit", False),
    (FAY, "idees", "Le tramway gratuit", False),
    # Hidden by moderation: twice the same word, a theme if it were public.
    (GUS, "idees", "Zorglub zorglub 5f1a", True),
    (HAL, "idees", "Zorglub encore 5f1b", True),
]


def items(answers: list[tuple[int, str, str, bool]] = ANSWERS) -> list[ItemRecord]:
    return [
        ItemRecord(
            id=n,
            campaign_slug=CAMPAIGN.slug,
            participant_id=who,
            pseudonym=f"p{who}",
            step_id=step,
            seq=n,
            text=text,
            value=None,
            revision=1,
            created_at=T0,
            updated_at=T0,
            hidden=hidden,
        )
        for n, (who, step, text, hidden) in enumerate(answers, start=1)
    ]


def recap_text(participant: int, language: str, minimum: int = 2, **kw: object) -> str:
    data = prepare(CAMPAIGN, load_flow_text(FLOW, "mini.toml"), items(), minimum)
    recap = build_recap(data, participant, language, **kw)  # type: ignore[arg-type]
    assert recap is not None
    return render_recap(recap, default_catalog())


GOLDEN_FR = (
    """\
📬 Votre bilan — Mini 2030

Idées
• « Des pistes cyclables partout »
   → thème « pistes cyclables » : 2 autres personnes ont exprimé une idée proche
• « Un jardin partagé »
Thèmes que vous n’avez pas abordés : « tramway » (3 personnes).

Le mot de la fin
• « Merci »
   (Trop peu de personnes ont répondu ici pour en dégager des thèmes.)

Une idée d’une autre personne : « Un tramway jusqu'à la gare » — /signaler si elle vous \
semble déplacée.
La synthèse publiée : https://example.org/mini-2030.html
/mes_reponses pour revoir ou modifier vos réponses, /oublier pour tout effacer.""".replace(
        " :", "\u00a0:"
    )
    .replace("« ", "«\u00a0")
    .replace(" »", "\u00a0»")
)

GOLDEN_EN = """\
📬 Your recap — Mini 2030

Ideas
• “Des pistes cyclables partout”
   → theme “pistes cyclables”: 2 other people expressed a similar idea
• “Un jardin partagé”
Themes you did not mention: “tramway” (3 people).

Last word
• “Merci”
   (Too few people answered here to show its themes.)

An idea from someone else: “Un tramway jusqu'à la gare” — /report if it seems out of place.
/my_answers to see or change your answers, /forget to erase everything."""


def test_french_recap_as_the_citizen_reads_it() -> None:
    assert recap_text(ADA, "fr", link="https://example.org/mini-2030.html") == GOLDEN_FR


def test_english_recap_as_the_citizen_reads_it() -> None:
    assert recap_text(ADA, "en") == GOLDEN_EN


def test_counts_below_the_threshold_are_never_said() -> None:
    # With a threshold of 3, "2 others" goes (the theme stays: the word is the citizen's own);
    # "tramway" has 3 people and is still named.
    text = recap_text(ADA, "fr", minimum=3)
    assert "exprimé une idée proche" not in text
    assert "thème «\u00a0pistes cyclables\u00a0»" in text
    assert "«\u00a0tramway\u00a0» (3\u00a0personnes)" in text.replace(
        " personnes", "\u00a0personnes"
    )
    # With 4, no theme of others is named and no one else's idea is quoted.
    text = recap_text(ADA, "fr", minimum=4)
    assert "tramway" not in text
    assert "Une idée d’une autre personne" not in text


def test_one_other_person_is_singular() -> None:
    text = recap_text(BOB, "fr", minimum=1)
    assert "→ thème «\u00a0pistes cyclables\u00a0»\u00a0: 2 autres personnes" in text
    answers = [a for a in ANSWERS if a[0] != CLEO]
    data = prepare(CAMPAIGN, load_flow_text(FLOW, "mini.toml"), items(answers), 1)
    recap = build_recap(data, BOB, "fr")
    assert recap is not None
    assert "1 autre personne a exprimé une idée proche" in render_recap(recap, default_catalog())


def test_hidden_items_of_others_never_appear_and_own_hidden_items_do() -> None:
    for who in (ADA, BOB, DAN):
        for language in ("fr", "en"):
            text = recap_text(who, language, minimum=1)
            assert "orglub" not in text
            assert "5f1" not in text
    own = recap_text(GUS, "fr", minimum=1)
    assert "Zorglub zorglub 5f1a" in own  # theirs, as in /mes_reponses
    assert "5f1b" not in own


def test_no_idea_no_recap() -> None:
    data = prepare(CAMPAIGN, load_flow_text(FLOW, "mini.toml"), items(), 2)
    assert build_recap(data, 99, "fr") is None


def test_standing_is_rendered_when_given() -> None:
    text = recap_text(ADA, "fr", standing=("Vous êtes proche du groupe A.",))
    assert "Votre place parmi les groupes d’opinion\u00a0:\nVous êtes proche du groupe A." in text


def test_each_item_falls_in_at_most_one_theme_made_of_public_items_only() -> None:
    found = item_themes(
        [ThemeInput(1, "pistes cyclables"), ThemeInput(2, "pistes vélo"), ThemeInput(3, "bus")],
        "fr",
        authors={1: "ann", 2: "bob", 3: "cyd"},
        placed=[ThemeInput(4, "zorglub pistes"), ThemeInput(5, "zorglub zorglub")],
    )
    assert found.labels == ("pistes",)
    assert found.of == {1: 0, 2: 0, 4: 0}


def test_close_ideas_no_shared_word_names_are_counted_never_named() -> None:
    """Three citizens' ideas close in meaning, no word in common: each of them reads how many
    others said something close, nobody reads a name (it would be one citizen's sentence), and
    the group is no theme "not mentioned" (whose quoted idea would be one of theirs)."""
    import numpy as np

    from qn_bot.themes.embedding import DIMENSIONS, quantise

    answers = [
        (ADA, "idees", "la voiture en ville", False),
        (BOB, "idees", "une voiture de trop", False),
        (CLEO, "idees", "moins de voiture", False),
        (DAN, "idees", "Le zorglub quantique de tante Berthe", False),
        (EVE, "idees", "des marmottes fluorescentes", False),
        (FAY, "idees", "un tapis volant", False),
    ]
    found = items(answers)
    rng = np.random.default_rng(1)
    vectors = {}
    for item in found:
        v = np.zeros(DIMENSIONS, dtype=np.float32)
        v[0 if "voiture" in item.text else 1] = 1.0
        vectors[item.id] = quantise(v + rng.normal(0, 0.03, DIMENSIONS).astype(np.float32))
    data = prepare(CAMPAIGN, load_flow_text(FLOW, "mini.toml"), found, 2, vectors)
    for who, language, line in (
        (EVE, "fr", "   → 2 autres personnes ont exprimé une idée proche"),
        (EVE, "en", "   → 2 other people expressed a similar idea"),
    ):
        recap = build_recap(data, who, language)
        assert recap is not None
        text = render_recap(recap, default_catalog())
        assert line in text.splitlines()
        assert "zorglub" not in text.casefold()
        assert "tapis" not in text
    recap = build_recap(data, ADA, "fr")
    assert recap is not None
    text = render_recap(recap, default_catalog())
    assert "thème «\u00a0voiture\u00a0»\u00a0: 2 autres personnes" in text
    for word in ("zorglub", "marmottes", "tapis", "Thèmes que vous n’avez pas abordés"):
        assert word not in text

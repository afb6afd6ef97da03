"""Themes, trends and links with the real model, on every backend (issue 14 §4, §5): a few
dozen French answers embedded once by the model that ships in a package, the digest groups its
period by meaning, says what is new and what faded since the week before, and which themes of
what dies and what is born the same citizens give — the site says it in the same sentence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from qn_bot.config import TeamConfig
from qn_bot.digest.period import completed_period
from qn_bot.digest.render import render_html, render_text, trend_lines
from qn_bot.digest.send import build_package
from qn_bot.domain import CampaignStatus
from qn_bot.records import CampaignRecord, ItemVector
from qn_bot.site import export_site
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from qn_bot.themes.embedding import MODEL_NAME, load_embedder, quantise
from tests.contract.store_helpers import make_participant

SLUG = "liens-2030"
FLOW = """
id = "liens"
version = 1
languages = ["fr"]
title = "Liens"
links = [[
  "meurt",
  "nait",
  "Ceux qui voient mourir «\\u00A0{left}\\u00A0» voient surtout naître «\\u00A0{right}\\u00A0»",
]]

[[steps]]
id = "meurt"
kind = "list"
prompt = "Ce qui meurt ?"
section = "Ce qui meurt"

[[steps]]
id = "nait"
kind = "list"
prompt = "Ce qui naît ?"
section = "Ce qui naît"
"""
TEAM = TeamConfig(
    name="equipe", campaigns=(SLUG,), destinations=("mailto:e@example.org",), min_respondents=3
)
NOW = datetime.fromisoformat("2026-03-18T12:00:00+00:00")

CARS = (
    "la voiture individuelle en ville",
    "les embouteillages en voiture",
    "l'essence trop chère pour rouler en voiture",
    "les parkings géants pour les voitures",
    "posséder sa propre voiture",
    "les moteurs diesel",
)
SHOPS = (
    "les petits commerces du centre-ville",
    "les boutiques qui ferment",
    "le marché du samedi matin",
    "les librairies de quartier",
    "les commerces de proximité",
    "l'épicerie du village",
)
BIKES = (
    "des pistes cyclables partout",
    "le vélo pour aller travailler",
    "les vélos cargo",
    "pédaler en sécurité",
    "le vélo électrique",
    "des garages à vélos",
)
ONLINE = (
    "acheter sur internet",
    "la livraison à domicile",
    "les commandes en ligne",
    "le commerce en ligne",
    "les plateformes de vente",
    "faire ses courses en ligne",
)
HOUSING = (
    "des logements moins chers",
    "la colocation entre générations",
    "des logements sociaux",
    "l'habitat partagé",
    "rénover les vieux logements",
    "des loyers encadrés",
)


@pytest.fixture(scope="module")
def vectors() -> dict[str, bytes]:
    """Every text's vector by the real model, embedded once for the module's tests."""
    model = load_embedder()
    assert model is not None, "the embedding model's package is a dependency of qn-bot"
    texts = [*CARS, *SHOPS, *BIKES, *ONLINE, *HOUSING]
    return {text: quantise(v) for text, v in zip(texts, model.embed(texts), strict=True)}


async def citizens(
    store: Store,
    campaign: CampaignRecord,
    vectors: dict[str, bytes],
    at: datetime,
    first: int,
    answers: Sequence[dict[str, str]],
) -> None:
    """One citizen per entry of ``answers`` (step → text), numbered from ``first``."""
    async with store.transaction() as tx:
        for number, said in enumerate(answers, start=first):
            person = await make_participant(tx, str(number), f"P-{number:04d}")
            session = await tx.sessions.save_session(
                person.id, campaign.id, {}, at, status="completed", step_id=None
            )
            for seq, (step, text) in enumerate(said.items(), start=1):
                await tx.sessions.add_item(
                    session_id=session,
                    campaign_id=campaign.id,
                    participant_id=person.id,
                    seq=seq,
                    step_id=step,
                    text=text,
                    value=None,
                    now=at,
                )
            rows = await tx.conn.execute(
                select(t.items.c.id, t.items.c.step_id, t.items.c.text).where(
                    t.items.c.session_id == session
                )
            )
            await tx.vectors.save_vectors(
                [
                    ItemVector(r.id, campaign.id, r.step_id, 1, MODEL_NAME, vectors[r.text])
                    for r in rows
                ]
            )


async def test_themes_trends_and_links_with_the_real_model(
    store: Store, vectors: dict[str, bytes], tmp_path: Path
) -> None:
    period = completed_period(TEAM, NOW)
    before = period.previous(TEAM)
    async with store.transaction() as tx:
        campaign = await tx.campaigns.create_campaign(
            slug=SLUG,
            title="Liens 2030",
            flow_id="liens",
            flow_version=1,
            flow_source=FLOW,
            now=before.start - timedelta(days=1),
            status=CampaignStatus.OPEN,
            min_respondents=3,
        )
    # The week before: what is born, cycling and housing.
    await citizens(
        store,
        campaign,
        vectors,
        before.start + timedelta(hours=2),
        100,
        [{"nait": text} for text in (*BIKES, *HOUSING)],
    )
    # The week: those who see cars dying see cycling born; those who see shops dying, buying
    # online.
    await citizens(
        store,
        campaign,
        vectors,
        period.start + timedelta(hours=2),
        1,
        [
            {"meurt": a, "nait": b}
            for a, b in (*zip(CARS, BIKES, strict=True), *zip(SHOPS, ONLINE, strict=True))
        ],
    )
    package, _ = await build_package(store, TEAM, period, NOW, late=False)
    text = render_text(package.digest)
    c = package.digest.campaigns[0]
    dying, born = c.sections
    assert dying.themes_fallback is None  # by meaning
    assert born.themes_fallback is None
    assert {theme.label for theme in born.themes} >= {"vélo", "ligne"}

    # Since the week before: buying online is new, housing faded; cycling held steady.
    lines = trend_lines(born, "fr")
    assert "🆕 ligne 6" in lines
    assert "📉 logements 6 → 0" in lines
    assert not any("vélo" in line for line in lines)

    # What dies and what is born, said by the same citizens, above chance.
    (link,) = c.links
    assert link.heading == "Liens entre «\u00a0Ce qui meurt\u00a0» et «\u00a0Ce qui naît\u00a0»"
    assert (
        "Ceux qui voient mourir «\u00a0voiture\u00a0» voient surtout naître «\u00a0vélo\u00a0»"
        in "\n".join(link.lines)
    )
    assert "Ceux qui voient mourir" in text
    assert "Ceux qui voient mourir" in render_html(package.digest)

    # The site says it in the same sentence.
    await export_site(store, tmp_path, NOW, min_respondents=3, loader=load_embedder)
    page = (tmp_path / f"{SLUG}.html").read_text(encoding="utf-8")
    assert "Ceux qui voient mourir «\u00a0voiture\u00a0» voient surtout naître" in page

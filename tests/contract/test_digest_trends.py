"""Trends across weeks in the digest (issue 14 §4), on every backend: last week's and this
week's stored vectors grouped by meaning, themes matched by centroid, the section says what rose
and what is new."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from qn_bot.campaigns import campaign_flow
from qn_bot.digest.model import build_campaign_digest
from qn_bot.digest.period import Period
from qn_bot.digest.queries import period_facts
from qn_bot.digest.render import trend_lines
from qn_bot.repositories import Transaction
from qn_bot.store.sql import Store
from qn_bot.themes.embedding import Embedder, load_embedder
from qn_bot.themes.worker import EmbeddingWorker
from tests.conftest import T0
from tests.contract.store_helpers import make_campaign, make_participant

BIKES = (
    "Des pistes cyclables partout",
    "le vélo pour aller bosser",
    "pédaler plutot que conduire",
    "des velos cargo pour livrer",
    "la trottinette et le vélo électrique",
    "un garage a vélos à la gare",
    "plus de vélos en libre service",
)
SCHOOLS = (
    "rénover les écoles du quartier",
    "des classes moins chargées à l'école",
    "une cantine scolaire bio",
    "plus d'enseignants dans les ecoles",
    "une école maternelle de plus",
    "des cours de récré végétalisées pour les écoles",
)


@pytest.fixture(scope="module")
def model() -> Embedder:
    loaded = load_embedder()
    assert loaded is not None
    return loaded


async def _answer(
    tx: Transaction, campaign_id: int, who: str, texts: tuple[str, ...], at: datetime
) -> None:
    person = await make_participant(tx, who, f"P-{who}")
    session_id = await tx.sessions.save_session(
        person.id, campaign_id, {}, at, status="completed", step_id=None
    )
    for seq, text in enumerate(texts, start=1):
        await tx.sessions.add_item(
            session_id=session_id,
            campaign_id=campaign_id,
            participant_id=person.id,
            seq=seq,
            step_id="idees",
            text=text,
            value=None,
            now=at,
        )


async def test_the_digest_shows_new_and_rising_themes(store: Store, model: Embedder) -> None:
    last_week, this_week = T0 - timedelta(days=7), T0
    async with store.transaction() as tx:
        campaign = await make_campaign(tx, min_respondents=1)
        for n, text in enumerate(
            (*BIKES[:3], "un vélo pour tous", "rouler à vélo au travail", "des arceaux vélo")
        ):
            await _answer(tx, campaign.id, f"a{n}", (text,), last_week)
        for n, text in enumerate(BIKES + BIKES[:5]):
            await _answer(tx, campaign.id, f"b{n}", (text,), this_week)
        for n, text in enumerate(SCHOOLS):
            await _answer(tx, campaign.id, f"c{n}", (text,), this_week)
    worker = EmbeddingWorker(store, loader=lambda: model)
    while await worker.round(model):
        pass
    period = Period("t", T0 - timedelta(days=3), T0 + timedelta(days=4), T0.date(), T0.date())
    previous = Period("t", T0 - timedelta(days=10), period.start, T0.date(), T0.date())
    async with store.snapshot() as tx:
        facts, _ = await period_facts(
            tx, campaign, campaign_flow(campaign), period, previous, "fr", cap=3, enough=1
        )
    (section,) = build_campaign_digest(facts, period, previous, "fr", min_respondents=1).sections
    lines = trend_lines(section, "fr")
    print("\n".join(lines))
    assert lines[0] == "Depuis la période précédente\u00a0:"
    assert any(line.startswith("🆕 ") and line.endswith(" 6") for line in lines)
    # Rising needs the period's bikes grouped as one theme, which these duplicated phrasings
    # do not give every time: the rising path is pinned by tests/unit/test_trends.py.

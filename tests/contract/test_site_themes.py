"""The site shows each section's themes by meaning (issue 14 §2), on every backend: a theme held
by fewer participants than the threshold is withheld (counted, not named), a hidden item is in no
theme, and without vectors the page says its themes are keywords."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from qn_bot.domain import CampaignStatus
from qn_bot.site import export_site
from qn_bot.store.sql import Store
from qn_bot.themes.embedding import Embedder, load_embedder
from qn_bot.themes.worker import EmbeddingWorker
from tests.conftest import T0
from tests.contract.store_helpers import make_campaign, make_participant
from tests.contract.test_store_votes import give_items

BIKES = (
    "Des pistes cyclables partout",
    "le vélo pour aller bosser",
    "pédaler plutot que conduire",
    "des velos cargo pour livrer",
    "la trottinette et le vélo électrique",
    "un garage a vélos à la gare",
)
HOUSING = ("Les loyers sont trop chers", "impossible de trouver un appart")
SECRET = "le vélo de Zorglub volé par mon voisin Kevin"


@pytest.fixture(scope="module")
def model() -> Embedder:
    loaded = load_embedder()
    assert loaded is not None
    return loaded


async def test_site_page_shows_public_themes_only(
    store: Store, model: Embedder, tmp_path: Path
) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx, status=CampaignStatus.OPEN, min_respondents=4)
        for n, text in enumerate(BIKES):
            person = await make_participant(tx, str(n), f"P-{n}")
            extra = HOUSING[n : n + 1] if n < len(HOUSING) else ()
            await give_items(tx, person.id, campaign.id, text, *extra)
        spy = await make_participant(tx, "99", "P-99")
        (hidden,) = await give_items(tx, spy.id, campaign.id, SECRET)
        await tx.moderation.decide(campaign.id, [hidden], "hide", "cli", T0)

    await export_site(store, tmp_path / "before", T0, min_respondents=4, loader=lambda: model)
    before = html.unescape(
        (tmp_path / "before" / f"{campaign.slug}.html").read_text(encoding="utf-8")
    )
    assert "Thèmes par mots-clés\u00a0: les contributions ne sont pas encore" in before

    await EmbeddingWorker(store, loader=lambda: model).round(model)
    await export_site(store, tmp_path / "site", T0, min_respondents=4, loader=lambda: model)
    page = html.unescape((tmp_path / "site" / f"{campaign.slug}.html").read_text(encoding="utf-8"))
    assert '<div class="themes">' in page
    assert "Thèmes par mots-clés" not in page
    # The bikes' theme (five or six people) is shown; the housing one (two or three) withheld.
    assert '<span class="theme">vélo</span>' in page
    people = [int(n) for n in re.findall(r"· (\d+) personnes", page)]
    assert people
    assert min(people) >= 4
    assert "1 autre thème, porté par trop peu de personnes, n’est pas montré." in page
    assert "loyer" not in page.split("</div>")[0]
    assert "Zorglub" not in page
    assert "7 contributions" not in page  # the hidden item counts nowhere


async def test_site_without_the_model_says_keywords(store: Store, tmp_path: Path) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx, status=CampaignStatus.OPEN, min_respondents=3)
        for n, text in enumerate(BIKES):
            person = await make_participant(tx, str(n), f"P-{n}")
            await give_items(tx, person.id, campaign.id, text + " et le vélo")
    await export_site(store, tmp_path / "site", T0, min_respondents=3, loader=lambda: None)
    page = html.unescape((tmp_path / "site" / f"{campaign.slug}.html").read_text(encoding="utf-8"))
    assert "Thèmes par mots-clés\u00a0: le regroupement par sens n’est pas disponible." in page

"""Themes by meaning through the store, on every backend (issue 14 §2): the background worker
embeds each live item once with the real model that ships in a package, re-embeds on edit,
forgets deleted, erased and hidden items; themes group paraphrases that share no word; without
the model, today's TF-IDF themes and the output says so; `qn-bot themes` prints the contract."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import pytest

from qn_bot.cli import main
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from qn_bot.themes.compute import METHOD_EMBEDDINGS, METHOD_TFIDF, NOT_EMBEDDED, campaign_themes
from qn_bot.themes.embedding import MODEL_NAME, Embedder, load_embedder
from qn_bot.themes.worker import EmbeddingWorker
from tests.conftest import T0
from tests.contract.store_helpers import count, make_campaign, make_participant
from tests.contract.test_store_votes import give_items

BIKES = (
    "Des pistes cyclables partout",
    "le vélo pour aller bosser",
    "pédaler plutot que conduire",
    "des velos cargo pour livrer",
    "la trottinette et le vélo électrique",
)
HOUSING = (
    "Les loyers sont trop chers",
    "impossible de trouver un appart",
    "se loger coute un bras",
    "la crise du logement",
    "acheter une maison, oubliez",
)


@pytest.fixture(scope="module")
def model() -> Embedder:
    loaded = load_embedder()
    assert loaded is not None, "the embedding model's package is a dependency of qn-bot"
    return loaded


async def test_worker_embeds_once_and_themes_group_by_meaning(
    store: Store, model: Embedder, tmp_path: Path
) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        alice = await make_participant(tx, "1", "P-ALICE")
        bob = await make_participant(tx, "2", "P-BOB")
        items = await give_items(tx, alice.id, campaign.id, *BIKES[:3], *HOUSING[:3])
        items += await give_items(tx, bob.id, campaign.id, *BIKES[3:], *HOUSING[3:])
    # Nothing embedded yet: the TF-IDF themes, saying why (themes never embed on a read).
    before = await campaign_themes(store, campaign, "fr", loader=lambda: model)
    assert (before[0].method, before[0].fallback_reason) == (METHOD_TFIDF, NOT_EMBEDDED)

    worker = EmbeddingWorker(store, loader=lambda: model)
    assert await worker.round(model) == 10
    assert await worker.round(model) == 0  # each item once
    async with store.snapshot() as tx:
        assert await count(tx, t.item_vectors) == 10

    (found,) = await campaign_themes(store, campaign, "fr", loader=lambda: model)
    assert found.method == METHOD_EMBEDDINGS
    assert found.pending == 0
    groups = [{i.text for i in theme.items} for theme in found.themes]
    # Paraphrases that share no word meet: each topic has a theme of its own (10 answers
    # are few: an odd one out may pair with another).
    assert any(len(g & set(BIKES)) >= 4 and not g & set(HOUSING) for g in groups)
    assert any(len(g & set(HOUSING)) >= 4 and not g & set(BIKES) for g in groups)
    assert all(theme.centroid is not None for theme in found.themes)

    # An edit is embedded again; a deleted, hidden or erased item leaves the themes and its
    # vector goes.
    async with store.transaction() as tx:
        session = (await tx.conn.execute(t.sessions.select())).first()
        assert session is not None
        await tx.sessions.revise_item(
            session_id=session.id, seq=1, revision=2, text="Des voies vertes", value=None, now=T0
        )
        await tx.sessions.delete_item(session_id=session.id, seq=2, now=T0)
        await tx.moderation.decide(campaign.id, [items[5]], "hide", "cli", T0)
        await tx.sessions.erase_item_texts(session_id=session.id, seqs=[3])
    async with store.snapshot() as tx:
        assert await count(tx, t.item_vectors) == 9  # the erased text's vector went at once
    assert await worker.round(model) == 1  # the edited one only
    async with store.snapshot() as tx:
        assert await count(tx, t.item_vectors) == 8  # and the deleted one's in that round
    (after,) = await campaign_themes(store, campaign, "fr", loader=lambda: model)
    texts = {i.text for theme in after.themes for i in theme.items}
    assert BIKES[1] not in texts
    assert BIKES[2] not in texts
    assert HOUSING[2] not in texts
    assert all(len(theme.items) == len({id(i) for i in theme.items}) for theme in after.themes)

    # The citizen's erasure takes their vectors with their items.
    async with store.transaction() as tx:
        await tx.participants.delete_participant(bob.id)
    async with store.snapshot() as tx:
        assert (
            await count(tx, t.item_vectors) == 4
        )  # Alice's live ones (hidden kept: shown again, it counts)

    # `qn-bot themes` (another process's view of the same database): the contract's JSON.
    config = tmp_path / "qn_bot.toml"
    url = store.engine.url.render_as_string(hide_password=False)
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(["--config", str(config), "themes", campaign.slug, "--format", "json"])

    assert await asyncio.to_thread(run) == 0, err.getvalue()
    printed = json.loads(out.getvalue())
    assert all(set(entry) == {"step", "theme", "keywords", "count", "items"} for entry in printed)
    seen = [(i["participant"], i["text"]) for entry in printed for i in entry["items"]]
    assert len(seen) == len(set(seen))
    assert all(p == "P-ALICE" for p, _ in seen)


async def test_without_the_model_themes_are_tfidf_and_say_so(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        alice = await make_participant(tx, "1", "P-ALICE")
        bob = await make_participant(tx, "2", "P-BOB")
        # "vélo" is a theme as two citizens say it; "zorglub", one citizen's, never names one.
        await give_items(tx, alice.id, campaign.id, "le vélo", "un vélo", "zorglub", "zorglub!")
        await give_items(tx, bob.id, campaign.id, "plus de vélo", "loyer")

    def broken() -> Embedder:
        raise RuntimeError("corrupt weights")

    (missing,) = await campaign_themes(store, campaign, "fr", loader=lambda: None)
    (failed,) = await campaign_themes(store, campaign, "fr", loader=broken)
    for found in (missing, failed):
        assert found.method == METHOD_TFIDF
        assert found.themes
        assert [(t.theme, t.count) for t in found.themes] == [("vélo", 3)]
    assert missing.fallback_reason == "model not installed"
    assert failed.fallback_reason == "model failed: RuntimeError"
    assert MODEL_NAME


async def test_recaps_read_the_stored_vectors_and_group_by_meaning(
    store: Store, model: Embedder
) -> None:
    from qn_bot.config import SiteConfig
    from qn_bot.recap.send import read_campaign

    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        alice = await make_participant(tx, "1", "P-ALICE")
        bob = await make_participant(tx, "2", "P-BOB")
        await give_items(tx, alice.id, campaign.id, *BIKES[:3], *HOUSING[:3])
        await give_items(tx, bob.id, campaign.id, *BIKES[3:], *HOUSING[3:])
    await EmbeddingWorker(store, loader=lambda: model).round(model)
    async with store.snapshot() as tx:
        data = await read_campaign(tx, campaign, SiteConfig())
    (section,) = [s for s in data.sections if s.themes]
    own = {i.text: i.id for items in data.own.values() for i in items}
    bikes = {section.theme_of.get(own[text]) for text in BIKES}
    housing = {section.theme_of.get(own[text]) for text in HOUSING}
    # By meaning, every answer has a theme; by shared words most of these would have none.
    assert None not in bikes | housing


async def test_the_digest_groups_the_period_by_meaning(store: Store, model: Embedder) -> None:
    from datetime import timedelta

    from qn_bot.campaigns import campaign_flow
    from qn_bot.digest.model import build_campaign_digest
    from qn_bot.digest.period import Period
    from qn_bot.digest.queries import period_facts
    from qn_bot.digest.render import themes_text
    from qn_bot.themes.compute import group_items

    async with store.transaction() as tx:
        campaign = await make_campaign(tx, min_respondents=1)
        alice = await make_participant(tx, "1", "P-ALICE")
        bob = await make_participant(tx, "2", "P-BOB")
        await give_items(tx, alice.id, campaign.id, *BIKES[:3], *HOUSING[:3])
        await give_items(tx, bob.id, campaign.id, *BIKES[3:], *HOUSING[3:])
    start = T0 - timedelta(days=30)
    period = Period("t", start, T0 + timedelta(days=30), start.date(), T0.date())
    previous = Period("t", start - timedelta(days=60), start, start.date(), start.date())
    # Nothing embedded yet: the keyword themes, and the digest says so.
    async with store.snapshot() as tx:
        before, _ = await period_facts(
            tx, campaign, campaign_flow(campaign), period, previous, "fr", cap=3, enough=1
        )
    assert before.themes_fallback == {"idees": NOT_EMBEDDED}
    digest = build_campaign_digest(before, period, previous, "fr", min_respondents=1)
    (section,) = digest.sections
    said = themes_text(section, "fr")
    assert said is not None
    assert said.endswith(
        "(thèmes par mots-clés\u00a0: contributions pas encore regroupées par sens)"
    )

    await EmbeddingWorker(store, loader=lambda: model).round(model)
    async with store.snapshot() as tx:
        facts, _ = await period_facts(
            tx, campaign, campaign_flow(campaign), period, previous, "fr", cap=3, enough=1
        )
        (step,) = [s for s, found in facts.themes.items() if found]
        rows = await tx.vectors.step_vectors(campaign.id, step, MODEL_NAME)
    authors = {r.item_id: r.participant for r in rows}
    meaning = group_items([(r.item_id, r.text, r.vector) for r in rows], "fr", authors=authors)
    # The same grouping; a theme is named by words several citizens used, and those that have
    # none are counted together, last, never named (their name would be one citizen's sentence).
    named = [(label, n) for label, n in zip(meaning.labels, meaning.counts, strict=True) if label]
    unnamed = sum(n for label, n in zip(meaning.labels, meaning.counts, strict=True) if not label)
    assert [(t.label, t.count) for t in facts.themes[step]] == named + (
        [("", unnamed)] if unnamed else []
    )
    assert all(t.label not in HOUSING + BIKES for t in facts.themes[step])
    assert facts.themes_fallback == {}
    (section,) = build_campaign_digest(facts, period, previous, "fr", min_respondents=1).sections
    assert "mots-clés" not in (themes_text(section, "fr") or "")

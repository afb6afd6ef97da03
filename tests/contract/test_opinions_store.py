"""The opinion map end to end through the store, on every backend: planted camps' votes
written through group commit's batch, read back by the opinion map, found again (issue 15), the
groups saved and kept from one computation to the next, and `qn-bot opinions` printing the
contract's JSON."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from datetime import timedelta
from pathlib import Path

from sklearn.metrics import adjusted_rand_score

from qn_bot.cli import main
from qn_bot.config import Config, TeamConfig
from qn_bot.digest.send import preview_digest
from qn_bot.domain import CampaignStatus
from qn_bot.opinion_map import compute_campaign_opinions
from qn_bot.opinions import standing
from qn_bot.records import CampaignRecord, Vote
from qn_bot.site import export_site
from qn_bot.store.batch import BatchWrites
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import make_campaign, make_participant
from tests.contract.test_store_votes import give_items
from tests.unit.test_opinions import Planted, planted

AUTHORS = 4


async def plant(store: Store, data: Planted) -> tuple[CampaignRecord, dict[int, int]]:
    """The planted statements (given by a few authors) and votes in the store; returns the
    campaign and planted participant -> stored participant id."""
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        per_author = len(data.statements) // AUTHORS
        items: list[int] = []
        for n in range(AUTHORS):
            author = await make_participant(tx, f"author-{n}", f"P-A{n}")
            texts = [s.text for s in data.statements[n * per_author : (n + 1) * per_author]]
            items += await give_items(tx, author.id, campaign.id, *texts)
        item_of = {s.item_id: items[n] for n, s in enumerate(data.statements)}
        who = {p: (await make_participant(tx, f"v-{p}", f"P-V{p}")).id for p in data.camp_of}
        batch = BatchWrites()
        for p, i, v in zip(
            data.votes.participant_ids, data.votes.item_ids, data.votes.values, strict=True
        ):
            await batch.record_vote(
                participant_id=who[p],
                item_id=item_of[i],
                campaign_id=campaign.id,
                value=Vote(v),
                now=T0,
            )
        await batch.flush(tx)
    return campaign, who


async def test_planted_camps_are_found_through_the_store(store: Store, tmp_path: Path) -> None:
    data = planted()
    campaign, who = await plant(store, data)
    result = await compute_campaign_opinions(store, campaign, T0)
    people = sorted(data.camp_of)
    found = result.history.groups
    ari = adjusted_rand_score([data.camp_of[p] for p in people], [found[who[p]] for p in people])
    assert ari >= 0.9
    assert [g.size for g in result.groups] == [60, 30]
    texts = {s.text for s in data.statements if s.item_id in data.agreed}
    assert {s.text for s in result.consensus} == texts
    opposed = {s.text for s in data.statements if s.item_id in data.opposed}
    for group in result.groups:
        assert group.representative
        assert {s.text for s in group.representative} <= opposed
    # where one citizen stands (/bilan): the group of their camp, and the bridges
    small_camp = next(p for p in people if data.camp_of[p] == 1)
    async with store.snapshot() as tx:
        mine = await tx.votes.participant_votes(who[small_camp], campaign.id)
    here = standing(result, mine)
    assert here.group_id == found[who[small_camp]]
    assert {s.text for s in here.bridges} >= texts
    # saved: the next computation starts from these groups and keeps their ids
    async with store.snapshot() as tx:
        assert await tx.votes.last_groups(campaign.id) == found
    again = await compute_campaign_opinions(store, campaign, T0)
    assert again.history == result.history

    # the CLI prints the contract's JSON (another process's view of the same database)
    config = tmp_path / "qn_bot.toml"
    url = store.engine.url.render_as_string(hide_password=False)
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(["--config", str(config), "opinions", campaign.slug, "--format", "json"])

    assert await asyncio.to_thread(run) == 0
    printed = json.loads(out.getvalue())
    assert set(printed) == {"participants_counted", "groups", "consensus"}
    assert printed["participants_counted"] == 90
    assert [(g["id"], g["size"]) for g in printed["groups"]] == [
        (g.id, g.size) for g in result.groups
    ]
    for group in printed["groups"]:
        assert set(group) == {"id", "size", "representative"}
        for statement in group["representative"]:
            assert set(statement) == {"text", "agree", "disagree"}
            assert 0 <= statement["agree"] <= 1
    assert {s["text"] for s in printed["consensus"]} == texts
    assert "opinions: reading votes" in err.getvalue()


async def test_the_digest_and_the_site_show_the_opinion_map(store: Store, tmp_path: Path) -> None:
    data = planted()
    campaign, _ = await plant(store, data)
    async with store.transaction() as tx:
        await tx.campaigns.set_campaign_status(campaign.id, CampaignStatus.OPEN, T0)
        other = await make_campaign(tx, "sans-votes", status=CampaignStatus.OPEN)
    team = TeamConfig(name="equipe", campaigns=(campaign.slug, other.slug))
    preview = await preview_digest(store, Config(), team, T0 + timedelta(days=7))
    assert "Carte des opinions\u00a0: 90 votants comptés, 2 groupes." in preview
    assert "Groupe A (60 personnes)\u00a0: «\u00a0Énoncé" in preview
    assert preview.count("Ce qui rassemble\u00a0:") == 2
    assert preview.count("Carte des opinions") == 1  # not for the campaign without votes

    await export_site(store, tmp_path / "site", T0)
    site = tmp_path / "site"
    page = (site / f"{campaign.slug}.html").read_text(encoding="utf-8")
    assert f'<a href="{campaign.slug}-opinions.html">Carte des opinions</a>' in page
    opinions = (site / f"{campaign.slug}-opinions.html").read_text(encoding="utf-8")
    assert f'<img src="{campaign.slug}-opinions.png"' in opinions
    assert "Groupe B (30 personnes)" in opinions
    assert "P-V" not in opinions  # no pseudonym
    assert (site / f"{campaign.slug}-opinions.png").read_bytes().startswith(b"\x89PNG")
    assert not (site / "sans-votes-opinions.html").exists()
    assert "Carte des opinions" not in (site / "sans-votes.html").read_text(encoding="utf-8")

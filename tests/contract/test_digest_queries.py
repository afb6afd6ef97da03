"""The digest counted by the database equals the digest counted in memory, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from markupsafe import escape

from qn_bot.campaigns import create_campaign
from qn_bot.config import TeamConfig
from qn_bot.digest import attachment, queries
from qn_bot.digest.model import CampaignInput, build_campaign_digest, campaign_facts
from qn_bot.digest.period import Period, completed_period, recent_periods
from qn_bot.digest.queries import period_facts
from qn_bot.digest.send import load_team_data, render_package
from qn_bot.domain import Address, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.participants import campaign_participants
from qn_bot.records import CampaignRecord
from qn_bot.store import digest_reads
from qn_bot.store.sql import Store, Tx

TEAM = TeamConfig(name="equipe", campaigns=("grande",), min_respondents=2)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PERIOD = completed_period(TEAM, NOW)
PREVIOUS = PERIOD.previous(TEAM)
CHART = recent_periods(TEAM, PERIOD, 4)
TEXTS = [
    "Les territoires ruraux",
    "le territoire d'abord",
    "Des services publics de proximité",
    "service public numérique",
    "La sobriété numérique",
    "l'école du territoire",
    "données publiques ouvertes",
]


async def _fill(tx: Tx, slug: str, people: int, per_person: int, offset: int) -> CampaignRecord:
    """Items at every kind of instant: before the chart, in each week, on both edges."""
    flow = resolve_flow("construire-2030")
    campaign = await create_campaign(
        tx, slug=slug, flow=flow, title=slug, now=CHART[0].start, min_respondents=2
    )
    steps = ["pourquoi", "meurt", "nait", "acteurs"]
    instants = [
        CHART[0].start - timedelta(days=3),
        CHART[1].start + timedelta(hours=5),
        PREVIOUS.start,
        PREVIOUS.end - timedelta(microseconds=1),
        PERIOD.start,  # inclusive
        PERIOD.start + timedelta(days=2),
        PERIOD.start + timedelta(days=2),  # same instant: the id breaks the tie
        PERIOD.end - timedelta(seconds=1),
        PERIOD.end,  # exclusive: the next week
    ]
    for n in range(people):
        person = await tx.participants.create_participant(
            UserRef("test", f"{slug}-{n}"),
            Address("test", f"{slug}-{n}"),
            instants[n % 3],
            language="fr",
            pseudonym_factory=lambda n=n: f"P-{slug}-{n}",
        )
        session = await tx.sessions.save_session(
            person.id, campaign.id, {}, instants[n % 5], status="active", step_id=None
        )
        await tx.sessions.record_consent(session, flow.version, instants[n % 5])
        common = {"session_id": session, "campaign_id": campaign.id, "participant_id": person.id}
        for k in range(per_person):
            at = instants[(n + k + offset) % len(instants)]
            await tx.sessions.add_item(
                seq=k + 1,
                step_id=steps[(n * 3 + k) % len(steps)],
                text=f"{TEXTS[(n + k) % len(TEXTS)]} {n}-{k}",
                value=None,
                now=at,
                **common,
            )
        await tx.sessions.add_item(
            seq=per_person + 1,
            step_id="moyens_types",
            text="juridiques",
            value=["juridiques"],
            now=PERIOD.start + timedelta(hours=n),
            **common,
        )
        if n % 4 == 0:  # deleted items count nowhere
            await tx.sessions.delete_item(
                session_id=session, seq=1, now=PERIOD.start + timedelta(hours=1)
            )
    return campaign


async def _both(tx: Tx, campaign: CampaignRecord, period: Period = PERIOD) -> None:
    flow = resolve_flow("construire-2030")
    previous = period.previous(TEAM)
    # The campaigns' threshold is 2 (_fill), as the team's: respondents counted up to 2.
    counted, _ = await period_facts(
        tx, campaign, flow, period, previous, "fr", cap=3, chart_periods=CHART, enough=2
    )
    data = CampaignInput(
        campaign,
        flow,
        await tx.sessions.campaign_items(campaign.id),
        await campaign_participants(tx, campaign, flow),
    )
    loaded = campaign_facts(data, period, previous, "fr", cap=3, chart_periods=CHART, enough=2)
    assert counted.total_items == loaded.total_items
    assert counted.new_per_step == loaded.new_per_step
    assert counted.previous_new_items == loaded.previous_new_items
    assert counted.respondents == loaded.respondents
    assert counted.step_respondents == loaded.step_respondents
    assert any(n == 2 for n in counted.step_respondents.values())
    assert counted.weeks == loaded.weeks
    assert counted.newest == loaded.newest
    assert counted.themes == loaded.themes
    kw = {"min_respondents": 2, "cap": 3, "chart_periods": CHART}
    assert build_campaign_digest(counted, period, previous, "fr", **kw) == build_campaign_digest(
        data, period, previous, "fr", **kw
    )


async def test_sql_counts_equal_memory_counts(store: Store) -> None:
    async with store.transaction() as tx:
        big = await _fill(tx, "grande", people=24, per_person=9, offset=0)
        # A small campaign beside it: on SQLite it is read through the campaign index, the big
        # one by a table scan; neither may see the other's items.
        small = await _fill(tx, "petite", people=3, per_person=4, offset=2)
    async with store.transaction() as tx:
        await _both(tx, big)
        await _both(tx, small)
        await _both(tx, big, PREVIOUS)
        digest, _ = await period_facts(
            tx, big, resolve_flow("construire-2030"), PERIOD, PREVIOUS, "fr", cap=3, enough=2
        )
    assert digest.themes["pourquoi"], "the data must exercise themes"
    assert sum(digest.new_per_step.values()) > 3


@pytest.mark.parametrize("fold_in", ["process", "thread", "failing process", "dying process"])
async def test_counts_in_many_statements_and_a_fold_process_change_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch, fold_in: str
) -> None:
    """Big campaigns: the count runs in many statements, the fold in a process of its own; when
    that process fails, the items are read again and folded in a thread."""
    monkeypatch.setattr(digest_reads, "MAX_TERMS", 7)  # a step's intervals over several statements
    if fold_in != "thread":
        monkeypatch.setattr(queries, "FOLD_PROCESS_MIN_ITEMS", 0)
    if fold_in == "failing process":  # it fails once all is sent

        async def fail(self: queries.FoldProcess) -> None:
            raise queries.FoldError("boom")

        monkeypatch.setattr(queries.FoldProcess, "result", fail)
    if fold_in == "dying process":  # it dies while the rows are sent

        async def die(self: queries.FoldProcess, rows: Any) -> None:
            raise queries.FoldError("gone")

        monkeypatch.setattr(queries.FoldProcess, "add", die)
    monkeypatch.setattr(digest_reads, "PARTITION", 5)  # many partitions through the pipe
    started = []
    start = queries.FoldProcess.start

    async def spy(*args: Any) -> queries.FoldProcess:
        started.append(await start(*args))
        return started[-1]

    monkeypatch.setattr(queries.FoldProcess, "start", spy)
    async with store.transaction() as tx:
        big = await _fill(tx, "grande", people=24, per_person=9, offset=0)
        small = await _fill(tx, "petite", people=3, per_person=4, offset=2)
    async with store.snapshot() as tx:
        await _both(tx, big)
        await _both(tx, small)
        await _both(tx, big, PREVIOUS)
    assert len(started) == (0 if fold_in == "thread" else 3)


async def test_team_data_with_a_period_renders_like_the_in_memory_one(store: Store) -> None:
    async with store.transaction() as tx:
        await _fill(tx, "grande", people=12, per_person=6, offset=1)
    async with store.transaction() as tx:
        counted = await load_team_data(tx, TEAM, PERIOD)
        loaded = await load_team_data(tx, TEAM)
    a = render_package(TEAM, counted, PERIOD, NOW, late=False)
    b = render_package(TEAM, loaded, PERIOD, NOW, late=False)
    assert a.digest == b.digest
    assert a.chat_text == b.chat_text
    assert a.charts == b.charts
    assert a.syntheses == b.syntheses  # under the cap: the full page, history included
    with pytest.raises(ValueError, match="counted for"):
        render_package(TEAM, counted, PREVIOUS, NOW, late=False)


async def test_big_campaigns_get_a_capped_synthesis(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachment, "FULL_MAX_ITEMS", 10)
    monkeypatch.setattr(attachment, "SECTION_CAP", 2)
    async with store.transaction() as tx:
        campaign = await _fill(tx, "grande", people=12, per_person=6, offset=1)
    async with store.transaction() as tx:
        data = await load_team_data(tx, TEAM, PERIOD)
        full = await tx.sessions.campaign_items(campaign.id)
    package = render_package(TEAM, data, PERIOD, NOW, late=False)
    html = package.syntheses[0].data.decode("utf-8")
    live = [i for i in full if i.step_id == "pourquoi"]
    latest = sorted(live, key=lambda i: i.id)[-2:]
    assert all(str(escape(i.text)) in html for i in latest)
    assert str(escape(sorted(live, key=lambda i: i.id)[0].text)) not in html
    assert f"[…] {len(live) - 2} contributions plus anciennes" in html
    assert "qn-bot export grande --format html" in html
    assert "12 participants" in html  # the campaign's, not the attachment's
    assert "Juridiques" in html or "juridiques" in html.lower()  # choice sections complete
    assert "Historique des versions" not in html
    assert "réduite aux contributions les plus récentes" in package.chat_text


LONE = "Le projet secret de la seule personne qui en parle"


@pytest.mark.parametrize("capped", [False, True], ids=["full", "capped"])
async def test_no_attachment_shows_a_section_below_the_threshold(
    store: Store, monkeypatch: pytest.MonkeyPatch, capped: bool
) -> None:
    """Twelve participants: most sections are published; "Des horizons souhaitables" has one
    respondent, so every public output gives its count only, the attached synthesis too (the
    team's threshold is 2, the campaign's 2 as well)."""
    if capped:
        monkeypatch.setattr(attachment, "FULL_MAX_ITEMS", 10)
        monkeypatch.setattr(attachment, "SECTION_CAP", 2)
    async with store.transaction() as tx:
        campaign = await _fill(tx, "grande", people=12, per_person=6, offset=1)
        lone = await tx.participants.create_participant(
            UserRef("test", "seul"), Address("test", "seul"), PERIOD.start, language="fr"
        )
        session = await tx.sessions.save_session(
            lone.id, campaign.id, {}, PERIOD.start, status="active", step_id=None
        )
        await tx.sessions.record_consent(session, 1, PERIOD.start)
        for seq, text in enumerate((LONE, f"{LONE}, encore"), start=1):
            await tx.sessions.add_item(
                session_id=session,
                campaign_id=campaign.id,
                participant_id=lone.id,
                seq=seq,
                step_id="horizons",
                text=text,
                value=None,
                now=PERIOD.start + timedelta(hours=seq),
            )
    async with store.snapshot() as tx:
        data = await load_team_data(tx, TEAM, PERIOD)
    package = render_package(TEAM, data, PERIOD, NOW, late=False)
    (section,) = [s for s in package.digest.campaigns[0].sections if s.step_id == "horizons"]
    assert section.withheld
    assert section.new_count == 2
    html = package.syntheses[0].data.decode("utf-8")
    for output in (html, package.chat_text):
        assert "secret" not in output
        assert "Des horizons souhaitables" in output
    assert "2 contributions — moins de 2 participants ont répondu ici" in " ".join(html.split())
    assert any(text in html for text in TEXTS)  # the other sections are published

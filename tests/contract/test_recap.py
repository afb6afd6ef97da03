"""Recap waves and /bilan on SQLite and PostgreSQL: once per citizen and wave (two senders at
once, a crash half-way), in each citizen's language, nothing hidden and nothing below the
threshold, /signaler on the idea a recap quotes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from qn_bot.campaigns import set_status
from qn_bot.config import Config, SiteConfig
from qn_bot.digest.period import completed_period
from qn_bot.digest.send import send_digest
from qn_bot.domain import CampaignStatus
from qn_bot.ops.metrics import Metrics
from qn_bot.recap import model as recap_model
from qn_bot.recap.send import CLOSED_WAVE, Wave, due_waves, manual_wave, send_due_waves, send_wave
from qn_bot.records import CampaignRecord
from qn_bot.scheduler import Scheduler
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock
from tests.contract.test_erasure import MATRIX, team
from tests.contract.test_service import SLUG, Citizen, open_campaign, rows

SITE = SiteConfig(min_respondents=2, base_url="https://example.org/synthese/")
SECRET = "Zorglub zorglub 5f1a"


@pytest.fixture
async def campaign(store: Store, clock: FixedClock) -> CampaignRecord:
    return await open_campaign(store, clock, min_respondents=2)


@pytest.fixture
def service(store: Store, clock: FixedClock, pseudonyms: Any) -> Service:
    return Service(store, clock=clock, pseudonyms=pseudonyms, site=SITE)


async def answers(service: Service, store: Store, campaign: CampaignRecord) -> dict[str, Citizen]:
    people = {name: Citizen(service, name) for name in ("ada", "bob", "cleo", "dan", "eve")}
    said = {
        "ada": ["Des pistes cyclables partout", "Un jardin partagé"],
        "bob": ["Des pistes cyclables sûres"],
        "cleo": ["Des pistes cyclables pour les vélos"],
        "dan": ["Un tramway jusqu'à la gare"],
        "eve": [SECRET, "Zorglub encore"],
    }
    for name, citizen in people.items():
        await citizen.join()
        for text in said[name]:
            await citizen.say(text)
    await people["bob"].say("/langue en")
    await people["dan"].say("/stop")
    async with store.transaction() as tx:
        hidden = [i.id for i in await tx.moderation.items(campaign.id) if "orglub" in i.text]
        await tx.moderation.decide(campaign.id, hidden, "hide", "cli", campaign.created_at)
    return people


async def recaps(store: Store) -> dict[str, str]:
    """chat id → the recap queued there."""
    found = await rows(store, t.outbox, t.outbox.c.dedupe_key.like("recap:%"))
    out: dict[str, str] = {}
    for row in found:
        assert row.chat_id not in out, f"two recaps for {row.chat_id}"
        out[row.chat_id] = row.payload["text"]
    return out


async def test_a_wave_gives_each_citizen_their_recap_once_in_their_language(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    await answers(service, store, campaign)
    wave = manual_wave(clock())
    result = await send_wave(store, campaign, wave, SITE, clock())
    assert (result.queued, result.already, result.skipped) == (4, 0, 1)  # dan stopped
    sent = await recaps(store)
    assert set(sent) == {"chat-ada", "chat-bob", "chat-cleo", "chat-eve"}
    ada = sent["chat-ada"]
    assert ada.startswith("📬 Votre bilan — Mini 2030")
    assert "«\u00a0Des pistes cyclables partout\u00a0»" in ada
    assert (
        "thème «\u00a0pistes cyclables\u00a0»\u00a0: 2 autres personnes ont exprimé une idée proche"
        in ada
    )
    assert "https://example.org/synthese/mini-2030.html" in ada
    assert "/oublier" in ada
    assert sent["chat-bob"].startswith("📬 Your recap — Mini 2030")
    assert "/forget" in sent["chat-bob"]
    for chat, text in sent.items():
        if chat != "chat-eve":
            assert "orglub" not in text, chat
    assert SECRET in sent["chat-eve"]  # their own, as in /mes_reponses
    # Again: nothing more, from this wave.
    again = await send_wave(store, campaign, wave, SITE, clock())
    assert (again.queued, again.already) == (0, 4)
    assert len(await recaps(store)) == 4


async def test_two_senders_at_once_queue_each_recap_once(
    store: Store,
    migrated_url: str,
    service: Service,
    campaign: CampaignRecord,
    clock: FixedClock,
) -> None:
    await answers(service, store, campaign)
    wave = Wave("concurrent")
    async with Store.from_url(migrated_url) as other:
        first, second = await asyncio.gather(
            send_wave(store, campaign, wave, SITE, clock(), chunk=1),
            send_wave(other, campaign, wave, SITE, clock(), chunk=1),
        )
    assert first.queued + second.queued == 4
    assert first.already + second.already == 4
    assert len(await recaps(store)) == 4


async def test_a_wave_a_crash_interrupted_is_finished_once_by_the_next_tick(
    store: Store,
    service: Service,
    campaign: CampaignRecord,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await answers(service, store, campaign)
    async with store.transaction() as tx:
        closed = await set_status(tx, SLUG, CampaignStatus.CLOSED, clock())
    real = recap_model.build_recap
    built: list[int] = []

    def crashing(data: Any, participant_id: int, *args: Any, **kw: Any) -> Any:
        built.append(participant_id)
        if len(built) == 3:
            raise RuntimeError("the process dies here")
        return real(data, participant_id, *args, **kw)

    monkeypatch.setattr("qn_bot.recap.send.build_recap", crashing)
    with pytest.raises(RuntimeError):
        await send_wave(store, closed, Wave(CLOSED_WAVE), SITE, clock(), chunk=2)
    assert len(await recaps(store)) == 2  # the first chunk was committed, the second was not
    monkeypatch.setattr("qn_bot.recap.send.build_recap", real)
    config = Config.model_validate({"site": SITE.model_dump()})
    assert [w.name for _, w in await due_waves(store, config, clock())] == [CLOSED_WAVE]
    metrics = Metrics()
    scheduler = Scheduler(store, config, clock=clock, metrics=metrics)
    assert await scheduler.send_recaps() == 2
    assert metrics.recaps._value.get() == 2
    assert len(await recaps(store)) == 4
    assert await due_waves(store, config, clock()) == []
    assert await send_due_waves(store, config, clock()) == 0


async def test_a_week_ends_once_its_digest_is_out_for_those_who_answered_in_it(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    citizens = await answers(service, store, campaign)
    config = Config.model_validate({"matrix": MATRIX, "teams": [team()], "site": SITE.model_dump()})
    clock.advance(days=7)
    await citizens["ada"].say("Encore des pistes cyclables")  # ada alone is active next week
    assert await due_waves(store, config, clock()) == []  # the first week's digest is not out
    first = completed_period(team(), clock())
    assert await send_digest(store, config, team(), clock(), late=False, period=first)
    assert await send_due_waves(store, config, clock()) == 4
    clock.advance(days=7)
    second = completed_period(team(), clock())
    assert await send_digest(store, config, team(), clock(), late=False, period=second)
    assert [w.name for _, w in await due_waves(store, config, clock())] == [
        f"week-{second.start_date.isoformat()}"
    ]
    assert await send_due_waves(store, config, clock()) == 1


async def test_bilan_shows_the_recap_now_and_signaler_flags_the_idea_it_quotes(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    citizens = await answers(service, store, campaign)
    text = await citizens["cleo"].say("/bilan")
    assert text.startswith("📬 Votre bilan — Mini 2030")
    assert "«\u00a0Des pistes cyclables pour les vélos\u00a0»" in text
    assert "orglub" not in text
    quoted = "Une idée d’une autre personne"
    assert quoted not in text  # nobody else's theme reaches the threshold but her own
    assert "/forget" in await citizens["bob"].say("/recap")
    nobody = Citizen(service, "zoe")
    assert "Pas encore de bilan" in await nobody.say("/bilan")
    # A theme of others at the threshold: its first idea is quoted, and /signaler flags it.
    fay = Citizen(service, "fay")
    await fay.join()
    await fay.say("Le tramway gratuit")
    text = await citizens["ada"].say("/bilan")
    assert f"{quoted}\u00a0: «\u00a0Un tramway jusqu'à la gare\u00a0»" in text
    assert "Merci" in await citizens["ada"].say("/signaler")
    async with store.transaction() as tx:
        flagged = [i for i in await tx.moderation.items(campaign.id) if i.flags]
    assert [i.text for i in flagged] == ["Un tramway jusqu'à la gare"]

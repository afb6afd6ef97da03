"""Service.handle on the real store: one transaction per inbound message, all or nothing.

Citizens talk on the in-process platform "test"; the clock and the pseudonyms are fixed so
that every run writes the same rows.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.domain import (
    Address,
    CampaignStatus,
    InboundKind,
    InboundMessage,
    OutboundMessage,
    UserRef,
)
from qn_bot.exporters import export_campaign
from qn_bot.flows.engine import Engine
from qn_bot.flows.loader import load_flow_text
from qn_bot.records import CampaignRecord
from qn_bot.service import HandleResult, Service
from qn_bot.store import schema as t
from qn_bot.store.rows import message_key
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms

PLATFORM = "test"
SLUG = "mini-2030"

FLOW = """
id = "mini"
version = 2
languages = ["fr", "en"]
title = { fr = "Mini", en = "Mini" }

[[steps]]
id = "accord"
kind = "consent"
prompt = { fr = "D'accord ?", en = "Agree?" }

[[steps]]
id = "idees"
kind = "list"
prompt = { fr = "Vos idées ?", en = "Your ideas?" }
section = { fr = "Idées", en = "Ideas" }
max_items = 100
max_length = 200

[[steps]]
id = "mot"
kind = "text"
prompt = { fr = "Un dernier mot ?", en = "A last word?" }
section = { fr = "Le mot de la fin", en = "Last word" }
max_length = 100

[[steps]]
id = "fin"
kind = "info"
prompt = { fr = "Au revoir.", en = "Goodbye." }
"""

TABLES = (
    t.participants,
    t.sessions,
    t.items,
    t.item_revisions,
    t.processed_messages,
    t.outbox,
    t.campaigns,
    t.facilitators,
)


# ------------------------------------------------------------------ helpers


async def open_campaign(
    store: Store,
    clock: FixedClock,
    slug: str = SLUG,
    title: str = "Mini 2030",
    *,
    min_respondents: int = 5,
) -> CampaignRecord:
    flow = load_flow_text(FLOW, "mini.toml")
    async with store.transaction() as tx:
        await create_campaign(
            tx, slug=slug, flow=flow, title=title, now=clock(), min_respondents=min_respondents
        )
        return await set_status(tx, slug, CampaignStatus.OPEN, clock())


async def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the service writes, for before/after comparisons."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with store.transaction() as tx:
        for table in TABLES:
            rows = (await tx.conn.execute(select(table))).all()
            out[table.name] = sorted((tuple(map(repr, r)) for r in rows), key=repr)
    return out


async def rows(store: Store, table: t.Table, *where: Any) -> list[Any]:
    async with store.transaction() as tx:
        stmt = select(table).where(*where) if where else select(table)
        order = table.c.id if "id" in table.c else next(iter(table.primary_key))
        return list((await tx.conn.execute(stmt.order_by(order))).all())


async def item_texts(store: Store, slug: str = SLUG) -> list[str]:
    async with store.transaction() as tx:
        campaign = await tx.campaigns.campaign_by_slug(slug)
        assert campaign is not None
        return [i.text for i in await tx.sessions.campaign_items(campaign.id)]


async def export_json(store: Store, clock: FixedClock, slug: str = SLUG) -> list[dict[str, Any]]:
    async with store.transaction() as tx:
        return list(json.loads(await export_campaign(tx, slug, "json", None, clock())))


class Citizen:
    """One person on the "test" platform, talking in a private chat."""

    _ids = itertools.count(1)

    def __init__(self, service: Service, user_id: str) -> None:
        self.service = service
        self.user = UserRef(PLATFORM, user_id)
        self.address = Address(PLATFORM, f"chat-{user_id}")
        self.last: list[OutboundMessage] = []

    def message(
        self,
        text: str = "",
        *,
        kind: InboundKind = InboundKind.TEXT,
        choice_id: str | None = None,
        message_id: str | None = None,
    ) -> InboundMessage:
        return InboundMessage(
            sender=self.user,
            address=self.address,
            message_id=message_id or f"{self.user.user_id}-{next(self._ids)}",
            kind=kind,
            text=text,
            choice_id=choice_id,
        )

    async def send(self, msg: InboundMessage) -> HandleResult:
        result = await self.service.handle(msg)
        self.last = result.replies
        return result

    async def say(self, text: str, **kw: Any) -> str:
        result = await self.send(self.message(text, **kw))
        return "\n".join(r.text for r in result.replies)

    async def press(self, choice_id: str) -> str:
        result = await self.send(self.message(kind=InboundKind.CHOICE, choice_id=choice_id))
        return "\n".join(r.text for r in result.replies)

    def button(self, label_part: str) -> str:
        """The value of the button (in the last replies) whose label contains ``label_part``."""
        for reply in self.last:
            for b in reply.buttons:
                if label_part.casefold() in b.label.casefold():
                    return b.value
        raise AssertionError(f"no button {label_part!r} in {self.last!r}")

    async def join(self) -> None:
        """/start then consent: ready to give ideas."""
        assert "D'accord ?" in await self.say("/start")
        assert "Vos idées ?" in await self.say("oui")


# ------------------------------------------------------------------ a whole conversation


async def test_whole_conversation_commits_items_state_and_replies_together(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    queued = 0

    async def step(text: str | None = None, *, press: str | None = None) -> HandleResult:
        nonlocal queued
        clock.advance(seconds=1)
        msg = (
            alice.message(kind=InboundKind.CHOICE, choice_id=press)
            if press
            else alice.message(text or "")
        )
        result = await alice.send(msg)
        assert not result.duplicate
        assert result.replies, f"{text or press!r} got no answer"
        queued += len(result.replies)
        # Committed together: the message's key, and one outbox row per reply, in order.
        out = await rows(store, t.outbox)
        assert len(out) == queued
        assert [r.payload for r in out[-len(result.replies) :]] == [
            m.to_json() for m in result.replies
        ]
        assert {(r.platform, r.chat_id, r.status) for r in out} == {
            (PLATFORM, "chat-alice", "pending")
        }
        keys = await rows(store, t.processed_messages)
        assert message_key(msg.message_id) in {k.message_id for k in keys}
        return result

    first = await step("/start")
    assert "D'accord ?" in first.replies[-1].text
    assert {b.value for b in first.replies[-1].buttons} == {"accept", "refuse"}
    (participant,) = await rows(store, t.participants)
    assert participant.pseudonym == "P-0001"
    assert participant.active_campaign_id == campaign.id

    await step(press="accept")
    (session,) = await rows(store, t.sessions)
    assert (session.step_id, session.status, session.consent_version) == ("idees", "active", 2)

    await step("Plus de vélos")
    await step("- Moins de voitures\n- Des arbres")
    assert await item_texts(store) == ["Plus de vélos", "Moins de voitures", "Des arbres"]

    await step("/suivant")
    (session,) = await rows(store, t.sessions)
    assert session.step_id == "mot"

    review = await step("Merci")
    assert await item_texts(store) == [
        "Plus de vélos",
        "Moins de voitures",
        "Des arbres",
        "Merci",
    ]
    done = review.replies[-1].buttons[-1].value
    last = await step(press=done)
    assert "Au revoir." in "\n".join(r.text for r in last.replies)
    (session,) = await rows(store, t.sessions)
    assert session.status == "completed"
    assert session.completed_at is not None
    assert session.state["status"] == "completed"
    items = await rows(store, t.items)
    assert {(i.participant_id, i.session_id, i.campaign_id) for i in items} == {
        (participant.id, session.id, campaign.id)
    }
    assert [i.seq for i in items] == [1, 2, 3, 4]
    assert [i.step_id for i in items] == ["idees", "idees", "idees", "mot"]
    assert len(await rows(store, t.item_revisions)) == 4
    assert len(await rows(store, t.processed_messages)) == 7


async def test_redelivered_message_changes_nothing(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    msg = alice.message("Plus de vélos")
    first = await alice.send(msg)
    assert not first.duplicate
    assert len(first.replies) == 1
    before = await snapshot(store)
    again = await alice.send(msg)
    assert again.duplicate
    assert again.replies == []
    assert await snapshot(store) == before
    assert await item_texts(store) == ["Plus de vélos"]


async def test_messages_of_one_citizen_sent_at_once_are_each_stored_once_in_order(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    already = len(await rows(store, t.outbox))
    messages = [alice.message(f"idée {n}") for n in range(30)]
    results = await asyncio.gather(*(service.handle(m) for m in messages))
    assert not any(r.duplicate for r in results)

    items = await rows(store, t.items)
    assert sorted(i.text for i in items) == sorted(f"idée {n}" for n in range(30))
    assert sorted(i.seq for i in items) == list(range(1, 31))
    # The replies were queued in the order the messages were handled: the n-th reply
    # acknowledges the n-th item (seq n).
    replies = [r.payload["text"] for r in (await rows(store, t.outbox))[already:]]
    assert len(replies) == 30
    counts = [int(m.group(1)) for m in (re.search(r"\((\d+) au total\)", r) for r in replies) if m]
    assert counts == list(range(1, 31)), replies
    # …and one citizen's messages are handled in the order they were delivered.
    by_source = {i.source_message_id: i.seq for i in items}
    assert [by_source[m.message_id] for m in messages] == list(range(1, 31))


async def test_fifty_citizens_at_once_each_item_stored_exactly_once(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    async def citizen(n: int) -> None:
        c = Citizen(service, f"c{n:02d}")
        await c.join()
        for k in range(3):
            assert "Noté" in await c.say(f"idée {n}-{k}")

    await asyncio.gather(*(citizen(n) for n in range(50)))
    items = await rows(store, t.items)
    texts = [i.text for i in items]
    assert sorted(texts) == sorted(f"idée {n}-{k}" for n in range(50) for k in range(3))
    participants = await rows(store, t.participants)
    assert len(participants) == 50
    assert len({p.pseudonym for p in participants}) == 50
    per_participant: dict[int, list[str]] = {}
    for i in items:
        per_participant.setdefault(i.participant_id, []).append(i.text)
    owner = {p.id: p.platform_user_id for p in participants}
    for pid, mine in per_participant.items():
        n = int(owner[pid][1:])
        assert sorted(mine) == [f"idée {n}-{k}" for k in range(3)]
    assert len(await rows(store, t.processed_messages)) == 50 * 5


# ------------------------------------------------------------------ group commit


def batch_sizes(monkeypatch: pytest.MonkeyPatch, service: Service) -> list[int]:
    """Spy on the batches the service's group commit forms."""
    sizes: list[int] = []
    real = service._in_batch

    async def spy(tx: Any, msgs: Any) -> Any:
        sizes.append(len(msgs))
        return await real(tx, msgs)

    monkeypatch.setattr(service, "_in_batch", spy)
    return sizes


async def test_a_burst_shares_transactions_and_each_citizen_gets_their_own_reply(
    store: Store, service: Service, campaign: CampaignRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizens = [Citizen(service, f"c{n:03d}") for n in range(100)]
    await asyncio.gather(*(c.join() for c in citizens))
    sizes = batch_sizes(monkeypatch, service)
    for round_ in range(3):
        replies = await asyncio.gather(
            *(c.say(f"{c.user.user_id} idée {round_}") for c in citizens)
        )
        assert all(f"({round_ + 1} au total)" in r for r in replies), replies
    assert max(sizes) > 1, sizes  # the burst was grouped
    assert sum(sizes) == 300
    items = await rows(store, t.items)
    assert sorted(i.text for i in items) == sorted(
        f"{c.user.user_id} idée {k}" for c in citizens for k in range(3)
    )
    revisions = await rows(store, t.item_revisions)
    assert sorted(r.item_id for r in revisions) == sorted(i.id for i in items)
    owners = {p.id: p.platform_user_id for p in await rows(store, t.participants)}
    assert all(i.text.startswith(owners[i.participant_id] + " ") for i in items)
    outbox = await rows(store, t.outbox)
    assert all(owners[r.participant_id] == r.chat_id.removeprefix("chat-") for r in outbox)


async def test_one_bad_message_in_a_batch_fails_alone(
    store: Store, service: Service, campaign: CampaignRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizens = [Citizen(service, f"c{n:02d}") for n in range(20)]
    await asyncio.gather(*(c.join() for c in citizens))
    real = Engine.resume

    def resume(self: Engine, state: Any, inp: Any, now: Any, **kw: Any) -> Any:
        if getattr(inp, "text", "") == "boom":
            raise RuntimeError("injected engine failure")
        return real(self, state, inp, now, **kw)

    monkeypatch.setattr(Engine, "resume", resume)
    sizes = batch_sizes(monkeypatch, service)
    bad = citizens[7].message("boom")
    outcomes = await asyncio.gather(
        *(c.send(bad) if c is citizens[7] else c.say("une idée") for c in citizens),
        return_exceptions=True,
    )
    assert isinstance(outcomes[7], RuntimeError)
    assert all("(1 au total)" in o for n, o in enumerate(outcomes) if n != 7), outcomes
    assert max(sizes) > 1, sizes
    assert await item_texts(store) == ["une idée"] * 19
    assert message_key(bad.message_id) not in {
        k.message_id for k in await rows(store, t.processed_messages)
    }
    monkeypatch.undo()
    assert "(1 au total)" in "\n".join(r.text for r in (await service.handle(bad)).replies)


async def test_the_batched_path_writes_what_the_general_path_writes(
    store: Store, service: Service, campaign: CampaignRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain answers take a batched path; its rows must be those of the general one."""
    script = ["/start", "oui", "idée 1", "idée 2\n- idée 3", "x" * 500, "/suivant", "le mot"]
    alice, bob = Citizen(service, "alice"), Citizen(service, "bob")
    batched: list[int] = []
    real = service._batched

    async def general_only(tx: Any, msgs: Any, results: list[Any]) -> None:
        del tx, msgs, results

    async def spy(tx: Any, msgs: Any, results: list[Any]) -> None:
        await real(tx, msgs, results)
        batched.extend(n for n, r in enumerate(results) if r is not None)

    monkeypatch.setattr(service, "_batched", general_only)
    alice_replies = [await alice.say(text) for text in script]
    monkeypatch.setattr(service, "_batched", spy)
    bob_replies = [await bob.say(text) for text in script]
    assert len(batched) >= 5  # idée 1, idées 2-3, the refused long one, /suivant, le mot
    assert bob_replies == alice_replies

    async def conversation(user: str) -> dict[str, Any]:
        (p,) = await rows(store, t.participants, t.participants.c.platform_user_id == user)
        (s,) = await rows(store, t.sessions, t.sessions.c.participant_id == p.id)
        items = await rows(store, t.items, t.items.c.participant_id == p.id)
        revisions = await rows(
            store, t.item_revisions, t.item_revisions.c.item_id.in_([i.id for i in items])
        )
        out = await rows(store, t.outbox, t.outbox.c.participant_id == p.id)
        keys = await rows(
            store, t.processed_messages, t.processed_messages.c.participant_id == p.id
        )
        return {
            "session": (s.state, s.status, s.step_id, s.completed_at, s.last_input_at),
            "reminders": s.reminders_sent,
            "items": [(i.seq, i.step_id, i.text, i.value, i.revision, i.deleted_at) for i in items],
            "sources": [i.source_message_id.split("-")[0] for i in items],
            "revisions": [(r.revision, r.text, r.value, r.deleted) for r in revisions],
            "outbox": [(r.payload, r.status, r.chat_id.removeprefix("chat-") == user) for r in out],
            "keys": len(keys),
        }

    a, b = await conversation("alice"), await conversation("bob")
    assert [x.removeprefix("alice") for x in a["sources"]] == [
        x.removeprefix("bob") for x in b["sources"]
    ]
    a.pop("sources"), b.pop("sources")
    assert a == b


# ------------------------------------------------------------------ failures roll back


def engine_fails_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fault injection: the next Engine.resume raises (a bug the engine might have)."""
    calls: list[int] = []
    real = Engine.resume

    def resume(self: Engine, *args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected engine failure")
        return real(self, *args, **kw)

    monkeypatch.setattr(Engine, "resume", resume)
    return calls


async def test_failure_inside_the_transaction_rolls_everything_back(
    store: Store, service: Service, campaign: CampaignRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("première idée")
    before = await snapshot(store)

    calls = engine_fails_once(monkeypatch)
    msg = alice.message("deuxième idée")
    with pytest.raises(RuntimeError, match="injected"):
        await service.handle(msg)
    assert await snapshot(store) == before  # no item, no key, no outbox row, same state

    result = await service.handle(msg)  # the redelivery is handled afresh
    assert not result.duplicate
    assert "Noté" in result.replies[0].text
    assert len(calls) == 2
    assert await item_texts(store) == ["première idée", "deuxième idée"]
    keys = {k.message_id for k in await rows(store, t.processed_messages)}
    assert message_key(msg.message_id) in keys


async def test_failure_on_a_first_message_leaves_no_participant(
    store: Store,
    service: Service,
    campaign: CampaignRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken_apply(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("injected start failure")

    # After the participant was created and their message key claimed: both roll back.
    monkeypatch.setattr(Service, "_decide_and_apply", broken_apply)
    alice = Citizen(service, "alice")
    before = await snapshot(store)
    msg = alice.message("/start")
    with pytest.raises(RuntimeError, match="injected"):
        await service.handle(msg)
    assert await snapshot(store) == before
    monkeypatch.undo()
    assert "D'accord ?" in "\n".join(r.text for r in (await service.handle(msg)).replies)


# ------------------------------------------------------------------ participant commands


async def test_stop_then_a_message(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    assert "ne recevrez plus" in await alice.say("/stop")
    (p,) = await rows(store, t.participants)
    assert p.stopped
    # Writing again is still answered (every message gets an answer) and does not crash.
    result = await alice.send(alice.message("une idée après /stop"))
    assert result.replies
    assert not result.duplicate
    # /reprendre lifts the stop and asks the current question again.
    text = await alice.say("/reprendre")
    assert "Vos idées ?" in text
    (p,) = await rows(store, t.participants)
    assert not p.stopped


async def test_forget_erases_the_citizen_and_their_items_from_exports(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice, bob = Citizen(service, "alice"), Citizen(service, "bob")
    for c in (alice, bob):
        await c.join()
        await c.say(f"idée de {c.user.user_id}")
        await c.say(f"autre idée de {c.user.user_id}")
    exported = await export_json(store, clock)
    alice_pseudonym = next(r["participant"] for r in exported if r["text"].endswith("alice"))

    text = await alice.say("/oublier")
    assert "effacer" in text
    assert {b.value for b in alice.last[0].buttons} == {"forget_yes", "forget_no"}
    assert await item_texts(store) != []  # nothing erased before the confirmation
    done = await alice.press("forget_yes")
    assert "effacé" in done

    assert [p.platform_user_id for p in await rows(store, t.participants)] == ["bob"]
    rows_after = await export_json(store, clock)
    assert [r["text"] for r in rows_after] == ["idée de bob", "autre idée de bob"]
    assert alice_pseudonym not in json.dumps(rows_after)
    for table in (t.items, t.sessions):
        assert {r.participant_id for r in await rows(store, table)} == {
            (await rows(store, t.participants))[0].id
        }
    # The goodbye still reaches alice, tied to no participant.
    goodbye = (await rows(store, t.outbox, t.outbox.c.chat_id == "chat-alice"))[-1]
    assert goodbye.participant_id is None
    assert "effacé" in goodbye.payload["text"]
    # Everything alice wrote is gone from the queue and the history.
    dump = repr(await snapshot(store))
    assert "idée de alice" not in dump
    assert alice_pseudonym not in dump


async def test_forget_can_be_cancelled(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("je reste")
    await alice.say("/oublier")
    assert "Rien n’a été effacé" in await alice.press("forget_no")
    assert await item_texts(store) == ["je reste"]
    (p,) = await rows(store, t.participants)
    assert p.pending_action is None


async def test_redelivered_forget_confirmation_does_not_bring_the_citizen_back(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    """A platform may deliver the confirming message again (e.g. after a crash before its
    offset was saved). Redelivery must be a no-op: it must not create a new participant
    (storing the platform user id again) nor start a new session."""
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("idée")
    await alice.say("/oublier")
    confirm = alice.message(kind=InboundKind.CHOICE, choice_id="forget_yes")
    assert "effacé" in "\n".join(r.text for r in (await service.handle(confirm)).replies)
    before = await snapshot(store)
    again = await service.handle(confirm)
    assert again.duplicate, [r.text for r in again.replies]
    assert await snapshot(store) == before
    assert await rows(store, t.participants) == []


async def test_my_data_returns_only_the_citizens_own_data(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    alice, bob = Citizen(service, "alice"), Citizen(service, "bob")
    for c in (alice, bob):
        await c.join()
        await c.say(f"secret de {c.user.user_id}")
    await alice.say("/mes_donnees")
    (reply,) = alice.last
    (attachment,) = reply.attachments
    assert attachment.media_type == "application/json"
    data = json.loads(attachment.data)
    assert data["platform_user_id"] == "alice"
    assert [a["text"] for a in data["answers"]] == ["secret de alice"]
    assert [s["campaign"] for s in data["sessions"]] == [SLUG]
    body = attachment.data.decode()
    assert "bob" not in body
    (bob_row,) = await rows(store, t.participants, t.participants.c.platform_user_id == "bob")
    assert bob_row.pseudonym not in body


async def test_closed_campaign_stores_nothing_but_rights_still_work(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("avant la clôture")
    async with store.transaction() as tx:
        await set_status(tx, SLUG, CampaignStatus.CLOSED, clock())
    items_before = await rows(store, t.items)
    sessions_before = await rows(store, t.sessions)

    assert "close" in await alice.say("après la clôture")
    assert "close" in await alice.say("/suivant")
    assert await rows(store, t.items) == items_before
    assert await rows(store, t.sessions) == sessions_before

    await alice.say("/mes_donnees")
    (attachment,) = alice.last[0].attachments
    assert [a["text"] for a in json.loads(attachment.data)["answers"]] == ["avant la clôture"]

    await alice.say("/oublier")
    assert "effacé" in await alice.press("forget_yes")
    assert await rows(store, t.participants) == []
    assert await item_texts(store) == []


async def test_unsupported_message_is_answered_and_stores_nothing(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    items, sessions = await rows(store, t.items), await rows(store, t.sessions)
    text = await alice.say("", kind=InboundKind.UNSUPPORTED)
    assert "texte" in text
    assert await rows(store, t.items) == items
    assert await rows(store, t.sessions) == sessions


async def test_start_with_several_open_campaigns_offers_a_choice(
    store: Store, service: Service, clock: FixedClock
) -> None:
    alpha = await open_campaign(store, clock, "alpha-2030", "Alpha")
    beta = await open_campaign(store, clock, "beta-2030", "Bêta")
    alice = Citizen(service, "alice")
    await alice.say("/start")
    labels = [b.label for b in alice.last[-1].buttons]
    assert labels == ["Alpha", "Bêta"]
    assert await rows(store, t.sessions) == []

    assert "D'accord ?" in await alice.say("2")
    (p,) = await rows(store, t.participants)
    assert p.active_campaign_id == beta.id != alpha.id
    assert p.pending_action is None
    (session,) = await rows(store, t.sessions)
    assert session.campaign_id == beta.id


# ------------------------------------------------------------------ review and revisions


async def test_item_edited_through_the_review_is_a_new_revision(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("des vélos")
    await alice.say("des arbres")
    await alice.say("/mes_reponses")
    await alice.press(alice.button("✏️ 1"))
    await alice.press(alice.button("Modifier"))
    clock.advance(minutes=3)
    assert "Modifié" in await alice.say("des vélos partout")

    async with store.transaction() as tx:
        revisions = await tx.sessions.campaign_revisions(campaign.id)
    history = sorted((r.item_id, r.revision, r.text, r.deleted) for r in revisions)
    first_id = history[0][0]
    assert [h[1:] for h in history if h[0] == first_id] == [
        (1, "des vélos", False),
        (2, "des vélos partout", False),
    ]
    exported = await export_json(store, clock)
    assert [(r["text"], r["revision"]) for r in exported] == [
        ("des vélos partout", 2),
        ("des arbres", 1),
    ]
    assert exported[0]["updated_at"] != exported[0]["created_at"]


# ------------------------------------------------------------------ facilitators

FACILITATOR_COMMANDS = (
    "/campagnes",
    f"/lancer {SLUG}",
    f"/cloturer {SLUG}",
    f"/stats {SLUG}",
    f"/export {SLUG} json",
    "/campaigns",
    f"/close {SLUG}",
)


async def test_facilitator_commands_are_refused_to_citizens(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("une idée")
    async with store.transaction() as tx:
        flow = load_flow_text(FLOW, "mini.toml")
        await create_campaign(tx, slug="brouillon", flow=flow, title="Brouillon", now=clock())

    def state(snap: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
        return {k: v for k, v in snap.items() if k not in ("processed_messages", "outbox")}

    before = state(await snapshot(store))
    for command in (*FACILITATOR_COMMANDS, "/lancer brouillon"):
        text = await alice.say(command)
        assert "réservée" in text, command
        assert all(not r.attachments for r in alice.last), command
        assert SLUG not in text, command
    assert state(await snapshot(store)) == before


async def test_admin_runs_facilitator_commands(
    store: Store, campaign: CampaignRecord, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    service = Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",))
    alice, boss = Citizen(service, "alice"), Citizen(service, "boss")
    await alice.join()
    await alice.say("une idée")

    listing = await boss.say("/campagnes")
    assert SLUG in listing
    assert "[ouverte]" in listing
    assert "1" in await boss.say(f"/stats {SLUG}")

    await boss.say(f"/export {SLUG} json")
    (attachment,) = boss.last[0].attachments
    assert attachment.media_type == "application/json"
    assert [r["text"] for r in json.loads(attachment.data)] == ["une idée"]

    await boss.say(f"/cloturer {SLUG}")
    async with store.transaction() as tx:
        closed = await tx.campaigns.campaign_by_slug(SLUG)
    assert closed is not None
    assert closed.status is CampaignStatus.CLOSED
    assert "close" in await alice.say("encore une idée")
    assert await item_texts(store) == ["une idée"]


async def test_facilitator_granted_in_the_database_runs_commands(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    async with store.transaction() as tx:
        await tx.facilitators.grant_facilitator(UserRef(PLATFORM, "anim"), "test", clock())
    anim = Citizen(service, "anim")
    assert SLUG in await anim.say("/campaigns")


# ------------------------------------------------------------------ decided in one place

FRENCH_ONLY = """
id = "seul"
version = 1
languages = ["fr"]
title = "Seul"

[[steps]]
id = "avis"
kind = "text"
prompt = "Votre avis ?"
"""


async def test_a_language_the_flow_lacks_leaves_the_citizen_in_the_flow_language(
    store: Store, service: Service, clock: FixedClock
) -> None:
    """/langue was decided twice: the service switched the citizen to English, then the
    French-only flow refused it (and went on in French under English service messages)."""
    async with store.transaction() as tx:
        flow = load_flow_text(FRENCH_ONLY, "seul.toml")
        await create_campaign(tx, slug="seul", flow=flow, title="Seul", now=clock())
        await set_status(tx, "seul", CampaignStatus.OPEN, clock())
    alice = Citizen(service, "alice")
    assert "Votre avis ?" in await alice.say("/start seul")
    assert "/langue fr" in await alice.say("/langue en")
    (p,) = await rows(store, t.participants)
    assert p.language is None
    assert "ne recevrez plus" in await alice.say("/stop")  # still spoken to in French


async def test_an_unknown_command_in_a_closed_campaign_is_quoted_short(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    async with store.transaction() as tx:
        await set_status(tx, SLUG, CampaignStatus.CLOSED, clock())
    answer = await alice.say("/" + "x" * 3000)
    assert "Commande inconnue" in answer
    assert len(answer) < 400  # quoted as everywhere else, not echoed whole


async def test_help_lists_the_facilitator_commands_for_facilitators(
    store: Store, campaign: CampaignRecord, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    service = Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",))
    alice, boss = Citizen(service, "alice"), Citizen(service, "boss")
    await alice.join()
    await boss.join()
    assert "/campagnes" not in await alice.say("/aide")
    help_text = await boss.say("/aide")
    assert "/suivant" in help_text
    assert "/campagnes" in help_text
    assert "/facilitateur" in help_text

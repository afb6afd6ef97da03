"""/oublier and platform redactions leave no trace of the citizen in any row (SQLite, PostgreSQL).

What the raw bytes of a SQLite file hold (freed pages, the WAL) is tested with real processes in
tests/integration/test_erasure_process.py; here every row of every table is read back.
"""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import insert, select

from qn_bot.campaigns import set_status
from qn_bot.config import Config, TeamConfig
from qn_bot.digest.period import current_period
from qn_bot.digest.send import send_digest
from qn_bot.domain import Address, CampaignStatus, InboundKind, InboundMessage, UserRef
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.kv import StoreKeyValue
from qn_bot.store.sql import Store
from tests.conftest import T0, FixedClock, Pseudonyms
from tests.contract.test_service import PLATFORM, SLUG, Citizen, open_campaign

MARKER = "Zéphyrine veut des jardins partagés au marqueur 83b1"
REVISED = "Zéphyrine revue au marqueur 83b2"
SIGNATURE = "Zéphyrine Signataire 83b3"
CITIZEN_ID = "zephyrine-7q4k"
TEAM_ROOM = Address("matrix", "!team-room:example.org")
TEAM_MAIL = Address("mailto", "equipe@example.org")
#: Matrix configured, so that the team's room is a destination this bot can reach.
MATRIX = {"homeserver": "http://127.0.0.1:9", "user_id": "@qn-bot:example.org", "password": "x"}


@pytest.fixture
async def campaign(store: Store, clock: FixedClock) -> CampaignRecord:
    # A threshold of one: the digest must show her words before she asks for their erasure.
    return await open_campaign(store, clock, min_respondents=1)


def team() -> TeamConfig:
    return TeamConfig(
        name="equipe",
        campaigns=(SLUG,),
        destinations=(str(TEAM_ROOM), str(TEAM_MAIL)),
        min_respondents=1,
    )


async def everything(store: Store) -> str:
    """Every row of every table as text, outbox attachments decoded: what a person reading
    the database (or a backup of it) could find."""
    out: list[str] = []
    async with store.transaction() as tx:
        for table in t.metadata.sorted_tables:
            for row in (await tx.conn.execute(select(table))).all():
                out.append(f"{table.name}: {tuple(row)!r}")
                if table is t.outbox and row.payload is not None:
                    payload = row.payload
                    out.append(json.dumps(payload, ensure_ascii=False))
                    for attachment in payload.get("attachments", []):
                        out.extend(readable(attachment))
    return "\n".join(out)


def readable(attachment: dict[str, Any]) -> list[str]:
    """An outbox attachment as a person would read it: an e-mail's parts decoded (its text is
    quoted-printable or base64 on the wire)."""
    data = bytes.fromhex(attachment["data"])
    if attachment["media_type"] != "message/rfc822":
        return [data.decode(errors="replace")]
    parts = email.message_from_bytes(data, policy=email.policy.default).walk()
    contents = [part.get_content() for part in parts if not part.is_multipart()]
    return [c if isinstance(c, str) else c.decode(errors="replace") for c in contents]


def traces(dump: str) -> list[str]:
    needles = (MARKER, REVISED, CITIZEN_ID, SIGNATURE, "83b1", "83b2", "83b3")
    return [needle for needle in needles if needle in dump]


async def outbox_rows(store: Store, *where: Any) -> list[Any]:
    async with store.transaction() as tx:
        stmt = select(t.outbox).where(*where).order_by(t.outbox.c.id)
        return list((await tx.conn.execute(stmt)).all())


async def deliver(store: Store, clock: FixedClock, chat: Address) -> None:
    """What the outbox worker does with a chat's next message: claim it, send it, ack it."""
    async with store.transaction() as tx:
        (row,) = await tx.outbox.claim_outbox(
            clock(), limit=1, lease=timedelta(seconds=60), platforms=[PLATFORM], chat=chat
        )
        await tx.outbox.outbox_sent(row.id, clock())


def edit(citizen: Citizen, target: str, text: str) -> InboundMessage:
    return replace(citizen.message(text, kind=InboundKind.EDIT), target_message_id=target)


def redaction(citizen: Citizen, target: str) -> InboundMessage:
    return replace(citizen.message(kind=InboundKind.DELETE), target_message_id=target)


async def test_forget_leaves_no_trace_in_any_row(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    await open_campaign(store, clock, min_respondents=1)
    service = Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",))
    zephyrine, bob, boss = (
        Citizen(service, CITIZEN_ID),
        Citizen(service, "bob"),
        Citizen(service, "boss"),
    )
    await zephyrine.join()
    await zephyrine.say(f"/signer {SIGNATURE}")
    answer = zephyrine.message(MARKER)
    await zephyrine.send(answer)
    # An edit on the platform: a second revision of the same item.
    await zephyrine.send(edit(zephyrine, answer.message_id, REVISED))
    await bob.join()
    await bob.say("L'idée de Bob reste")
    # Adapter state about her (e.g. a Matrix invitation she has not accepted yet).
    kv = StoreKeyValue(store, clock, "adapter:test")
    await kv.set("pending_dm:room-z", {"user": CITIZEN_ID}, about=zephyrine.user)
    await kv.set("pending_dm:room-b", {"user": "bob"}, about=bob.user)

    # A facilitator's export, sent already (and kept: [retention] sent_payload_hours > 0)…
    await boss.say(f"/export {SLUG} md")
    sent_export = (await outbox_rows(store, t.outbox.c.chat_id == "chat-boss"))[-1]
    async with store.transaction() as tx:
        await tx.outbox.outbox_sent(sent_export.id, clock(), keep_payload=True)
    # … another one still waiting to be sent, and the team's digest queued.
    await boss.say(f"/export {SLUG} json")
    config = Config.model_validate({"matrix": MATRIX, "teams": [team()]})
    period = current_period(team(), clock())
    assert await send_digest(store, config, team(), clock(), late=False, period=period)
    (digest,) = await outbox_rows(store, t.outbox.c.chat_id == TEAM_ROOM.chat_id)
    assert REVISED in digest.payload["text"]
    (email,) = await outbox_rows(store, t.outbox.c.chat_id == TEAM_MAIL.chat_id)
    assert REVISED in "\n".join(readable(email.payload["attachments"][0]))
    dump = await everything(store)
    assert MARKER in dump
    assert REVISED in dump
    assert SIGNATURE in dump

    await zephyrine.say("/oublier")
    assert "effacé" in await zephyrine.press("forget_yes")
    # Her goodbye still has to reach her; once it has, nothing names her any more.
    (goodbye,) = await outbox_rows(
        store, t.outbox.c.status == "pending", t.outbox.c.chat_id == zephyrine.address.chat_id
    )
    assert "effacé" in goodbye.payload["text"]
    await deliver(store, clock, zephyrine.address)

    assert traces(await everything(store)) == []
    # What others are owed is still sent, without her words: the digest keeps its other
    # lines, a file that held her words is taken out and the message says so.
    (digest,) = await outbox_rows(store, t.outbox.c.chat_id == TEAM_ROOM.chat_id)
    assert digest.status == "pending"
    assert "L'idée de Bob reste" in digest.payload["text"]
    assert "[…]" in digest.payload["text"]
    pending_export = (await outbox_rows(store, t.outbox.c.chat_id == "chat-boss"))[-1]
    assert pending_export.status == "pending"
    assert pending_export.payload["attachments"] == []
    assert "mini-2030.json" in pending_export.payload["text"]
    # The team's e-mail held her words in its encoded parts: it goes without them too.
    (email,) = await outbox_rows(store, t.outbox.c.chat_id == TEAM_MAIL.chat_id)
    assert email.status == "pending"
    assert email.payload["attachments"] == []
    assert "digest.eml" in email.payload["text"]
    # Bob and his state are untouched.
    async with store.transaction() as tx:
        assert await tx.participants.participant(bob.user) is not None
        assert await tx.kv.kv_get("adapter:test:pending_dm:room-b") == {"user": "bob"}


async def test_forget_erases_the_key_of_every_message_and_a_redelivery_changes_nothing(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    """Processed-message keys hold platform ids (Telegram's are ``<chat id>:<message id>``):
    after /oublier none is left as such, yet the confirmation's redelivery is still a no-op."""
    zephyrine = Citizen(service, CITIZEN_ID)
    await zephyrine.join()
    await zephyrine.say(MARKER)
    await zephyrine.say("/oublier")
    confirm = zephyrine.message(kind=InboundKind.CHOICE, choice_id="forget_yes")
    await service.handle(confirm)
    await deliver(store, clock, zephyrine.address)
    assert traces(await everything(store)) == []
    async with store.transaction() as tx:
        keys = (await tx.conn.execute(select(t.processed_messages.c.message_id))).scalars()
        assert not any(CITIZEN_ID in key for key in keys)
    assert (await service.handle(confirm)).duplicate
    async with store.transaction() as tx:
        assert await tx.participants.participant(zephyrine.user) is None


async def test_a_platform_redaction_erases_the_text_of_every_revision(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    zephyrine = Citizen(service, CITIZEN_ID)
    await zephyrine.join()
    answer = zephyrine.message(MARKER)
    await zephyrine.send(answer)
    await zephyrine.say("Une autre idée")
    await zephyrine.send(edit(zephyrine, answer.message_id, REVISED))
    assert REVISED in await everything(store)

    await zephyrine.send(redaction(zephyrine, answer.message_id))
    assert "supprim" in "\n".join(r.text for r in zephyrine.last).casefold()

    dump = await everything(store)
    assert MARKER not in dump
    assert REVISED not in dump
    async with store.transaction() as tx:
        items = (await tx.conn.execute(select(t.items).order_by(t.items.c.id))).all()
        revisions = (await tx.conn.execute(select(t.item_revisions))).all()
    # The item and its history stay (counts, revision numbers), their texts do not.
    assert [(i.text, i.deleted_at is not None) for i in items] == [
        ("", True),
        ("Une autre idée", False),
    ]
    assert sorted(r.text for r in revisions) == ["", "", "", "Une autre idée"]


async def test_a_pending_message_of_the_citizen_herself_loses_her_redacted_text(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    zephyrine = Citizen(service, CITIZEN_ID)
    await zephyrine.join()
    answer = zephyrine.message(MARKER)
    await zephyrine.send(answer)
    await zephyrine.say("/mes_reponses")  # the review, not sent yet, lists her answer
    assert MARKER in await everything(store)
    await zephyrine.send(redaction(zephyrine, answer.message_id))
    assert MARKER not in await everything(store)


async def test_database_errors_do_not_carry_the_values_into_logs(store: Store) -> None:
    """A failed statement's error names the statement, not its values (user ids, answers):
    such errors end up in the log (app.py logs a message that failed)."""
    user = UserRef(PLATFORM, CITIZEN_ID)
    async with store.transaction() as tx:
        await tx.participants.create_participant(
            user, Address(PLATFORM, CITIZEN_ID), T0, language=None
        )
    with pytest.raises(sqlalchemy.exc.IntegrityError) as failed:
        async with store.transaction() as tx:
            await tx.conn.execute(
                insert(t.participants).values(
                    platform=PLATFORM,
                    platform_user_id=CITIZEN_ID,
                    pseudonym="P-TWICE",
                    reply_chat_id=CITIZEN_ID,
                    stopped=False,
                    unreachable=False,
                    created_at=T0,
                    updated_at=T0,
                )
            )
    assert CITIZEN_ID not in str(failed.value)
    assert CITIZEN_ID not in repr(failed.value)


async def test_a_redaction_after_the_campaign_closed_still_erases_the_words(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    """Closing a campaign freezes what it collected, but a citizen withdrawing what they wrote
    is their right, as /oublier is."""
    zephyrine = Citizen(service, CITIZEN_ID)
    await zephyrine.join()
    answer = zephyrine.message(MARKER)
    await zephyrine.send(answer)
    async with store.transaction() as tx:
        await set_status(tx, SLUG, CampaignStatus.CLOSED, clock())
    await zephyrine.send(redaction(zephyrine, answer.message_id))
    assert MARKER not in await everything(store)
    async with store.transaction() as tx:
        assert await tx.sessions.campaign_items(campaign.id) == []

"""Digests end to end on a real database and a real SMTP server (aiosmtpd on loopback).

Each test runs on SQLite and, when QN_BOT_TEST_POSTGRES_URL is set, on PostgreSQL
(``database_url`` of tests/conftest.py).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from qn_bot.adapters.email import EmailAdapter
from sqlalchemy import select

from qn_bot.app import Application
from qn_bot.cli_digest import cmd_digest_preview, cmd_digest_send
from qn_bot.config import Config, SmtpConfig
from qn_bot.digest.period import completed_period
from qn_bot.digest.send import (
    catch_up,
    digest_status,
    last_sent_period,
    preview_digest,
    send_digest,
)
from qn_bot.domain import Address, CampaignStatus, Envelope, OutboundMessage, UserRef
from qn_bot.errors import CampaignError, TransientDeliveryError
from qn_bot.exporters import export_campaign
from qn_bot.flows.format import Flow, StepKind
from qn_bot.flows.loader import resolve_flow
from qn_bot.outbox import OutboxWorker
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from qn_bot.synthesis import same_heading, step_heading
from tests.contract.test_service import Citizen
from tests.integration.processes import QnBot

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
MAIL = "equipe@example.org"
MARKUP = '<script>alert("x")</script><img src=x onerror=alert(2)> R&D'
SECRET_ID = "777000111"


# --- a real SMTP server ---------------------------------------------------------------------------


@dataclass
class Handler:
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: int = 0  # refuse this many messages with a 451 first
    refuse_for: dict[str, int] = field(default_factory=dict)  # address → 451s before accepting
    unknown: set[str] = field(default_factory=set)  # addresses refused for good (550)
    delay: float = 0.0  # hold DATA this long after recording the message (to crash the client)
    received: threading.Event = field(default_factory=threading.Event)
    refused_ids: list[str] = field(default_factory=list)  # Message-IDs of refused attempts

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        (recipient,) = envelope.rcpt_tos
        if self.refuse or self.refuse_for.get(recipient, 0):
            if self.refuse:
                self.refuse -= 1
            else:
                self.refuse_for[recipient] -= 1
            self.refused_ids.append(str(message["Message-ID"]))
            return "451 4.3.0 try again later"
        self.messages.append(message)
        self.received.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Handler, int]]:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def make_config(db: str, port: int) -> Config:
    return Config.model_validate(
        {
            "database": {"url": db},
            "smtp": {"host": "127.0.0.1", "port": port, "from": "qn-bot@example.org"},
            # Configured, so that their destinations are reachable (nothing connects here).
            "telegram": {"token": "123456:TEST-not-used"},
            "matrix": {
                "homeserver": "http://127.0.0.1:9",
                "user_id": "@qn-bot:example.org",
                "password": "not-used",
            },
            "teams": [
                {
                    "name": "equipe-2030",
                    "campaigns": ["construire-2030"],
                    "destinations": [
                        "matrix:!salle:example.org",
                        "telegram:-1001234567",
                        f"mailto:{MAIL}",
                    ],
                    "weekday": "monday",
                    "time": "09:00",
                    "timezone": "Europe/Paris",
                    "language": "fr",
                    "min_respondents": 3,
                }
            ],
        }
    )


@pytest.fixture
async def db(migrated_url: str) -> str:
    """The URL of this test's migrated database."""
    return migrated_url


@pytest.fixture
async def store(db: str) -> AsyncIterator[Store]:
    s = Store.from_url(db)
    yield s
    await s.close()


# --- the seed page's bullets as answers -----------------------------------------------------------


def seed_flow() -> Flow:
    return resolve_flow("construire-2030")


async def fill_with_seed(store: Store, at: datetime) -> Flow:
    """Three participants answer every list step with the seed page's bullets; the campaign's
    threshold is 3, as the team's."""
    flow = seed_flow()
    async with store.transaction() as tx:
        c = await tx.campaigns.create_campaign(
            slug="construire-2030",
            title="Construire 2030",
            flow_id=flow.id,
            flow_version=flow.version,
            flow_source=flow.source,
            now=at - timedelta(days=30),
            edition="Think Small 2016-2017",
            status=CampaignStatus.OPEN,
            min_respondents=3,
        )
        people = []
        for n in range(3):
            p = await tx.participants.create_participant(
                UserRef("telegram", f"{SECRET_ID}{n}"),
                Address("telegram", f"{SECRET_ID}{n}"),
                at,
                language="fr",
            )
            status = "completed" if n == 0 else "active"
            session = await tx.sessions.save_session(
                p.id, c.id, {}, at, status=status, step_id=None
            )
            await tx.sessions.record_consent(session, flow.version, at)
            people.append((p.id, session))
        seq = 0
        for step in flow.steps:
            if step.kind is not StepKind.LIST:
                continue
            for k, text in enumerate(step.examples.get("fr", ())):
                participant, session = people[k % 3]
                seq += 1
                await tx.sessions.add_item(
                    session_id=session,
                    campaign_id=c.id,
                    participant_id=participant,
                    seq=seq,
                    step_id=step.id,
                    text=text,
                    value=None,
                    now=at + timedelta(minutes=seq),
                )
        participant, session = people[1]
        await tx.sessions.add_item(
            session_id=session,
            campaign_id=c.id,
            participant_id=participant,
            seq=seq + 1,
            step_id="acteurs",
            text=MARKUP,
            value=None,
            now=at + timedelta(minutes=seq + 1),
        )
    return flow


def seed_headings(flow: Flow) -> list[str]:
    headings: list[str] = []
    for step in flow.steps:
        # A part that says what its first section says is shown once, as the section's title.
        if step.part is not None and not same_heading(
            step.part.get("fr"), step_heading(step, "fr")
        ):
            headings.append(step.part.get("fr"))
        if step.kind is StepKind.LIST:
            headings.append(step_heading(step, "fr"))
    return list(dict.fromkeys(headings))


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.data.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.data).split())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def squash(text: str) -> str:
    return " ".join(text.split())


async def deliver(store: Store, config: Config, **worker: Any) -> None:
    """What the running bot's outbox worker does with the e-mails queued, until none is due."""
    sender = OutboxWorker(
        store, {"mailto": EmailAdapter(config.smtp)}, config=config.outbox, **worker
    )
    await sender.drain(within=60)


async def outbox_rows(store: Store) -> list[Any]:
    async with store.transaction() as tx:
        return list((await tx.conn.execute(select(t.outbox).order_by(t.outbox.c.id))).all())


# --- tests ----------------------------------------------------------------------------------------


async def test_digest_of_the_seed_reaches_chats_and_email(
    store: Store, db: str, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    period = completed_period(team, NOW)
    flow = await fill_with_seed(store, period.start + timedelta(days=1))

    assert await send_digest(store, config, team, NOW, late=False)
    assert handler.messages == []  # queued: the outbox worker sends it
    await deliver(store, config)

    # One e-mail: multipart/alternative text + HTML, the chart inline, the synthesis attached.
    assert len(handler.messages) == 1
    msg = handler.messages[0]
    assert msg["To"] == MAIL
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/mixed"
    alternative = next(p for p in msg.walk() if p.get_content_type() == "multipart/alternative")
    kinds = [p.get_content_type() for p in alternative.iter_parts()]
    assert kinds == ["text/plain", "multipart/related"]
    plain = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    assert plain is not None
    assert html_part is not None
    text = plain.get_content()
    html = html_part.get_content()
    page = parse(html)
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    cid = images[0]["Content-ID"].strip("<>")
    assert images[0].get_content().startswith(b"\x89PNG")
    assert [a.get("src") for tag, a in page.tags if tag == "img"] == [f"cid:{cid}"]
    attachments = [p for p in msg.iter_attachments() if p.get_filename()]
    assert [a.get_filename() for a in attachments] == ["synthese-construire-2030.html"]
    synthesis = attachments[0].get_content()
    synthesis = synthesis.decode() if isinstance(synthesis, bytes) else synthesis
    assert "Dernière mise à jour le" in synthesis

    # Every section heading of the seed, in the text, the HTML and the synthesis.
    for heading in seed_headings(flow):
        assert squash(heading) in squash(text), heading
        assert squash(heading) in page.text, heading
        assert squash(heading) in parse(synthesis).text, heading
    assert "Thèmes récurrents" in text

    # Participant markup is text everywhere; no platform id, no pseudonym.
    assert ("script", {}) not in page.tags
    assert all(tag != "img" or a.get("src", "").startswith("cid:") for tag, a in page.tags)
    assert "<script>" not in html
    assert "<script>" not in synthesis
    assert "&lt;script&gt;alert" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    for part in (text, html, synthesis):
        assert SECRET_ID not in part
        assert "P-" not in part
    rows = await outbox_rows(store)
    assert sorted((r.platform, r.chat_id, r.dedupe_key, r.status) for r in rows) == [
        ("mailto", MAIL, f"{period.key}:mailto:{MAIL}", "sent"),
        ("matrix", "!salle:example.org", f"{period.key}:matrix:!salle:example.org", "pending"),
        ("telegram", "-1001234567", f"{period.key}:telegram:-1001234567", "pending"),
    ]
    message = OutboundMessage.from_json(rows[0].payload)
    assert [a.media_type for a in message.attachments] == ["image/png", "text/html"]
    assert MARKUP in message.text  # plain text: each adapter escapes it for its markup
    assert SECRET_ID not in message.text
    for heading in seed_headings(flow):
        assert squash(heading) in squash(message.text)

    # Once per period: a second send does nothing.
    assert not await send_digest(store, config, team, NOW + timedelta(hours=1), late=False)
    await deliver(store, config)
    assert len(handler.messages) == 1
    assert len(await outbox_rows(store)) == 3
    assert await last_sent_period(store, team.name) == period.start_date

    preview = await preview_digest(store, config, team, NOW)
    assert "## Construire 2030" in preview
    assert SECRET_ID not in preview


async def test_two_processes_send_once(db: str, smtp: tuple[Handler, int]) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    first, second = Store.from_url(db), Store.from_url(db)
    try:
        await fill_with_seed(first, completed_period(team, NOW).start + timedelta(hours=2))
        results = await asyncio.gather(
            send_digest(first, config, team, NOW, late=False),
            send_digest(second, config, team, NOW, late=False),
        )
        assert sorted(results) == [False, True]
        await asyncio.gather(deliver(first, config), deliver(second, config))
        assert len(handler.messages) == 1
        assert len(await outbox_rows(first)) == 3
        # At restart both look for missed digests: nothing is missed, nothing resent.
        results = await asyncio.gather(
            catch_up(first, config, NOW + timedelta(minutes=30)),
            catch_up(second, config, NOW + timedelta(minutes=30)),
        )
        assert results == [[], []]
        await deliver(first, config)
        assert len(handler.messages) == 1
        # The claim alone decides: a process that claimed next week's job, and has not yet
        # recorded anything else, keeps every other process from sending it.
        later = NOW + timedelta(days=7)
        async with second.transaction() as tx:
            assert await tx.idempotency.claim_job(completed_period(team, later).key, "other", later)
        assert not await send_digest(first, config, team, later, late=False)
        await deliver(first, config)
        assert len(handler.messages) == 1
        assert len(await outbox_rows(first)) == 3
    finally:
        await first.close()
        await second.close()


async def test_a_missed_digest_is_sent_once_marked_late(
    store: Store, db: str, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    period = completed_period(team, NOW)
    await fill_with_seed(store, period.start + timedelta(days=1))
    # The previous week's digest went out on time; then the bot was down on Monday.
    assert await send_digest(store, config, team, NOW - timedelta(days=7), late=False)
    await deliver(store, config)
    assert len(handler.messages) == 1
    assert not handler.messages[0]["Subject"].startswith("[en retard]")

    assert await catch_up(store, config, NOW) == [period.key]
    await deliver(store, config)
    assert len(handler.messages) == 2
    late = handler.messages[1]
    assert late["Subject"].startswith("[en retard]")
    body = late.get_body(("plain",))
    assert body is not None
    assert "En retard" in body.get_content()
    rows = await outbox_rows(store)
    assert len(rows) == 6
    late_chat = [r for r in rows if r.platform == "matrix"][-1]
    assert "En retard" in OutboundMessage.from_json(late_chat.payload).text

    # A second restart, or the scheduler's own run, sends nothing more.
    assert await catch_up(store, config, NOW + timedelta(hours=1)) == []
    assert not await send_digest(store, config, team, NOW + timedelta(hours=1), late=False)
    await deliver(store, config)
    assert len(handler.messages) == 2
    assert len(await outbox_rows(store)) == 6


async def test_a_refused_email_is_retried_by_the_running_bot_with_backoff(
    store: Store, db: str, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    await fill_with_seed(store, completed_period(team, NOW).start + timedelta(days=1))
    handler.refuse = 2  # the server refuses the first attempts (451: try again later)
    # The running bot: its outbox worker and the e-mail adapter (no digest schedule of its own).
    bot = Config.model_validate(
        {"database": {"url": db}, "outbox": {"backoff_base_seconds": 0.2}, "smtp": config.smtp}
    )
    async with Application(bot, [EmailAdapter(config.smtp)]) as app:
        assert await send_digest(app.store, config, team, NOW, late=False)
        app.worker.notify()
        assert await asyncio.to_thread(handler.received.wait, 60)
    assert len(handler.messages) == 1
    assert len(handler.refused_ids) == 2
    # Every attempt carried the same message, Message-ID included.
    assert set(handler.refused_ids) == {handler.messages[0]["Message-ID"]}
    status = await digest_status(store, team.name)
    assert status is not None
    mail = next(d for d in status.deliveries if d.destination == f"mailto:{MAIL}")
    assert (mail.status, mail.attempts) == ("sent", 3)
    # Sent: never again, whatever restarts.
    await catch_up(store, config, NOW + timedelta(hours=1))
    await deliver(store, config)
    assert len(handler.messages) == 1


async def test_a_crash_while_sending_resends_once_with_the_same_message_id(
    store: Store, db: str, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    await fill_with_seed(store, completed_period(team, NOW).start + timedelta(days=1))
    assert await send_digest(store, config, team, NOW, late=False)
    handler.delay = 1.0  # the server holds its reply: the client dies before hearing it
    task = asyncio.create_task(deliver(store, config))
    assert await asyncio.to_thread(handler.received.wait, 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    handler.delay = 0.0
    assert len(handler.messages) == 1
    # Another worker leaves the row alone while the dead one's lease runs…
    await deliver(store, config)
    assert len(handler.messages) == 1
    # …and sends it once the lease is over, as the same message.
    await deliver(store, config, clock=lambda: datetime.now(UTC) + timedelta(minutes=2))
    assert len(handler.messages) == 2
    assert handler.messages[0]["Message-ID"] == handler.messages[1]["Message-ID"]
    await deliver(store, config, clock=lambda: datetime.now(UTC) + timedelta(minutes=5))
    assert len(handler.messages) == 2


async def test_cli_preview_and_send(
    store: Store,
    db: str,
    smtp: tuple[Handler, int],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    now = datetime.now(UTC)
    flow = await fill_with_seed(store, completed_period(team, now).start + timedelta(hours=1))

    assert await cmd_digest_preview(argparse.Namespace(team="equipe-2030"), config) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Digest hebdomadaire — équipe equipe-2030")
    for heading in seed_headings(flow):
        assert squash(heading) in squash(out)
    assert handler.messages == []
    # --chart writes the chart the team will see (one campaign: the file named).
    chart = tmp_path / "semaine.png"
    preview = argparse.Namespace(team="equipe-2030", chart=str(chart))
    assert await cmd_digest_preview(preview, config) == 0
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert str(chart) in capsys.readouterr().err

    assert await cmd_digest_send(argparse.Namespace(team="equipe-2030"), config) == 0
    out = capsys.readouterr().out
    assert "queued for matrix:!salle:example.org" in out
    assert f"e-mail to {MAIL}: sent" in out
    assert len(handler.messages) == 1
    assert await cmd_digest_send(argparse.Namespace(team="equipe-2030", force=False), config) == 0
    assert "already sent" in capsys.readouterr().err
    assert len(handler.messages) == 1
    assert await cmd_digest_send(argparse.Namespace(team="equipe-2030", force=True), config) == 0
    assert len(handler.messages) == 2
    assert len(await outbox_rows(store)) == 6
    with pytest.raises(CampaignError, match="no team named 'nope'"):
        await cmd_digest_send(argparse.Namespace(team="nope"), config)


async def test_a_restart_just_after_the_send_time_is_not_late(
    store: Store, db: str, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    period = completed_period(team, NOW)
    await fill_with_seed(store, period.start + timedelta(days=1))
    assert await send_digest(store, config, team, period.start + timedelta(hours=1), late=False)
    assert await catch_up(store, config, period.end + timedelta(minutes=1)) == [period.key]
    await deliver(store, config)
    assert len(handler.messages) == 2
    assert not handler.messages[1]["Subject"].startswith("[en retard]")


async def test_nothing_is_sent_for_a_closed_campaign_without_news(
    store: Store, db: str, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    await fill_with_seed(store, NOW - timedelta(days=60))
    async with store.transaction() as tx:
        campaign = await tx.campaigns.campaign_by_slug("construire-2030")
        assert campaign is not None
        await tx.campaigns.set_campaign_status(campaign.id, CampaignStatus.CLOSED, NOW)
    assert await send_digest(store, config, team, NOW, late=False)
    assert handler.messages == []
    assert await outbox_rows(store) == []
    status = await digest_status(store, team.name)
    assert status is not None
    assert status.quiet
    assert status.deliveries == ()


async def test_digest_send_names_what_failed_and_a_bad_address_costs_the_others_nothing(
    store: Store, db: str, smtp: tuple[Handler, int], tmp_path: Any
) -> None:
    """A real `qn-bot digest send`: one address unknown to the server (550), one refused once
    (451), one configured platform missing; the running bot then retries what can be."""
    handler, port = smtp
    good, later, bad = "a@example.org", "b@example.org", "inconnu@example.org"
    handler.unknown = {bad}
    handler.refuse_for = {later: 1}
    config_file = tmp_path / "qn_bot.toml"
    config_file.write_text(
        f'[database]\nurl = "{db}"\n\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nfrom = "qn-bot@example.org"\n\n'
        '[[teams]]\nname = "equipe-2030"\ncampaigns = ["construire-2030"]\n'
        f'destinations = ["mailto:{good}", "mailto:{bad}", "mailto:{later}", '
        '"matrix:!salle:example.org"]\n',
        encoding="utf-8",
    )
    config = make_config(db, port)
    now = datetime.now(UTC)
    await fill_with_seed(store, completed_period(config.teams[0], now).start + timedelta(hours=1))

    result = await asyncio.to_thread(QnBot(tmp_path, config_file), "digest", "send", "equipe-2030")
    assert result.rc == 1, str(result)
    assert "Traceback" not in result.stderr
    assert f"e-mail to {good}: sent" in result.stdout
    assert f"e-mail to {bad}: failed, not retried: SMTP 127.0.0.1:{port}: 550" in result.stdout
    assert f"e-mail to {later}: not sent yet (1 of 8 attempts)" in result.stdout
    assert "451" in result.stdout
    assert (
        "matrix:!salle:example.org: cannot be reached: no [matrix] account is configured"
        in result.stdout
    )
    assert "error: the digest did not reach 3 destination(s)" in result.stderr
    assert [len(handler.to(a)) for a in (good, later, bad)] == [1, 0, 0]

    # The running bot retries the one that can still go, with the same Message-ID.
    await deliver(store, config, clock=lambda: datetime.now(UTC) + timedelta(seconds=5))
    assert [len(handler.to(a)) for a in (good, later, bad)] == [1, 1, 0]
    assert handler.refused_ids == [handler.to(later)[0]["Message-ID"]]
    rows = await outbox_rows(store)
    assert sorted((r.chat_id, r.status) for r in rows) == [
        (good, "sent"),
        (later, "sent"),
        (bad, "failed"),
    ]


LONE = "Le projet secret de Paul"


async def test_a_lone_respondent_is_in_no_public_output(
    store: Store, db: str, smtp: tuple[Handler, int]
) -> None:
    """One citizen answered every question. The digest counts them, and nothing it sends or
    shows (e-mail text, HTML, attached synthesis; the rooms' message and its files; /digest in a
    facilitator's chat; the preview) holds a word of theirs. The facilitator's export does."""
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    period = completed_period(team, NOW)
    flow = seed_flow()
    async with store.transaction() as tx:
        c = await tx.campaigns.create_campaign(
            slug="construire-2030",
            title="Construire 2030",
            flow_id=flow.id,
            flow_version=flow.version,
            flow_source=flow.source,
            now=period.start - timedelta(days=30),
            status=CampaignStatus.OPEN,
        )
        p = await tx.participants.create_participant(
            UserRef("telegram", SECRET_ID),
            Address("telegram", SECRET_ID),
            period.start,
            language="fr",
        )
        at = period.start + timedelta(days=1)
        session = await tx.sessions.save_session(
            p.id, c.id, {}, at, status="completed", step_id=None
        )
        await tx.sessions.record_consent(session, flow.version, at)
        for seq, step in enumerate(flow.steps, start=1):
            if step.kind is StepKind.LIST:
                await tx.sessions.add_item(
                    session_id=session,
                    campaign_id=c.id,
                    participant_id=p.id,
                    seq=seq,
                    step_id=step.id,
                    text=f"{LONE} ({step.id}), projet secret",
                    value=None,
                    now=at + timedelta(minutes=seq),
                )

    assert await send_digest(store, config, team, NOW, late=False)
    chat_rows = [r for r in await outbox_rows(store) if r.platform != "mailto"]
    await deliver(store, config)
    (msg,) = handler.messages
    plain, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None
    assert html_part is not None
    outputs = {"text": plain.get_content(), "html": html_part.get_content()}
    for part in msg.iter_attachments():
        data = part.get_content()
        if part.get_content_type() == "text/html":
            outputs["attachment"] = data.decode() if isinstance(data, bytes) else data
    assert len(outputs) == 3
    for row in chat_rows:  # the Matrix room and the Telegram group
        message = OutboundMessage.from_json(row.payload)
        outputs[f"chat {row.chat_id}"] = message.text
        for a in message.attachments:
            if a.media_type == "text/html":
                outputs[f"chat {row.chat_id} {a.filename}"] = a.data.decode()
    boss = Citizen(
        Service(store, clock=lambda: NOW, admins=("test:boss",), teams=config.teams), "boss"
    )
    outputs["/digest"] = await boss.say("/digest")
    for reply in boss.last:
        for a in reply.attachments:
            if a.media_type == "text/html":
                outputs[f"/digest {a.filename}"] = a.data.decode()
    outputs["preview"] = await preview_digest(store, config, team, NOW)
    assert len(outputs) == 10
    for name, output in outputs.items():
        assert "secret" not in output.lower(), name
        assert SECRET_ID not in output, name
    # Counts are there: the campaign's own threshold (5 by default) is stricter than the team's.
    assert "Moins de 5 répondants" in outputs["text"]
    assert "Nouvelles contributions\u00a0: " in outputs["text"]
    assert "1 contribution — moins de 5 participants ont répondu ici" in squash(
        outputs["attachment"]
    )
    async with store.transaction() as tx:  # the data controller's copy keeps everything
        assert LONE in await export_campaign(tx, "construire-2030", "md")


async def test_healthz_says_smtp_is_unreachable_until_a_send_goes_through() -> None:
    """/healthz asks every adapter: the e-mail adapter answers from its last attempt (digests are
    when it talks to the server), so a server down when a digest is due shows, and clears once
    a send goes through."""
    port = free_port()
    adapter = EmailAdapter(SmtpConfig(host="127.0.0.1", port=port), timeout=5)
    envelope = Envelope(1, Address("mailto", "equipe@example.org"), OutboundMessage("Bonjour"))
    assert adapter.health() is None  # nothing tried yet
    with pytest.raises(TransientDeliveryError):
        await adapter.send(envelope)
    reason = adapter.health()
    assert reason is not None
    assert f"127.0.0.1:{port}" in reason
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await adapter.send(envelope)
    finally:
        controller.stop()
    assert adapter.health() is None
    assert len(handler.messages) == 1


# --- themes across weeks and links between sections (issue 14 §4, §5) ---------------------------

CARS = ("la voiture en ville", "une voiture par foyer", "voiture individuelle")
SHOPS = ("les petits commerces", "commerces de quartier", "commerces du centre")
BIKES = ("le vélo partout", "un vélo cargo", "vélo électrique")
ONLINE = ("achats en ligne", "commandes en ligne", "services en ligne")
HOUSING = ("des logements", "logements sociaux", "logements partagés")


def planted(axis: int, seed: int) -> bytes:
    """A vector of one planted topic (one direction, a little noise): no model runs here."""
    import numpy as np

    from qn_bot.themes.embedding import DIMENSIONS, quantise

    rng = np.random.default_rng(seed)
    v = np.zeros(DIMENSIONS, dtype=np.float32)
    v[axis] = 1.0
    return quantise(v + rng.normal(0, 0.03, DIMENSIONS).astype(np.float32))


async def fill_with_topics(store: Store, period_start: datetime, previous_start: datetime) -> None:
    """Construire 2030 over two weeks, embedded: the week before, six citizens see cycling
    born and six housing; the week, six see cars die and cycling born, six shops die and
    buying online born."""
    from qn_bot.records import ItemVector
    from qn_bot.themes.embedding import MODEL_NAME

    flow = seed_flow()
    topics = {0: BIKES, 1: ONLINE, 2: HOUSING, 3: CARS, 4: SHOPS}
    plans = [(previous_start, {"nait": 0}), (previous_start, {"nait": 2})] * 6
    plans += [(period_start, {"meurt": 3, "nait": 0}), (period_start, {"meurt": 4, "nait": 1})] * 6
    async with store.transaction() as tx:
        c = await tx.campaigns.create_campaign(
            slug="construire-2030",
            title="Construire 2030",
            flow_id=flow.id,
            flow_version=flow.version,
            flow_source=flow.source,
            now=previous_start - timedelta(days=30),
            status=CampaignStatus.OPEN,
            min_respondents=3,
        )
        for n, (at, said) in enumerate(plans):
            p = await tx.participants.create_participant(
                UserRef("telegram", f"{SECRET_ID}{n}"),
                Address("telegram", f"{SECRET_ID}{n}"),
                at,
                language="fr",
            )
            session = await tx.sessions.save_session(
                p.id, c.id, {}, at, status="completed", step_id=None
            )
            await tx.sessions.record_consent(session, flow.version, at)
            for seq, (step, axis) in enumerate(said.items(), start=1):
                await tx.sessions.add_item(
                    session_id=session,
                    campaign_id=c.id,
                    participant_id=p.id,
                    seq=seq,
                    step_id=step,
                    text=topics[axis][n % 3],
                    value=None,
                    now=at + timedelta(hours=1),
                )
            rows = (
                await tx.conn.execute(
                    select(t.items.c.id, t.items.c.step_id, t.items.c.seq).where(
                        t.items.c.session_id == session
                    )
                )
            ).all()
            axes = list(said.values())
            await tx.vectors.save_vectors(
                [
                    ItemVector(r.id, c.id, r.step_id, 1, MODEL_NAME, planted(axes[r.seq - 1], n))
                    for r in rows
                ]
            )


async def test_themes_over_the_weeks_and_links_reach_the_email(
    store: Store, db: str, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = make_config(db, port)
    team = config.teams[0]
    period = completed_period(team, NOW)
    await fill_with_topics(store, period.start, period.previous(team).start)

    assert await send_digest(store, config, team, NOW, late=False)
    await deliver(store, config)
    (msg,) = handler.messages
    plain, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None
    assert html_part is not None
    text, html = plain.get_content(), html_part.get_content()
    # Since the week before, by meaning: buying online is new, housing faded.
    link = "Ceux qui voient mourir « voiture » voient surtout naître « vélo » (6 personnes)"
    for part in (squash(text), parse(html).text):
        assert "🆕 ligne 6" in part
        assert "📉 logements 6 → 0" in part
        assert link in part
    # Two pictures inline: the week's contributions and the themes over the weeks.
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    cids = [f"cid:{p['Content-ID'].strip('<>')}" for p in images]
    assert len(images) == 2
    assert [a.get("src") for tag, a in parse(html).tags if tag == "img"] == cids
    for part in (text, html):
        assert SECRET_ID not in part
    # The chats get the themes chart too.
    rows = await outbox_rows(store)
    chat = next(r for r in rows if r.platform == "matrix")
    names = [a.filename for a in OutboundMessage.from_json(chat.payload).attachments]
    assert names[:2] == ["digest-construire-2030.png", "themes-construire-2030.png"]

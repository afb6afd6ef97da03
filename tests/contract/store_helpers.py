"""What the storage contract tests share: a tiny flow, a campaign, a participant."""

from __future__ import annotations

from sqlalchemy import func, select

from qn_bot.domain import Address, OutboundMessage, UserRef
from qn_bot.records import CampaignRecord, ParticipantRecord
from qn_bot.store import schema as t
from qn_bot.store.sql import Tx
from tests.conftest import T0

PLATFORM = "test"
FLOW_SOURCE = """
id = "mini"
version = 1
languages = ["fr"]
title = "Mini"

[[steps]]
id = "idees"
kind = "list"
prompt = "Vos idées ?"
section = "Idées"
"""


async def count(tx: Tx, table: t.Table, *where: object) -> int:
    stmt = select(func.count()).select_from(table)
    if where:
        stmt = stmt.where(*where)  # type: ignore[arg-type]
    return int((await tx.conn.execute(stmt)).scalar_one())


async def make_campaign(tx: Tx, slug: str = "mini-2030", **kw: object) -> CampaignRecord:
    return await tx.campaigns.create_campaign(
        slug=slug,
        title=f"Titre {slug}",
        flow_id="mini",
        flow_version=1,
        flow_source=FLOW_SOURCE,
        now=T0,
        **kw,  # type: ignore[arg-type]
    )


async def make_participant(tx: Tx, user_id: str, pseudonym: str) -> ParticipantRecord:
    return await tx.participants.create_participant(
        UserRef(PLATFORM, user_id),
        Address(PLATFORM, f"chat-{user_id}"),
        T0,
        language="fr",
        pseudonym_factory=lambda: pseudonym,
    )


def say(text: str) -> OutboundMessage:
    return OutboundMessage(text)

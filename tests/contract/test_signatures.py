"""/signer on the real store: a signature names one participant, never a pseudonym or someone
else's signature, even when two citizens sign at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json

from qn_bot.exporters import export_campaign
from qn_bot.identity import parse_signature
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms

from .test_service import SLUG, Citizen, export_json, rows


async def export(store: Store, clock: FixedClock, fmt: str) -> str:
    async with store.transaction() as tx:
        return await export_campaign(tx, SLUG, fmt, None, clock())  # type: ignore[arg-type]


async def test_a_signature_cannot_be_a_pseudonym_or_someone_elses_signature(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    ana, ben = Citizen(service, "ana"), Citizen(service, "ben")
    for citizen in (ana, ben):
        await citizen.join()
        await citizen.say(f"idée de {citizen.user.user_id}")
    assert "Ana Lopez" in await ana.say("/signer Ana Lopez")

    # Ben tries Ana's pseudonym, his own, and Ana's signature in many disguises.
    for attempt in (
        "/signer P-0001",
        "/signer P-0002",
        "/signer \u0420-0001",
        "/signer ana lopez",
        "/signer \u0410na L\u00f3pez",
        "/signer ANA\u200bLOPEZ",
        "/signer Ana Lopez\u200f",
    ):
        reply = await ben.say(attempt)
        assert "seront signées" not in reply, attempt
    (_, ben_row) = await rows(store, t.participants)
    assert ben_row.signature is None
    assert ben_row.signature_key is None

    exported = await export_json(store, clock)
    by_text = {r["text"]: r for r in exported}
    assert by_text["idée de ana"]["participant"] == "Ana Lopez"
    assert by_text["idée de ben"]["participant"] == "P-0002"
    # Two citizens stay two participants in every synthesis.
    assert "2 participants" in await export(store, clock, "md")
    assert "2 participants" in await export(store, clock, "html")

    # Ana may sign again with her own name; once she stops signing, the name is free.
    assert "«\u00a0ana LOPEZ\u00a0»" in await ana.say("/signer  ana  LOPEZ ")
    assert "anonymes" in await ana.say("/signer")
    assert "Ana Lopez" in await ben.say("/signer Ana Lopez")


async def test_refusals_say_why(
    service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    ana, ben = Citizen(service, "ana"), Citizen(service, "ben")
    await ana.join()
    await ben.join()
    await ana.say("/signer Ana Lopez")
    assert "déjà" in await ben.say("/signer ana lopez")
    assert "pseudonyme" in await ben.say("/signer P-1A2B3C4D")
    assert "lettre" in await ben.say("/signer 1234")


async def test_two_citizens_signing_one_name_at_once_get_it_once(
    store: Store, migrated_url: str, campaign: CampaignRecord, clock: FixedClock
) -> None:
    """Two bot processes (two stores) handle two /signer of one name at the same instant."""
    other = Store.from_url(migrated_url)
    try:
        first = Service(store, clock=clock, pseudonyms=lambda: "P-AAAA0001")
        second = Service(other, clock=clock, pseudonyms=lambda: "P-BBBB0002")
        ana, ben = Citizen(first, "ana"), Citizen(second, "ben")
        await ana.join()
        await ben.join()
        replies = await asyncio.gather(ana.say("/signer Ana Lopez"), ben.say("/signer ANA LÓPEZ"))
        assert sum("seront signées" in reply for reply in replies) == 1, replies
        signatures = [p.signature for p in await rows(store, t.participants)]
        assert len([s for s in signatures if s is not None]) == 1, signatures
    finally:
        await other.close()


async def test_the_unique_key_holds_while_a_transaction_is_still_open(
    store: Store, migrated_url: str, campaign: CampaignRecord, clock: FixedClock
) -> None:
    """No read-then-write: the second writer waits for the first and is then refused."""
    service = Service(store, clock=clock, pseudonyms=Pseudonyms())
    for name in ("ana", "ben"):
        await Citizen(service, name).join()
    (ana, ben) = await rows(store, t.participants)
    sig = parse_signature("Ana Lopez")
    other_sig = parse_signature("ana lopez")
    assert not isinstance(sig, Exception)
    assert not isinstance(other_sig, Exception)
    other = Store.from_url(migrated_url)
    try:
        async with store.transaction() as tx:
            assert await tx.participants.set_signature(ana.id, sig, clock())  # type: ignore[arg-type]

            async def ben_signs() -> bool:
                async with other.transaction() as tx2:
                    return await tx2.participants.set_signature(ben.id, other_sig, clock())  # type: ignore[arg-type]

            racing = asyncio.create_task(ben_signs())
            await asyncio.sleep(0.3)  # ben's write is now waiting for ana's transaction
            assert not racing.done()
        assert await asyncio.wait_for(racing, 30) is False
    finally:
        await other.close()
    assert [p.signature for p in await rows(store, t.participants)] == ["Ana Lopez", None]


async def test_signatures_show_in_every_export_escaped(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    ana, ben = Citizen(service, "ana"), Citizen(service, "ben")
    for citizen in (ana, ben):
        await citizen.join()
        await citizen.say(f"idée de {citizen.user.user_id}")
    await ana.say("/signer =HYPERLINK(x) <b>Ana</b> *Lopez* @room")
    md = await export(store, clock, "md")
    html = await export(store, clock, "html")
    csv = await export(store, clock, "csv")
    rows_json = json.loads(await export(store, clock, "json"))
    line = next(line for line in md.splitlines() if "idée de ana" in line)
    assert "\\<b\\>Ana\\</b\\> \\*Lopez\\*" in line
    assert "idée de ben" in md
    assert "P-0002" not in md
    assert "&lt;b&gt;Ana&lt;/b&gt; *Lopez* @room" in html
    assert "<b>Ana" not in html
    assert "'=HYPERLINK(x)" in csv
    assert rows_json[0]["participant"] == "=HYPERLINK(x) <b>Ana</b> *Lopez* @room"

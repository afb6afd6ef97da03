"""A facilitator's export is the data controller's copy: it holds every answer, so it is handed
over in a private chat only. In a team room or group it would reach everyone there, past the
anonymity threshold every other output in a room keeps."""

from __future__ import annotations

from qn_bot.domain import Address, InboundKind, InboundMessage, UserRef
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_service import SLUG, Citizen, open_campaign, rows

SECRET = "une idée que seule l'équipe d'animation doit lire"


async def test_export_is_refused_in_a_group_and_given_in_private(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    await open_campaign(store, clock)
    service = Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",))
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say(SECRET)

    room = Address("test", "salle-equipe")
    for fmt in ("md", "html", "csv", "json"):
        in_room = InboundMessage(
            sender=UserRef("test", "boss"),
            address=room,
            message_id=f"room-{fmt}",
            kind=InboundKind.TEXT,
            text=f"/export {SLUG} {fmt}",
            is_private=False,
        )
        replies = (await service.handle(in_room)).replies
        assert len(replies) == 1, fmt
        assert not replies[0].attachments, fmt
        assert "conversation privée" in replies[0].text, fmt
    queued = await rows(store, t.outbox, t.outbox.c.chat_id == room.chat_id)
    assert len(queued) == 4
    assert all(SECRET not in str(r.payload) and not r.payload.get("attachments") for r in queued)

    boss = Citizen(service, "boss")
    await boss.say(f"/export {SLUG} md")
    (attachment,) = boss.last[0].attachments
    assert SECRET in attachment.data.decode()

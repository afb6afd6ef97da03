"""The storage contract of facilitator grants (qn_bot/store/facilitators.py), on every backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

from qn_bot.domain import UserRef
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import PLATFORM, make_campaign


async def test_a_grant_for_one_campaign_or_for_all(store: Store) -> None:
    everywhere, one = UserRef(PLATFORM, "anim"), UserRef(PLATFORM, "local")
    async with store.transaction() as tx:
        mini = await make_campaign(tx)
        other = await make_campaign(tx, "autre-2030")
        assert await tx.facilitators.grant_facilitator(everywhere, "test:boss", T0)
        assert await tx.facilitators.grant_facilitator(one, "test:boss", T0, mini.id)
        # A grant given twice is one grant.
        assert not await tx.facilitators.grant_facilitator(one, "test:boss", T0, mini.id)
    async with store.snapshot() as tx:
        assert await tx.facilitators.is_facilitator(everywhere, other.id)
        assert await tx.facilitators.is_facilitator(one, mini.id)
        assert not await tx.facilitators.is_facilitator(one, other.id)
        assert await tx.facilitators.facilitators() == [(everywhere, None), (one, mini.slug)]
    async with store.transaction() as tx:
        assert await tx.facilitators.revoke_facilitator(one, mini.id)
        assert not await tx.facilitators.revoke_facilitator(one, mini.id)
        assert not await tx.facilitators.is_facilitator(one, mini.id)
        assert await tx.facilitators.revoke_facilitator(everywhere)
        assert await tx.facilitators.facilitators() == []

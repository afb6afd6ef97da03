"""The storage contract of campaigns (qn_bot/store/campaigns.py), on every backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from qn_bot.domain import CampaignStatus
from qn_bot.errors import CampaignError
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import FLOW_SOURCE, make_campaign


async def test_create_and_list_campaigns(store: Store) -> None:
    async with store.transaction() as tx:
        a = await make_campaign(tx, "alpha", edition="Construire 2030")
        b = await make_campaign(tx, "beta", status=CampaignStatus.OPEN)
    assert a.status is CampaignStatus.DRAFT
    assert a.edition == "Construire 2030"
    assert a.flow_source == FLOW_SOURCE
    assert a.created_at == T0
    async with store.transaction() as tx:
        assert [c.slug for c in await tx.campaigns.campaigns()] == ["alpha", "beta"]
        assert [c.slug for c in await tx.campaigns.campaigns(CampaignStatus.OPEN)] == ["beta"]
        assert [c.slug for c in await tx.campaigns.campaigns(CampaignStatus.CLOSED)] == []
        assert await tx.campaigns.campaign_by_slug("beta") == b
        assert await tx.campaigns.campaign_by_id(a.id) == a
        assert await tx.campaigns.campaign_by_slug("gamma") is None
        await tx.campaigns.set_campaign_status(a.id, CampaignStatus.CLOSED, T0 + timedelta(days=1))
    async with store.transaction() as tx:
        closed = await tx.campaigns.campaign_by_id(a.id)
        assert closed is not None
        assert closed.status is CampaignStatus.CLOSED
        assert closed.updated_at == T0 + timedelta(days=1)


async def test_duplicate_campaign_slug_is_an_error(store: Store) -> None:
    async with store.transaction() as tx:
        await make_campaign(tx, "alpha")
    with pytest.raises(CampaignError, match="alpha"):
        async with store.transaction() as tx:
            await make_campaign(tx, "alpha")
    async with store.transaction() as tx:
        assert len(await tx.campaigns.campaigns()) == 1

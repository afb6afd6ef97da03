"""Fixtures of the service's contract tests: the service on the test's store, and the small
campaign of tests/contract/test_service.py open. A module that needs another service (limits,
admins, teams) or campaign (a threshold) defines its own fixture of the same name."""

from __future__ import annotations

import pytest

from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_service import open_campaign


@pytest.fixture
def service(store: Store, clock: FixedClock, pseudonyms: Pseudonyms) -> Service:
    return Service(store, clock=clock, pseudonyms=pseudonyms)


@pytest.fixture
async def campaign(store: Store, clock: FixedClock) -> CampaignRecord:
    return await open_campaign(store, clock)

"""The flow a campaign runs: the copy stored with it, read once per process.

Here rather than beside the campaign lifecycle (qn_bot.campaigns, the service layer) because
the layers under the service — digests, exports, the site — need it too and may not import the
service (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from qn_bot.errors import CampaignError, FlowError
from qn_bot.flows.format import Flow
from qn_bot.flows.loader import load_flow_text, resolve_flow


class StoredFlow(Protocol):
    """What a campaign record says about its flow (qn_bot.records.CampaignRecord)."""

    @property
    def slug(self) -> str: ...

    @property
    def flow_id(self) -> str: ...

    @property
    def flow_source(self) -> str: ...


def campaign_flow(campaign: StoredFlow) -> Flow:
    """The flow a campaign runs: the copy stored with it (editing the file never changes it)."""
    try:
        return _parse_stored_flow(campaign.slug, campaign.flow_source, campaign.flow_id)
    except FlowError as error:
        raise CampaignError(
            f"campaign {campaign.slug!r}: its flow cannot be read: {error}",
            key="bad_flow",
            slug=campaign.slug,
        ) from error


@lru_cache(maxsize=64)
def _parse_stored_flow(slug: str, source: str, flow_id: str) -> Flow:
    if source.strip():
        return load_flow_text(source, f"campaign {slug}")
    return resolve_flow(flow_id)

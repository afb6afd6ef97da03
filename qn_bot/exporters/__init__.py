"""The export formats, by name: what `qn-bot export --format`, its --help and /export in chat
offer. Adding a format: a module here (or anywhere) defining an :class:`Exporter`, and its
registration line below."""

from __future__ import annotations

from datetime import UTC, datetime

from qn_bot.errors import CampaignError
from qn_bot.exporters import csv_items, html, json_items, markdown
from qn_bot.exporters.base import Exporter, ExporterRegistry, ExportSource
from qn_bot.flows.stored import campaign_flow
from qn_bot.repositories import Transaction

__all__ = ["EXPORTERS", "ExportSource", "Exporter", "ExporterRegistry", "export_campaign"]

EXPORTERS = ExporterRegistry()
EXPORTERS.register(markdown.EXPORTER)
EXPORTERS.register(html.EXPORTER)
EXPORTERS.register(csv_items.EXPORTER)
EXPORTERS.register(json_items.EXPORTER)


async def export_campaign(
    tx: Transaction,
    slug: str,
    fmt: str,
    language: str | None = None,
    now: datetime | None = None,
    *,
    csv_dialect: str = "rfc4180",
) -> str:
    """Render campaign ``slug`` in format ``fmt``.

    ``language`` defaults to the flow's first language; a language the flow does not have (a
    facilitator chatting in English about a French-only flow) falls back to it as well.
    """
    campaign = await tx.campaigns.campaign_by_slug(slug)
    if campaign is None:
        raise CampaignError.no_campaign(slug)
    exporter = EXPORTERS.get(fmt)
    flow = campaign_flow(campaign)
    lang = language if language in flow.languages else flow.default_language
    # The facilitator's copy: hidden items too, marked (never a public output).
    items = await tx.sessions.campaign_items(campaign.id, include_hidden=True)
    return await exporter.render(
        ExportSource(tx, campaign, flow, items, lang, now or datetime.now(UTC), csv_dialect)
    )

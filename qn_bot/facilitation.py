"""Facilitator chat commands. The caller has already checked the facilitator role."""

from __future__ import annotations

from datetime import datetime

from qn_bot.campaigns import set_status
from qn_bot.commands import Command
from qn_bot.domain import Attachment, CampaignStatus, OutboundMessage
from qn_bot.errors import CampaignError
from qn_bot.export import export_campaign
from qn_bot.i18n import Catalog
from qn_bot.store.sql import Tx

_EXPORT_TYPES = {
    "md": "text/markdown",
    "html": "text/html",
    "csv": "text/csv",
    "json": "application/json",
}


async def run_facilitator_command(
    tx: Tx, language: str, command: Command, now: datetime, catalog: Catalog
) -> list[OutboundMessage]:
    t = catalog.t
    name, arg = command.name, command.arg.split()
    try:
        if name == "campagnes":
            campaigns = await tx.campaigns()
            if not campaigns:
                return [OutboundMessage(t(language, "fac_no_campaigns"))]
            lines = [f"• {c.slug} — {c.title} [{c.status.value}]" for c in campaigns]
            return [OutboundMessage(t(language, "fac_campaigns") + "\n" + "\n".join(lines))]
        if name in ("lancer", "cloturer"):
            if not arg:
                return [OutboundMessage(t(language, "fac_usage_slug", command=name))]
            status = CampaignStatus.OPEN if name == "lancer" else CampaignStatus.CLOSED
            campaign = await set_status(tx, arg[0], status, now)
            return [
                OutboundMessage(t(language, "fac_status", slug=campaign.slug, status=status.value))
            ]
        if name == "stats":
            if not arg:
                return [OutboundMessage(t(language, "fac_usage_slug", command=name))]
            found = await tx.campaign_by_slug(arg[0])
            if found is None:
                raise CampaignError(f"no campaign named {arg[0]!r}")
            items = await tx.campaign_items(found.id)
            by_step: dict[str, int] = {}
            for item in items:
                by_step[item.step_id] = by_step.get(item.step_id, 0) + 1
            lines = [f"• {step}: {count}" for step, count in by_step.items()]
            participants = len({item.pseudonym for item in items})
            text = t(
                language,
                "fac_stats",
                slug=found.slug,
                participants=participants,
                items=len(items),
            )
            return [OutboundMessage(text + ("\n" + "\n".join(lines) if lines else ""))]
        if name == "export":
            if not arg:
                return [OutboundMessage(t(language, "fac_usage_slug", command=name))]
            fmt = arg[1] if len(arg) > 1 else "md"
            if fmt not in _EXPORT_TYPES:
                return [OutboundMessage(t(language, "fac_export_formats"))]
            body = await export_campaign(tx, arg[0], fmt, language, now)  # type: ignore[arg-type]
            return [
                OutboundMessage(
                    t(language, "fac_export", slug=arg[0]),
                    attachments=(Attachment(f"{arg[0]}.{fmt}", _EXPORT_TYPES[fmt], body.encode()),),
                )
            ]
    except CampaignError as exc:
        return [OutboundMessage(t(language, "fac_error", error=str(exc)))]
    return [OutboundMessage(t(language, "fac_not_available", command=name))]

"""`qn-bot campaign list`: every campaign with its status, edition, dates and counts.

People read a table in the configured language, statuses as the chat says them; scripts read
TSV or JSON with the statuses' stable names (DESIGN §4: one line per campaign, slug and status
first).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from qn_bot.cli_progress import progress
from qn_bot.flows.stored import campaign_flow
from qn_bot.i18n import default_catalog
from qn_bot.participants import campaign_participants, count_participants
from qn_bot.repositories import Transaction

FIELDS = ("slug", "status", "title", "edition", "opens", "closes", "participants", "items")


@dataclass(frozen=True, slots=True)
class CampaignRow:
    slug: str
    status: str  # draft | open | closed | archived
    title: str
    edition: str | None
    opens: datetime | None
    closes: datetime | None
    participants: int  # as qn_bot.participants defines them
    items: int  # live items


async def campaign_rows(tx: Transaction) -> list[CampaignRow]:
    campaigns = await tx.campaigns.campaigns()
    rows = []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)  # the per-day and per-week counts are not used
    for c in progress(campaigns, "campaigns"):
        people = await campaign_participants(tx, c, campaign_flow(c))
        per_step = await tx.sessions.campaign_stats(c.id, epoch, epoch)
        rows.append(
            CampaignRow(
                slug=c.slug,
                status=c.status.value,
                title=c.title,
                edition=c.edition if c.edition else None,
                opens=c.opens_at,
                closes=c.closes_at,
                participants=count_participants(people),
                items=sum(total for total, _, _ in per_step.values()),
            )
        )
    return rows


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_tsv(rows: list[CampaignRow]) -> str:
    lines = ["\t".join(FIELDS)]
    for r in rows:
        cells = (
            r.slug, r.status, r.title, r.edition, _iso(r.opens), _iso(r.closes),
            str(r.participants), str(r.items),
        )  # fmt: skip
        lines.append("\t".join(_one_line(c) if c is not None else "" for c in cells))
    return "\n".join(lines) + "\n"


def render_json(rows: list[CampaignRow]) -> str:
    data = [{**asdict(r), "opens": _iso(r.opens), "closes": _iso(r.closes)} for r in rows]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def render_table(rows: list[CampaignRow], language: str, timezone: str) -> str:
    catalog = default_catalog()
    head = catalog.table(language, "campaign_list_")
    zone = ZoneInfo(timezone)

    def day(when: datetime | None) -> str:
        return when.astimezone(zone).strftime(head["date_format"]) if when else "—"

    # The catalogue's table also holds the date format.
    columns = ("slug", "status", "edition", "opens", "closes", "participants", "items", "title")
    table = [[head[c] for c in columns]]
    for r in rows:
        table.append(
            [
                r.slug,
                catalog.t(language, f"fac_status_{r.status}"),
                _one_line(r.edition) if r.edition else "—",
                day(r.opens),
                day(r.closes),
                str(r.participants),
                str(r.items),
                _one_line(r.title),
            ]
        )
    widths = [max(len(line[k]) for line in table) for k in range(len(columns))]
    numbers = {columns.index("participants"), columns.index("items")}
    out = []
    for line in table:
        cells = [
            cell.rjust(widths[k])
            if k in numbers and line is not table[0]
            else cell.ljust(widths[k])
            for k, cell in enumerate(line)
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"

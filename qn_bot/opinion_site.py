"""The site's opinion map page of a campaign (issue 15): the picture and what it says, next to
the campaign's synthesis page and linked from it. Only for campaigns whose citizens vote."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from markupsafe import escape

from qn_bot.i18n import default_catalog
from qn_bot.records import CampaignRecord
from qn_bot.repositories import Database
from qn_bot.templating import templates

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"


async def write_opinion_page(
    store: Database,
    campaign: CampaignRecord,
    out_dir: Path,
    page: str,
    language: str,
    now: datetime,
    minimum: int,
) -> str | None:
    """Write ``<page>-opinions.html`` and its picture beside ``page`` (the synthesis page's
    file name); returns the new page's name, None when nobody voted. ``minimum``: the site's
    anonymity threshold."""
    async with store.snapshot() as tx:
        if not await tx.votes.has_votes(campaign.id):
            return None
    # numpy, scikit-learn, matplotlib: loaded only for a campaign with votes
    from qn_bot.opinion_map import compute_campaign_opinions
    from qn_bot.opinion_picture import render_opinion_map
    from qn_bot.opinions.compute import MIN_PARTICIPANTS
    from qn_bot.opinions.matrix import MIN_VOTES
    from qn_bot.opinions.report import group_name, statement_line

    opinions = await compute_campaign_opinions(
        store, campaign, now, save=False, min_group_size=minimum
    )
    c = default_catalog()
    base = page.removesuffix(".html") + "-opinions"
    png = await asyncio.to_thread(render_opinion_map, opinions, language)
    await asyncio.to_thread((out_dir / f"{base}.png").write_bytes, png)
    groups = []
    for group in opinions.groups:
        size = c.plural(language, "opinions_people", group.size)
        heading = c.t(language, "opinions_group", name=group_name(group.id), size=size)
        intro = c.t(
            language, "opinions_sets_apart" if group.representative else "opinions_nothing_apart"
        )
        groups.append((heading, intro, [statement_line(language, s) for s in group.representative]))
    html = (
        templates()
        .get_template("opinions.html.j2")
        .render(
            lang=language,
            csp=CSP,
            title=c.t(language, "opinions_title", title=campaign.title),
            back=c.t(language, "opinions_site_back"),
            back_href=page,
            summary=c.plural(
                language, "opinions_counted", opinions.participants_counted, minimum=MIN_VOTES
            )
            + " "
            + c.plural(language, "opinions_statements", opinions.statements),
            picture=f"{base}.png",
            alt=c.t(language, "opinions_picture_alt"),
            groups=groups,
            no_groups=c.t(language, "opinions_no_groups", minimum=MIN_PARTICIPANTS),
            consensus_heading=c.t(language, "opinions_consensus"),
            consensus=[statement_line(language, s) for s in opinions.consensus],
            no_consensus=c.t(language, "opinions_no_consensus"),
        )
    )
    await asyncio.to_thread((out_dir / f"{base}.html").write_text, html, encoding="utf-8")
    return f"{base}.html"


def link_opinions(page: str, opinions_page: str, language: str) -> str:
    """The synthesis page with a link to its opinion map, after its navigation."""
    label = escape(default_catalog().t(language, "opinions_site_link"))
    return page.replace("</nav>", f' · <a href="{opinions_page}">{label}</a></nav>', 1)

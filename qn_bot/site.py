"""A static site of every published campaign: the current edition first, then past editions.

``index.html`` lists editions ("Édition en cours", "Éditions antérieures"), each with its campaigns;
every campaign has its page in the seed page's shape (:func:`qn_bot.export.render_html`: sections,
"Dernière mise à jour", version history). Pages use relative links only, so the folder can be
served from anywhere or opened from disk, and hold no script: they read the same without
JavaScript, and a Content-Security-Policy forbids scripts outright should any ever slip in.
Participant text is escaped by Jinja2's autoescape; pages carry no pseudonym and no platform id
(only the names citizens chose to sign with, /signer).

Drafts are not published. An edition is current when one of its campaigns is open; when none is,
the edition of the most recently created campaign is.

The site is a public output: a section with fewer respondents than the threshold (the site's
``[site] min_respondents`` or the campaign's own, the higher: :mod:`qn_bot.disclosure`) shows its
count only. A one-person campaign is listed, with its counts and no word of what was said.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import escape
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from qn_bot.disclosure import DEFAULT_MIN_RESPONDENTS, strictest
from qn_bot.domain import CampaignStatus
from qn_bot.export import render_html
from qn_bot.flows.stored import campaign_flow
from qn_bot.i18n import default_catalog
from qn_bot.opinion_site import link_opinions, write_opinion_page
from qn_bot.participants import campaign_disclosure, campaign_participants, count_participants
from qn_bot.records import CampaignRecord
from qn_bot.repositories import Database

if TYPE_CHECKING:
    from qn_bot.themes.compute import Loader
from qn_bot.synthesis import build_synthesis, format_date, utc
from qn_bot.templating import templates

PUBLISHED = (CampaignStatus.OPEN, CampaignStatus.CLOSED, CampaignStatus.ARCHIVED)
#: The progress bar shows from this many pages on (and only on a terminal).
PROGRESS_FROM = 10
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"


@dataclass(frozen=True, slots=True)
class PageLink:
    href: str
    title: str
    status: str
    updated: str
    chat: str | None = None  # the web chat of an open campaign ([web] base_url)


@dataclass(frozen=True, slots=True)
class EditionLinks:
    label: str
    pages: tuple[PageLink, ...]


_UNSAFE_FILE = re.compile(r"[^a-z0-9-]+")


def page_name(slug: str, taken: set[str]) -> str:
    """A file name for a campaign page: its slug when safe, made safe and unique otherwise."""
    base = _UNSAFE_FILE.sub("-", slug.lower()).strip("-") or "campagne"
    if base == "index":
        base = "index-campagne"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return f"{name}.html"


def _with_navigation(page: str, back: str) -> str:
    """The synthesis page plus a CSP and a link back to the index (relative, no script)."""
    page = page.replace(
        '<meta charset="utf-8">',
        f'<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        1,
    )
    nav = f'<nav><a href="index.html">{escape(back)}</a></nav>'
    return page.replace("<body>", f"<body>\n{nav}", 1)


def _progress(total: int) -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=total < PROGRESS_FROM or not sys.stderr.isatty(),
    )


def current_editions(campaigns: list[CampaignRecord]) -> set[str | None]:
    open_editions = {c.edition for c in campaigns if c.status is CampaignStatus.OPEN}
    if open_editions:
        return open_editions
    latest = max(campaigns, key=lambda c: (utc(c.created_at), c.id), default=None)
    return set() if latest is None else {latest.edition}


async def export_site(
    store: Database,
    out_dir: Path,
    now: datetime,
    *,
    language: str = "fr",
    min_respondents: int = DEFAULT_MIN_RESPONDENTS,
    web_base_url: str | None = None,
    loader: Loader | None = None,
) -> None:
    """Write ``index.html`` and one page per published campaign into ``out_dir``;
    ``min_respondents`` is the site's anonymity threshold (``[site]`` in the config);
    with ``web_base_url`` (``[web] base_url``) an open campaign links to its web chat.
    Each section shows its themes (:func:`qn_bot.themes.compute.campaign_themes`; ``loader``
    gives the embedding model, loaded once for the whole site), small ones withheld."""
    from qn_bot.themes.compute import campaign_themes
    from qn_bot.themes.embedding import Embedder, load_embedder
    from qn_bot.themes.links import section_links
    from qn_bot.themes.links_site import with_links, write_links
    from qn_bot.themes.public import public_themes

    failure: Exception | None = None
    embedder: Embedder | None = None
    try:
        embedder = await asyncio.to_thread(loader or load_embedder)
    except Exception as error:  # campaign_themes says so and falls back to keywords
        failure = error

    def loaded() -> Embedder | None:
        if failure is not None:
            raise failure
        return embedder

    lab = default_catalog().table(language, "site_")
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    async with store.transaction() as tx:
        campaigns = await tx.campaigns.campaigns(*PUBLISHED)
    taken: set[str] = set()
    links: dict[str | None, list[PageLink]] = {}
    with _progress(len(campaigns)) as progress:
        task = progress.add_task("export-site", total=len(campaigns))
        for campaign in campaigns:
            flow = campaign_flow(campaign)
            lang = language if language in flow.languages else flow.default_language
            minimum = strictest(min_respondents, campaign.min_respondents)
            async with store.transaction() as tx:
                items = await tx.sessions.campaign_items(campaign.id)
                revisions = await tx.sessions.campaign_revisions(campaign.id)
                people = count_participants(await campaign_participants(tx, campaign, flow))
                disclosure = await campaign_disclosure(tx, campaign, flow, minimum)
            synthesis = build_synthesis(
                campaign, flow, items, lang, now, participants=people, disclosure=disclosure
            )
            found = await campaign_themes(store, campaign, lang, loader=loaded)
            shown = public_themes(found, disclosure)
            name = page_name(campaign.slug, taken)
            page = _with_navigation(render_html(synthesis, revisions, shown), lab["back"])
            found_links = section_links(found, flow.links, minimum, disclosure.shows)
            block = await write_links(out_dir, name, found_links, flow, lang)
            page = with_links(page, block)
            opinions = await write_opinion_page(store, campaign, out_dir, name, lang, now, minimum)
            if opinions is not None:
                page = link_opinions(page, opinions, lang)
            await asyncio.to_thread((out_dir / name).write_text, page, encoding="utf-8")
            links.setdefault(campaign.edition or None, []).append(
                PageLink(
                    href=name,
                    title=campaign.title,
                    status=lab[f"status_{campaign.status.value}"],
                    updated=lab["updated"].format(date=format_date(synthesis.updated_at, language)),
                    chat=(
                        f"{web_base_url.rstrip('/')}/c/{campaign.slug}"
                        if web_base_url is not None and campaign.status is CampaignStatus.OPEN
                        else None
                    ),
                )
            )
            progress.advance(task)

    current_set = current_editions(campaigns)
    newest = {
        edition: max(utc(c.created_at) for c in campaigns if (c.edition or None) == edition)
        for edition in links
    }
    order = sorted(links, key=lambda e: newest[e], reverse=True)

    def edition(e: str | None) -> EditionLinks:
        return EditionLinks(e if e is not None else lab["no_edition"], tuple(links[e]))

    html = (
        templates()
        .get_template("site_index.html.j2")
        .render(
            lang=language,
            lab=lab,
            csp=CSP,
            groups=[
                ("current", lab["current"], [edition(e) for e in order if e in current_set]),
                ("past", lab["past"], [edition(e) for e in order if e not in current_set]),
            ],
            generated=lab["generated"].format(date=format_date(now, language)),
        )
    )
    await asyncio.to_thread((out_dir / "index.html").write_text, html, encoding="utf-8")

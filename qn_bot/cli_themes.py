"""`qn-bot themes SLUG [--step STEP] --format json|md`: each free-text step's themes by meaning
(TF-IDF keywords where the embedding model is missing, said in the output)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from qn_bot.config import Config
from qn_bot.errors import CampaignError

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "themes",
        help="the themes of a campaign's answers, grouped by meaning",
        description="Groups each free-text step's live, public answers by meaning (a "
        "sentence-embedding model shipped with qn-bot); items the background worker has not "
        "embedded yet are embedded first. Without the model: today's keyword themes, and the "
        "output says so. A theme is named only by a word at least two citizens used; a group "
        "of close answers without one is never named: counted as « Autres idées proches » in "
        'md, "theme": "" with no keywords in json.',
    )
    p.add_argument("slug")
    p.add_argument("--step", action="append", help="only this step (repeatable)")
    p.add_argument("--format", choices=("json", "md"), default="md")
    p.add_argument("--language", choices=("fr", "en"), default=None)
    p.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    p.set_defaults(func=cmd_themes)


def to_markdown(found: Sequence[object], title: str, language: str = "fr") -> str:
    """Each step's named themes, then the groups that no word of several citizens names,
    counted together and never named."""
    from qn_bot.i18n import default_catalog
    from qn_bot.themes.compute import METHOD_TFIDF, StepThemes

    unnamed = default_catalog().t(language, "page_themes_unnamed")
    lines = [f"# {title}", ""]
    for s in found:
        assert isinstance(s, StepThemes)
        lines.append(f"## {s.step}")
        if s.method == METHOD_TFIDF:
            lines.append(f"_TF-IDF keyword themes ({s.fallback_reason or 'fallback'})._")
        if s.pending:
            lines.append(f"_{s.pending} answers not embedded yet, left out._")
        for t in s.themes:
            if t.theme:
                lines.append(f"- **{t.theme}** ({t.count}) — {', '.join(t.keywords)}")
        others = sum(t.count for t in s.themes if not t.theme)
        if others:
            lines.append(f"- _{unnamed}_ ({others})")
        if not s.themes:
            lines.append("- (no theme)")
        lines.append("")
    return "\n".join(lines).rstrip()


async def cmd_themes(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.store.migrate import upgrade
    from qn_bot.store.sql import Store
    from qn_bot.themes.compute import campaign_themes, to_json

    language = args.language or config.language
    await upgrade(config.database.url)
    async with Store.from_url(config.database.url) as store:
        async with store.snapshot() as tx:
            campaign = await tx.campaigns.campaign_by_slug(args.slug)
        if campaign is None:
            raise CampaignError.no_campaign(args.slug)
        found = await campaign_themes(store, campaign, language, steps=args.step, embed_now=True)
    for s in found:
        if s.fallback_reason:
            print(f"themes: {s.step}: TF-IDF themes ({s.fallback_reason})", file=sys.stderr)
    if args.format == "json":
        text = json.dumps(to_json(found), ensure_ascii=False, indent=2)
    else:
        text = to_markdown(found, campaign.title, language)
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, text + "\n", encoding="utf-8")
    else:
        print(text)
    return EXIT_OK

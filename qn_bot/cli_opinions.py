"""`qn-bot opinions SLUG`: the opinion groups and consensus of a campaign's peer votes."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from qn_bot.clock import utcnow
from qn_bot.config import Config

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "opinions",
        help="opinion groups and consensus from the citizens' votes on each other's statements",
        description="Groups are formed once 15 participants voted on at least 7 statements "
        "each; a group smaller than the campaign's anonymity threshold is not shown. Hidden "
        "statements are left out. Progress goes to stderr.",
    )
    p.add_argument("slug")
    p.add_argument("--format", choices=("json", "md"), default="md")
    p.add_argument("--language", choices=("fr", "en"), default=None)
    p.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    p.add_argument("--picture", metavar="PNG", help="also draw the opinion map to this file")
    p.set_defaults(func=cmd_opinions)


async def cmd_opinions(args: argparse.Namespace, config: Config) -> int:
    # numpy, scipy and scikit-learn load only for this command (~0.5 s).
    from qn_bot.opinion_map import campaign_opinions
    from qn_bot.opinions.report import to_json, to_markdown
    from qn_bot.store.migrate import upgrade
    from qn_bot.store.sql import Store

    def progress(step: str) -> None:
        print(f"opinions: {step}…", file=sys.stderr, flush=True)

    language = args.language or config.language
    await upgrade(config.database.url)
    async with Store.from_url(config.database.url) as store:
        campaign, opinions = await campaign_opinions(store, args.slug, utcnow(), progress=progress)
    if args.format == "json":
        text = json.dumps(to_json(opinions), ensure_ascii=False, indent=2)
    else:
        text = to_markdown(opinions, campaign.title, language)
    if args.picture:
        from qn_bot.opinion_picture import render_opinion_map

        progress("drawing the map")
        png = await asyncio.to_thread(render_opinion_map, opinions, language)
        await asyncio.to_thread(Path(args.picture).write_bytes, png)
        print(f"wrote {args.picture}", file=sys.stderr)
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, text + "\n", encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK

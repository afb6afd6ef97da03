"""`qn-bot recap send SLUG`: each citizen's personal recap of a campaign, once per wave."""

from __future__ import annotations

import argparse
import sys

from qn_bot.clock import utcnow
from qn_bot.config import Config

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    recap = sub.add_parser("recap", help="citizens' personal recaps").add_subparsers(
        dest="recap_command", required=True
    )
    p = recap.add_parser(
        "send",
        help="queue every citizen's recap of a campaign (once per citizen and wave)",
        description="Every citizen who gave an idea in the campaign and did not /stop gets "
        "their recap once per wave, in their language, through the outbox (a running bot "
        "sends it at the platform's pace). The wave is the day unless --wave names one: "
        "running the command twice the same day sends nothing more. Recaps also go out by "
        "themselves when a team's weekly digest is sent and when a campaign closes.",
    )
    p.add_argument("slug")
    p.add_argument("--wave", metavar="NAME", help="a name of your own for this wave")
    p.set_defaults(func=cmd_recap_send)


async def cmd_recap_send(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.recap.send import manual_wave, send_campaign_wave
    from qn_bot.store.migrate import upgrade
    from qn_bot.store.sql import Store

    now = utcnow()
    await upgrade(config.database.url)
    async with Store.from_url(config.database.url) as store:
        result = await send_campaign_wave(
            store, config, args.slug, manual_wave(now, args.wave), now
        )
    print(
        f"recap {args.slug}: {result.queued} queued, {result.already} already sent in this "
        f"wave, {result.skipped} stopped or unreachable",
        file=sys.stdout,
    )
    return EXIT_OK

"""`qn-bot moderate SLUG list [--hidden] | hide ID... | show ID...` (qn_bot.moderation)."""

from __future__ import annotations

import argparse

from qn_bot.clock import utcnow
from qn_bot.config import Config
from qn_bot.errors import CampaignError
from qn_bot.i18n import default_catalog
from qn_bot.moderation import CLI_ACTOR, HIDE, SHOW, decide, parse_ids
from qn_bot.records import CampaignRecord, ModeratedItem
from qn_bot.repositories import Transaction
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store

EXIT_OK = 0
#: Characters of an item's text on its line.
TEXT_WIDTH = 200

DESCRIPTION = """\
Moderate a campaign's items. `list` shows its items, newest first: #id, date, step, whether
public outputs show it (public | hidden | awaiting approval), how many citizens flagged it, and
its text on one line. `list --hidden` shows the items public outputs leave out, then every
moderation act (who, when, what, which item). `hide` keeps items out of every public output
(site, digests, themes); `show` puts them back, and under pre-moderation approves them.
Facilitator exports keep every item, with a `hidden` field."""

EPILOG = """\
examples:
  qn-bot moderate construire-2030 list
  qn-bot moderate construire-2030 hide 123 '#124'
  qn-bot moderate construire-2030 show 123
  qn-bot moderate construire-2030 list --hidden"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "moderate",
        help="hide or show a campaign's items; list them and the moderation trail",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("slug", help="the campaign")
    msub = p.add_subparsers(dest="moderate_command", required=True)
    q = msub.add_parser("list", help="items newest first (--hidden: those hidden, and the trail)")
    q.add_argument("--hidden", action="store_true", help="only what public outputs leave out")
    q.set_defaults(func=cmd_moderate_list)
    for name, act, helptext in (
        ("hide", HIDE, "keep items out of every public output"),
        ("show", SHOW, "show items again (approve them under pre-moderation)"),
    ):
        q = msub.add_parser(name, help=helptext)
        q.add_argument("ids", nargs="+", metavar="ID", help="item ids, as listed (#123 or 123)")
        q.set_defaults(func=cmd_moderate_act, act=act)


def terminal_safe(text: str, width: int = TEXT_WIDTH) -> str:
    """One line a terminal shows as it is: control characters (escape sequences, bidi
    overrides, line breaks) written out as escapes, cut at ``width``."""
    safe = "".join(
        c if c.isprintable() else "\\n" if c == "\n" else f"\\u{ord(c):04x}" for c in text
    )
    return safe if len(safe) <= width else safe[: width - 1] + "…"


def _status(campaign: CampaignRecord, item: ModeratedItem) -> str:
    if item.public:
        return "public"
    return "hidden" if item.state == "hidden" else "awaiting approval"


def _line(campaign: CampaignRecord, item: ModeratedItem) -> str:
    flags = f"{item.flags} flag{'s' if item.flags != 1 else ''}"
    when = item.created_at.strftime("%Y-%m-%d %H:%M")
    return (
        f"#{item.id}\t{when}\t{terminal_safe(item.step_id, 64)}\t{_status(campaign, item)}\t"
        f"{flags}\t{terminal_safe(item.text)}"
    )


async def _campaign(tx: Transaction, slug: str) -> CampaignRecord:
    campaign = await tx.campaigns.campaign_by_slug(slug)
    if campaign is None:
        raise CampaignError.no_campaign(slug)
    return campaign


async def cmd_moderate_list(args: argparse.Namespace, config: Config) -> int:
    await upgrade(config.database.url)
    async with Store.from_url(config.database.url) as store, store.snapshot() as tx:
        campaign = await _campaign(tx, args.slug)
        items = await tx.moderation.items(campaign.id, hidden_only=args.hidden)
        acts = await tx.moderation.acts(campaign.id) if args.hidden else []
    print(f"{campaign.slug}: moderation {campaign.moderation.value}, {len(items)} item(s)")
    for item in items:
        print(_line(campaign, item))
    if args.hidden:
        print(f"moderation trail ({len(acts)} act(s), newest first):")
        for act in acts:
            print(
                f"{act.at.isoformat(timespec='seconds')}\t{act.action}\t#{act.item_id}\t{act.actor}"
            )
    return EXIT_OK


async def cmd_moderate_act(args: argparse.Namespace, config: Config) -> int:
    ids = parse_ids(args.ids)
    await upgrade(config.database.url)
    async with Store.from_url(config.database.url) as store, store.transaction() as tx:
        campaign = await _campaign(tx, args.slug)
        done = await decide(
            tx,
            campaign,
            ids,
            args.act,
            CLI_ACTOR,
            utcnow(),
            tell_author=config.moderation.tell_author,
            catalog=default_catalog(),
        )
    verb = "hidden" if args.act == HIDE else "shown"
    for item in done.items:
        print(f"#{item.id}\t{verb}")
    if done.told:
        print(f"{done.told} author(s) will be told", flush=True)
    return EXIT_OK

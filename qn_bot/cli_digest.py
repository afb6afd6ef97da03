"""`qn-bot digest preview|send TEAM` and `qn-bot export-site DIR`: command functions for cli.py.

Each takes the parsed ``argparse.Namespace`` and the loaded :class:`~qn_bot.config.Config` and
returns an exit code, like the other commands of :mod:`qn_bot.cli`. Arguments they read:

``cmd_digest_preview``
    ``args.team`` (str, positional ``TEAM``: a ``[[teams]]`` name);
    optional ``args.current`` (bool, ``--current``: the week so far instead of the last
    completed week; absent means False).
``cmd_digest_send``
    ``args.team`` (str, positional ``TEAM``);
    optional ``args.force`` (bool, ``--force``: send even if this period's digest was already
    sent; absent means False).
``cmd_export_site``
    ``args.dir`` (str or Path, positional ``DIR``);
    optional ``args.language`` ("fr" or "en", ``--language``; absent or None means "fr").

Suggested wiring::

    p = sub.add_parser("digest", help="weekly team digests").add_subparsers(
        dest="digest_command", required=True)
    q = p.add_parser("preview", help="print a team's digest in this terminal")
    q.add_argument("team"); q.add_argument("--current", action="store_true")
    q.set_defaults(func=cmd_digest_preview)
    q = p.add_parser("send", help="send a team's digest now (once per period)")
    q.add_argument("team"); q.add_argument("--force", action="store_true")
    q.set_defaults(func=cmd_digest_send)
    q = sub.add_parser("export-site", help="write the static site of every campaign")
    q.add_argument("dir"); q.add_argument("--language", choices=("fr", "en"))
    q.set_defaults(func=cmd_export_site)

Chat destinations get outbox rows: the running bot (`qn-bot run`) sends them. E-mails are sent by
this command itself, through ``[smtp]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qn_bot.clock import utcnow
from qn_bot.config import Config
from qn_bot.heap import freeze_startup_heap
from qn_bot.store.sql import Store

EXIT_OK, EXIT_ERROR = 0, 1


async def _store(config: Config) -> Store:
    from qn_bot.store.migrate import upgrade

    await upgrade(config.database.url)
    return Store.from_url(config.database.url)


async def cmd_digest_preview(args: argparse.Namespace, config: Config) -> int:
    """Print the digest of team ``args.team`` (Markdown-ish) on stdout."""
    from qn_bot.digest.send import find_team, preview_digest

    team = find_team(config, args.team)
    async with await _store(config) as store:
        text = await preview_digest(
            store, config, team, utcnow(), current=bool(getattr(args, "current", False))
        )
    sys.stdout.write(text)
    return EXIT_OK


async def cmd_digest_send(args: argparse.Namespace, config: Config) -> int:
    """Send the digest of team ``args.team`` now; once per period unless ``args.force``."""
    from qn_bot.digest.send import (
        chat_destinations,
        digest_status,
        email_destinations,
        find_team,
        period_to_send,
        send_digest,
    )

    team = find_team(config, args.team)
    now = utcnow()
    force = bool(getattr(args, "force", False))
    async with await _store(config) as store:
        # What start-up left (modules, flows, compiled SQL) is never garbage: out of the
        # collector's sight, its full passes during the digest cost 0.2-0.3 s less.
        freeze_startup_heap()
        sent = await send_digest(store, config, team, now, late=False, force=force)
        period = period_to_send(team, now)
        if not sent:
            print(
                f"digest of {team.name} for the week of {period.start_date} was already sent "
                "(use --force to send it again)",
                file=sys.stderr,
            )
            return EXIT_OK
        status = await digest_status(store, team.name)
    if status is not None and status.quiet:
        print(f"digest of {team.name}: nothing new and no open campaign, nothing sent")
        return EXIT_OK
    states = status.emails if status is not None else {}
    print(f"digest of {team.name} for the week of {period.start_date}:")
    for destination, _ in chat_destinations(team):
        print(f"  queued for {destination} (sent by the running bot)")
    failed = 0
    for address in email_destinations(team):
        state = states.get(address, "unknown")
        failed += state != "sent"
        print(f"  e-mail to {address}: {state}")
    return EXIT_ERROR if failed else EXIT_OK


async def cmd_export_site(args: argparse.Namespace, config: Config) -> int:
    """Write the static site into ``args.dir``."""
    from qn_bot.site import export_site

    out = Path(args.dir)
    language = getattr(args, "language", None) or "fr"
    async with await _store(config) as store:
        await export_site(
            store, out, utcnow(), language=language, min_respondents=config.site.min_respondents
        )
    print(f"wrote {out / 'index.html'}", file=sys.stderr)
    return EXIT_OK

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

Every destination gets an outbox row. Chat messages are sent by the running bot (`qn-bot run`);
e-mails get one attempt from this command itself, through ``[smtp]``, and what fails is retried
by the running bot.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qn_bot.clock import utcnow
from qn_bot.config import Config
from qn_bot.heap import freeze_startup_heap
from qn_bot.repositories import Database
from qn_bot.store.sql import Store

if TYPE_CHECKING:  # the digest modules are imported when a digest command runs
    from qn_bot.config import TeamConfig
    from qn_bot.digest.model import Digest
    from qn_bot.digest.send import DeliveryState

EXIT_OK, EXIT_ERROR = 0, 1


async def _store(config: Config) -> Store:
    from qn_bot.store.migrate import upgrade

    await upgrade(config.database.url)
    return Store.from_url(config.database.url)


async def cmd_digest_preview(args: argparse.Namespace, config: Config) -> int:
    """Print the digest of team ``args.team`` (Markdown-ish) on stdout."""
    from qn_bot.digest.render import render_preview
    from qn_bot.digest.send import find_team, preview_model

    team = find_team(config, args.team)
    async with await _store(config) as store:
        digest = await preview_model(
            store, config, team, utcnow(), current=bool(getattr(args, "current", False))
        )
    sys.stdout.write(render_preview(digest))
    chart = getattr(args, "chart", None)
    if chart:
        await asyncio.to_thread(_write_charts, digest, team, Path(chart))
    return EXIT_OK


def _write_charts(digest: Digest, team: TeamConfig, path: Path) -> None:
    """Each campaign's charts, as the team receives them: the weekly one to ``path`` and its
    themes over the weeks to ``<stem>-themes<suffix>`` beside it, for one campaign; for several,
    ``<stem>-<slug><suffix>`` and ``<stem>-<slug>-themes<suffix>``."""
    from qn_bot.digest.chart import render_chart  # matplotlib: only when drawing
    from qn_bot.digest.theme_chart import render_theme_chart

    several = len(digest.campaigns) > 1
    suffix = path.suffix or ".png"
    for campaign in digest.campaigns:
        stem = f"{path.stem}-{campaign.slug}" if several else path.stem
        charts = (
            ("chart", path.with_name(stem + suffix) if several else path, render_chart),
            ("themes chart", path.with_name(f"{stem}-themes{suffix}"), render_theme_chart),
        )
        for name, target, render in charts:
            png = render(campaign, team.language, team.timezone)
            if png is None:
                print(f"{campaign.slug}: no {name} to draw, no file written", file=sys.stderr)
                continue
            target.write_bytes(png)
            print(f"{name} of {campaign.slug} written to {target}", file=sys.stderr)


async def cmd_digest_send(args: argparse.Namespace, config: Config) -> int:
    """Send the digest of team ``args.team`` now; once per period unless ``args.force``.

    E-mails get one attempt from here (what fails is retried by the running bot); chat
    messages are left to the running bot. Exits 1 when a destination failed, is not sent yet,
    or cannot be reached with this configuration."""
    from qn_bot.digest.send import digest_status, find_team, period_to_send, send_digest

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
        if status is not None and not status.quiet:
            mails = [
                d.destination.removeprefix(MAILTO_PREFIX)
                for d in status.deliveries
                if d.destination.startswith(MAILTO_PREFIX) and d.status == "pending"
            ]
            if mails:
                await _send_emails_now(store, config, mails)
                status = await digest_status(store, team.name)
    if status is not None and status.quiet:
        print(f"digest of {team.name}: nothing new and no open campaign, nothing sent")
        return EXIT_OK
    print(f"digest of {team.name} for the week of {period.start_date}:")
    failed = 0
    for delivery in status.deliveries if status is not None else ():
        line, ok = _report(delivery, config.outbox.max_attempts)
        failed += not ok
        print(f"  {line}")
    if failed:
        print(
            f"error: the digest did not reach {failed} destination(s) (see above)",
            file=sys.stderr,
        )
    return EXIT_ERROR if failed else EXIT_OK


MAILTO_PREFIX = "mailto:"


async def _send_emails_now(store: Database, config: Config, addresses: list[str]) -> None:
    """One attempt at the e-mails queued for ``addresses``, through the outbox like the bot's
    own (a failure is recorded there and retried by the running bot)."""
    import importlib

    from qn_bot.outbox import OutboxWorker

    # Imported by name: adapters/ is mapped to qn_bot.adapters only once installed.
    email = importlib.import_module("qn_bot.adapters.email")
    adapter = email.EmailAdapter(config.smtp, reach=addresses)
    worker = OutboxWorker(store, {adapter.platform: adapter}, config=config.outbox)
    await worker.drain(within=SEND_WITHIN_SECONDS)


#: How long `digest send` keeps sending its e-mails before leaving the rest to the running bot.
SEND_WITHIN_SECONDS = 120.0


def _report(delivery: DeliveryState, max_attempts: int) -> tuple[str, bool]:
    """One line about one destination, and whether it counts as reached (or on its way)."""
    destination, error = delivery.destination, delivery.error or "unknown error"
    if delivery.status == "unreachable":
        return f"{destination}: cannot be reached: {error}", False
    if destination.startswith(MAILTO_PREFIX):
        address = destination.removeprefix(MAILTO_PREFIX)
        if delivery.status == "sent":
            return f"e-mail to {address}: sent", True
        if delivery.status == "failed":
            return f"e-mail to {address}: failed, not retried: {error}", False
        if delivery.attempts == 0:
            return f"e-mail to {address}: queued (being sent by the running bot)", True
        return (
            f"e-mail to {address}: not sent yet ({delivery.attempts} of {max_attempts} "
            f"attempts): {error}; the running bot (`qn-bot run`) retries it",
            False,
        )
    if delivery.status == "sent":
        return f"sent to {destination}", True
    if delivery.status == "failed":
        return f"{destination}: failed, not retried: {error}", False
    return f"queued for {destination} (sent by the running bot)", True


async def cmd_export_site(args: argparse.Namespace, config: Config) -> int:
    """Write the static site into ``args.dir``."""
    from qn_bot.site import export_site

    out = Path(args.dir)
    language = getattr(args, "language", None) or "fr"
    async with await _store(config) as store:
        await export_site(
            store,
            out,
            utcnow(),
            language=language,
            min_respondents=config.site.min_respondents,
            web_base_url=config.web.base_url,
        )
    print(f"wrote {out / 'index.html'}", file=sys.stderr)
    return EXIT_OK

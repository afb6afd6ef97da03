"""`qn-bot` command line (docs/architecture.md, "Contracts"): logs go to stderr, results to
stdout."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from qn_bot import __version__
from qn_bot.cli_digest import cmd_digest_preview, cmd_digest_send, cmd_export_site
from qn_bot.cli_help import document
from qn_bot.cli_moderate import add_parser as add_moderate_parser
from qn_bot.cli_opinions import add_parser as add_opinions_parser
from qn_bot.cli_recap import add_parser as add_recap_parser
from qn_bot.cli_themes import add_parser as add_themes_parser
from qn_bot.clock import utcnow
from qn_bot.config import Config, load_config
from qn_bot.disclosure import DEFAULT_MIN_RESPONDENTS
from qn_bot.domain import CampaignStatus, Moderation, UserRef
from qn_bot.errors import CampaignError, FlowError, QnBotError
from qn_bot.export import CSV_DIALECTS
from qn_bot.exporters import EXPORTERS, export_campaign
from qn_bot.flows.loader import builtin_flow_paths, load_flow_file, resolve_flow
from qn_bot.ports import Adapter
from qn_bot.redact import Redactor, config_secrets
from qn_bot.redact import install as install_redaction
from qn_bot.repositories import Transaction
from qn_bot.store.sql import Store

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
qn-bot runs Questions Numériques foresight campaigns in chat (Telegram, Matrix, console).

Start with `qn-bot chat` to try a campaign in this terminal, or `qn-bot run` to serve every
platform configured in the config file (see config.example.toml).
"""

EPILOG = """\
configuration: --config PATH, else $QN_BOT_CONFIG, else ./qn_bot.toml if present, else defaults
(SQLite file ./qn_bot.db, console). Secrets can come from the environment: QN_BOT_DATABASE_URL,
QN_BOT_TELEGRAM_TOKEN, QN_BOT_MATRIX_PASSWORD, QN_BOT_MATRIX_ACCESS_TOKEN, QN_BOT_SMTP_PASSWORD.
"""


def _parse_when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO date (e.g. 2026-12-01 or 2026-12-01T09:00+01:00)"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


_MIN_RESPONDENTS_HELP = (
    "anonymity threshold of this campaign: digests and the site show a section's answers only "
    "when at least N participants gave some, else a count (the team's or the site's own "
    "threshold applies too: the higher one)"
)
_MODERATION_HELP = (
    "post: items are public until a facilitator hides them; pre: only items a facilitator "
    "approved are public (`qn-bot moderate SLUG show ID`)"
)


def _config_after_the_command(parser: argparse.ArgumentParser) -> None:
    """Accept ``--config PATH`` after any command too (``qn-bot run --config PATH``).

    People write the option where they read it; the suppressed default keeps a value given
    before the command when none is given after it.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.add_argument(
                    "--config",
                    metavar="PATH",
                    default=argparse.SUPPRESS,
                    help="configuration file (TOML); same as before the command",
                )
                _config_after_the_command(child)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="qn-bot", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt
    )
    parser.add_argument("--config", metavar="PATH", help="configuration file (TOML)")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logs on stderr (-v info, -vv debug)",
    )
    parser.add_argument(
        "--log-format",
        choices=("human", "json"),
        default="human",
        help="logs on stderr as lines of text (default) or one JSON object a line",
    )
    parser.add_argument("--version", action="version", version=f"qn-bot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "run",
        help="serve every configured platform (console if none)",
        description="Apply migrations, then run the adapters, the outbox worker "
        "and the scheduler until SIGINT/SIGTERM. On an empty database the "
        "campaign construire-2030 is created from the built-in template and opened.",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "chat",
        help="chat as a citizen in this terminal",
        description="Console adapter: one message per line on stdin, the bot's "
        "messages on stdout, logs on stderr. Choices print as `[1] label` and are "
        "answered by number or label. End of input (Ctrl-D) ends the session; "
        "its state stays saved.",
        formatter_class=fmt,
    )
    p.add_argument("--campaign", metavar="SLUG", help="start (or resume) this campaign at once")
    p.add_argument(
        "--as",
        dest="as_name",
        metavar="NAME",
        default=None,
        help="chat as the citizen console:NAME (default: your login name)",
    )
    p.add_argument(
        "--attachments",
        metavar="DIR",
        type=Path,
        default=None,
        help="save the files the bot sends (/digest's chart and synthesis, /export) here; their "
        "paths are printed (default: a new temporary folder only you can read)",
    )
    p.set_defaults(func=cmd_chat)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("upgrade", help="apply the migrations (run applies them too)")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser(
        "backup",
        help="copy the SQLite database to PATH, also while the bot runs",
        description="A consistent copy of the running database through SQLite's online backup "
        "API; the bot goes on answering meanwhile. PostgreSQL: use pg_dump (see README).",
    )
    p.add_argument("path", metavar="PATH", help="the backup file to write (replaced if it exists)")
    p.set_defaults(func=cmd_db_backup)
    p = db.add_parser(
        "restore",
        help="replace the SQLite database with a backup (the bot must be stopped)",
        description="Checks the backup, then replaces the database with it. Refused while "
        "`qn-bot run`, `qn-bot chat` or any other process has the database open. Migrations "
        "newer than the backup are applied at the next start.",
    )
    p.add_argument("path", metavar="PATH", help="a file written by `qn-bot db backup`")
    p.set_defaults(func=cmd_db_restore)

    p = sub.add_parser(
        "doctor",
        help="check the config, the database and every configured platform",
        description="One line per check (config; database reachable, migrated, writable, free "
        "disk; Telegram getMe and webhook; Matrix whoami, device and crypto store, rooms; SMTP "
        "connect and log in, nothing sent), with the fix for each failure. Exit status 0 only "
        "when every check passed.",
    )
    p.set_defaults(func=cmd_doctor)

    flow = sub.add_parser("flow", help="check and list flow files").add_subparsers(
        dest="flow_command", required=True
    )
    p = flow.add_parser("validate", help="check flow files; errors name file, step and problem")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_flow_validate)
    p = flow.add_parser("list", help="list the built-in flows and those of flows_dir")
    p.set_defaults(func=cmd_flow_list)

    camp = sub.add_parser("campaign", help="create campaigns and move them through their life")
    csub = camp.add_subparsers(dest="campaign_command", required=True)
    p = csub.add_parser(
        "create",
        help="create a campaign (as a draft)",
        description="Create a campaign from a flow: a built-in flow id "
        "(see `qn-bot flow list`) or a path to a flow file. The flow is copied "
        "into the database, so later edits of the file do not change it.",
    )
    p.add_argument("slug", help="short name used in links, e.g. construire-2030")
    p.add_argument("--flow", required=True, metavar="FLOW_ID_OR_PATH")
    p.add_argument("--title", required=True)
    p.add_argument("--edition", metavar="LABEL", help='e.g. "Think Small 2016-2017"')
    p.add_argument("--opens", type=_parse_when, metavar="ISO")
    p.add_argument("--closes", type=_parse_when, metavar="ISO")
    p.add_argument(
        "--min-respondents",
        type=_positive,
        metavar="N",
        default=DEFAULT_MIN_RESPONDENTS,
        help=_MIN_RESPONDENTS_HELP + f" (default {DEFAULT_MIN_RESPONDENTS})",
    )
    p.add_argument(
        "--moderation",
        type=Moderation,
        choices=list(Moderation),
        help=_MODERATION_HELP + " (default: [moderation] default of the config, post)",
    )
    p.set_defaults(func=cmd_campaign_create)
    p = csub.add_parser("set", help="change a campaign's settings")
    p.add_argument("slug")
    p.add_argument("--min-respondents", type=_positive, metavar="N", help=_MIN_RESPONDENTS_HELP)
    p.add_argument("--moderation", type=Moderation, choices=list(Moderation), help=_MODERATION_HELP)
    p.set_defaults(func=cmd_campaign_set)
    for name, status, helptext in (
        ("open", CampaignStatus.OPEN, "open a campaign to citizens"),
        ("close", CampaignStatus.CLOSED, "close a campaign: answers are kept, no new ones"),
        ("archive", CampaignStatus.ARCHIVED, "archive a draft or closed campaign"),
    ):
        p = csub.add_parser(name, help=helptext)
        p.add_argument("slug")
        if status is CampaignStatus.OPEN:
            p.add_argument(
                "--broadcast",
                action="store_true",
                help="invite the citizens who consented in earlier campaigns (and did not /stop);"
                " the running bot sends the invitations, this shows their progress",
            )
            p.add_argument(
                "--no-wait", action="store_true", help="queue the invitations and return at once"
            )
        p.set_defaults(func=cmd_campaign_status, status=status)
    p = csub.add_parser("list", help="one line per campaign: slug, status, dates, counts")
    p.add_argument(
        "--format",
        choices=("table", "tsv", "json"),
        default="table",
        help="table: for people, in the config's language (default); tsv (with a header line) "
        "or json: for scripts, statuses as draft | open | closed | archived, ISO dates",
    )
    p.set_defaults(func=cmd_campaign_list)

    p = sub.add_parser(
        "export",
        help="export a campaign's answers",
        description="Participants appear as pseudonyms, or by the name they chose to sign "
        "with (/signer); never by a platform id.",
    )
    p.add_argument("slug")
    p.add_argument(
        "--format",
        choices=EXPORTERS.names(),
        default="md",
        help="; ".join(f"{e.name}: {e.description}" for e in EXPORTERS),
    )
    p.add_argument("--language", choices=("fr", "en"), default=None)
    p.add_argument(
        "--csv-dialect",
        choices=CSV_DIALECTS,
        default="rfc4180",
        help="with --format csv: rfc4180 (default: commas, UTF-8) or excel-fr (semicolons and "
        "a UTF-8 byte order mark: opens as is in a French-locale Excel or LibreOffice)",
    )
    p.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    p.set_defaults(func=cmd_export)

    digest = sub.add_parser(
        "digest", help="weekly team digests ([[teams]] in the config)"
    ).add_subparsers(dest="digest_command", required=True)
    p = digest.add_parser(
        "preview",
        help="print a team's digest in this terminal",
        description="The digest of the last completed week (or, with --current, of the week so "
        "far), as the team would receive it. Sends nothing.",
    )
    p.add_argument("team", help="a [[teams]] name of the config")
    p.add_argument("--current", action="store_true", help="the week so far")
    p.add_argument(
        "--chart",
        metavar="PNG",
        help="also write the charts the team receives: the weekly one to this file, the themes "
        "over the weeks to NAME-themes.png beside it (several campaigns: NAME-SLUG.png and "
        "NAME-SLUG-themes.png each)",
    )
    p.set_defaults(func=cmd_digest_preview)
    p = digest.add_parser(
        "send",
        help="send a team's digest now (once per period)",
        description="E-mails get one attempt from this command through [smtp]; what fails, and "
        "chat destinations, are left to the running bot (`qn-bot run`), which retries with "
        "backoff. Exits 1 when a destination failed, is not sent yet, or cannot be reached with "
        "this configuration. A period already sent is not sent again unless --force.",
    )
    p.add_argument("team", help="a [[teams]] name of the config")
    p.add_argument("--force", action="store_true", help="send even if already sent")
    p.set_defaults(func=cmd_digest_send)
    p = sub.add_parser(
        "export-site",
        help="write the static site: current edition and past editions",
        description="One page per campaign in the synthesis page's shape, with its version "
        "history, and an index grouping campaigns by edition. Plain HTML, no JavaScript.",
    )
    p.add_argument("dir", help="output folder (created if needed)")
    p.add_argument("--language", choices=("fr", "en"), default=None)
    p.set_defaults(func=cmd_export_site)

    add_opinions_parser(sub)
    add_recap_parser(sub)
    add_themes_parser(sub)

    fac = sub.add_parser("facilitator", help="grant or revoke the facilitator role")
    fsub = fac.add_subparsers(dest="facilitator_command", required=True)
    for name, helptext in (("add", "grant the role"), ("remove", "revoke the role")):
        p = fsub.add_parser(name, help=helptext)
        p.add_argument(
            "user", metavar="PLATFORM:USER_ID", help="e.g. telegram:12345 or console:alice"
        )
        p.add_argument("--campaign", metavar="SLUG", help="only for this campaign")
        p.set_defaults(func=cmd_facilitator, action=name)
    p = fsub.add_parser("list", help="list facilitators")
    p.set_defaults(func=cmd_facilitator_list)
    add_moderate_parser(sub)
    _config_after_the_command(parser)
    document(parser)
    return parser


# ---------------------------------------------------------------------- commands


async def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.app import run_forever

    await run_forever(config)
    return EXIT_OK


async def cmd_chat(args: argparse.Namespace, config: Config) -> int:
    import getpass
    import importlib

    from qn_bot.app import Application, prepare_database

    await prepare_database(config)
    name = args.as_name if args.as_name else getpass.getuser()
    # With a campaign its consent or first question is shown at once; without, a new citizen is
    # asked nothing before their first line, a known one sees where they stand.
    opening = f"/start {args.campaign}" if args.campaign else None
    # Imported by name: adapters/ is mapped to qn_bot.adapters only once installed.
    console_module = importlib.import_module("qn_bot.adapters.console")
    console: Adapter = console_module.ConsoleAdapter(
        name, opening=opening, language=config.language, attachments=args.attachments
    )
    ended = console.ended()
    assert ended is not None
    async with Application(config, [console], terminal=True):
        await ended.wait()
    return EXIT_OK


async def cmd_db_upgrade(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.store.migrate import upgrade

    await upgrade(config.database.url)
    print("database up to date")
    return EXIT_OK


async def cmd_db_backup(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.ops.backup import backup

    size = await asyncio.to_thread(backup, config.database.url, Path(args.path))
    print(f"backup written to {args.path} ({size} bytes)")
    return EXIT_OK


async def cmd_db_restore(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.ops.backup import restore

    revision = await asyncio.to_thread(restore, config.database.url, Path(args.path))
    print(f"database restored from {args.path} (schema {revision})")
    return EXIT_OK


async def cmd_doctor(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.ops.doctor import Check, run_checks

    def report(check: Check) -> None:
        print(check.line(), flush=True)

    return EXIT_OK if await run_checks(config, report) else EXIT_ERROR


async def cmd_flow_validate(args: argparse.Namespace, config: Config) -> int:
    failed = 0
    for path in args.paths:
        try:
            flow = load_flow_file(Path(path))
        except FlowError as exc:
            failed += 1
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
        else:
            print(
                f"ok: {path}: flow {flow.id!r} v{flow.version}, {len(flow.steps)} steps, "
                f"languages {', '.join(flow.languages)}"
            )
    return EXIT_ERROR if failed else EXIT_OK


async def cmd_flow_list(args: argparse.Namespace, config: Config) -> int:
    paths = list(builtin_flow_paths())
    if config.flows_dir is not None:
        paths += sorted(config.flows_dir.glob("*.toml"))
    for path in paths:
        try:
            flow = load_flow_file(path)
        except FlowError as exc:
            print(f"{path}: invalid ({len(exc.problems)} problem(s); see `qn-bot flow validate`)")
            continue
        title = flow.title.get(flow.default_language)
        print(f"{flow.id}\tv{flow.version}\t{'/'.join(flow.languages)}\t{title}\t{path}")
    return EXIT_OK


async def _with_tx(config: Config, fn: Callable[[Transaction], Awaitable[int]]) -> int:
    from qn_bot.store.migrate import upgrade

    await upgrade(config.database.url)
    async with Store.from_url(config.database.url) as store, store.transaction() as tx:
        return await fn(tx)


async def cmd_campaign_create(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.campaigns import create_campaign

    flow = resolve_flow(args.flow, config.flows_dir)

    async def go(tx: Transaction) -> int:
        campaign = await create_campaign(
            tx,
            slug=args.slug,
            flow=flow,
            title=args.title,
            edition=args.edition,
            opens_at=args.opens,
            closes_at=args.closes,
            now=utcnow(),
            min_respondents=args.min_respondents,
            moderation=args.moderation
            if args.moderation is not None
            else config.moderation.default,
        )
        print(
            f"created {campaign.slug} ({campaign.status.value}) from flow {flow.id} v{flow.version}"
        )
        return EXIT_OK

    return await _with_tx(config, go)


async def cmd_campaign_set(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.campaigns import set_min_respondents, set_moderation

    if args.min_respondents is None and args.moderation is None:
        print(
            "error: nothing to set: give --min-respondents N and/or --moderation post|pre",
            file=sys.stderr,
        )
        return EXIT_USAGE

    async def go(tx: Transaction) -> int:
        settings = [args.slug]
        if args.min_respondents is not None:
            campaign = await set_min_respondents(tx, args.slug, args.min_respondents)
            settings.append(f"min-respondents={campaign.min_respondents}")
        if args.moderation is not None:
            campaign = await set_moderation(tx, args.slug, args.moderation)
            settings.append(f"moderation={campaign.moderation.value}")
        print("\t".join(settings))
        return EXIT_OK

    return await _with_tx(config, go)


async def cmd_campaign_status(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.campaigns import invite, invite_prefix, set_status

    prefix = ""

    async def go(tx: Transaction) -> int:
        nonlocal prefix
        campaign = await set_status(tx, args.slug, args.status, utcnow())
        print(f"{campaign.slug}\t{campaign.status.value}")
        if getattr(args, "broadcast", False):
            queued = await invite(tx, campaign, utcnow())
            prefix = invite_prefix(campaign)
            print(f"{queued} invitation(s) queued", file=sys.stderr)
        return EXIT_OK

    code = await _with_tx(config, go)
    if prefix and not args.no_wait:
        await _follow_outbox(config, prefix)
    return code


async def _follow_outbox(config: Config, prefix: str, *, stall_hint_seconds: float = 30.0) -> None:
    """A progress bar over queued messages, sent by the running bot (`qn-bot run`).

    Ctrl-C stops watching, not sending: the rows stay queued and the bot goes on.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    async with Store.from_url(config.database.url) as store:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),  # stdout stays for results
            transient=False,
        ) as progress:
            task = progress.add_task("invitations", total=None)
            last_done, last_change = -1, asyncio.get_running_loop().time()
            while True:
                async with store.transaction() as tx:
                    done, total = await tx.outbox.outbox_progress(prefix)
                progress.update(task, completed=done, total=total)
                if done >= total:
                    return
                now = asyncio.get_running_loop().time()
                if done != last_done:
                    last_done, last_change = done, now
                elif now - last_change > stall_hint_seconds:
                    progress.console.print(
                        "no progress: is `qn-bot run` running? (Ctrl-C stops watching; the"
                        " invitations stay queued)"
                    )
                    last_change = now
                await asyncio.sleep(0.5)


async def cmd_campaign_list(args: argparse.Namespace, config: Config) -> int:
    from qn_bot.campaign_list import campaign_rows, render_json, render_table, render_tsv

    async def go(tx: Transaction) -> int:
        rows = await campaign_rows(tx)
        if args.format == "tsv":
            sys.stdout.write(render_tsv(rows))
        elif args.format == "json":
            sys.stdout.write(render_json(rows))
        elif rows:
            sys.stdout.write(render_table(rows, config.language, config.reminders.timezone))
        else:
            print("no campaign yet: `qn-bot campaign create --help` says how", file=sys.stderr)
        return EXIT_OK

    return await _with_tx(config, go)


async def cmd_export(args: argparse.Namespace, config: Config) -> int:
    async def go(tx: Transaction) -> int:
        text = await export_campaign(
            tx, args.slug, args.format, args.language, utcnow(), csv_dialect=args.csv_dialect
        )
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return EXIT_OK

    return await _with_tx(config, go)


async def cmd_facilitator(args: argparse.Namespace, config: Config) -> int:
    user = UserRef.parse(args.user)

    async def go(tx: Transaction) -> int:
        campaign_id = None
        if args.campaign:
            campaign = await tx.campaigns.campaign_by_slug(args.campaign)
            if campaign is None:
                raise CampaignError.no_campaign(args.campaign)
            campaign_id = campaign.id
        if args.action == "add":
            changed = await tx.facilitators.grant_facilitator(user, "cli", utcnow(), campaign_id)
            print(f"{user} is a facilitator" + ("" if changed else " (already)"))
        else:
            changed = await tx.facilitators.revoke_facilitator(user, campaign_id)
            print(
                f"{user} is no longer a facilitator" if changed else f"{user} was not a facilitator"
            )
        return EXIT_OK

    return await _with_tx(config, go)


async def cmd_facilitator_list(args: argparse.Namespace, config: Config) -> int:
    async def go(tx: Transaction) -> int:
        for user, slug in await tx.facilitators.facilitators():
            print(f"{user}\t{slug if slug else '(all campaigns)'}")
        for admin in config.admins:
            print(f"{admin}\t(admin, from the config)")
        return EXIT_OK

    return await _with_tx(config, go)


# ---------------------------------------------------------------------- entry point


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


async def _dumping_stacks(command: Awaitable[int]) -> int:
    from qn_bot.ops.stacks import dump_on_signal

    with dump_on_signal(asyncio.get_running_loop()):
        return await command


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    if args.command == "run":
        level = min(level, logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)
    formats = [(handler, handler.formatter) for handler in logging.getLogger().handlers]
    if args.log_format == "json":
        from qn_bot.ops.logs import JsonFormatter

        for handler, _ in formats:
            handler.setFormatter(JsonFormatter())
    if args.verbose < 2:
        # Their INFO lines (every job run, every migration step) drown ours; -vv shows them.
        for noisy in ("apscheduler", "alembic", "aiosqlite", "httpx", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    redact = Redactor(())
    umask: int | None = None
    restore_logging: Callable[[], None] | None = None
    try:
        config = load_config(args.config)
        redact = Redactor(config_secrets(config))
        restore_logging = install_redaction(redact, LOG_FORMAT)
        # Before anything is created: the database, its -wal and -shm, exports, the site.
        umask = os.umask(config.umask)
        return int(asyncio.run(_dumping_stacks(args.func(args, config))))
    except (QnBotError, ValueError) as exc:
        # What the user must fix or wait for, said in one line each: no traceback.
        print(redact(f"error: {exc}"), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    finally:
        # main() may be called in-process (tests): leave the process as it was.
        if umask is not None:
            os.umask(umask)
        if restore_logging is not None:
            restore_logging()
        for handler, formatter in formats:
            handler.setFormatter(formatter)


if __name__ == "__main__":
    raise SystemExit(main())

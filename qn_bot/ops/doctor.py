"""`qn-bot doctor`: one line per check, with the fix for each failure; exit 0 only when all pass.

Platforms are asked over their plain HTTP APIs (aiohttp), not through the adapters' libraries:
a check must run without starting the bot, and no platform type enters the core. Nothing is
sent to anyone: Telegram's getMe and getWebhookInfo, Matrix's whoami and joined_rooms, an SMTP
connection that logs in and quits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import text

from qn_bot.clock import utcnow
from qn_bot.config import Config
from qn_bot.store.database import sqlite_path
from qn_bot.store.kv import StoreKeyValue
from qn_bot.store.migrate import alembic_config
from qn_bot.store.sql import Store

TELEGRAM_API = "https://api.telegram.org/bot"
#: Below this much free space next to a SQLite database, the check fails.
MIN_FREE_BYTES = 200 * 1024 * 1024
TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name}: {self.detail}"
        return f"FAIL  {self.name}: {self.detail} — fix: {self.fix}"


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


async def run_checks(config: Config, report: Callable[[Check], None]) -> bool:
    """Every check, each reported as soon as it is done; True when all passed."""
    checks: list[Callable[[Config], Awaitable[list[Check]]]] = [
        _config,
        _database,
        _telegram,
        _matrix,
        _smtp,
    ]
    ok = True
    for check in checks:
        for result in await check(config):
            report(result)
            ok = ok and result.ok
    return ok


async def _config(config: Config) -> list[Check]:
    where = str(config.source) if config.source is not None else "defaults (no config file)"
    return [passed("config", f"{where} is valid")]


async def _database(config: Config) -> list[Check]:
    url = config.database.url
    results: list[Check] = []
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return [
            failed(
                "database",
                f"no database file at {path}",
                "run `qn-bot db upgrade` (or `qn-bot run`, which creates it)",
            )
        ]
    store = Store.from_url(url)
    try:
        try:
            async with asyncio.timeout(TIMEOUT), store.snapshot() as tx:
                await tx.conn.execute(text("SELECT 1"))
                current = await tx.conn.run_sync(_current_revision)
        except Exception as exc:
            return [
                failed(
                    "database",
                    f"cannot be reached: {_one_line(exc)}",
                    "check [database] url / QN_BOT_DATABASE_URL and that the server runs",
                )
            ]
        results.append(passed("database", "reachable"))
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        if current == head:
            results.append(passed("database schema", f"migrated (revision {head})"))
        else:
            results.append(
                failed(
                    "database schema",
                    f"at revision {current or 'none'}, the code expects {head}",
                    "run `qn-bot db upgrade` (`qn-bot run` does it at start)",
                )
            )
        try:
            async with asyncio.timeout(TIMEOUT), store.transaction() as tx:
                # A write that changes nothing: it needs the write lock and a writable file.
                await tx.conn.execute(text("CREATE TEMPORARY TABLE doctor_probe (x INTEGER)"))
                await tx.conn.execute(text("INSERT INTO doctor_probe VALUES (1)"))
                await tx.conn.execute(text("DROP TABLE doctor_probe"))
                if path is not None and not os.access(path, os.W_OK):
                    raise PermissionError(f"{path} is read-only for this user")
            results.append(passed("database writable", "a write transaction went through"))
        except Exception as exc:
            results.append(
                failed(
                    "database writable",
                    _one_line(exc),
                    "give the bot's user write access to the database (and its folder), or "
                    "stop what holds the write lock",
                )
            )
    finally:
        await store.close()
    if path is not None:
        free = shutil.disk_usage(path.resolve().parent).free
        mb = free // (1024 * 1024)
        if free >= MIN_FREE_BYTES:
            results.append(passed("disk", f"{mb} MB free next to the database"))
        else:
            results.append(
                failed(
                    "disk",
                    f"only {mb} MB free next to the database",
                    "free some space (the database, its journal and backups need it)",
                )
            )
    return results


def _current_revision(connection: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    revision: str | None = MigrationContext.configure(connection).get_current_revision()
    return revision


async def _get_json(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> Any:
    async with session.get(url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def _telegram(config: Config) -> list[Check]:
    settings = config.telegram
    if settings.token is None:
        return []
    token = settings.token.get_secret_value()
    base = f"{settings.base_url or TELEGRAM_API}{token}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http:
            status, me = await _get_json(http, f"{base}/getMe")
            if status == 401 or not me.get("ok"):
                return [
                    failed(
                        "telegram",
                        f"the token is refused ({me.get('description', status)})",
                        "set QN_BOT_TELEGRAM_TOKEN to the token @BotFather gave",
                    )
                ]
            _, hook = await _get_json(http, f"{base}/getWebhookInfo")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # Never the URL: it holds the token.
        return [
            failed(
                "telegram",
                f"cannot reach the Bot API ({type(exc).__name__})",
                "check the network (or a proxy) to api.telegram.org, and [telegram] base_url",
            )
        ]
    username = me.get("result", {}).get("username", "?")
    results = [passed("telegram", f"getMe answered: @{username}")]
    info = hook.get("result", {}) if isinstance(hook, dict) else {}
    url = info.get("url", "")
    if settings.mode == "webhook":
        if url != settings.webhook_url:
            results.append(
                failed(
                    "telegram webhook",
                    f"Telegram calls {url or 'no webhook'}, the config says {settings.webhook_url}",
                    "start `qn-bot run` (it sets the webhook), and check [telegram] webhook_url",
                )
            )
        elif info.get("last_error_message"):
            results.append(
                failed(
                    "telegram webhook",
                    f"Telegram's last call failed: {info['last_error_message']}",
                    "check that the HTTPS proxy forwards webhook_url to [telegram] listen:port",
                )
            )
        else:
            pending = info.get("pending_update_count", 0)
            results.append(passed("telegram webhook", f"set, {pending} update(s) pending"))
    else:
        detail = "none set (polling)" if not url else f"{url} set; `qn-bot run` removes it"
        results.append(passed("telegram webhook", detail))
    return results


async def _matrix(config: Config) -> list[Check]:
    settings = config.matrix
    if not settings.homeserver:
        return []
    token = settings.access_token.get_secret_value() if settings.access_token else None
    device: str | None = None
    if token is None:
        store = Store.from_url(config.database.url)
        try:
            saved = await StoreKeyValue(store, utcnow, "adapter:matrix").get("session")
        except Exception:
            saved = None
        finally:
            await store.close()
        if isinstance(saved, dict) and saved.get("user_id") == settings.user_id:
            token, device = saved.get("access_token"), saved.get("device_id")
    if token is None:
        return [
            failed(
                "matrix",
                "no access token yet (the bot has never logged in)",
                "start `qn-bot run` once with [matrix] password (QN_BOT_MATRIX_PASSWORD)",
            )
        ]
    api = f"{settings.homeserver.rstrip('/')}/_matrix/client/v3"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http:
            status, who = await _get_json(http, f"{api}/account/whoami", headers=headers)
            if status != 200:
                return [
                    failed(
                        "matrix",
                        f"whoami refused: {who.get('errcode', status)}",
                        "the access token was revoked: set QN_BOT_MATRIX_PASSWORD and restart",
                    )
                ]
            _, rooms = await _get_json(http, f"{api}/joined_rooms", headers=headers)
            password = (
                await _matrix_password(
                    http, api, headers, str(who.get("user_id")), settings.password
                )
                if settings.password is not None
                else None
            )
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return [
            failed(
                "matrix",
                f"cannot reach {settings.homeserver} ({type(exc).__name__})",
                "check [matrix] homeserver and the network",
            )
        ]
    results = [passed("matrix", f"whoami: {who.get('user_id')} (device {who.get('device_id')})")]
    if password is not None:
        results.append(password)
    device = str(who.get("device_id") or device or "")
    results.append(_crypto_store(Path(settings.store_path), str(who.get("user_id")), device))
    joined = rooms.get("joined_rooms", []) if isinstance(rooms, dict) else []
    results.append(passed("matrix rooms", f"{len(joined)} room(s) joined"))
    return results


def _crypto_store(directory: Path, user_id: str, device: str) -> Check:
    """The device the crypto store holds keys for is the one the homeserver knows the bot as.
    The store is matrix-nio's SQLite file ``<user>_<device>.db``: its accounts table names the
    device, read here with plain sqlite3 (no platform library in the core)."""
    fix = (
        "restore [matrix] store_path from the backup taken with the database; without it "
        "the bot comes back as a new device"
    )
    path = directory / f"{user_id}_{device}.db"
    if path.is_file():
        held = _store_devices(path, user_id)
        if device in held:
            return passed("matrix crypto store", f"{path} holds the keys of device {device}")
        return failed(
            "matrix crypto store",
            f"{path} holds no keys of device {device}"
            + (f" (it holds device {', '.join(sorted(held))}'s)" if held else ""),
            fix,
        )
    others = sorted(
        held
        for other in directory.glob(f"{user_id}_*.db")
        for held in _store_devices(other, user_id)
    )
    where = f"only device {', '.join(others)}'s" if others else "none"
    return failed(
        "matrix crypto store",
        f"no crypto store for device {device} in {directory} ({where})",
        fix,
    )


def _store_devices(path: Path, user_id: str) -> set[str]:
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT device_id FROM accounts WHERE user_id = ?", (user_id,))
            return {str(device) for (device,) in rows}
    except sqlite3.Error:
        return set()


async def _matrix_password(
    http: aiohttp.ClientSession,
    api: str,
    headers: dict[str, str],
    user_id: str,
    password: SecretStr,
) -> Check:
    """Whether the homeserver takes the password the bot logs in with once its token is
    revoked. Asked through user-interactive auth on a request that changes nothing (delete no
    device): a login would make a device, and one on the bot's own device would revoke the
    running bot's token."""
    url = f"{api}/delete_devices"
    async with http.post(url, headers=headers, json={"devices": []}) as response:
        flows = await response.json(content_type=None)
    if response.status == 200:  # a server that asks no password to delete no device
        return passed("matrix password", "not checked: the homeserver did not ask for it")
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password.get_secret_value(),
        "session": flows.get("session"),
    }
    async with http.post(url, headers=headers, json={"devices": [], "auth": auth}) as response:
        answer = await response.json(content_type=None)
    if response.status == 200:
        return passed("matrix password", "accepted by the homeserver")
    return failed(
        "matrix password",
        f"refused by the homeserver ({answer.get('errcode', response.status)})",
        "set QN_BOT_MATRIX_PASSWORD to the bot account's password (needed to log in again "
        "when the access token is revoked)",
    )


async def _smtp(config: Config) -> list[Check]:
    if not any(d.startswith("mailto:") for team in config.teams for d in team.destinations):
        return []
    smtp = config.smtp
    client = aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, start_tls=smtp.starttls, timeout=TIMEOUT
    )
    try:
        await client.connect()
        if smtp.username and smtp.password is not None:
            await client.login(smtp.username, smtp.password.get_secret_value())
        await client.quit()
    except aiosmtplib.SMTPAuthenticationError as exc:
        return [
            failed(
                "smtp",
                f"{smtp.host}:{smtp.port} refused the login ({exc.code})",
                "check QN_BOT_SMTP_USERNAME / QN_BOT_SMTP_PASSWORD",
            )
        ]
    except (aiosmtplib.SMTPException, OSError) as exc:
        return [
            failed(
                "smtp",
                f"cannot connect to {smtp.host}:{smtp.port} ({_one_line(exc)})",
                "check [smtp] host, port and starttls, and that the mail server runs",
            )
        ]
    login = " and logged in" if smtp.username else ""
    return [passed("smtp", f"connected to {smtp.host}:{smtp.port}{login} (nothing sent)")]


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

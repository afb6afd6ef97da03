"""Broadcast to N Telegram citizens under Telegram's limit of 30 messages/s per bot.

Set-up (not measured): a SQLite database built by the real migrations, with N citizens who
consented in an earlier campaign (one citizen taken through consent by the real `Service`, its
rows copied in bulk for every other one, each with its own Telegram private chat), and a new
campaign in draft. The Bot API emulator (telegram-test-api with our launcher, started by the
integration tests' own helper) adds BENCH_DELAY_MS to every call, as a network would.

Measured: the bot runs as `qn-bot run` (its own process, production pacing from the [telegram]
keys), then `qn-bot campaign open SLUG --broadcast --no-wait` queues the invitations as a
facilitator would; the bot's outbox worker and Telegram adapter send them. This process
collects what reaches the emulator (with the emulator's own time stamp, in seconds) and
reports the rate over the steady part (first and last 5 % of arrivals left out), every
error the bot logged or stored, and — since the emulator has no flood control of its own —
every second in which more than 30 messages arrived (Telegram would have answered 429), and
the busiest sliding one-second window as seen by our collector (polling every 10 ms).

BENCH_CITIZENS sets N (default 10,000: ≥ 333 s at 30 messages/s; smaller while iterating).

Target (issue "PostgreSQL, several bot processes, and benchmarks"): ≥ 95 % of the allowed rate
(28.5 messages/s) and no 429.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from qn_bot.app import prepare_database
from qn_bot.campaigns import create_campaign
from qn_bot.config import Config
from qn_bot.domain import Address, InboundKind, InboundMessage, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store

CITIZENS = int(os.environ.get("BENCH_CITIZENS", "10000"))
DELAY_MS = int(os.environ.get("BENCH_DELAY_MS", "50"))
LIMIT_PER_SECOND = 30  # Telegram: about 30 messages/s per bot
TARGET_SHARE = 0.95
SLUG = "think-small"
FIRST_CHAT = 2_000_001
CHUNK = 5000


# ---------------------------------------------------------------------------------- set-up


async def populate(config: Config, citizens: int) -> dict[str, Any]:
    """N Telegram citizens who consented in the built-in campaign; a new campaign in draft."""
    await prepare_database(config)  # migrations + the built-in campaign, open
    store = Store.from_url(config.database.url)
    started = time.perf_counter()
    try:
        seed = str(FIRST_CHAT - 1)

        def said(n: int, text: str) -> InboundMessage:
            return InboundMessage(
                sender=UserRef("telegram", seed),
                address=Address("telegram", seed),
                message_id=f"seed:{n}",
                kind=InboundKind.TEXT,
                text=text,
            )

        service = Service(store)
        for n, text in enumerate(("/start construire-2030", "1", "/stop")):
            await service.handle(said(n, text))
        async with store.transaction() as tx:
            conn = tx.conn
            participant = dict((await conn.execute(select(t.participants))).one()._mapping)
            session = dict((await conn.execute(select(t.sessions))).one()._mapping)
            for table in (t.processed_messages, t.outbox, t.sessions, t.participants):
                await conn.execute(table.delete())
            now = dt.datetime.now(dt.UTC)
            await create_campaign(
                tx, slug=SLUG, flow=resolve_flow("construire-2030"), title="Think Small", now=now
            )
        assert session["consent_version"] is not None, session
        for first in range(0, citizens, CHUNK):
            ids = range(first + 1, min(citizens, first + CHUNK) + 1)
            async with store.transaction() as tx:
                await tx.conn.execute(
                    insert(t.participants),
                    [
                        participant
                        | {
                            "id": i,
                            "platform_user_id": str(FIRST_CHAT + i),
                            "reply_chat_id": str(FIRST_CHAT + i),
                            "pseudonym": f"P-{i:08X}",
                            "stopped": False,  # the seed's /stop only ended its session
                            "active_campaign_id": None,
                        }
                        for i in ids
                    ],
                )
                await tx.conn.execute(
                    insert(t.sessions),
                    [session | {"id": i, "participant_id": i} for i in ids],
                )
    finally:
        await store.close()
    return {"citizens": citizens, "set_up_s": round(time.perf_counter() - started, 1)}


# ---------------------------------------------------------------------------------- run


def qn_bot(*args: str) -> list[str]:
    return [sys.executable, "-m", "qn_bot", *args]


def start_bot(env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(qn_bot("run"), stdout=log, stderr=log, env=env)


async def outbox_figures(config: Config) -> dict[str, Any]:
    o = t.outbox.c
    async with Store.from_url(config.database.url) as store, store.transaction() as tx:
        rows = (
            await tx.conn.execute(
                select(o.status, func.count(), func.sum(o.attempts), func.count(o.last_error))
                .where(o.dedupe_key.like("invite:%"))
                .group_by(o.status)
            )
        ).all()
    figures: dict[str, Any] = {f"outbox_{status}": count for status, count, _, _ in rows}
    figures["send_attempts"] = sum(int(attempts or 0) for _, _, attempts, _ in rows)
    figures["rows_with_error"] = sum(errors for _, _, _, errors in rows)
    return figures


async def broadcast(root: Path, citizens: int) -> dict[str, Any]:
    from tests.integration.telegram.harness import BotHub, Emulator, new_token

    emulator = await asyncio.to_thread(Emulator, delay_ms=DELAY_MS)
    token = new_token()
    path = root / "qn_bot.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{(root / "broadcast.db").as_posix()}"\n\n'
        f'[telegram]\ntoken = "{token}"\nbase_url = "{emulator.url}/bot"\n',  # default pacing
        encoding="utf-8",
    )
    config = Config.model_validate(
        {
            "database": {"url": f"sqlite:///{(root / 'broadcast.db').as_posix()}"},
            "telegram": {"token": token, "base_url": f"{emulator.url}/bot"},
        }
    )
    result: dict[str, Any] = {"set-up": await populate(config, citizens)}
    log_path = root / "bot.log"
    log = log_path.open("wb")
    env = dict(os.environ, QN_BOT_CONFIG=str(path))
    bot = start_bot(env, log)
    arrivals: list[tuple[float, int, int]] = []  # (collected at, emulator second, chat id)
    load = os.getloadavg()
    try:
        async with BotHub(emulator.url, token) as hub:
            # The bot is up once it has asked the emulator for updates.
            deadline = time.monotonic() + 60
            while not (await hub.state()).get("calls", {}).get("getUpdates"):
                assert bot.poll() is None, f"the bot stopped: see {log_path}"
                assert time.monotonic() < deadline, f"the bot did not start: see {log_path}"
                await asyncio.sleep(0.2)
            hub_task = hub._task  # BotHub's own collector would eat the messages: stop it
            if hub_task is not None:
                hub_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hub_task
            began = time.monotonic()
            opened = await asyncio.to_thread(
                subprocess.run,
                qn_bot("campaign", "open", SLUG, "--broadcast", "--no-wait"),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert opened.returncode == 0, opened.stderr
            queued_s = time.monotonic() - began
            allowed = citizens / LIMIT_PER_SECOND
            deadline = time.monotonic() + 2 * allowed + 60
            while len(arrivals) < citizens and time.monotonic() < deadline:
                found = await hub.call("/_qn/bot_messages")
                now = time.monotonic()
                arrivals += [(now, int(m["date"]), int(m["chat_id"])) for m in found]
                if not found:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(2)  # anything sent twice arrives too
            found = await hub.call("/_qn/bot_messages")
            arrivals += [(time.monotonic(), int(m["date"]), int(m["chat_id"])) for m in found]
            calls = (await hub.state()).get("calls", {})
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(bot.wait, 20)
            if bot.poll() is None:
                bot.kill()
        log.close()
        emulator.stop()
    result["run"] = figures(arrivals, citizens, began, queued_s)
    result["run"]["sendMessage_calls"] = calls.get("sendMessage", 0)
    result["run"] |= await outbox_figures(config)
    logged = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    result["run"]["bot_log_errors"] = sum(
        1 for line in logged if " ERROR " in line or "Traceback" in line or "429" in line
    )
    result["run"]["load_average_at_start"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    result["run"]["bot_log"] = str(log_path)
    return result


def figures(
    arrivals: list[tuple[float, int, int]], citizens: int, began: float, queued_s: float
) -> dict[str, Any]:
    times = sorted(a[0] for a in arrivals)
    chats = collections.Counter(a[2] for a in arrivals)
    per_second = collections.Counter(a[1] for a in arrivals)  # the emulator's own clock
    over = {s: n for s, n in per_second.items() if n > LIMIT_PER_SECOND}
    # Busiest sliding second as collected (collection lags arrival by ≤ one poll).
    busiest, j = 0, 0
    for i, at in enumerate(times):
        while times[j] < at - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    cut = len(times) // 20
    steady = times[cut : len(times) - cut]
    steady_rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    whole = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    full_seconds = sorted(per_second.items())[1:-1]  # the first and last seconds are partial
    return {
        "citizens": citizens,
        "bot_api_delay_ms": DELAY_MS,
        "invitations_queued_s": round(queued_s, 1),
        "messages_arrived": len(arrivals),
        "chats_reached": len(chats),
        "chats_with_duplicates": sum(1 for n in chats.values() if n > 1),
        "first_arrival_after_s": round(times[0] - began, 1) if times else None,
        "sending_s": round(times[-1] - times[0], 1) if times else None,
        "rate_whole_per_s": round(whole, 2),
        "rate_steady_per_s": round(steady_rate, 2),
        "share_of_allowed": round(steady_rate / LIMIT_PER_SECOND, 3),
        "seconds_over_limit": len(over),
        "worst_second": max(per_second.values()) if per_second else 0,
        "over_limit_detail": dict(sorted(over.items())[:10]),
        "min_full_second": min((n for _, n in full_seconds), default=0),
        "busiest_sliding_second": busiest,
    }


async def main() -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="qn-bench-broadcast-"))
    result = await broadcast(root, CITIZENS)
    run = result["run"]
    result["target"] = (
        f"≥ {TARGET_SHARE:.0%} of {LIMIT_PER_SECOND} messages/s "
        f"(≥ {TARGET_SHARE * LIMIT_PER_SECOND:g}/s) and no 429"
    )
    result["passed"] = (
        run["share_of_allowed"] >= TARGET_SHARE
        and run["seconds_over_limit"] == 0
        and run["chats_reached"] == CITIZENS
        and run["bot_log_errors"] == 0
    )
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(main()), indent=2, default=str))

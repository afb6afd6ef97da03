"""Telegram throughput: many citizens at once through the Bot API emulator, with a network delay.

The emulator (tests/servers/telegram/launcher.js) adds DELAY_MS to every Bot API call, as a real
network round trip would. The bot runs as its own process (the Application with the Telegram
adapter, found through its entry point, on a fresh SQLite file); this process plays the citizens.
Each citizen answers the first questions of Construire 2030: items one by one, then "Suivant"
pressed on the keyboard, and waits for the bot's answer to each action before the next (after a
short think time). An action's latency runs from the moment it is sent to the arrival of the
reply that answers it.

Scenarios: "bot capacity" raises the pacing (adapter and outbox; the emulator has no limits:
this is what the bot itself can do), "telegram pacing" keeps the production pacing (30 messages/s
per bot, about 1/s per chat), which caps replies whatever the bot can do, and "adapter only (no
database)" replaces qn-bot's service by a scripted sink answering like the flow: the Telegram
adapter's own capacity. BENCH_TRACE=1 prints where the bot's time goes (in its log),
BENCH_PROFILE=FILE writes a cProfile of the bot process.

Target (issue 3): 100 citizens, 50 ms per Bot API call: ≥ 100 actions/s with p95 ≤ 300 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CITIZENS = int(os.environ.get("BENCH_CITIZENS", "100"))
DELAY_MS = int(os.environ.get("BENCH_DELAY_MS", "50"))
THINK_SECONDS = float(os.environ.get("BENCH_THINK", "0.5"))
ALL_STEPS = ("pourquoi", "meurt", "dysfonctionne", "nait", "horizons", "moyens_types")
STEPS = ALL_STEPS[: int(os.environ.get("BENCH_STEPS", "5"))]
OUTBOX_CONCURRENCY = int(os.environ.get("BENCH_OUTBOX_CONCURRENCY", "100"))
ITEMS_PER_STEP = 5
SLUG = "construire-2030"
TARGET_RATE = 100.0
TARGET_P95_MS = 300.0


@dataclass
class Scenario:
    name: str
    limits: dict[str, float] = field(default_factory=dict)  # [telegram] pacing keys
    echo: bool = False  # the adapter alone: a scripted sink instead of qn-bot's service


SCENARIOS = (
    Scenario(
        "bot capacity",
        {"messages_per_second": 1000.0, "chat_messages_per_second": 20.0, "chat_burst": 20},
    ),
    Scenario("telegram pacing", {}),
    Scenario(
        "adapter only (no database)",
        {"messages_per_second": 1000.0, "chat_messages_per_second": 20.0, "chat_burst": 20},
        echo=True,
    ),
)


# ---------------------------------------------------------------------------------- bot process


def serve(config_path: str) -> None:
    """`python -m bench.telegram_throughput serve CONFIG` (pacing from its [telegram] keys)."""
    from qn_bot.adapters.telegram import TelegramAdapter

    from qn_bot.app import Application, prepare_database
    from qn_bot.config import load_config
    from qn_bot.heap import freeze_startup_heap

    async def run() -> None:
        config = load_config(config_path)
        if os.environ.get("BENCH_ECHO"):
            await echo(config)
            return
        await prepare_database(config)
        app = Application(config)
        adapter = app.adapters["telegram"]
        assert isinstance(adapter, TelegramAdapter)
        if os.environ.get("BENCH_TRACE"):
            _trace(app, adapter)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with app:
            freeze_startup_heap()  # as `qn-bot run` does once started
            print("ready", flush=True)
            await stop.wait()

    profile_to = os.environ.get("BENCH_PROFILE")
    if profile_to:  # where the bot's CPU goes: python -m pstats FILE
        import cProfile

        with cProfile.Profile() as profiler:
            try:
                asyncio.run(run())
            finally:
                profiler.dump_stats(profile_to)
    else:
        asyncio.run(run())


async def echo(config: Any) -> None:
    """The adapter with a scripted sink that answers like the flow would, with no database:
    what the Telegram adapter can do by itself."""
    from qn_bot.adapters.telegram import TelegramAdapter, TelegramSettings

    from qn_bot.clock import utcnow
    from qn_bot.domain import Button, ButtonKind, Envelope, InboundKind, InboundMessage
    from qn_bot.domain import OutboundMessage as Out
    from tests.integration.construire import CONSENT_QUESTION, prompt

    class MemoryKV:
        def __init__(self) -> None:
            self.data: dict[str, Any] = {}

        async def get(self, key: str) -> Any:
            return self.data.get(key)

        async def set(self, key: str, value: Any) -> None:
            self.data[key] = value

    settings = TelegramSettings.from_config(config)
    assert settings is not None
    adapter = TelegramAdapter(settings, MemoryKV())  # paced by the config's [telegram] keys
    nxt = (Button(ButtonKind.COMMAND, "suivant", "Suivant ➡"),)
    counts: dict[str, int] = {}
    steps: dict[str, int] = {}
    outbox_ids = iter(range(1, 10**9))
    sending: set[asyncio.Task[None]] = set()
    del utcnow

    async def sink(msg: InboundMessage) -> None:
        chat = msg.address.chat_id
        if msg.kind is InboundKind.CHOICE:
            steps[chat], counts[chat] = 0, 0
            out = Out(prompt(ALL_STEPS[0]), buttons=nxt)
        elif msg.text.startswith("/start"):
            out = Out(
                CONSENT_QUESTION,
                buttons=(Button(ButtonKind.CHOICE, "accept", "J’accepte"),),
            )
        elif msg.text == "/suivant":
            steps[chat] = steps.get(chat, 0) + 1
            counts[chat] = 0
            out = Out(prompt(ALL_STEPS[steps[chat]]), buttons=nxt)
        else:
            counts[chat] = counts.get(chat, 0) + 1
            out = Out(f"✓ Noté ({counts[chat]} au total). Une autre idée ?", buttons=nxt)
        envelope = Envelope(next(outbox_ids), msg.address, out)
        task = asyncio.create_task(adapter.send(envelope))  # like the outbox, after the commit
        sending.add(task)
        task.add_done_callback(sending.discard)

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await adapter.start(sink)
    print("ready", flush=True)
    await stop.wait()
    await adapter.stop()


def _trace(app: Any, adapter: Any) -> None:
    """Where the time goes inside the bot (BENCH_TRACE=1): printed to its log at exit."""
    import atexit

    spans: dict[str, list[float]] = {}

    def timed(name: str, fn: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                spans.setdefault(name, []).append(time.perf_counter() - t)

        return wrapper

    app.service.handle = timed("service.handle", app.service.handle)
    handle_batch = app.service._handle_batch

    async def traced_batch(msgs: Any) -> Any:
        spans.setdefault("service batch size", []).append(len(msgs) / 1000)
        return await handle_batch(msgs)

    app.service._handle_batch = timed("service batch", traced_batch)
    app.service._commits._handler = app.service._handle_batch
    adapter.send = timed("adapter.send", adapter.send)
    adapter._handle = timed("adapter._handle (slot wait excluded)", adapter._handle)
    adapter.kv.set = timed("kv.set (journal)", adapter.kv.set)
    app.worker.run_once = timed("outbox.run_once", app.worker.run_once)
    from qn_bot.adapters.telegram.receiving import Poller

    Poller._get_updates = timed("getUpdates", Poller._get_updates)  # type: ignore[method-assign]
    transaction = app.store.transaction

    @contextlib.asynccontextmanager
    async def traced_transaction(**kwargs: Any) -> Any:
        t = time.perf_counter()
        async with transaction(**kwargs) as tx:
            began = time.perf_counter()
            spans.setdefault("store.transaction: wait for the writer + BEGIN", []).append(began - t)
            yield tx
        spans.setdefault("store.transaction: held", []).append(time.perf_counter() - began)

    app.store.transaction = traced_transaction

    def report() -> None:
        for name, values in spans.items():
            values.sort()
            n = len(values)
            print(
                f"{name}: n={n} mean={1000 * sum(values) / n:.1f}ms "
                f"p50={1000 * values[n // 2]:.1f}ms p95={1000 * values[int(n * 0.95)]:.1f}ms",
                file=sys.stderr,
            )

    atexit.register(report)


# ---------------------------------------------------------------------------------- citizens


def start_bot(config: Path, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.telegram_throughput", "serve", str(config)],
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


async def scenario(scenario: Scenario, root: Path) -> dict[str, Any]:
    from tests.integration.construire import CONSENT_QUESTION, prompt
    from tests.integration.telegram.harness import BotHub, Citizen, Emulator, new_token

    emulator = await asyncio.to_thread(Emulator, delay_ms=DELAY_MS)
    token = new_token()
    directory = Path(tempfile.mkdtemp(dir=root))
    config = directory / "qn_bot.toml"
    db = directory / "bench.db"
    pacing = "".join(f"{key} = {value}\n" for key, value in scenario.limits.items())
    config.write_text(
        f'[database]\nurl = "sqlite:///{db.as_posix()}"\n\n'
        f'[telegram]\ntoken = "{token}"\nbase_url = "{emulator.url}/bot"\n{pacing}\n'
        # Sends wait ~50 ms on the network: let the outbox have many in flight.
        f"[outbox]\nconcurrency = {OUTBOX_CONCURRENCY}\n",
        encoding="utf-8",
    )
    env = dict(os.environ)
    if scenario.echo:
        env["BENCH_ECHO"] = "1"
    log = (directory / "bot.log").open("wb")
    bot = start_bot(config, env, log)
    latencies: list[float] = []
    done_at: list[float] = []
    try:
        assert bot.stdout is not None
        line = await asyncio.to_thread(bot.stdout.readline)
        assert line.strip() == b"ready", f"bot did not start: see {directory / 'bot.log'}"
        async with BotHub(emulator.url, token, poll=0.005) as hub:
            citizens = [hub.citizen() for _ in range(CITIZENS)]

            async def warm_up(citizen: Citizen) -> None:
                await citizen.send(f"/start {SLUG}", CONSENT_QUESTION, within=120)
                await citizen.press("J’accepte")
                await citizen.expect(prompt("pourquoi"), within=120)

            await asyncio.gather(*(warm_up(c) for c in citizens))

            async def act(citizen: Citizen, index: int) -> None:
                for s, step in enumerate(STEPS):
                    for k in range(1, ITEMS_PER_STEP + 1):
                        await asyncio.sleep(THINK_SECONDS)
                        started = time.monotonic()
                        await citizen.say(f"Idée {index}-{step}-{k}")
                        got = await citizen.expect(f"({k} au total)", within=120)
                        latencies.append(got[-1].arrived - started)
                        done_at.append(time.monotonic())
                    await asyncio.sleep(THINK_SECONDS)
                    started = time.monotonic()
                    await citizen.press("Suivant")
                    following = prompt(ALL_STEPS[s + 1])
                    got = await citizen.expect(following, within=120)
                    latencies.append(got[-1].arrived - started)
                    done_at.append(time.monotonic())

            processes = {"bot": bot.pid, "emulator": emulator.proc.pid}
            cpu = {name: cpu_seconds(pid) for name, pid in processes.items()}
            cpu["citizens"] = time.process_time()
            began = time.monotonic()
            await asyncio.gather(*(act(c, i) for i, c in enumerate(citizens)))
            elapsed = time.monotonic() - began
            cpu = {
                name: (time.process_time() if name == "citizens" else cpu_seconds(pid)) - cpu[name]
                for name, pid in {**processes, "citizens": 0}.items()
            }
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(bot.wait, 15)
            if bot.poll() is None:
                bot.kill()
        log.close()
        emulator.stop()
    actions = len(latencies)
    # Steady state: leave out the first and last 10 % of completions (ramp-up and tail).
    done_at.sort()
    cut = len(done_at) // 10
    steady = done_at[cut : len(done_at) - cut]
    steady_rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    ms = [1000 * x for x in latencies]
    return {
        "citizens": CITIZENS,
        "bot_api_delay_ms": DELAY_MS,
        "think_s": THINK_SECONDS,
        "pacing": scenario.limits or "production defaults",
        "outbox_concurrency": OUTBOX_CONCURRENCY,
        "actions": actions,
        "elapsed_s": round(elapsed, 2),
        "actions_per_s": round(actions / elapsed, 1),
        "steady_actions_per_s": round(steady_rate, 1),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        # Where the two cores went: the bot's share is what qn-bot controls.
        "cpu_ms_per_action": {name: round(1000 * c / actions, 2) for name, c in cpu.items()},
        "cpu_cores_busy": round(sum(cpu.values()) / elapsed, 2),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


async def main() -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="qn-bench-"))
    results: dict[str, Any] = {}
    for s in SCENARIOS:
        if os.environ.get("BENCH_SCENARIO") and os.environ["BENCH_SCENARIO"] != s.name:
            continue
        results[s.name] = await scenario(s, root)
    capacity = results.get("bot capacity")
    if capacity is not None:
        results["passed"] = (
            capacity["steady_actions_per_s"] >= TARGET_RATE and capacity["p95_ms"] <= TARGET_P95_MS
        )
    return results


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        print(asyncio.run(main()))

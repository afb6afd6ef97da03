"""Exactly-once votes across a SIGKILL of a real `qn-bot run` process (emulator)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.matrix.bot import on_store
from tests.integration.processes import SLUG
from tests.integration.telegram.harness import BotHub, Emulator, new_token
from tests.integration.telegram.test_process import BotProcess

pytestmark = pytest.mark.integration


async def test_votes_are_stored_once_across_a_sigkill(
    emulator: Emulator, tmp_path: Path, database_url: str
) -> None:
    """On SQLite and on PostgreSQL (``database_url``)."""
    token = new_token()
    config = tmp_path / "qn_bot.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n\n[telegram]\nbase_url = "{emulator.url}/bot"\n',
        encoding="utf-8",
    )
    async with BotHub(emulator.url, token) as hub:
        first = BotProcess(tmp_path, config, token, 1)
        second: BotProcess | None = None
        try:
            alice, bob = hub.citizen(), hub.citizen()
            await alice.send(f"/start {SLUG}", CONSENT_QUESTION, within=30)
            await alice.send("oui", prompt("pourquoi"))
            for n in range(1, 5):
                await alice.send(f"Idée {n} d'Alice", f"({n} au total)")
            await bob.send(f"/start {SLUG}", CONSENT_QUESTION)
            await bob.send("oui", prompt("pourquoi"))
            (card,) = await bob.send("/voter", "Proposition 1 sur 5")
            await bob.press("D'accord", on=card)
            (card,) = await bob.expect("Proposition 2 sur 5")
            # Pressed, then the bot dies at once — before or after it handled the press;
            # pressed again after the restart: one vote either way.
            await bob.press("Pas d'accord", on=card)
            first.kill()
            second = BotProcess(tmp_path, config, token, 2)
            await bob.press("Pas d'accord", on=card)
            card = (await bob.expect("Proposition 3 sur 5", within=30))[-1]
            await bob.press("Passer", on=card)
            card = (await bob.expect("Proposition 4 sur 5", within=15))[-1]
            await bob.press("D'accord", on=card)
            await bob.expect("vous les avez toutes vues", within=15)
            assert second.stop() == 0, second.output()
        finally:
            first.stop()
            if second is not None:
                second.stop()

    async def votes(store: Store) -> list[tuple[int, int]]:
        async with store.transaction() as tx:
            rows = await tx.conn.execute(select(t.votes.c.item_id, t.votes.c.value))
            return [(item, value) for item, value in rows]

    stored = await asyncio.to_thread(on_store, database_url, votes)
    assert len({item for item, _ in stored}) == len(stored) == 4
    assert sorted(value for _, value in stored) == [-1, 0, 1, 1]
    assert "Traceback" not in first.output() + second.output()

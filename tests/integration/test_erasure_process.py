"""/oublier with real `qn-bot chat` processes: nothing of the citizen left in the database files.

On SQLite the raw bytes of the file (and of its -wal and -shm, before and after a checkpoint)
are searched, freed pages included; on PostgreSQL every row is read back (freed space there is
VACUUM's business, see the README).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from qn_bot.store.database import is_sqlite
from qn_bot.store.sql import Store
from tests.contract.test_erasure import everything
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG, QnBot

pytestmark = pytest.mark.integration

MARKER = "Zéphyrine veut des jardins partagés au marqueur 83b1"
CITIZEN = "zephyrine-7q4k"
FACILITATOR = "animatrice-5k"


def database_files(db: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
        if path.exists()
    }


def traces_in_files(db: Path, needles: list[bytes]) -> list[str]:
    return [
        f"{needle!r} in {name}"
        for name, data in database_files(db).items()
        for needle in needles
        if needle in data
    ]


def checkpoint(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def traces_in_rows(url: str, needles: list[str]) -> list[str]:
    async def read() -> str:
        async with Store.from_url(url) as store:
            return await everything(store)

    dump = asyncio.run(read())
    return [needle for needle in needles if needle in dump]


@pytest.fixture
def qn_config(tmp_path: Path, database_url: str) -> Path:
    url = f"sqlite:///{(tmp_path / 'test.db').as_posix()}" if is_sqlite(database_url) else None
    path = tmp_path / "qn_bot_test.toml"
    path.write_text(
        f'admins = ["console:{FACILITATOR}"]\n'
        f'[database]\nurl = "{url or database_url}"\n'
        # The facilitator's export stays in the database once sent: /oublier must find it.
        "[retention]\nsent_payload_hours = 24\n",
        encoding="utf-8",
    )
    return path


def test_forget_leaves_nothing_in_the_database_files(
    tmp_path: Path, qn_config: Path, database_url: str
) -> None:
    qn = QnBot(tmp_path, qn_config)
    try:
        citizen = qn.chat("--campaign", SLUG, "--as", CITIZEN, intro=CONSENT_QUESTION)
        assert CONSENT_QUESTION in citizen.transcript[-1]
        citizen.send("1", prompt("pourquoi"))
        citizen.send(MARKER, "Noté (1 au total)")
        citizen.send("Une seconde idée, moins personnelle", "Noté (2 au total)")
        assert MARKER in citizen.send("/mes_reponses", "Continuer")
        citizen.send("Continuer", prompt("pourquoi"))
        assert MARKER in citizen.send("/mes_donnees", "pseudonym")

        facilitator = qn.chat("--as", FACILITATOR, wait_intro=False)
        assert MARKER in facilitator.send(f"/export {SLUG} md", "marqueur")
        assert facilitator.close() == 0

        citizen.send("/oublier", "[2]")
        assert "effacé" in citizen.send("1", "effacé")
        assert citizen.close() == 0
        assert CITIZEN not in citizen.stderr
    finally:
        qn.cleanup()

    needles = [MARKER, CITIZEN, "marqueur 83b1"]
    if not is_sqlite(database_url):
        assert traces_in_rows(database_url, needles) == []
        return
    db = tmp_path / "test.db"
    raw = [needle.encode() for needle in needles]
    assert traces_in_files(db, raw) == []
    checkpoint(db)
    assert traces_in_files(db, raw) == []
    assert traces_in_rows(f"sqlite:///{db.as_posix()}", needles) == []

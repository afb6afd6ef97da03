"""Two `qn-bot run` on one PostgreSQL, both serving the web chat (issue 17): a citizen's page
open on one process, their posts taken by the other. What the other process keeps — the
citizen's own message, and the replies whichever worker delivers them — reaches the page's
event stream here, through PostgreSQL's LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import BACKENDS
from tests.integration.construire import CONSENT_QUESTION
from tests.integration.web.browser import WebProcess, start_web_process
from tests.integration.web.harness import SLUG

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize(
        "database_url",
        [b for b in BACKENDS if b == "postgresql"]
        or [pytest.param("postgresql", marks=pytest.mark.skip(reason="needs PostgreSQL"))],
        indirect=True,
    ),
]

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
WAIT = 30.0


@contextlib.contextmanager
def two_processes(tmp_path: Path, url: str) -> Iterator[tuple[WebProcess, WebProcess]]:
    runs = []
    for name in ("here", "there"):
        directory = tmp_path / name
        directory.mkdir()
        runs.append(start_web_process(directory, database_url=url))
    try:
        yield next(runs[0]), next(runs[1])
    finally:
        for run in runs:
            run.close()


async def test_what_another_process_keeps_reaches_the_stream_open_here(
    tmp_path: Path, database_url: str
) -> None:
    with two_processes(tmp_path, database_url) as (here, there):
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        ) as session:
            # The page and its cookie from here (a cookie is the host's, whatever the port);
            # the CSRF key is the same in every process.
            async with session.get(f"{here.base}/c/{SLUG}") as response:
                found = CSRF.search(await response.text())
                assert found is not None
            events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

            async def read() -> None:
                async with session.get(f"{here.base}/c/{SLUG}/events") as stream:
                    async for line in stream.content:
                        if line.startswith(b"data: "):
                            events.put_nowait(json.loads(line[6:]))

            reader = asyncio.create_task(read())

            async def expect(role: str, needle: str) -> None:
                while True:
                    event = await asyncio.wait_for(events.get(), WAIT)
                    if event["role"] == role and needle in event["text"]:
                        return

            try:
                client_id = str(uuid.uuid4())
                async with session.post(
                    f"{there.base}/c/{SLUG}/send",
                    data={
                        "csrf": found.group(1),
                        "client_id": client_id,
                        "lang": "fr",
                        "text": f"/start {SLUG}",
                    },
                    headers={"Accept": "application/json"},
                ) as response:
                    assert response.status == 200, await response.text()
                # Kept by the other process only (its adapter took the post): heard here.
                await expect("citizen", f"/start {SLUG}")
                await expect("bot", CONSENT_QUESTION)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

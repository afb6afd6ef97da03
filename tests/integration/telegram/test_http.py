"""The aiohttp transport under python-telegram-bot, against real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import Forbidden, NetworkError, TimedOut

from adapters.telegram.http import AiohttpRequest

TOKEN = "123:test"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[str]]
BOT_USER = {"id": 1, "is_bot": True, "first_name": "qn", "username": "qn_bot"}


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        async def route(request: web.Request) -> web.StreamResponse:
            if request.match_info["method"] == "getMe":  # Bot.initialize()
                return ok(BOT_USER)
            return await handler(request)

        app = web.Application()
        app.router.add_route("POST", "/bot{token}/{method}", route)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/bot"

    yield start
    for runner in runners:
        await runner.cleanup()


def ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


MESSAGE = {"message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "ok"}


async def test_fields_and_files_reach_the_server_intact(serve: Serve) -> None:
    seen: dict[str, object] = {}

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        seen[request.match_info["method"]] = {
            key: (value.filename, value.file.read()) if isinstance(value, web.FileField) else value
            for key, value in form.items()
        }
        return ok(MESSAGE)

    url = await serve(handler)
    async with Bot(TOKEN, base_url=url, request=AiohttpRequest(connection_pool_size=4)) as bot:
        await bot.send_message(42, "Ça <b>marche</b> 🎉 ‏עברית", parse_mode="HTML")
        await bot.send_document(42, b'{"a": 1}', filename="mes_donnees.json", caption="vos données")
    assert seen["sendMessage"] == {
        "chat_id": "42",
        "text": "Ça <b>marche</b> 🎉 ‏עברית",
        "parse_mode": "HTML",
    }
    document = seen["sendDocument"]
    assert isinstance(document, dict)
    assert document["caption"] == "vos données"
    assert document["document"] == ("mes_donnees.json", b'{"a": 1}')


async def test_errors_come_back_as_telegram_errors(serve: Serve) -> None:
    gave_up = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        # Answers once the client gave up (or after 5 s, too late for its 0.3 s timeout); a
        # handler still running would hold the server's shutdown up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gave_up.wait(), timeout=5)
        return ok(MESSAGE)

    async def refused(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
            status=403,
        )

    request = AiohttpRequest(connection_pool_size=2, read_timeout=0.3)
    async with Bot(TOKEN, base_url=await serve(slow), request=request) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(42, "hello")
        gave_up.set()
    async with Bot(
        TOKEN, base_url=await serve(refused), request=AiohttpRequest(connection_pool_size=2)
    ) as bot:
        with pytest.raises(Forbidden):
            await bot.send_message(42, "hello")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    request = AiohttpRequest(connection_pool_size=2)
    with pytest.raises(NetworkError):  # already at getMe
        async with Bot(TOKEN, base_url=f"http://127.0.0.1:{closed}/bot", request=request):
            pass


async def test_the_whole_pool_is_used_at_once(serve: Serve) -> None:
    """Calls in flight together up to the pool size (httpx's pool was kept small: see http.py)."""
    in_flight = 0
    peak = 0
    full = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= 32:
            full.set()
        try:
            await asyncio.wait_for(full.wait(), timeout=5)
        finally:
            in_flight -= 1
        return ok(MESSAGE)

    url = await serve(handler)
    async with Bot(TOKEN, base_url=url, request=AiohttpRequest(connection_pool_size=32)) as bot:
        await asyncio.gather(*(bot.send_message(42, f"m{n}") for n in range(40)))
    assert peak == 32


async def test_a_stalled_upload_times_out() -> None:
    """A server that stops reading mid-upload: the call ends with TimedOut, it does not hang
    (aiohttp's read timer only starts once the body is written)."""

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = AiohttpRequest(
        connection_pool_size=1,
        read_timeout=0.5,
        write_timeout=0.5,
        connect_timeout=0.5,
        pool_timeout=0.5,
        media_write_timeout=0.5,
    )
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    await request.initialize()
    try:
        async with asyncio.timeout(10):
            with pytest.raises(TimedOut):
                await bot.send_document(42, b"x" * 50_000_000, filename="big.bin")
    finally:
        await request.shutdown()
        server.close()


async def test_the_environments_proxy_is_used_unless_no_proxy_says_otherwise(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY / NO_PROXY as python-telegram-bot's httpx transport honoured them."""
    through_proxy: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        through_proxy.append(request.match_info["method"])
        return ok(MESSAGE)

    proxy_url = (await serve(proxy)).removesuffix("/bot")
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # A host nobody could reach directly: only the proxy gets the request there.
    request = AiohttpRequest(connection_pool_size=2)
    async with Bot(TOKEN, base_url="http://api.telegram.invalid/bot", request=request) as bot:
        await bot.send_message(42, "via the proxy")
    assert through_proxy == ["sendMessage"]  # (getMe is answered by the fixture itself)

    monkeypatch.setenv("NO_PROXY", "api.telegram.invalid")
    request = AiohttpRequest(connection_pool_size=2)
    with pytest.raises(NetworkError):  # straight to a host that does not exist
        async with Bot(TOKEN, base_url="http://api.telegram.invalid/bot", request=request):
            pass
    assert through_proxy == ["sendMessage"]  # (getMe is answered by the fixture itself)


async def test_an_error_quoting_the_url_does_not_quote_the_token() -> None:
    """aiohttp puts the URL in some errors; the bot token is part of every Bot API URL."""
    request = AiohttpRequest(connection_pool_size=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.do_request("http://127.0.0.1:99999/bot123456:SECRETabc/getMe", "POST")
    finally:
        await request.shutdown()
    assert "SECRETabc" not in str(caught.value)
    assert "/bot[secret]/getMe" in str(caught.value)
    assert caught.value.__cause__ is None

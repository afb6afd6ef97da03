"""The Bot API's HTTP transport on aiohttp, for python-telegram-bot.

python-telegram-bot's default transport (httpx, over httpcore) rescans every pooled connection
for every waiting request each time a connection frees, with two system calls per idle
connection (profiled under 100 citizens: 12 s of the bot's 20 s of CPU, at 16 connections). A
small pool then caps the rate at pool size / round trip (16 / 50 ms = 320 calls/s) and queues
replies behind it. aiohttp's connector hands a freed connection to the next waiter directly, so
the pool can be as large as the traffic needs. aiohttp is already a dependency (the webhook
server); python-telegram-bot supports custom transports through
:class:`telegram.request.BaseRequest`.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

#: The bot token in a Bot API URL (``…/bot<token>/method``, ``…/file/bot<token>/path``).
_TOKEN_IN_URL = re.compile(r"/bot[^/\s]+")


def without_token(text: str) -> str:
    """``text`` with any Bot API URL's token masked: some aiohttp errors quote the URL, and
    their text ends up in logs and in the outbox's last_error."""
    return _TOKEN_IN_URL.sub("/bot[secret]", text)


#: The type of python-telegram-bot's "not given" markers (its class is private).
_Default = type(BaseRequest.DEFAULT_NONE)


def _given(value: object, default: float | None) -> float | None:
    if isinstance(value, _Default):
        return default
    assert value is None or isinstance(value, int | float)
    return value


class AiohttpRequest(BaseRequest):
    """A pooled aiohttp session; one per :class:`telegram.Bot` request kind."""

    def __init__(
        self,
        *,
        connection_pool_size: int,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str | None], str | None] = {}

    def _proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url`` (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), as
        python-telegram-bot's httpx transport honoured; looked up once per scheme and host
        (aiohttp's ``trust_env`` reads the environment and ~/.netrc on every request)."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.hostname)
        if key not in self._proxies:
            bypass = parts.hostname is not None and urllib.request.proxy_bypass(parts.hostname)
            self._proxies[key] = None if bypass else urllib.request.getproxies().get(parts.scheme)
        return self._proxies[key]

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("this AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        # aiohttp has no write timeout: its read timer starts once the whole body is written,
        # so a stalled upload would hang until the kernel gives up (minutes: the outbox lease
        # runs out and another process may send the message again). The whole exchange is
        # bounded instead: waiting for a connection, connecting, writing, then reading.
        parts = (pool, connect, write, read)
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(p for p in parts if p is not None),
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        body: aiohttp.FormData | None = None
        if request_data is not None:
            body = aiohttp.FormData(request_data.json_parameters)
            for name, (filename, content, mimetype) in (files or {}).items():
                body.add_field(name, content, filename=filename, content_type=mimetype)
        try:
            async with self._session.request(
                method, url, data=body, timeout=timeout, proxy=self._proxy_for(url)
            ) as res:
                return res.status, await res.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # Not chained: the original's text and traceback may hold the URL, token included.
            raise NetworkError(without_token(f"aiohttp.{type(exc).__name__}: {exc}")) from None

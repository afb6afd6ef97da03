"""`[http] listen port`: ``GET /healthz`` and ``GET /metrics`` for the operator's monitoring.

Its own small aiohttp server, on loopback by default. The Telegram webhook keeps its server:
that one faces Telegram (behind a TLS proxy on the internet), this one must not — metrics and
health say how busy the bot is and are for the operator's network only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from qn_bot.errors import ConfigError
from qn_bot.ops.health import Health
from qn_bot.ops.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

#: A scrape that cannot read the outbox in this time still answers, with the last values.
REFRESH_TIMEOUT = 3.0


class OpsServer:
    def __init__(
        self,
        *,
        listen: str,
        port: int,
        metrics: Metrics,
        health: Callable[[], Awaitable[Health]],
        refresh: Callable[[], Awaitable[None]],
    ) -> None:
        self.listen = listen
        self.port = port
        self.metrics = metrics
        self.health = health
        self.refresh = refresh
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.listen, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"[http] cannot listen on {self.listen}:{self.port}: {exc.strerror}"
            ) from None
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("health and metrics on http://%s:%d/", self.listen, self.bound_port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self.health()
        self.metrics.up.set(1 if health.ok else 0)
        return web.Response(
            status=200 if health.ok else 503,
            text=json.dumps(health.as_json()),
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT):
                await self.refresh()
        except Exception as exc:  # the process metrics are still worth having
            log.warning("metrics: the outbox could not be read (%s)", type(exc).__name__)
            self.metrics.database_errors.labels("metrics").inc()
        body = await asyncio.to_thread(self.metrics.exposition)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

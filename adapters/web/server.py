"""The web chat's HTTP side (aiohttp): the page, its posts, its event stream, /lien and files.

Without JavaScript every message is a form post answered by a redirect to the page (POST,
redirect, GET), once the bot's reply is in the transcript or after a short wait. With the page's
script (static/chat.js) posts are sent with ``Accept: application/json`` and the replies come
through ``GET /c/SLUG/events`` (Server-Sent Events). Every post names a client id: the
citizen's message id (``web:TOKEN``'s idempotency key), so a post sent twice is handled once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from qn_bot.config import WebConfig
from qn_bot.domain import (
    Address,
    ButtonKind,
    DeviceLink,
    InboundKind,
    InboundMessage,
    KeptMessage,
    UserRef,
)
from qn_bot.i18n import default_catalog
from qn_bot.ports import AdapterContext, InboundSink

from .security import (
    CLIENT_ID_RE,
    CODE_RE,
    SLUG_RE,
    Csrf,
    IpGate,
    citizen_id,
    citizen_token,
    link_key,
    new_code,
    new_token,
    seal,
    security_headers,
    set_citizen_cookie,
    unseal,
)
from .transcript import BOT, CITIZEN, PLATFORM, Entry, WebTranscripts

HERE = Path(__file__).parent
LANGUAGES = ("fr", "en")
LINK_MINUTES = 15
#: A /lien link, as the core's message shows it on its last line: the page shows it as a link.
JOIN_LINK_RE = re.compile(r"https?://\S+/c/[a-z0-9][a-z0-9_-]{0,63}/j/[A-Za-z0-9_-]{32}")
#: How long a post without JavaScript waits for the bot's reply before showing the page.
REPLY_WAIT = 5.0
#: A comment line on an idle event stream, so proxies and browsers keep it open.
KEEPALIVE = 15.0
MAX_TEXT = 4000

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template is HTML: participant text is always escaped
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


class WebServer:
    def __init__(
        self,
        config: WebConfig,
        context: AdapterContext,
        *,
        default_language: str,
        window_seconds: float,
    ) -> None:
        self.config = config
        self.context = context
        self.default_language = default_language
        if context.transcripts is None:
            raise ValueError("the web chat needs the core's transcripts (AdapterContext)")
        self.transcripts = WebTranscripts(context.transcripts)
        self.ip_gate = IpGate(config.ip_messages_per_window, window_seconds, config.trusted_proxies)
        self.secure = (config.base_url or "").startswith("https://")
        self.catalog = default_catalog()
        self.csrf = Csrf(b"")
        self.sink: InboundSink | None = None
        self.drain: Callable[[], Awaitable[None]] | None = None
        self.stopping = asyncio.Event()
        #: The posts being handled, by citizen: their page's slug and address, for the core's
        #: /lien (device_link), which asks while the post waits on the sink.
        self._posting: dict[str, tuple[str, str, str]] = {}  # slug, base URL, cookie
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, sink: InboundSink) -> None:
        self.sink = sink
        self.transcripts.start()
        self.csrf = Csrf(await self._secret())
        app = web.Application(
            middlewares=[security_headers], client_max_size=self.config.max_request_bytes
        )
        app.router.add_get("/c/{slug}", self.page)
        app.router.add_post("/c/{slug}/send", self.send)
        app.router.add_get("/c/{slug}/events", self.events)
        app.router.add_get("/c/{slug}/j/{code}", self.join_page)
        app.router.add_post("/c/{slug}/j/{code}", self.join)
        app.router.add_get("/c/{slug}/files/{entry}/{n}", self.file)
        app.router.add_get("/static/{name}", self.static)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        port = self.config.port if self.config.port is not None else 0
        site = web.TCPSite(self._runner, self.config.listen, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        self.stopping.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _secret(self) -> bytes:
        """The CSRF key, made once and kept in the database: the same for every process and
        across restarts (a page open before a restart can still post)."""
        value = await self.context.kv.get("csrf-secret")
        if not isinstance(value, str):
            value = uuid.uuid4().hex + uuid.uuid4().hex
            await self.context.kv.set("csrf-secret", value)
        return value.encode()

    # --- helpers -----------------------------------------------------------------------

    def _slug(self, request: web.Request) -> str:
        slug = request.match_info["slug"]
        if not SLUG_RE.fullmatch(slug):
            raise web.HTTPNotFound()
        return slug

    def _language(self, request: web.Request, form: Any = None) -> str:
        asked = form.get("lang") if form is not None else request.query.get("lang")
        if asked in LANGUAGES:
            return str(asked)
        for part in request.headers.get("Accept-Language", "").split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in LANGUAGES:
                return code
        return self.default_language

    def _t(self, language: str) -> Callable[..., str]:
        def t(key: str, **params: object) -> str:
            return self.catalog.t(language, key, **params)

        return t

    def _render(self, name: str, **values: Any) -> str:
        return TEMPLATES.get_template(name).render(**values)

    def _base_url(self, request: web.Request) -> str:
        if self.config.base_url is not None:
            return self.config.base_url.rstrip("/")
        return str(request.url.origin())

    # --- the page ----------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        slug = self._slug(request)
        language = self._language(request)
        token = citizen_token(request)
        fresh = token is None
        if token is None:
            token = new_token()
        entries = [] if fresh else await self.transcripts.entries(citizen_id(token))
        notice = {"busy": "web_busy", "expired": "web_expired"}.get(request.query.get("notice", ""))
        body = self._render(
            "chat.html.j2",
            lang=language,
            t=self._t(language),
            slug=slug,
            entries=entries,
            csrf=self.csrf.token("post", token),
            new_id=lambda: str(uuid.uuid4()),
            base=f"/c/{slug}",
            last_id=entries[-1].id if entries else 0,
            notice=notice,
        )
        response = web.Response(text=body, content_type="text/html", charset="utf-8")
        response.headers["Cache-Control"] = "no-store"
        if fresh:
            set_citizen_cookie(response, token, secure=self.secure)
        return response

    async def _posted(self, request: web.Request) -> tuple[str, str, Any, bool]:
        """The slug, the citizen, the form and whether the page's script sent it; raises the
        refusals: no cookie or a bad CSRF token (403), too many posts from one address (429)."""
        slug = self._slug(request)
        wants_json = "application/json" in request.headers.get("Accept", "")
        form = await request.post()  # over max_request_bytes: 413 from aiohttp
        token = citizen_token(request)
        if token is None or not self.csrf.check("post", token, form.get("csrf")):
            if wants_json:
                raise web.HTTPForbidden(
                    text='{"error": "expired"}', content_type="application/json"
                )
            raise web.HTTPSeeOther(f"/c/{slug}?notice=expired")
        if not self.ip_gate.admit(request):
            if wants_json:
                raise web.HTTPTooManyRequests(
                    text='{"error": "busy"}',
                    content_type="application/json",
                    headers={"Retry-After": "5"},
                )
            raise web.HTTPSeeOther(f"/c/{slug}?notice=busy")
        return slug, token, form, wants_json

    async def send(self, request: web.Request) -> web.StreamResponse:
        slug, token, form, wants_json = await self._posted(request)
        user = citizen_id(token)
        language = self._language(request, form)
        client_id = form.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID_RE.fullmatch(client_id):
            client_id = str(uuid.uuid4())
        inbound, shown = await self._inbound(user, form, client_id, language)
        if inbound is None:
            return self._after_post(slug, wants_json)
        # The message as the page shows it is kept by the core with the message itself, in the
        # transaction that handles it (a repeat, or a message refused, is not kept again).
        kept = KeptMessage(CITIZEN, Entry(0, CITIZEN, shown).body(), client_id)
        inbound = dataclasses.replace(inbound, kept=kept)
        sink = self.sink
        assert sink is not None

        async def handled() -> None:
            await sink(inbound)  # returns once committed; a repeat is handled once
            if not wants_json and self.drain is not None:
                await self.drain()  # the outbox keeps the replies now, not at its next pass

        self._posting[user] = (slug, self._base_url(request), token)
        try:
            if wants_json:
                await handled()
            else:
                # Without a script the next page is all the citizen sees: wait for the reply.
                await self.transcripts.answered(user, handled(), REPLY_WAIT)
        finally:
            self._posting.pop(user, None)
        return self._after_post(slug, wants_json)

    def _after_post(self, slug: str, wants_json: bool) -> web.Response:
        if wants_json:
            return web.json_response({"ok": True})
        raise web.HTTPSeeOther(f"/c/{slug}#composer")

    async def _inbound(
        self, user_id: str, form: Any, client_id: str, language: str
    ) -> tuple[InboundMessage | None, str]:
        common: dict[str, Any] = {
            "sender": UserRef(PLATFORM, user_id),
            "address": Address(PLATFORM, user_id),
            "message_id": f"{user_id}:{client_id}",
            "is_private": True,
            "language_hint": language,
            "received_at": self.context.clock(),
        }
        choice, command = form.get("choice"), form.get("command")
        if isinstance(choice, str) and choice:
            label = await self._label(user_id, ButtonKind.CHOICE, choice)
            return InboundMessage(kind=InboundKind.CHOICE, choice_id=choice, **common), label
        if isinstance(command, str) and command:
            label = await self._label(user_id, ButtonKind.COMMAND, command)
            return InboundMessage(kind=InboundKind.TEXT, text=f"/{command}", **common), label
        text = form.get("text")
        if not isinstance(text, str) or not text.strip():
            return None, ""
        text = text[:MAX_TEXT].replace("\r\n", "\n")
        return InboundMessage(kind=InboundKind.TEXT, text=text, **common), text

    async def _label(self, user_id: str, kind: ButtonKind, value: str) -> str:
        """What the citizen pressed, as the button said it (the newest message offering it)."""
        for entry in await self.transcripts.latest(user_id):
            for k, v, label in entry.buttons:
                if k == kind.value and v == value:
                    return label
        return value if kind is ButtonKind.CHOICE else f"/{value}"

    # --- the event stream ----------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        slug = self._slug(request)
        token = citizen_token(request)
        if token is None:
            raise web.HTTPForbidden()
        user = citizen_id(token)
        after = _int(request.headers.get("Last-Event-ID")) or _int(request.query.get("after"))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            await response.write(b"retry: 1000\n\n")
            streams = self.transcripts.follow(
                user, after, KEEPALIVE, cap=self.config.streams_per_citizen
            )
            async for entries in streams:
                if self.stopping.is_set():
                    break
                if entries is None:  # a newer page of the same citizen took this one's place
                    await response.write(b"event: closed\ndata: {}\n\n")
                    break
                if not entries:
                    await response.write(b": keepalive\n\n")
                    continue
                chunk = "".join(
                    f"id: {e.id}\ndata: {json.dumps(self._event(slug, e))}\n\n" for e in entries
                )
                await response.write(chunk.encode())
        return response

    def _event(self, slug: str, entry: Entry) -> dict[str, Any]:
        return {
            "id": entry.id,
            "role": entry.role,
            "text": entry.text,
            "buttons": [{"kind": k, "value": v, "label": lbl} for k, v, lbl in entry.buttons],
            "files": [
                {"name": f.filename, "url": f"/c/{slug}/files/{entry.id}/{n}"}
                for n, f in enumerate(entry.files)
            ],
            "link": entry.link,
            "client_id": entry.client_id,
        }

    # --- another device (/lien) ------------------------------------------------------------

    async def device_link(self, user_id: str) -> DeviceLink | None:
        """The core's /lien, asked while the citizen's post is handled: a one-time link to
        their conversation on the page they wrote from."""
        posting = self._posting.get(user_id)
        if posting is None:  # not from a post of this process (handled again later)
            return None
        slug, base_url, token = posting
        code = new_code()
        expires = self.context.clock() + timedelta(minutes=LINK_MINUTES)
        await self.context.kv.set(
            f"link:{link_key(code)}",
            {"sealed": seal(token, code), "slug": slug, "expires": expires.isoformat()},
            about=UserRef(PLATFORM, user_id),
        )
        return DeviceLink(f"{base_url}/c/{slug}/j/{code}", LINK_MINUTES)

    def _code(self, request: web.Request) -> str:
        code = request.match_info["code"]
        if not CODE_RE.fullmatch(code):
            raise web.HTTPNotFound()
        return code

    async def join_page(self, request: web.Request) -> web.Response:
        # Only a page with a button: a link preview (a messenger fetching the URL) must not
        # spend the one-time code.
        slug, code = self._slug(request), self._code(request)
        language = self._language(request)
        body = self._render(
            "join.html.j2",
            lang=language,
            t=self._t(language),
            slug=slug,
            action=f"/c/{slug}/j/{code}",
            csrf=self.csrf.token("join", code),
            invalid=False,
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def join(self, request: web.Request) -> web.StreamResponse:
        slug, code = self._slug(request), self._code(request)
        form = await request.post()
        language = self._language(request, form)
        if not self.csrf.check("join", code, form.get("csrf")):
            raise web.HTTPForbidden()
        if not self.ip_gate.admit(request):
            raise web.HTTPTooManyRequests(headers={"Retry-After": "5"})
        key = f"link:{link_key(code)}"
        value = await self.context.kv.get(key)
        await self.context.kv.delete(key)  # once, whatever came of it
        sealed = value.get("sealed") if isinstance(value, dict) else None
        token = unseal(sealed, code) if isinstance(sealed, str) else None
        expires = value.get("expires") if isinstance(value, dict) else None
        if (
            not isinstance(token, str)
            or not isinstance(expires, str)
            or expires < self.context.clock().isoformat()
        ):
            body = self._render(
                "join.html.j2",
                lang=language,
                t=self._t(language),
                slug=slug,
                action="",
                csrf="",
                invalid=True,
            )
            return web.Response(status=410, text=body, content_type="text/html", charset="utf-8")
        response = web.HTTPSeeOther(f"/c/{slug}")
        set_citizen_cookie(response, token, secure=self.secure)
        raise response

    # --- files and static assets -----------------------------------------------------------

    async def file(self, request: web.Request) -> web.Response:
        self._slug(request)
        token = citizen_token(request)
        entry_id, n = _int(request.match_info["entry"]), _int(request.match_info["n"])
        if token is None:
            raise web.HTTPNotFound()
        for entry in await self.transcripts.entries(citizen_id(token), entry_id - 1):
            if entry.id == entry_id and entry.role == BOT and 0 <= n < len(entry.files):
                attachment = entry.files[n]
                name = re.sub(r"[^A-Za-z0-9._-]", "_", attachment.filename) or "fichier"
                return web.Response(
                    body=attachment.data,
                    content_type="application/octet-stream",
                    headers={
                        "Content-Disposition": f'attachment; filename="{name}"',
                        "Cache-Control": "no-store",
                    },
                )
        raise web.HTTPNotFound()

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        types = {"chat.js": "text/javascript", "chat.css": "text/css"}
        if name not in types:
            raise web.HTTPNotFound()
        return web.Response(
            body=(HERE / "static" / name).read_bytes(),
            content_type=types[name],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0

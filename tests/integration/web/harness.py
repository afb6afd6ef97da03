"""A bot with the web chat in this test's process, and a browser-less citizen: an aiohttp
client with its own cookie jar that reads the page as HTML (data-role, forms, buttons)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
from qn_bot.adapters.web import WebAdapter

from qn_bot.app import Application, prepare_database
from qn_bot.config import Config

SLUG = "construire-2030"
#: Test citizens answer as fast as the bot does.
FAST_LIMITS = {"messages_per_window": 1000, "window_seconds": 1.0}


def web_config(database_url: str, *, limits: dict[str, Any] | None = None, **web: Any) -> Config:
    return Config.model_validate(
        {
            "database": {"url": database_url},
            "web": {"port": 0, "ip_messages_per_window": 100_000, **web},
            "limits": FAST_LIMITS if limits is None else limits,
        }
    )


@asynccontextmanager
async def web_bot(config: Config) -> AsyncIterator[tuple[Application, str]]:
    """qn-bot's Application with the web adapter found through its entry point."""
    await prepare_database(config)
    app = Application(config)
    assert list(app.adapters) == ["web"]
    adapter = app.adapters["web"]
    assert isinstance(adapter, WebAdapter)
    async with app:
        yield app, f"http://127.0.0.1:{adapter.port}"


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # name, value, label


@dataclass
class Message:
    role: str
    text: str
    form: Form | None = None
    links: list[str] = field(default_factory=list)


class Page(HTMLParser):
    """The messages (``data-role``) and forms of a chat page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html = html
        self.messages: list[Message] = []
        self.forms: list[Form] = []
        self._in_text = False
        self._button: tuple[str, str] | None = None
        self._label = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "li" and "data-role" in a:
            self.messages.append(Message(a["data-role"], ""))
        elif tag == "p" and a.get("class") == "text" and self.messages:
            self._in_text = True
        elif tag == "form":
            self.forms.append(Form(a.get("action", "")))
            if self.messages and a.get("class") == "buttons":
                self.messages[-1].form = self.forms[-1]
        elif tag == "input" and self.forms:
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms:
            self._button, self._label = (a.get("name", ""), a.get("value", "")), ""
        elif tag == "a" and self.messages and "href" in a:
            self.messages[-1].links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_text = False
        elif tag == "button" and self._button is not None:
            self.forms[-1].buttons.append((*self._button, self._label.strip()))
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._in_text:
            self.messages[-1].text += data
        if self._button is not None:
            self._label += data

    def bot(self) -> list[str]:
        return [m.text for m in self.messages if m.role == "bot"]

    def citizen(self) -> list[str]:
        return [m.text for m in self.messages if m.role == "citizen"]

    def form(self, action_end: str) -> Form:
        return next(f for f in self.forms if f.action.endswith(action_end))


class Citizen:
    """One browser without JavaScript: GET the page, post its forms, follow the redirects."""

    def __init__(self, base: str, slug: str = SLUG) -> None:
        self.base = base
        self.slug = slug
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.page: Page | None = None
        self.last: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> Citizen:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def open(self, path: str | None = None) -> Page:
        async with self.session.get(self.base + (path or f"/c/{self.slug}")) as response:
            self.last = response
            assert response.status == 200, await response.text()
            self.page = Page(await response.text())
        return self.page

    async def post(self, form: Form, extra: dict[str, str] | None = None) -> Page:
        data = {**form.fields, **(extra or {})}
        async with self.session.post(self.base + form.action, data=data) as response:
            self.last = response
            assert response.status == 200, (response.status, await response.text())
            self.page = Page(await response.text())
        return self.page

    async def start(self) -> Page:
        page = await self.open()
        return await self.post(page.form("/send"), None)

    async def say(self, text: str) -> Page:
        assert self.page is not None
        return await self.post(self.page.forms[-2], {"text": text})  # the composer

    async def press(self, label: str) -> Page:
        """The newest button with this label (or a label starting with it)."""
        assert self.page is not None
        for message in reversed(self.page.messages):
            if message.form is None:
                continue
            for name, value, shown in message.form.buttons:
                if shown == label or shown.startswith(label):
                    return await self.post(message.form, {name: value})
        raise AssertionError(f"no button {label!r} in {self.page.html}")

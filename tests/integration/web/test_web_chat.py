"""The web chat without JavaScript (issue 17 item 1): a real bot process's web adapter on
loopback, a citizen posting forms and reading the pages it is redirected to."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from yarl import URL

from qn_bot.config import Config
from qn_bot.store.sql import Store
from tests.contract.test_erasure import everything
from tests.integration.construire import CONSENT_QUESTION, NOTED
from tests.integration.processes import SQLITE_ONLY
from tests.integration.web.harness import SLUG, Citizen, web_bot, web_config

pytestmark = pytest.mark.integration


async def test_a_citizen_answers_by_forms_and_a_reload_shows_the_conversation(
    database_url: str,
) -> None:
    config = web_config(database_url)
    async with web_bot(config) as (_, base), Citizen(base) as citizen:
        page = await citizen.open()
        assert citizen.last is not None
        cookie = citizen.last.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # base_url is not https: a browser would drop it
        assert 'lang="fr"' in page.html
        assert page.messages == []

        page = await citizen.start()
        assert any(CONSENT_QUESTION in text for text in page.bot())
        assert all(m.role in ("bot", "citizen") for m in page.messages)
        assert page.citizen() == [f"/start {SLUG}"]
        consent = next(m for m in page.messages if m.form is not None)
        assert consent.form is not None
        assert [name for name, _, _ in consent.form.buttons] == ["choice", "choice"]

        page = await citizen.press("J")  # « J'accepte »
        assert page.citizen()[-1].startswith("J")
        page = await citizen.say("Le <b>pouvoir</b> vertical & ses jeux")
        assert page.citizen()[-1] == "Le <b>pouvoir</b> vertical & ses jeux"
        assert "<b>pouvoir</b>" not in page.html  # escaped, never markup
        assert NOTED.search(page.bot()[-1])
        seen = [(m.role, m.text) for m in page.messages]

        reloaded = await citizen.open()
        assert [(m.role, m.text) for m in reloaded.messages] == seen

    # Kept in the database, not in the process: a restarted bot shows the same conversation.
    async with web_bot(config) as (_, base), Citizen(base) as again:
        again.session.cookie_jar.update_cookies(
            {"qn_web": citizen.session.cookie_jar.filter_cookies(URL(base))["qn_web"].value}
        )
        page = await again.open()
        assert [(m.role, m.text) for m in page.messages] == seen


async def test_the_cookie_is_secure_when_the_chat_is_served_over_https(
    database_url: str,
) -> None:
    config: Config = web_config(database_url, base_url="https://participer.example.org")
    async with web_bot(config) as (_, base), Citizen(base) as citizen:
        await citizen.open()
        assert citizen.last is not None
        assert "Secure" in citizen.last.headers["Set-Cookie"]


async def test_attacks_are_refused(database_url: str) -> None:
    """CSRF, a foreign script, a flood from one address, an oversized post, a URL that tries
    to inject markup: each refused, nothing handled."""
    # A window of an hour: on a busy machine eight posts can take seconds, and a short window
    # would drain the address's bucket between them.
    config = web_config(
        database_url,
        limits={"messages_per_window": 1000, "window_seconds": 3600.0},
        ip_messages_per_window=5,
        max_request_bytes=2048,
    )
    async with web_bot(config) as (_, base), Citizen(base) as citizen:
        page = await citizen.start()
        composer = page.forms[-2]
        before = len(page.messages)

        # No CSRF token, or another citizen's: nothing is handled.
        for forged in ({}, {"csrf": "0" * 40}):
            fields = {k: v for k, v in composer.fields.items() if k != "csrf"}
            async with citizen.session.post(
                base + composer.action,
                data={**fields, **forged, "text": "forgé"},
                headers={"Accept": "application/json"},
            ) as response:
                assert response.status == 403
        page = await citizen.open()
        assert len(page.messages) == before
        assert "forgé" not in page.html

        # Every answer forbids inline script and style, and framing.
        assert citizen.last is not None
        csp = citizen.last.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert citizen.last.headers["X-Content-Type-Options"] == "nosniff"

        # Too large a post: 413, before anything is read.
        async with citizen.session.post(
            base + composer.action, data={**composer.fields, "text": "x" * 4096}
        ) as response:
            assert response.status == 413

        # Nothing from the URL comes back unescaped.
        evil = "<script>alert(1)</script>"
        for path in (f"/c/{evil}", f"/c/construire-2030?lang={evil}&notice={evil}"):
            async with citizen.session.get(base + path) as response:
                assert response.status in (200, 404)
                assert evil not in await response.text()
                assert "Content-Security-Policy" in response.headers

        # One address posting too fast: 429 once the per-IP bucket is full.
        statuses = []
        for n in range(8):
            async with citizen.session.post(
                base + composer.action,
                data={**composer.fields, "client_id": f"flood-{n:04}", "text": f"vite {n}"},
                headers={"Accept": "application/json"},
            ) as response:
                statuses.append(response.status)
        assert 429 in statuses
        assert statuses[0] == 200


async def test_a_citizen_flooding_is_told_once_by_the_core(database_url: str) -> None:
    config = Config.model_validate(
        {
            "database": {"url": database_url},
            "web": {"port": 0, "ip_messages_per_window": 0},
            "limits": {"messages_per_window": 3, "window_seconds": 60},
        }
    )
    async with web_bot(config) as (_, base), Citizen(base) as citizen:
        page = await citizen.start()
        for n in range(6):
            page = await citizen.say(f"réponse {n}")
        assert sum("doucement" in text.lower() for text in page.bot()) == 1


async def test_lien_is_the_core_command_and_its_link_opens_the_conversation_once(
    database_url: str,
) -> None:
    """/lien typed (or its button) goes to the core like any command: the reply, queued by
    the core and sent through the outbox, shows the web adapter's one-time link."""
    config = web_config(database_url)
    async with web_bot(config) as (_, base), Citizen(base) as phone, Citizen(base) as laptop:
        await phone.start()
        await phone.press("J")
        await phone.say("Depuis le téléphone")
        page = await phone.say("/lien")
        assert page.citizen()[-1] == "/lien"
        (link,) = page.messages[-1].links
        assert link.startswith(f"{base}/c/{SLUG}/j/")
        assert "autre appareil" in page.bot()[-1]
        page = await phone.post(page.forms[-1], {"command": "lien"})  # its button
        assert page.messages[-1].links[0] != link

        join = await laptop.open(link.removeprefix(base))
        page = await laptop.post(join.forms[0])
        assert "Depuis le téléphone" in page.citizen()
        again = await laptop.session.post(base + join.forms[0].action, data=join.forms[0].fields)
        assert again.status == 410  # once only


async def test_the_database_holds_no_cookie_value(database_url: str) -> None:
    """The citizen is ``web:`` a hash of their cookie, and a /lien record holds the cookie
    sealed under the link's code: whoever reads the database (a backup) finds no cookie."""
    config = web_config(database_url)
    async with web_bot(config) as (_, base), Citizen(base) as citizen:
        await citizen.start()
        await citizen.press("J")
        await citizen.say("Une idée à garder")
        page = await citizen.say("/lien")
        assert page.messages[-1].links
        token = citizen.session.cookie_jar.filter_cookies(URL(base))["qn_web"].value
    async with Store.from_url(database_url) as store:
        dump = await everything(store)
    assert "Une idée à garder" in dump
    assert f"web:{hashlib.sha256(token.encode()).hexdigest()}" in dump
    assert token not in dump


async def test_a_citizens_event_streams_are_capped_the_oldest_closed(database_url: str) -> None:
    """A page open once too often closes the oldest stream, which is told so (its script
    stops reconnecting): a reload is never refused, and no citizen holds unbounded streams."""
    config = web_config(database_url, streams_per_citizen=2)
    async with web_bot(config) as (_, base), Citizen(base) as citizen:
        await citizen.open()
        url = f"{base}/c/{SLUG}/events"
        first = await citizen.session.get(url)
        second = await citizen.session.get(url)
        assert (first.status, second.status) == (200, 200)
        assert await first.content.readline() == b"retry: 1000\n"
        third = await citizen.session.get(url)
        assert third.status == 200
        rest = await asyncio.wait_for(first.content.read(), 30)  # ends: closed by the server
        assert b"event: closed" in rest
        for response in (second, third):
            response.close()


async def _statuses(database_url: str, proxies: list[str], forwarded: list[str]) -> list[int]:
    """What posts from loopback get, each claiming X-Forwarded-For: ``forwarded[n]``, with
    two posts per address allowed in a long window."""
    config = Config.model_validate(
        {
            "database": {"url": database_url},
            "web": {"port": 0, "ip_messages_per_window": 2, "trusted_proxies": proxies},
            "limits": {"messages_per_window": 1000, "window_seconds": 600},
        }
    )
    statuses = []
    async with web_bot(config) as (_, base), Citizen(base) as citizen:
        composer = (await citizen.open()).form("/send")
        for n, claimed in enumerate(forwarded):
            async with citizen.session.post(
                base + composer.action,
                data={**composer.fields, "client_id": f"proxied-{n:04}", "text": f"idée {n}"},
                headers={"Accept": "application/json", "X-Forwarded-For": claimed},
            ) as response:
                statuses.append(response.status)
    return statuses


@SQLITE_ONLY
async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(database_url: str) -> None:
    """Behind a proxy on loopback, each citizen's address is counted on its own; the left of
    the header, which the client writes, changes nothing."""
    a, b = "203.0.113.1", "203.0.113.2"
    assert await _statuses(
        database_url, ["127.0.0.0/8", "::1/128"], [a, a, f"198.51.100.9, {a}", b, b]
    ) == [200, 200, 429, 200, 200]


@SQLITE_ONLY
@pytest.mark.parametrize("proxies", [[], ["10.0.0.0/8"]], ids=["none", "elsewhere"])
async def test_x_forwarded_for_from_anyone_else_is_ignored(
    database_url: str, proxies: list[str]
) -> None:
    """Without a trusted proxy in front, a client claiming other addresses is still one."""
    statuses = await _statuses(database_url, proxies, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
    assert statuses == [200, 200, 429]

"""The web chat without JavaScript (issue 17 item 1): a real bot process's web adapter on
loopback, a citizen posting forms and reading the pages it is redirected to."""

from __future__ import annotations

import pytest
from yarl import URL

from qn_bot.config import Config
from tests.integration.construire import CONSENT_QUESTION, NOTED
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

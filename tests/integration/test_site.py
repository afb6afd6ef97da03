"""`export-site`: the static site checked with html.parser and in a headless Chromium.

The site is built from a database of each backend (``database_url``, tests/conftest.py); the
browser test only renders files, so it stays on SQLite.
"""

from __future__ import annotations

import argparse
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qn_bot.cli_digest import cmd_export_site
from qn_bot.config import Config
from qn_bot.domain import Address, CampaignStatus, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.site import export_site
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store
from tests.integration.processes import SQLITE_ONLY

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
SECRET_ID = "555000333"
# If this ever ran, the page would carry data-pwned; escaped, it is just text.
ATTACK = (
    "<script>document.documentElement.setAttribute('data-pwned','1')</script>"
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\"> R&D"
)
CHROMIUM = "/usr/bin/chromium"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[tuple[str, str]] = []
        self.data: list[str] = []
        self._open: str | None = None
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3"):
            self._open, self._buffer = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self.headings.append((tag, " ".join("".join(self._buffer).split())))
            self._open = None

    def handle_data(self, data: str) -> None:
        self.data.append(data)
        if self._open:
            self._buffer.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.data).split())

    def links(self) -> list[str]:
        return [str(a["href"]) for tag, a in self.tags if tag == "a" and a.get("href")]


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


async def fill(store: Store) -> None:
    """Five participants per published campaign (the default threshold): every section shows."""
    flow = resolve_flow("construire-2030")
    specs = [
        ("ville-2015", "Ville 2015", "Questions Numériques 2014-2015", CampaignStatus.CLOSED, 0),
        ("archive-2013", "Archive <i>2013</i>", "Édition 2013 <b>", CampaignStatus.ARCHIVED, -1),
        ("construire-2030", "Construire 2030", "Think Small 2016-2017", CampaignStatus.OPEN, 2),
        ("brouillon", "Brouillon secret", "Think Small 2016-2017", CampaignStatus.DRAFT, 3),
    ]
    async with store.transaction() as tx:
        people = []
        for n in range(5):
            user = UserRef("telegram", f"{SECRET_ID}{n}")
            address = Address("telegram", f"{SECRET_ID}{n}")
            people.append(
                await tx.participants.create_participant(user, address, T0, language="fr")
            )
        for slug, title, edition, status, days in specs:
            c = await tx.campaigns.create_campaign(
                slug=slug,
                title=title,
                flow_id=flow.id,
                flow_version=flow.version,
                flow_source=flow.source,
                now=T0 + timedelta(days=days),
                edition=edition,
                status=status,
            )
            for n, p in enumerate(people):
                session = await tx.sessions.save_session(
                    p.id, c.id, {}, T0, status="active", step_id=None
                )
                await tx.sessions.record_consent(session, flow.version, T0)
                texts = [("pourquoi", f"Idée {n}"), ("meurt", f"Mort {n}")]
                if n == 0:
                    texts = [("pourquoi", "Révolution numérique"), ("meurt", ATTACK)]
                if slug == "brouillon":
                    texts = [("pourquoi", "texte d'un brouillon")]
                for seq, (step, text) in enumerate(texts, start=1):
                    await tx.sessions.add_item(
                        session_id=session,
                        campaign_id=c.id,
                        participant_id=p.id,
                        seq=seq,
                        step_id=step,
                        text=text,
                        value=None,
                        now=T0 + timedelta(days=days, hours=seq),
                    )
                if n == 0:
                    await tx.sessions.revise_item(
                        session_id=session,
                        seq=1,
                        revision=2,
                        text="Révolution numérique !",
                        value=None,
                        now=T0 + timedelta(days=days + 1),
                    )


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> Path:
    await upgrade(database_url)
    async with Store.from_url(database_url) as store:
        await fill(store)
        await export_site(store, tmp_path / "site", NOW)
    return tmp_path / "site"


def test_index_lists_current_and_past_editions(site: Path) -> None:
    assert sorted(p.name for p in site.iterdir()) == [
        "archive-2013.html",
        "construire-2030.html",
        "index.html",
        "ville-2015.html",
    ]
    index = parse(site / "index.html")
    assert index.headings == [
        ("h1", "Questions Numériques"),
        ("h2", "Édition en cours"),
        ("h3", "Think Small 2016-2017"),
        ("h2", "Éditions antérieures"),
        ("h3", "Questions Numériques 2014-2015"),
        ("h3", "Édition 2013 <b>"),  # a facilitator's label is text, escaped
    ]
    assert index.links() == ["construire-2030.html", "ville-2015.html", "archive-2013.html"]
    assert "Archive <i>2013</i>" in index.text
    assert all(tag not in ("script", "b", "i") for tag, _ in index.tags)
    assert "Brouillon" not in index.text  # drafts are not published
    assert "dernière mise à jour le 2 octobre 2026" in index.text  # ville-2015's revision
    for href in index.links():
        assert not href.startswith(("/", "http:", "https:", "file:"))
        assert (site / href).is_file()


def test_campaign_pages_have_the_seed_shape_and_escape_everything(site: Path) -> None:
    page = parse(site / "construire-2030.html")
    assert ("h1", "Construire 2030") in page.headings
    assert ("h2", "1 – Pourquoi tout va changer ?") in page.headings
    assert ("h3", "Ce qui meurt") in page.headings
    assert "Dernière mise à jour le 4 octobre 2026" in page.text
    assert "Historique des versions" in page.text
    assert "Révolution numérique !" in page.text
    assert ATTACK in page.text
    assert all(tag not in ("script", "img") for tag, _ in page.tags)
    assert page.links() == ["index.html"]
    metas = [a for tag, a in page.tags if tag == "meta"]
    assert any(a.get("http-equiv") == "Content-Security-Policy" for a in metas)
    for path in site.iterdir():
        html = path.read_text(encoding="utf-8")
        assert SECRET_ID not in html
        assert "telegram" not in html
        assert "P-" not in html  # no pseudonym either


def dump_dom(path: Path, profile: Path) -> str:
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            path.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode("utf-8")


@SQLITE_ONLY  # renders the files written: the backend made no difference to them above
def test_pages_render_in_a_headless_browser_without_running_scripts(
    site: Path, tmp_path: Path
) -> None:
    index_dom = dump_dom(site / "index.html", tmp_path / "profile")
    index = Page()
    index.feed(index_dom)
    assert ("h2", "Édition en cours") in index.headings
    assert ("h2", "Éditions antérieures") in index.headings
    campaign_dom = dump_dom(site / "construire-2030.html", tmp_path / "profile")
    page = Page()
    page.feed(campaign_dom)
    assert ("h3", "Ce qui meurt") in page.headings
    assert ATTACK in page.text
    for dom in (index_dom, campaign_dom):
        assert "data-pwned" not in dom.split("<body", 1)[0]
        assert 'data-pwned="' not in dom
        assert "<script" not in dom
        assert "<img" not in dom


async def test_cli_command_writes_the_site(tmp_path: Path, database_url: str) -> None:
    config = Config.model_validate({"database": {"url": database_url}})
    out = tmp_path / "out"
    assert await cmd_export_site(argparse.Namespace(dir=str(out)), config) == 0
    index = parse(out / "index.html")
    assert "Aucune campagne publiée pour l’instant." in index.text


# --- the anonymity threshold ----------------------------------------------------------------------


async def answer(
    store: Store, slug: str, answers: dict[str, int], *, min_respondents: int | None = None
) -> None:
    """A campaign where ``answers[step]`` distinct citizens answered ``step`` (one each)."""
    flow = resolve_flow("construire-2030")
    async with store.transaction() as tx:
        c = await tx.campaigns.create_campaign(
            slug=slug,
            title=slug,
            flow_id=flow.id,
            flow_version=flow.version,
            flow_source=flow.source,
            now=T0,
            edition="Think Small 2016-2017",
            status=CampaignStatus.OPEN,
            **({} if min_respondents is None else {"min_respondents": min_respondents}),
        )
        for n in range(max(answers.values())):
            user = UserRef("telegram", f"{slug}-{n}")
            p = await tx.participants.create_participant(
                user, Address("telegram", f"{slug}-{n}"), T0, language="fr"
            )
            session = await tx.sessions.save_session(
                p.id, c.id, {}, T0, status="active", step_id=None
            )
            await tx.sessions.record_consent(session, flow.version, T0)
            steps = [step for step, count in answers.items() if n < count]
            for seq, step in enumerate(steps, start=1):
                await tx.sessions.add_item(
                    session_id=session,
                    campaign_id=c.id,
                    participant_id=p.id,
                    seq=seq,
                    step_id=step,
                    text=f"MARQUE-{step} de {slug}-{n}",
                    value=None,
                    now=T0 + timedelta(minutes=n),
                )


async def test_a_one_person_campaign_is_published_as_counts_only(
    tmp_path: Path, database_url: str
) -> None:
    await upgrade(database_url)
    async with Store.from_url(database_url) as store:
        await answer(store, "solo", {"pourquoi": 1, "meurt": 1, "acteurs": 1})
        await export_site(store, tmp_path / "site", NOW)
    page = parse(tmp_path / "site" / "solo.html")
    assert "MARQUE" not in page.text  # not one word of what they wrote
    assert "1 participant" in page.text
    assert page.text.count("1 contribution — moins de 5 participants ont répondu ici") == 3
    assert ("h3", "Ce qui meurt") in page.headings
    assert "solo.html" in parse(tmp_path / "site" / "index.html").links()


async def test_the_site_threshold_holds_per_section_and_the_strictest_one_wins(
    tmp_path: Path, database_url: str
) -> None:
    """Six participants, but only two of them said what is dying: that section shows a count.
    The site's key and the campaign's option are both floors; the higher one applies."""
    await upgrade(database_url)
    async with Store.from_url(database_url) as store:
        await answer(store, "mixte", {"pourquoi": 6, "meurt": 2, "acteurs": 4})

        async def published(site_minimum: int) -> str:
            config = Config.model_validate(
                {"database": {"url": database_url}, "site": {"min_respondents": site_minimum}}
            )
            out = tmp_path / f"site-{site_minimum}"
            assert await cmd_export_site(argparse.Namespace(dir=str(out)), config) == 0
            return parse(out / "mixte.html").text

        text = await published(3)  # the campaign's default, 5, is stricter
        assert "MARQUE-pourquoi de mixte-5" in text
        assert "MARQUE-meurt" not in text
        assert "MARQUE-acteurs" not in text
        assert "2 contributions — moins de 5 participants ont répondu ici" in text
        assert "4 contributions — moins de 5 participants ont répondu ici" in text
        assert "6 participants" in text

        async with store.transaction() as tx:
            campaign = await tx.campaigns.campaign_by_slug("mixte")
            assert campaign is not None
            await tx.campaigns.set_campaign_min_respondents(campaign.id, 2)
        text = await published(2)
        assert "MARQUE-meurt de mixte-1" in text
        assert "MARQUE-acteurs de mixte-3" in text
        text = await published(3)  # now the site's key is the stricter one
        assert "MARQUE-acteurs de mixte-3" in text
        assert "MARQUE-meurt" not in text
        assert "2 contributions — moins de 3 participants ont répondu ici" in text


@SQLITE_ONLY
async def test_open_campaigns_link_to_the_web_chat_when_it_has_an_address(
    tmp_path: Path, database_url: str
) -> None:
    await upgrade(database_url)
    async with Store.from_url(database_url) as store:
        await fill(store)
        await export_site(store, tmp_path / "plain", NOW)
        await export_site(
            store, tmp_path / "web", NOW, web_base_url="https://participer.example.org/"
        )
    assert "Participer" not in (tmp_path / "plain" / "index.html").read_text(encoding="utf-8")
    index = (tmp_path / "web" / "index.html").read_text(encoding="utf-8")
    # The open campaign only: a closed one takes no more answers.
    assert index.count(">Participer<") == 1
    assert 'href="https://participer.example.org/c/construire-2030"' in index

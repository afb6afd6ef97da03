"""One naming rule for themes in every output, on every backend: a theme is named only by a word
(or phrase) at least two distinct citizens used; a group of ideas with no such word is counted
where counts are shown and never named — never after one citizen's sentence, never by a word one
citizen repeated.

Each test runs a campaign through the real service (citizens talk; vectors are planted, one
direction per topic, so that the grouping is known) and reads every public output: the site's
themes, links sentences and heatmap axes, recaps (a wave) and /bilan, ``qn-bot themes`` md and
json, the digest. One citizen's distinctive sentence forms a group of its own with two others
that share no word with it: neither it nor its words reach another citizen's output. After the
/oublier of one of the two citizens whose shared word names a theme, that name is gone from
every output too.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.cli import main
from qn_bot.config import Config, SiteConfig, TeamConfig
from qn_bot.digest.period import completed_period
from qn_bot.digest.render import render_preview, render_text
from qn_bot.digest.send import build_package, preview_model
from qn_bot.domain import CampaignStatus
from qn_bot.flows.loader import load_flow_text
from qn_bot.recap.send import Wave, send_wave
from qn_bot.records import CampaignRecord, ItemVector
from qn_bot.service import Service
from qn_bot.site import export_site
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from qn_bot.themes import heatmap
from qn_bot.themes.compute import campaign_themes, to_json
from qn_bot.themes.embedding import DIMENSIONS, MODEL_NAME, Embedder, load_embedder, quantise
from qn_bot.themes.links import LinkGrid
from tests.conftest import FixedClock
from tests.contract.test_service import Citizen, rows

SLUG = "etiquettes"
FLOW = """
id = "etiquettes"
version = 1
languages = ["fr", "en"]
title = { fr = "Étiquettes", en = "Labels" }
links = [["meurt", "nait"]]

[[steps]]
id = "accord"
kind = "consent"
prompt = { fr = "D'accord ?", en = "Agree?" }

[[steps]]
id = "meurt"
kind = "list"
prompt = { fr = "Ce qui meurt ?", en = "What dies?" }
section = { fr = "Ce qui meurt", en = "What dies" }

[[steps]]
id = "nait"
kind = "list"
prompt = { fr = "Ce qui naît ?", en = "What is born?" }
section = { fr = "Ce qui naît", en = "What is born" }
"""
MINIMUM = 2
SITE = SiteConfig(min_respondents=MINIMUM)
TEAM = TeamConfig(
    name="equipe", campaigns=(SLUG,), destinations=("mailto:e@example.org",), min_respondents=2
)

# What dies, by topic (a planted direction each): five citizens share "voiture"; three say
# things that share no word (zoe's sentence is hers alone); two of four share "tandem".
CARS = {
    "ana": "la voiture en ville",
    "ben": "une voiture de trop",
    "cyd": "voiture thermique",
    "dee": "la voiture partout",
    "eli": "moins de voiture",
}
ODD = {
    "zoe": "Le zorglub quantique de tante Berthe",
    "uma": "des marmottes fluorescentes",
    "vic": "un tapis volant",
}
TANDEM = {"tom": "un tandem partagé", "tim": "le tandem du dimanche", "xav": "pédaler"}
TANDEM |= {"yan": "bicyclette"}
# What is born: each topic's citizens give the same idea, in their own words.
BIKES = ("le vélo partout", "un vélo cargo", "vélo électrique", "plus de vélo", "vélo pour tous")
TRAMS = ("le tramway gratuit", "un tramway de nuit", "tramway jusqu’à la gare")
GARDENS = ("un jardin partagé", "jardin collectif", "le jardin du quartier", "des jardins")
#: Words of ODD that no output may show to anyone but their author.
ODD_WORDS = {
    "zoe": ("zorglub", "quantique", "berthe"),
    "uma": ("marmotte", "fluorescent"),
    "vic": ("tapis", "volant"),
}


def _near(axis: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    v = np.zeros(DIMENSIONS, dtype=np.float32)
    v[axis] = 1.0
    return quantise(v + rng.normal(0, 0.03, DIMENSIONS).astype(np.float32))


@pytest.fixture(scope="module")
def model() -> Embedder:
    loaded = load_embedder()
    assert loaded is not None
    return loaded


@pytest.fixture
def heatmaps(monkeypatch: pytest.MonkeyPatch) -> list[LinkGrid]:
    """The grids the site draws, as drawn (the axis labels are the grid's rows and columns)."""
    drawn: list[LinkGrid] = []
    real = heatmap.render_heatmap

    def spy(grid: LinkGrid, *args: Any, **kw: Any) -> bytes | None:
        drawn.append(grid)
        return real(grid, *args, **kw)

    monkeypatch.setattr(heatmap, "render_heatmap", spy)
    return drawn


async def open_campaign(store: Store, clock: FixedClock) -> CampaignRecord:
    flow = load_flow_text(FLOW, "etiquettes.toml")
    async with store.transaction() as tx:
        await create_campaign(
            tx, slug=SLUG, flow=flow, title="Étiquettes", now=clock(), min_respondents=MINIMUM
        )
        return await set_status(tx, SLUG, CampaignStatus.OPEN, clock())


async def talk(
    service: Service, said: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
) -> dict[str, Citizen]:
    """Each citizen consents, gives their ideas of what dies, then of what is born."""
    people = {}
    for name, (dying, born) in said.items():
        citizen = Citizen(service, name)
        assert "D'accord ?" in await citizen.say("/start")
        assert "Ce qui meurt ?" in await citizen.say("oui")
        for text in dying:
            await citizen.say(text)
        assert "Ce qui naît ?" in await citizen.say("/suivant")
        for text in born:
            await citizen.say(text)
        people[name] = citizen
    return people


async def plant(store: Store, axes: dict[str, int]) -> None:
    """Each live item's vector, in its topic's direction (what the embedding worker stores)."""
    found = await rows(store, t.items, t.items.c.deleted_at.is_(None))
    async with store.transaction() as tx:
        await tx.vectors.save_vectors(
            [
                ItemVector(
                    r.id,
                    r.campaign_id,
                    r.step_id,
                    r.revision,
                    MODEL_NAME,
                    _near(axes[r.text], r.id),
                )
                for r in found
                if r.text in axes
            ]
        )


def campaign_said() -> tuple[dict[str, tuple[tuple[str, ...], tuple[str, ...]]], dict[str, int]]:
    said: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    axes: dict[str, int] = {}
    for dying_axis, born_axis, dying, born in (
        (0, 3, CARS, BIKES),
        (1, 4, ODD, TRAMS),
        (2, 5, TANDEM, GARDENS),
    ):
        for n, (name, text) in enumerate(dying.items()):
            said[name] = ((text,), (born[n],))
            axes[text] = dying_axis
            axes[born[n]] = born_axis
    return said, axes


async def themes_cli(store: Store, tmp_path: Path, form: str) -> str:
    """`qn-bot themes SLUG --format FORM`, as another process reads the same database."""
    config = tmp_path / "qn_bot.toml"
    url = store.engine.url.render_as_string(hide_password=False)
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(["--config", str(config), "themes", SLUG, "--format", form])

    assert await asyncio.to_thread(run) == 0, err.getvalue()
    return out.getvalue()


def site_themes(page: str) -> str:
    """A site page's themes and links blocks (its bullets are the answers, published as such)."""
    blocks = re.findall(
        r'<div class="themes">.*?</div>|<section class="links">.*?</section>', page, re.S
    )
    return "\n".join(blocks)


def digest_themes(text: str) -> str:
    """A digest's themes, trends and links (its newest items are answers, quoted as such)."""
    kept, linking = [], False
    for line in text.splitlines():
        linking = linking or "Liens entre" in line
        if linking or "Thèmes récurrents" in line or line.strip()[:1] in ("🆕", "📈", "📉", "↔"):
            kept.append(line)
    return "\n".join(kept)


async def outputs(
    store: Store,
    citizens: dict[str, Citizen],
    model: Embedder,
    heatmaps: list[LinkGrid],
    tmp_path: Path,
    clock: FixedClock,
    wave: str,
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Every public output: (what anyone may read, per citizen what only they read)."""
    heatmaps.clear()
    site = tmp_path / f"site-{wave}"
    await export_site(store, site, clock(), min_respondents=MINIMUM, loader=lambda: model)
    page = html.unescape((site / f"{SLUG}.html").read_text(encoding="utf-8"))
    printed = json.loads(await themes_cli(store, tmp_path, "json"))
    names = [" ".join([entry["theme"], *entry["keywords"]]) for entry in printed]
    config = Config.model_validate({"teams": [TEAM.model_dump()], "site": SITE.model_dump()})
    later = clock() + timedelta(days=7)
    package, _ = await build_package(store, TEAM, completed_period(TEAM, later), later, late=False)
    public = {
        "site": site_themes(page),
        "heatmap axes": "\n".join(" | ".join([*g.rows, *g.columns]) for g in heatmaps),
        "themes md": await themes_cli(store, tmp_path, "md"),
        "themes json names": "\n".join(names),
        "digest preview": digest_themes(
            render_preview(await preview_model(store, config, TEAM, later))
        ),
        "digest": digest_themes(render_text(package.digest)),
    }
    sent = await send_wave(store, await campaign(store), Wave(wave), SITE, clock())
    assert sent.queued == len(citizens)
    recaps = {
        r.chat_id.removeprefix("chat-"): r.payload["text"]
        for r in await rows(store, t.outbox, t.outbox.c.dedupe_key.like(f"recap:%:{wave}:%"))
    }
    own = {
        name: {"recap": recaps[name], "/bilan": await citizen.say("/bilan")}
        for name, citizen in citizens.items()
    }
    return public, own


async def campaign(store: Store) -> CampaignRecord:
    async with store.snapshot() as tx:
        found = await tx.campaigns.campaign_by_slug(SLUG)
    assert found is not None
    return found


def nowhere(
    words: Iterable[str],
    public: dict[str, str],
    own: dict[str, dict[str, str]],
    *,
    but: str | None = None,
) -> None:
    for word in words:
        for name, text in public.items():
            assert word not in text.casefold(), (word, name, text)
        for person, texts in own.items():
            if person == but:
                continue
            for name, text in texts.items():
                assert word not in text.casefold(), (word, person, name, text)


@pytest.fixture
def clock() -> FixedClock:
    # The week's items must fall in the digest's completed week: a fixed Thursday.
    return FixedClock(datetime(2026, 1, 15, 10, 0, tzinfo=UTC))


async def test_only_words_two_citizens_used_name_a_theme_in_every_output(
    store: Store,
    clock: FixedClock,
    pseudonyms: Any,
    model: Embedder,
    heatmaps: list[LinkGrid],
    tmp_path: Path,
) -> None:
    await open_campaign(store, clock)
    service = Service(store, clock=clock, pseudonyms=pseudonyms, site=SITE)
    said, axes = campaign_said()
    citizens = await talk(service, said)
    await plant(store, axes)

    public, own = await outputs(store, citizens, model, heatmaps, tmp_path, clock, "before")

    # Zoe's sentence and the other two of its group: no word in common, so no name, anywhere.
    for author, words in ODD_WORDS.items():
        nowhere(words, public, own, but=author)
    # Shared words still name their themes: in the site's list, its links and their pictures,
    # the commands' outputs and the digest…
    page = public["site"]
    assert '<span class="theme">voiture</span>' in page
    assert '<span class="theme">tandem</span>' in page
    assert "«\u00a0voiture\u00a0» citent surtout «\u00a0vélo\u00a0» (5 personnes)" in page
    assert any("voiture" in g.rows and "vélo" in g.columns for g in heatmaps)
    for name in ("themes md", "themes json names", "digest preview", "digest"):
        assert "voiture" in public[name], name
        assert "tandem" in public[name], name
    # … where the group without a name is counted, not named.
    assert "Autres idées proches" in page
    assert "- _Autres idées proches_ (3)" in public["themes md"]
    assert "autres idées proches (3)" in public["digest"]
    # In recaps and /bilan: one's own idea says its theme, or without a name how many others
    # said something close.
    for reply in own["ana"].values():
        assert "thème «\u00a0voiture\u00a0»\u00a0: 4 autres personnes" in reply
    for reply in own["uma"].values():
        assert "«\u00a0des marmottes fluorescentes\u00a0»" in reply  # her own words, hers to see
        assert "2 autres personnes ont exprimé une idée proche" in reply
        assert "thème «\u00a0zorglub" not in reply
        assert "«\u00a0tandem\u00a0» (4 personnes)" in reply  # a theme she did not mention

    # Tom asks for his erasure: "tandem" is then one citizen's word (Tim's) and names nothing.
    tom = citizens.pop("tom")
    await tom.say("/oublier")
    assert "effacé" in await tom.press("forget_yes")
    public, own = await outputs(store, citizens, model, heatmaps, tmp_path, clock, "after")
    nowhere(["tandem"], public, own, but="tim")
    for reply in own["tim"].values():
        assert "«\u00a0le tandem du dimanche\u00a0»" in reply
        assert "thème «\u00a0tandem" not in reply
    for author, words in ODD_WORDS.items():
        nowhere(words, public, own, but=author)
    assert '<span class="theme">voiture</span>' in public["site"]


async def test_a_keyword_one_citizen_repeated_names_no_theme(
    store: Store, clock: FixedClock, pseudonyms: Any, tmp_path: Path
) -> None:
    """Without vectors (the TF-IDF keyword themes): a word counts citizens, not answers."""
    await open_campaign(store, clock)
    service = Service(store, clock=clock, pseudonyms=pseudonyms, site=SITE)
    said = {
        "ana": (("plus de vélo",), ("un tramway",)),
        "ben": (("le vélo partout",), ("le tramway de nuit",)),
        "cyd": (("un vélo cargo",), ("tramway gratuit",)),
        "zoe": (("le zorglub quantique", "encore du zorglub quantique"), ("un tramway",)),
    }
    citizens = await talk(service, said)

    site = tmp_path / "site"
    await export_site(store, site, clock(), min_respondents=MINIMUM, loader=lambda: None)
    found = await campaign_themes(store, await campaign(store), "fr", loader=lambda: None)
    from qn_bot.cli_themes import to_markdown

    config = Config.model_validate({"teams": [TEAM.model_dump()], "site": SITE.model_dump()})
    later = clock() + timedelta(days=7)
    package, _ = await build_package(store, TEAM, completed_period(TEAM, later), later, late=False)
    public = {
        "site": site_themes(html.unescape((site / f"{SLUG}.html").read_text(encoding="utf-8"))),
        "themes md": to_markdown(found, "Étiquettes"),
        "themes json names": json.dumps(
            [[e["theme"], *e["keywords"]] for e in to_json(found)], ensure_ascii=False
        ),
        "digest preview": digest_themes(
            render_preview(await preview_model(store, config, TEAM, later))
        ),
        "digest": digest_themes(render_text(package.digest)),
    }
    await send_wave(store, await campaign(store), Wave("tfidf"), SITE, clock())
    recaps = {
        r.chat_id.removeprefix("chat-"): r.payload["text"]
        for r in await rows(store, t.outbox, t.outbox.c.dedupe_key.like("recap:%"))
    }
    own = {
        name: {"recap": recaps[name], "/bilan": await citizen.say("/bilan")}
        for name, citizen in citizens.items()
    }
    nowhere(["zorglub", "quantique"], public, own, but="zoe")
    for reply in own["zoe"].values():
        assert "thème «\u00a0zorglub" not in reply
    for name in ("themes md", "themes json names", "digest preview", "digest"):
        assert "vélo" in public[name], name
        assert "tramway" in public[name], name

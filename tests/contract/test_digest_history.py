"""The digest's themes across the campaign's weeks, on every backend (issue 14 §4): each
completed week's themes are kept when a digest is made (the weeks before it too, once), a theme
keeps its identity from week to week, the trends and the chart of the top themes read the kept
weeks back, and a kept label never outlives the citizens whose words make it.

Vectors are planted (one direction per topic, a little noise), not embedded: quick, and what is
tested is the keeping, not the model (tests/contract/test_digest_trends.py runs the model)."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select

from qn_bot.cli_digest import cmd_digest_preview
from qn_bot.config import Config, TeamConfig
from qn_bot.digest.period import Period, completed_period
from qn_bot.digest.render import render_text, trend_lines
from qn_bot.digest.send import build_package
from qn_bot.records import CampaignRecord, ItemVector
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from qn_bot.themes.embedding import DIMENSIONS, MODEL_NAME, load_embedder, quantise
from qn_bot.themes.worker import EmbeddingWorker
from tests.contract.store_helpers import make_campaign, make_participant

SLUG = "mini-2030"
TEAM = TeamConfig(
    name="equipe", campaigns=(SLUG,), destinations=("mailto:e@example.org",), min_respondents=2
)
#: A Wednesday: the digest reports on the week that ended on Monday 9:00 (Paris).
NOW = datetime.fromisoformat("2026-03-18T12:00:00+00:00")
BIKES = ("un vélo", "le vélo partout", "vélo cargo", "vélo électrique", "un vélo pour tous")
SCHOOLS = ("une école", "école rénovée", "école verte", "une école de plus", "école ouverte")
HOUSING = ("un logement", "logement social", "logement digne", "logement pour tous", "logement")
PARKS = ("un parc", "parc fleuri", "grand parc", "parc ouvert", "un parc pour tous")
_people = itertools.count(1)


def _near(axis: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    v = np.zeros(DIMENSIONS, dtype=np.float32)
    v[axis] = 1.0
    return quantise(v + rng.normal(0, 0.03, DIMENSIONS).astype(np.float32))


async def answer(
    store: Store, campaign: CampaignRecord, at: datetime, *topics: tuple[int, Sequence[str], int]
) -> list[int]:
    """Per (axis, texts, how many), that many citizens each give one idea of the topic at
    ``at``, embedded; their participant ids."""
    people = []
    async with store.transaction() as tx:
        for axis, texts, n in topics:
            for k in range(n):
                number = next(_people)
                person = await make_participant(tx, str(number), f"P-{number:04d}")
                session = await tx.sessions.save_session(
                    person.id, campaign.id, {}, at, status="completed", step_id=None
                )
                await tx.sessions.add_item(
                    session_id=session,
                    campaign_id=campaign.id,
                    participant_id=person.id,
                    seq=1,
                    step_id="idees",
                    text=texts[k % len(texts)],
                    value=None,
                    now=at,
                )
                item = (
                    await tx.conn.execute(
                        select(t.items.c.id).where(t.items.c.session_id == session)
                    )
                ).scalar_one()
                await tx.vectors.save_vectors(
                    [ItemVector(item, campaign.id, "idees", 1, MODEL_NAME, _near(axis, number))]
                )
                people.append(person.id)
    return people


def weeks() -> list[Period]:
    """The three last completed periods at NOW, oldest first."""
    last = completed_period(TEAM, NOW)
    return [last.previous(TEAM).previous(TEAM), last.previous(TEAM), last]


async def kept(store: Store) -> list[tuple[datetime, str, int, int]]:
    """(week start, label, items, identity) of every kept theme."""
    w = t.theme_weeks.c
    async with store.snapshot() as tx:
        rows = (await tx.conn.execute(select(t.theme_weeks).order_by(w.period_start, w.rank))).all()
    return [(r.period_start, r.label, r.items, r.origin_id or r.id) for r in rows]


async def test_each_week_is_kept_once_and_a_theme_keeps_its_identity(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx, SLUG, min_respondents=2)
    first, second, third = weeks()
    await answer(store, campaign, first.start + timedelta(hours=1), (0, BIKES, 6), (3, PARKS, 6))
    await answer(store, campaign, second.start + timedelta(hours=1), (0, BIKES, 7), (1, SCHOOLS, 6))
    await answer(
        store,
        campaign,
        third.start + timedelta(hours=1),
        (0, BIKES, 15),
        (1, SCHOOLS, 6),
        (2, HOUSING, 6),
    )
    package, _ = await build_package(store, TEAM, third, NOW, late=False)

    found = await kept(store)
    # The two weeks before, kept once on the way, then the digest's own week.
    assert [(start, label, items) for start, label, items, _ in found] == [
        (first.start, "parc", 6),
        (first.start, "vélo", 6),
        (second.start, "vélo", 7),
        (second.start, "école", 6),
        (third.start, "vélo", 15),
        (third.start, "logement", 6),
        (third.start, "école", 6),
    ]
    bike = {identity for _, label, _, identity in found if label == "vélo"}
    school = {identity for _, label, _, identity in found if label == "école"}
    assert len(bike) == 1  # one theme across the weeks
    assert len(school) == 1
    assert bike != school

    (section,) = package.digest.campaigns[0].sections
    assert trend_lines(section, "fr")[1:] == ["🆕 logement 6", "📈 vélo 7 → 15"]
    (lines,) = package.digest.campaigns[0].theme_lines
    assert lines.heading == "Idées"
    assert lines.themes[:3] == (
        ("vélo", (0, 0, 0, 0, 0, 6, 7, 15)),
        ("école", (0, 0, 0, 0, 0, 0, 6, 6)),
        ("logement", (0, 0, 0, 0, 0, 0, 0, 6)),
    )
    assert package.theme_charts[SLUG].startswith(b"\x89PNG")
    assert any(a.filename == f"themes-{SLUG}.png" for a in package.chat_message().attachments)

    # Made again, the digest reads the kept weeks: nothing kept twice, and the weeks before
    # are no longer grouped (their vectors gone, the trends are the same).
    async with store.transaction() as tx:
        before = select(t.items.c.id).where(t.items.c.created_at < third.start)
        await tx.conn.execute(delete(t.item_vectors).where(t.item_vectors.c.item_id.in_(before)))
    again, _ = await build_package(store, TEAM, third, NOW, late=False)
    assert await kept(store) == found
    assert trend_lines(again.digest.campaigns[0].sections[0], "fr")[1:] == [
        "🆕 logement 6",
        "📈 vélo 7 → 15",
    ]


async def test_a_kept_label_goes_when_a_citizen_who_wrote_it_is_erased(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx, SLUG, min_respondents=2)
    _, second, third = weeks()
    # Last week, only two citizens said "tandem": the theme's name is their word.
    words = ("un tandem", "tandem partagé", "pédaler", "bicyclette", "deux roues", "cyclisme")
    people = await answer(
        store, campaign, second.start + timedelta(hours=1), (0, words, 6), (3, PARKS, 6)
    )
    await answer(store, campaign, third.start + timedelta(hours=1), (1, SCHOOLS, 6), (3, PARKS, 6))
    package, _ = await build_package(store, TEAM, third, NOW, late=False)
    assert [label for _, label, _, _ in await kept(store)] == ["parc", "tandem", "parc", "école"]
    assert "📉 tandem 6 → 0" in render_text(package.digest)

    async with store.transaction() as tx:
        await tx.participants.delete_participant(people[0])  # /oublier
    # Soon after, without any digest, the embedding worker's round forgets the stored label
    # (everything is embedded: the model is loaded, not run)…
    model = load_embedder()
    assert model is not None
    assert await EmbeddingWorker(store, loader=lambda: model).round(model) == 0
    assert [label for _, label, _, _ in await kept(store)] == ["parc", "", "parc", "école"]
    package, _ = await build_package(store, TEAM, third, NOW, late=False)
    # … and read again, the label was made again from the week's live items: no word of theirs,
    # nor one citizen's word alone.
    assert [label for _, label, _, _ in await kept(store)] == ["parc", "", "parc", "école"]
    assert "tandem" not in render_text(package.digest)
    async with store.snapshot() as tx:
        stale = (await tx.conn.execute(select(t.theme_weeks.c.stale))).scalars().all()
    assert not any(stale)  # made again (unnamed), not to be made again at each read


async def test_preview_chart_writes_the_themes_chart_beside_the_weekly_one(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`qn-bot digest preview TEAM --chart FILE`: the weekly chart to FILE, the themes over the
    weeks to FILE's stem + ``-themes.png``, as the team receives them."""
    async with store.transaction() as tx:
        await make_campaign(tx, SLUG, min_respondents=2)
    campaign = await _campaign(store)
    last = completed_period(TEAM, datetime.now(UTC))
    before = last.previous(TEAM)
    await answer(store, campaign, before.start + timedelta(hours=1), (0, BIKES, 6), (3, PARKS, 6))
    await answer(store, campaign, last.start + timedelta(hours=1), (0, BIKES, 9), (1, SCHOOLS, 6))
    url = store.engine.url.render_as_string(hide_password=False)
    config = Config.model_validate({"database": {"url": url}, "teams": [TEAM.model_dump()]})
    chart = tmp_path / "semaine.png"
    preview = argparse.Namespace(team=TEAM.name, chart=str(chart))
    assert await cmd_digest_preview(preview, config) == 0
    err = capsys.readouterr().err
    assert chart.read_bytes().startswith(b"\x89PNG")
    themes = tmp_path / "semaine-themes.png"
    assert themes.read_bytes().startswith(b"\x89PNG")
    assert str(themes) in err
    assert themes.read_bytes() != chart.read_bytes()
    # The help says where it goes.
    help_text = " ".join(_preview_parser().format_help().split())
    assert "-themes.png" in help_text


async def _campaign(store: Store) -> CampaignRecord:
    async with store.snapshot() as tx:
        found = await tx.campaigns.campaign_by_slug(SLUG)
    assert found is not None
    return found


def _preview_parser() -> argparse.ArgumentParser:
    from tests.unit.test_cli_help import _commands

    return next(p for path, p in _commands() if path == ["digest", "preview"])

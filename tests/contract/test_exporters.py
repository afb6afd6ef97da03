"""Export formats come from one registry: the CLI's --format, /export in chat and the campaign
export all read it, so a new format is one module plus one registration line."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from qn_bot.cli import build_parser
from qn_bot.exporters import EXPORTERS, ExportSource, export_campaign
from qn_bot.service import Service
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_service import SLUG, Citizen, open_campaign
from tests.exporter_tsv import TSV


@pytest.fixture
def with_tsv() -> Iterator[None]:
    EXPORTERS.register(TSV)
    try:
        yield
    finally:
        EXPORTERS.unregister(TSV.name)


def _export_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices["export"]
    assert isinstance(parser, argparse.ArgumentParser)
    return parser


def test_the_built_in_formats_in_order() -> None:
    assert EXPORTERS.names() == ("md", "html", "csv", "json")
    assert {name: EXPORTERS.get(name).media_type for name in EXPORTERS.names()} == {
        "md": "text/markdown",
        "html": "text/html",
        "csv": "text/csv",
        "json": "application/json",
    }


@pytest.mark.usefixtures("with_tsv")
def test_a_registered_format_is_offered_by_the_cli() -> None:
    parser = _export_parser()
    assert parser.parse_args([SLUG, "--format", "tsv"]).format == "tsv"
    shown = " ".join(parser.format_help().split())
    assert "{md,html,csv,json,tsv}" in shown
    assert f"tsv: {TSV.description}" in shown


@pytest.mark.usefixtures("with_tsv")
async def test_a_registered_format_is_exported_in_chat_and_by_the_cli(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    await open_campaign(store, clock)
    service = Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",))
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("une idée")

    async with store.transaction() as tx:
        assert "\tune idée\n" in await export_campaign(tx, SLUG, "tsv", None, clock())

    boss = Citizen(service, "boss")
    await boss.say(f"/export {SLUG} tsv")
    (attachment,) = boss.last[0].attachments
    assert attachment.filename == f"{SLUG}.tsv"
    assert attachment.media_type == "text/tab-separated-values"
    assert "\tune idée\n" in attachment.data.decode()

    reply = await boss.say(f"/export {SLUG} pdf")
    assert "md, html, csv, json, tsv" in reply


async def test_an_unknown_format_names_the_registered_ones(store: Store, clock: FixedClock) -> None:
    await open_campaign(store, clock)
    async with store.transaction() as tx:
        with pytest.raises(Exception, match="expected md, html, csv or json"):
            await export_campaign(tx, SLUG, "pdf", None, clock())


def test_source_is_what_an_exporter_gets() -> None:
    assert set(ExportSource.__dataclass_fields__) >= {"tx", "campaign", "flow", "items", "language"}

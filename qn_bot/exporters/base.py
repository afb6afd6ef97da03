"""What an export format is: a name, how its file is typed, and how it renders a campaign."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from qn_bot.errors import CampaignError
from qn_bot.flows.format import Flow
from qn_bot.records import CampaignRecord, ItemRecord
from qn_bot.repositories import Transaction


@dataclass(frozen=True, slots=True)
class ExportSource:
    """A campaign as every exporter starts from it; an exporter that needs more (participants,
    revisions) reads it through ``tx``."""

    tx: Transaction
    campaign: CampaignRecord
    flow: Flow
    items: list[ItemRecord]  # every live item, in answer order
    language: str  # one of the flow's languages
    now: datetime
    csv_dialect: str = "rfc4180"  # qn_bot.export.CSV_DIALECTS


@dataclass(frozen=True, slots=True)
class Exporter:
    name: str  # what --format and /export take
    media_type: str  # of the file handed over in chat
    extension: str  # of that file's name, without the dot
    description: str  # one line for `qn-bot export --help`
    render: Callable[[ExportSource], Awaitable[str]]


class ExporterRegistry:
    """The formats in the order they were registered, which is the order they are listed in."""

    def __init__(self) -> None:
        self._exporters: dict[str, Exporter] = {}

    def register(self, exporter: Exporter) -> None:
        if exporter.name in self._exporters:
            raise ValueError(f"export format {exporter.name!r} is registered twice")
        self._exporters[exporter.name] = exporter

    def unregister(self, name: str) -> None:
        del self._exporters[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._exporters)

    def __contains__(self, name: object) -> bool:
        return name in self._exporters

    def get(self, name: str) -> Exporter:
        exporter = self._exporters.get(name)
        if exporter is None:
            *first, last = self.names()
            raise CampaignError(
                f"unknown export format {name!r}: expected {', '.join(first)} or {last}",
                key="bad_format",
                format=name,
                formats=", ".join(self.names()),
            )
        return exporter

    def __iter__(self) -> Iterator[Exporter]:
        return iter(tuple(self._exporters.values()))

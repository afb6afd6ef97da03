"""Where one citizen stands, for /bilan (issue 15), from the last computed opinion map.

The map is computed off the message path (``qn-bot opinions``, the digest: qn_bot.opinion_map)
and what a citizen's standing needs of it — the axes, the shown groups' centres and sizes, the
bridging statements — is kept in ``kv`` (:func:`save_map`). /bilan then reads it and the
citizen's own votes: two reads, no computation of the map in the chat's transaction.
The same cache gives the voting cards each statement's *extremity* (how far it separates
the groups on the map's axes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qn_bot.i18n import Catalog
from qn_bot.records import Vote
from qn_bot.repositories import Transaction

if TYPE_CHECKING:  # the method loads numpy: the chat's path reads the cache only
    from qn_bot.opinions.model import OpinionMap

#: Bridging statements a /bilan lists.
BRIDGES_SHOWN = 3


def _key(campaign_id: int) -> str:
    return f"opinions:{campaign_id}:map"


@dataclass(frozen=True, slots=True)
class Bridge:
    """A statement that bridges the groups, as the map rated it (rates 0–1)."""

    item_id: int
    text: str
    agree: float
    disagree: float
    votes: int


@dataclass(frozen=True, slots=True)
class CitizenStanding:
    """The group a citizen is closest to (None: no group shown, or no vote on the map's
    statements) and the statements that bridge the groups."""

    group_id: int | None
    group_size: int | None
    groups: int
    bridges: tuple[Bridge, ...]
    computed_at: datetime


def map_cache(opinions: OpinionMap, now: datetime) -> dict[str, Any]:
    """What :func:`save_map` keeps: small (two floats per statement, a few per group)."""
    basis = opinions.basis
    return {
        "computed_at": now.isoformat(),
        "statement_ids": [int(i) for i in basis.statement_ids],
        "means": [float(m) for m in basis.means],
        "components": [[float(x) for x in row] for row in basis.components],
        "groups": [
            {"id": g.id, "size": g.size, "centre": [float(c) for c in g.centre]}
            for g in opinions.groups
        ],
        "bridges": [
            {
                "item_id": s.item_id,
                "text": s.text,
                "agree": s.agree,
                "disagree": s.disagree,
                "votes": s.votes,
            }
            for s in opinions.bridges
        ],
    }


async def save_map(tx: Transaction, campaign_id: int, opinions: OpinionMap, now: datetime) -> None:
    await tx.kv.kv_set(_key(campaign_id), map_cache(opinions, now), now)


async def load_map(tx: Transaction, campaign_id: int) -> dict[str, Any] | None:
    stored = await tx.kv.kv_get(_key(campaign_id))
    return stored if isinstance(stored, dict) else None


def extremity(cached: Mapping[str, Any] | None) -> dict[int, float]:
    """Per statement of the map, how far it pulls along the map's axes (its loadings' length,
    scaled so that the most separating statement is 1): 0 for all without groups."""
    if cached is None or not cached.get("groups"):
        return {}
    ids: list[int] = cached["statement_ids"]
    rows: list[list[float]] = cached["components"]
    lengths = [math.hypot(*(row[n] for row in rows)) for n in range(len(ids))]
    top = max(lengths, default=0.0)
    if top <= 0:
        return {}
    return {item: length / top for item, length in zip(ids, lengths, strict=True)}


def standing_of(cached: Mapping[str, Any], votes: Mapping[int, Vote]) -> CitizenStanding:
    """The nearest shown group's centre to where the citizen's votes land on the map's axes
    (a vote missing counts as the statement's mean, as the map does; the point is scaled for
    how many of the map's statements they voted on, as the map's participants are)."""
    ids: list[int] = cached["statement_ids"]
    means: list[float] = cached["means"]
    rows: list[list[float]] = cached["components"]
    column = {item: n for n, item in enumerate(ids)}
    known = [(column[item], int(vote)) for item, vote in votes.items() if item in column]
    groups = cached["groups"]
    bridges = tuple(Bridge(**b) for b in cached["bridges"])
    computed_at = datetime.fromisoformat(cached["computed_at"])
    if not known or not groups:
        return CitizenStanding(None, None, len(groups), bridges, computed_at)
    scale = math.sqrt(len(ids) / len(known))
    point = [scale * sum(row[n] * (value - means[n]) for n, value in known) for row in rows]
    nearest = min(
        groups, key=lambda g: sum((c - p) ** 2 for c, p in zip(g["centre"], point, strict=True))
    )
    return CitizenStanding(nearest["id"], nearest["size"], len(groups), bridges, computed_at)


async def citizen_standing(
    tx: Transaction, participant_id: int, campaign_id: int
) -> CitizenStanding | None:
    """Where the citizen stands on the last computed map (None: no map computed yet)."""
    cached = await load_map(tx, campaign_id)
    if cached is None:
        return None
    return standing_of(cached, await tx.votes.participant_votes(participant_id, campaign_id))


def render_standing(catalog: Catalog, language: str, standing: CitizenStanding | None) -> str:
    """The /bilan block: the group the citizen is closest to, and what bridges the groups."""
    if standing is None:
        return catalog.t(language, "standing_no_map")
    lines: list[str] = []
    if standing.group_id is None or standing.group_size is None:
        lines.append(catalog.t(language, "standing_no_group"))
    else:
        lines.append(
            catalog.t(
                language,
                "standing_group",
                name=_group_name(standing.group_id),
                people=catalog.plural(language, "opinions_people", standing.group_size),
                groups=catalog.plural(language, "opinions_groups", standing.groups),
            )
        )
    if standing.bridges:
        lines.append(catalog.t(language, "standing_bridges"))
        lines += [
            "• "
            + catalog.t(
                language,
                "opinions_statement",
                text=" ".join(s.text.split()),
                agree=round(s.agree * 100),
                disagree=round(s.disagree * 100),
            )
            for s in standing.bridges[:BRIDGES_SHOWN]
        ]
    return "\n".join(lines)


def _group_name(group_id: int) -> str:
    """As qn_bot.opinions.report.group_name (1 → A), without loading the method's numpy."""
    return chr(ord("A") + group_id - 1) if 1 <= group_id <= 26 else str(group_id)

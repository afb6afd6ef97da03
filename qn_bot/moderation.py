"""Moderation: facilitators hide or keep citizens' items; citizens flag what they are shown.

- A campaign is moderated ``post`` (items are public until hidden: the default) or ``pre``
  (only approved items are public; approving is ``show``). Public outputs (site, digests, their
  attachments and e-mails, ``/digest``, themes) leave out what is not public: the store filters
  every public read at the query (qn_bot.store.moderation.public_items). Facilitator exports
  keep everything, marked ``hidden``; the citizen still sees their item in /mes_reponses and
  /mes_donnees.
- Every act (hide, show, flag) is written to the audit trail with who did it: ``cli`` for
  ``qn-bot moderate``, ``facilitator:<pseudonym>`` in chat, ``citizen:<pseudonym>`` for a flag —
  never a platform id.
- The author of a hidden item is not told, unless ``[moderation] tell_author`` (once per item).

**Hook for voting cards and recaps** (not built yet): whatever shows a citizen someone's item
calls :func:`shown_to` with it; ``/signaler`` (:func:`flag_on_screen`) then flags that item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from qn_bot.conversation import MODERATION_PREFIX
from qn_bot.domain import Button, ButtonKind, OutboundMessage, UserRef
from qn_bot.errors import CampaignError
from qn_bot.flows.stored import campaign_flow
from qn_bot.i18n import Catalog
from qn_bot.records import CampaignRecord, ModeratedItem, ParticipantRecord
from qn_bot.repositories import Transaction
from qn_bot.synthesis import format_date, step_heading
from qn_bot.text import quote

HIDE, SHOW = "hide", "show"
CLI_ACTOR = "cli"
#: Choice ids of /moderer's buttons: ``mod:hide:123``, ``mod:show:123``.
CHOICE_PREFIX = MODERATION_PREFIX
#: How /moderer quotes an item (the whole text is in the export).
ITEM_WIDTH = 600


def facilitator_actor(pseudonym: str | None) -> str:
    return f"facilitator:{pseudonym}" if pseudonym is not None else "facilitator"


def citizen_actor(pseudonym: str) -> str:
    return f"citizen:{pseudonym}"


def parse_ids(typed: Sequence[str]) -> list[int]:
    """Item ids as the CLI and /moderer show them (``#123``) or bare (``123``)."""
    ids = []
    for word in typed:
        digits = word.removeprefix("#")
        if not digits.isdigit():
            raise CampaignError(
                f"not an item id: {word!r} (ids look like #123)", key="bad_item_id", word=word
            )
        ids.append(int(digits))
    return ids


@dataclass(frozen=True, slots=True)
class Decided:
    items: list[ModeratedItem]  # as they were before the act
    told: int  # authors told their item was hidden


async def decide(
    tx: Transaction,
    campaign: CampaignRecord,
    item_ids: Sequence[int],
    act: str,
    actor: str,
    now: datetime,
    *,
    tell_author: bool,
    catalog: Catalog,
) -> Decided:
    """Hide or show (approve) items of ``campaign``; an id that is not a live item of it is an
    error and nothing is done."""
    found = await tx.moderation.items_by_id(item_ids)
    wrong = [i for i in item_ids if i not in found or found[i].campaign_id != campaign.id]
    if wrong:
        listed = ", ".join(f"#{i}" for i in wrong)
        raise CampaignError(
            f"no item {listed} in campaign {campaign.slug!r}",
            key="no_item",
            items=listed,
            slug=campaign.slug,
        )
    await tx.moderation.decide(campaign.id, item_ids, act, actor, now)
    items = [found[i] for i in dict.fromkeys(item_ids)]
    told = 0
    if act == HIDE and tell_author:
        for item in items:
            told += await _tell_author(tx, campaign, item, now, catalog)
    return Decided(items, told)


async def _tell_author(
    tx: Transaction, campaign: CampaignRecord, item: ModeratedItem, now: datetime, catalog: Catalog
) -> int:
    author = await tx.participants.participant_by_id(item.participant_id)
    if author is None or author.stopped:
        return 0
    language = author.language if author.language is not None else catalog.languages[0]
    text = catalog.t(language, "hidden_notice", text=quote(item.text), title=campaign.title)
    queued = await tx.outbox.enqueue(
        author.reply_to,
        OutboundMessage(text),
        now,
        participant_id=author.id,
        dedupe_key=f"moderation:hidden:{item.id}",  # told once, however often it is hidden
    )
    return 0 if queued is None else 1


# ---------------------------------------------------------------------- what a citizen is shown


def _on_screen_key(participant_id: int) -> str:
    return f"moderation:on_screen:{participant_id}"


async def shown_to(tx: Transaction, viewer: ParticipantRecord, item_id: int, now: datetime) -> None:
    """Voting cards and recaps call this when they show ``viewer`` an item (someone's words):
    ``/signaler`` then flags that one. Erased with the viewer (/oublier)."""
    await shown_to_user(tx.kv, viewer.id, viewer.user, item_id, now)


class KeyValueWrites(Protocol):
    async def kv_set(
        self, key: str, value: Any, now: datetime, *, subject: str | None = None
    ) -> None: ...


async def shown_to_user(
    kv: KeyValueWrites, participant_id: int, user: UserRef, item_id: int, now: datetime
) -> None:
    """:func:`shown_to` where only the participant's id and platform user are at hand, into a
    transaction's kv or group commit's batch."""
    await kv.kv_set(_on_screen_key(participant_id), {"item": item_id}, now, subject=str(user))


async def flag_on_screen(tx: Transaction, citizen: ParticipantRecord, now: datetime) -> str:
    """/signaler: flag the item ``citizen`` was last shown (:func:`shown_to`). Returns the
    catalogue key of the answer."""
    shown = await tx.kv.kv_get(_on_screen_key(citizen.id))
    if not isinstance(shown, dict) or not isinstance(shown.get("item"), int):
        return "flag_nothing"
    item = (await tx.moderation.items_by_id([shown["item"]])).get(shown["item"])
    if item is None:  # gone since (erased, deleted)
        return "flag_nothing"
    flagged = await tx.moderation.flag(
        item.campaign_id, item.id, citizen.id, citizen_actor(citizen.pseudonym), now
    )
    return "flag_done" if flagged else "flag_already"


# ---------------------------------------------------------------------- /moderer's card


def item_card(
    catalog: Catalog, language: str, campaign: CampaignRecord, item: ModeratedItem
) -> OutboundMessage:
    """One item to decide on, with « Masquer » / « Garder » (buttons or numbered choices)."""
    steps = {step.id: step for step in campaign_flow(campaign).steps}
    step = steps.get(item.step_id)
    lines = [
        catalog.t(
            language,
            "mod_item",
            id=item.id,
            section=step_heading(step, language) if step is not None else item.step_id,
            date=format_date(item.created_at, language),
            text=quote(item.text, ITEM_WIDTH),
        )
    ]
    if item.flags:
        lines.append(catalog.plural(language, "mod_flags", item.flags))
    return OutboundMessage(
        "\n".join(lines),
        buttons=(
            Button(
                ButtonKind.CHOICE,
                f"{CHOICE_PREFIX}{HIDE}:{item.id}",
                catalog.t(language, "mod_hide"),
            ),
            Button(
                ButtonKind.CHOICE,
                f"{CHOICE_PREFIX}{SHOW}:{item.id}",
                catalog.t(language, "mod_keep"),
            ),
        ),
    )

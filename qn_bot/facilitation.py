"""Facilitator chat commands. The caller has checked that the sender holds some facilitator role;
commands naming a campaign check the role for that campaign here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from qn_bot.campaigns import campaign_flow, invite, set_status
from qn_bot.commands import Command
from qn_bot.config import RemindersConfig, TeamConfig
from qn_bot.digest.period import completed_period
from qn_bot.digest.send import load_team_data, render_package
from qn_bot.domain import Attachment, CampaignStatus, OutboundMessage, UserRef
from qn_bot.errors import CampaignError
from qn_bot.exporters import EXPORTERS, export_campaign
from qn_bot.i18n import Catalog
from qn_bot.moderation import HIDE, SHOW, decide, facilitator_actor, item_card, parse_ids
from qn_bot.participants import (
    campaign_participants,
    completed_between,
    count_participants,
    joined_between,
)
from qn_bot.records import CampaignRecord, ParticipantRecord
from qn_bot.reminders import Relance, remind_campaign_now
from qn_bot.repositories import Transaction
from qn_bot.synthesis import step_heading
from qn_bot.text import quote

_INVITE_WORDS = frozenset({"inviter", "invite", "invitation", "broadcast"})
_ADD_WORDS = frozenset({"ajouter", "add", "+"})
_REMOVE_WORDS = frozenset({"retirer", "remove", "supprimer", "-"})
ERROR_WIDTH = 200
#: Platform user ids are stored in columns of this many characters (store.schema).
MAX_USER_ID = 255


@dataclass(frozen=True, slots=True)
class FacilitatorContext:
    tx: Transaction
    actor: UserRef
    language: str
    now: datetime
    catalog: Catalog
    is_admin: bool
    may: Callable[[int | None], Awaitable[bool]]  # may the actor act on this campaign?
    reminders: RemindersConfig
    teams: tuple[TeamConfig, ...] = ()
    private: bool = True  # a private chat, not a group or room whose members all read the reply
    tell_author: bool = False  # [moderation] tell_author: a hidden item's author is told


class _Refused(Exception):
    pass


async def run_facilitator_command(
    ctx: FacilitatorContext, command: Command
) -> list[OutboundMessage]:
    t, lang = ctx.catalog.t, ctx.language
    try:
        return await _run(ctx, command)
    except CampaignError as exc:
        return [OutboundMessage(t(lang, "fac_error", error=error_text(ctx.catalog, lang, exc)))]


def error_text(catalog: Catalog, language: str, error: CampaignError) -> str:
    """The error in the facilitator's language (``campaign_error_<key>``), statuses as /campagnes
    says them."""

    def word(value: object) -> str:
        if isinstance(value, CampaignStatus):
            return catalog.t(language, f"fac_status_{value.value}")
        if isinstance(value, tuple):
            return catalog.t(language, "campaign_error_or").join(word(v) for v in value)
        # What was typed (a campaign, an id…) is quoted, so kept short.
        return quote(str(value), ERROR_WIDTH)

    params = {name: word(value) for name, value in error.params.items()}
    if error.key == "other":
        return quote(str(error), ERROR_WIDTH)
    return catalog.t(language, f"campaign_error_{error.key}", **params)


async def _campaign(ctx: FacilitatorContext, slug: str) -> CampaignRecord:
    campaign = await ctx.tx.campaigns.campaign_by_slug(slug)
    # A campaign outside the facilitator's scope is answered as one that does not exist: a
    # different answer would tell them it does.
    if campaign is None or not await ctx.may(campaign.id):
        raise CampaignError.no_campaign(slug)
    return campaign


async def _run(ctx: FacilitatorContext, command: Command) -> list[OutboundMessage]:
    handler = HANDLERS.get(command.name)
    if handler is None:
        return _say(ctx, "fac_not_available", command=command.name)
    return await handler(ctx, command.arg.split())


def _say(ctx: FacilitatorContext, key: str, **params: object) -> list[OutboundMessage]:
    return [OutboundMessage(ctx.catalog.t(ctx.language, key, **params))]


async def _campaigns(ctx: FacilitatorContext, args: list[str]) -> list[OutboundMessage]:
    del args
    t, lang, tx = ctx.catalog.t, ctx.language, ctx.tx
    # A facilitator of one campaign is not told the others exist, not even their titles.
    campaigns = [c for c in await tx.campaigns.campaigns() if await ctx.may(c.id)]
    if not campaigns:
        return _say(ctx, "fac_no_campaigns")
    lines = [
        f"• {c.slug} — {c.title} [{_status_word(ctx, c.status)}]"
        + (f" ({c.edition})" if c.edition else "")
        for c in campaigns
    ]
    return [OutboundMessage(t(lang, "fac_campaigns") + "\n" + "\n".join(lines))]


def _status_word(ctx: FacilitatorContext, status: CampaignStatus) -> str:
    return ctx.catalog.t(ctx.language, f"fac_status_{status.value}")


def _on_campaign(
    name: str,
    run: Callable[
        [FacilitatorContext, CampaignRecord, list[str]], Awaitable[list[OutboundMessage]]
    ],
) -> Handler:
    """A command whose first argument names a campaign the facilitator may act on."""

    async def handler(ctx: FacilitatorContext, args: list[str]) -> list[OutboundMessage]:
        if not args:
            return _say(ctx, "fac_usage_slug", command=name)
        return await run(ctx, await _campaign(ctx, args[0]), args)

    return handler


async def _status(
    ctx: FacilitatorContext, campaign: CampaignRecord, args: list[str], status: CampaignStatus
) -> list[OutboundMessage]:
    campaign = await set_status(ctx.tx, campaign.slug, status, ctx.now)
    replies = _say(ctx, "fac_status", slug=campaign.slug, status=_status_word(ctx, status))
    if status is CampaignStatus.OPEN and _INVITE_WORDS.intersection(a.lower() for a in args[1:]):
        invited = await invite(ctx.tx, campaign, ctx.now)
        replies.append(OutboundMessage(ctx.catalog.plural(ctx.language, "fac_invited", invited)))
    return replies


async def _launch(
    ctx: FacilitatorContext, campaign: CampaignRecord, args: list[str]
) -> list[OutboundMessage]:
    return await _status(ctx, campaign, args, CampaignStatus.OPEN)


async def _close(
    ctx: FacilitatorContext, campaign: CampaignRecord, args: list[str]
) -> list[OutboundMessage]:
    return await _status(ctx, campaign, args, CampaignStatus.CLOSED)


async def _remind(
    ctx: FacilitatorContext, campaign: CampaignRecord, args: list[str]
) -> list[OutboundMessage]:
    del args
    if campaign.status is not CampaignStatus.OPEN:
        # Its reminders would be cancelled unsent (qn_bot.store.outbox): say so instead.
        status = _status_word(ctx, campaign.status)
        return _say(ctx, "fac_relance_not_open", slug=campaign.slug, status=status)
    done = await remind_campaign_now(ctx.tx, campaign.id, campaign.title, ctx.reminders, ctx.now)
    return [OutboundMessage(" ".join(await _relance_sentences(ctx, done)))]


async def _relance_sentences(ctx: FacilitatorContext, done: Relance) -> list[str]:
    plural, lang = ctx.catalog.plural, ctx.language
    sentences = []
    if done.queued:
        sentences.append(plural(lang, "fac_relance_now", done.queued))
    if done.deferred:
        zone = await _facilitator_zone(ctx)
        for at, count in done.deferred:
            sentences.append(plural(lang, "fac_relance_later", count, when=_at(ctx, at, zone)))
    if done.already:
        sentences.append(plural(lang, "fac_relance_already", done.already))
    if done.stopped:
        sentences.append(plural(lang, "fac_relance_stopped", done.stopped))
    return sentences or [ctx.catalog.t(lang, "fac_relance_nobody")]


async def _facilitator_zone(ctx: FacilitatorContext) -> ZoneInfo:
    """The facilitator's own time zone if known, else the one of the bot's reminders."""
    me = await ctx.tx.participants.participant(ctx.actor)
    if me is not None and me.timezone is not None:
        return ZoneInfo(me.timezone)
    return ZoneInfo(ctx.reminders.timezone)


def _at(ctx: FacilitatorContext, instant: datetime, zone: ZoneInfo) -> str:
    """``instant`` as the facilitator reads it: « à 9 h 00 » today, « demain à 9 h 00 »."""
    local, today = instant.astimezone(zone), ctx.now.astimezone(zone).date()
    t, lang = ctx.catalog.t, ctx.language
    clock = t(lang, "time_of_day", hour=local.hour, minute=f"{local.minute:02d}")
    return t(lang, "fac_at_today" if local.date() == today else "fac_at_tomorrow", time=clock)


async def _stats_command(
    ctx: FacilitatorContext, campaign: CampaignRecord, args: list[str]
) -> list[OutboundMessage]:
    del args
    return [await _stats(ctx, campaign)]


async def _export(
    ctx: FacilitatorContext, campaign: CampaignRecord, args: list[str]
) -> list[OutboundMessage]:
    if not ctx.private:
        # Every answer, unthresholded: the data controller's copy, not a room's.
        return _say(ctx, "fac_export_private_only", slug=campaign.slug)
    fmt = args[1] if len(args) > 1 else "md"
    if fmt not in EXPORTERS:
        return _say(ctx, "fac_export_formats", formats=", ".join(EXPORTERS.names()))
    exporter = EXPORTERS.get(fmt)
    body = await export_campaign(ctx.tx, campaign.slug, fmt, ctx.language, ctx.now)
    name = f"{campaign.slug}.{exporter.extension}"
    return [
        OutboundMessage(
            ctx.catalog.t(ctx.language, "fac_export", slug=campaign.slug),
            attachments=(Attachment(name, exporter.media_type, body.encode()),),
        )
    ]


async def _stats(ctx: FacilitatorContext, campaign: CampaignRecord) -> OutboundMessage:
    local = ctx.now.astimezone(ZoneInfo(ctx.reminders.timezone))
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = day_start - timedelta(days=day_start.weekday())
    flow = campaign_flow(campaign)
    people = await campaign_participants(ctx.tx, campaign, flow)
    items = await ctx.tx.sessions.campaign_stats(campaign.id, day_start, week_start)
    catalog, lang = ctx.catalog, ctx.language
    head = catalog.t(
        lang,
        "fac_stats_detail",
        slug=campaign.slug,
        participants=catalog.plural(lang, "fac_participants", count_participants(people)),
        today=joined_between(people, day_start),
        week=joined_between(people, week_start),
        completed=catalog.plural(lang, "fac_completed", completed_between(people)),
    )
    # In the order the citizens answer, by the titles they read; a step the flow no longer has
    # (its answers outlive it) comes last, by its id.
    steps = {step.id: step for step in flow.steps}
    order = [step.id for step in flow.steps if step.id in items]
    order += sorted(step_id for step_id in items if step_id not in steps)
    lines = [
        catalog.t(
            lang,
            "fac_stats_line",
            section=step_heading(steps[step_id], lang) if step_id in steps else step_id,
            total=items[step_id][0],
            today=items[step_id][1],
            week=items[step_id][2],
        )
        for step_id in order
    ]
    return OutboundMessage("\n".join([head, *lines]))


async def _digest(ctx: FacilitatorContext, args: list[str]) -> list[OutboundMessage]:
    """/digest [TEAM]: the last completed week's digest, here and now (sent to no team)."""
    t, lang = ctx.catalog.t, ctx.language
    # Only the teams whose every campaign the facilitator may see are named, or given.
    teams = [team for team in ctx.teams if await _may_see_team(ctx, team)]
    if not args and len(teams) == 1:
        team = teams[0]
    else:
        found = [team for team in teams if args and team.name == args[0]]
        if not found:  # unknown, or out of scope: the same answer
            names = ", ".join(team.name for team in teams) or "—"
            return [OutboundMessage(t(lang, "fac_digest_usage", teams=names))]
        team = found[0]
    period = completed_period(team, ctx.now)
    # With the period the database counts; without it every item would be loaded.
    data = await load_team_data(ctx.tx, team, period)
    package = await asyncio.to_thread(render_package, team, data, period, ctx.now, late=False)
    return [package.chat_message()]


async def _may_see_team(ctx: FacilitatorContext, team: TeamConfig) -> bool:
    for slug in team.campaigns:
        campaign = await ctx.tx.campaigns.campaign_by_slug(slug)
        if campaign is not None and not await ctx.may(campaign.id):
            return False
    return True


async def _role(ctx: FacilitatorContext, args: list[str]) -> list[OutboundMessage]:
    t, lang = ctx.catalog.t, ctx.language
    if not ctx.is_admin:
        return [OutboundMessage(t(lang, "fac_admin_only"))]
    if len(args) < 2 or args[0].lower() not in _ADD_WORDS | _REMOVE_WORDS:
        return [OutboundMessage(t(lang, "fac_usage_role"))]
    try:
        user = UserRef.parse(args[1])
    except ValueError:
        return [OutboundMessage(t(lang, "fac_usage_role"))]
    if len(user.user_id) > MAX_USER_ID:  # no platform has such ids; PostgreSQL would refuse it
        return [OutboundMessage(t(lang, "fac_usage_role"))]
    campaign_id = None
    scope = ""
    if len(args) > 2:
        campaign = await _campaign(ctx, args[2])
        campaign_id, scope = campaign.id, f" ({campaign.slug})"
    if args[0].lower() in _ADD_WORDS:
        await ctx.tx.facilitators.grant_facilitator(user, str(ctx.actor), ctx.now, campaign_id)
        return [OutboundMessage(t(lang, "fac_granted", user=quote(str(user)), scope=scope))]
    await ctx.tx.facilitators.revoke_facilitator(user, campaign_id)
    return [OutboundMessage(t(lang, "fac_revoked", user=quote(str(user)), scope=scope))]


_HIDE_WORDS = frozenset({"hide", "masquer"})
_SHOW_WORDS = frozenset({"show", "garder", "keep"})


async def _moderate(ctx: FacilitatorContext, args: list[str]) -> list[OutboundMessage]:
    """/moderer SLUG: the newest and the flagged items one at a time, « Masquer » / « Garder »;
    /moderer hide|show [ID] (what the card's buttons and numbers send) decides, then the next."""
    if not ctx.private:
        # Unpublished answers, hidden ones too: not for a room.
        return _say(ctx, "mod_private_only")
    me = await ctx.tx.participants.participant(ctx.actor)
    if me is None:
        return _say(ctx, "mod_usage")
    key = f"moderation:current:{me.id}"
    current = await ctx.tx.kv.kv_get(key)
    words = [a.lower() for a in args]
    if words and words[0] in _HIDE_WORDS | _SHOW_WORDS:
        act = HIDE if words[0] in _HIDE_WORDS else SHOW
        wanted = words[1] if len(words) > 1 else None
        if wanted is None and isinstance(current, dict):
            wanted = str(current["item"])
        item_id = (
            parse_ids([wanted])[0] if wanted is not None and wanted.lstrip("#").isdigit() else 0
        )
        item = (await ctx.tx.moderation.items_by_id([item_id])).get(item_id)
        if item is None or not await ctx.may(item.campaign_id):
            return _say(ctx, "mod_unknown_item", id=item_id)
        campaign = await ctx.tx.campaigns.campaign_by_id(item.campaign_id)
        assert campaign is not None
        await decide(
            ctx.tx,
            campaign,
            [item.id],
            act,
            facilitator_actor(me.pseudonym),
            ctx.now,
            tell_author=ctx.tell_author,
            catalog=ctx.catalog,
        )
        done = _say(ctx, "mod_hidden" if act == HIDE else "mod_kept", id=item.id)
        return done + await _next_card(ctx, campaign, me, key)
    if words:
        return await _next_card(ctx, await _campaign(ctx, args[0]), me, key)
    if isinstance(current, dict):
        campaign = await ctx.tx.campaigns.campaign_by_id(int(current["campaign"]))
        if campaign is not None and await ctx.may(campaign.id):
            return await _next_card(ctx, campaign, me, key)
    return _say(ctx, "mod_usage")


async def _next_card(
    ctx: FacilitatorContext, campaign: CampaignRecord, me: ParticipantRecord, key: str
) -> list[OutboundMessage]:
    item = await ctx.tx.moderation.next_to_moderate(campaign.id)
    if item is None:
        await ctx.tx.kv.kv_delete(key)
        # Nothing left to answer: a "1" typed next is an answer to the flow again.
        await ctx.tx.participants.update_participant(me.id, ctx.now, pending_action=None)
        return _say(ctx, "mod_none_left", slug=campaign.slug)
    current = {"campaign": campaign.id, "item": item.id}
    await ctx.tx.kv.kv_set(key, current, ctx.now, subject=str(ctx.actor))
    return [item_card(ctx.catalog, ctx.language, campaign, item)]


Handler = Callable[[FacilitatorContext, list[str]], Awaitable[list[OutboundMessage]]]

#: Each facilitator command of the table (qn_bot.commands) → its handler.
HANDLERS: dict[str, Handler] = {
    "campagnes": _campaigns,
    "lancer": _on_campaign("lancer", _launch),
    "cloturer": _on_campaign("cloturer", _close),
    "stats": _on_campaign("stats", _stats_command),
    "export": _on_campaign("export", _export),
    "relancer": _on_campaign("relancer", _remind),
    "digest": _digest,
    "facilitateur": _role,
    "moderer": _moderate,
}

"""Decisions to rows: the one writer of what the participant machine and the engine decided.

Both transactions use it: a message handled alone writes straight to the transaction's
repositories (``tx.sessions`` is a :class:`FlowRows`, ``tx.participants`` a
:class:`ParticipantRows`), a batch of messages of many conversations
(group commit) through :class:`BatchedRows`, which gathers the common writes into one
statement per table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from qn_bot.conversation import CastVote, FlowChanged, ParticipantState
from qn_bot.domain import OutboundMessage, UserRef
from qn_bot.flows.events import (
    ConsentGiven,
    ConsentRefused,
    ItemAdded,
    ItemDeleted,
    ItemRevised,
    ItemWithdrawn,
    Say,
)
from qn_bot.moderation import KeyValueWrites, shown_to_user
from qn_bot.records import Vote
from qn_bot.repositories import SessionWrites, Transaction, VoteWrites


class BatchedWrites(SessionWrites, VoteWrites, KeyValueWrites, Protocol):
    """What group commit gathers for one statement per table (qn_bot.store.batch)."""

    async def update_pending(
        self, participant_id: int, pending_action: str | None, now: datetime
    ) -> None: ...


class FlowRows(SessionWrites, Protocol):
    """The writes an engine's decision makes: the batch's :class:`SessionWrites` (a session's
    state, the items an answer added) and the rarer ones, named as the sessions repository
    names them."""

    async def delete_session(self, session_id: int) -> None: ...

    async def revise_item(
        self, *, session_id: int, seq: int, revision: int, text: str, value: Any, now: datetime
    ) -> None: ...

    async def delete_item(self, *, session_id: int, seq: int, now: datetime) -> None: ...

    async def record_consent(
        self, session_id: int, flow_version: int | None, now: datetime
    ) -> None: ...


class ParticipantRows(Protocol):
    """The write a participant machine's decision makes."""

    async def update_participant(
        self, participant_id: int, now: datetime, **values: Any
    ) -> None: ...


async def write_participant(
    rows: ParticipantRows,
    participant_id: int,
    before: ParticipantState,
    after: ParticipantState,
    now: datetime,
) -> None:
    """The participant's columns that the decision changed (none: no statement)."""
    if after == before:  # the common case: an answer
        return
    values: dict[str, Any] = {}
    if after.language != before.language:
        values["language"] = after.language
    if after.stopped != before.stopped:
        values["stopped"] = after.stopped
    if after.active_campaign_id != before.active_campaign_id:
        values["active_campaign_id"] = after.active_campaign_id
    if (after.pending_action, after.asked_at) != (before.pending_action, before.asked_at):
        # The store dates the pending question (pending_since) from now.
        values["pending_action"] = after.pending_action
    if values:
        await rows.update_participant(participant_id, now, **values)


async def write_flow(
    rows: FlowRows, participant_id: int, change: FlowChanged, now: datetime
) -> list[OutboundMessage]:
    """Write the engine's events and the new state; returns the replies they hold."""
    if change.replaces is not None:
        await rows.delete_session(change.replaces)
    state = change.state
    session_id = await rows.save_session(
        participant_id,
        change.campaign.id,
        state.to_json(),
        now,
        status=state.status.value,
        step_id=state.step_id,
        session_id=change.session_id,
    )
    replies: list[OutboundMessage] = []
    for event in change.events:
        match event:
            case Say(message=message):
                replies.append(message)
            case ItemAdded(seq=seq, step_id=step_id, text=text, value=value):
                await rows.add_item(
                    session_id=session_id,
                    campaign_id=change.campaign.id,
                    participant_id=participant_id,
                    seq=seq,
                    step_id=step_id,
                    text=text,
                    value=_jsonable(value),
                    now=now,
                    source_message_id=change.source,
                )
            case ItemRevised(seq=seq, revision=revision, text=text, value=value):
                await rows.revise_item(
                    session_id=session_id,
                    seq=seq,
                    revision=revision,
                    text=text,
                    value=_jsonable(value),
                    now=now,
                )
            case ItemDeleted(seq=seq) | ItemWithdrawn(seq=seq):
                # A withdrawn item (its step no longer applies) is a deleted revision too.
                await rows.delete_item(session_id=session_id, seq=seq, now=now)
            case ConsentGiven(flow_version=version):
                await rows.record_consent(session_id, version, now)
            case ConsentRefused():
                await rows.record_consent(session_id, None, now)
            case _:
                # LanguageChanged: the participant's language is in the machine's state,
                # written by write_participant.
                pass
    return replies


async def write_vote(rows: VoteWrites, participant_id: int, vote: CastVote, now: datetime) -> None:
    await rows.record_vote(
        participant_id=participant_id,
        item_id=vote.item_id,
        campaign_id=vote.campaign_id,
        value=vote.value,
        now=now,
    )


class BatchedRows:
    """:class:`FlowRows` and :class:`ParticipantRows` for group commit: the common writes
    (answers, saved sessions) wait in :class:`BatchWrites` for one statement per table; the rare
    ones (revisions, deletions, consent, the participant's columns) run after them, in order. A
    new session is inserted at once: its id is needed for its items (and its refused
    predecessor deleted before it)."""

    def __init__(self, tx: Transaction, writes: BatchedWrites) -> None:
        self.tx = tx
        self.writes = writes
        self._later: list[Callable[[], Awaitable[None]]] = []

    async def save_session(
        self,
        participant_id: int,
        campaign_id: int,
        state: dict[str, Any],
        now: datetime,
        *,
        status: str,
        step_id: str | None,
        session_id: int | None = None,
    ) -> int:
        if session_id is None:
            return await self.tx.sessions.save_session(
                participant_id, campaign_id, state, now, status=status, step_id=step_id
            )
        return await self.writes.save_session(
            participant_id,
            campaign_id,
            state,
            now,
            status=status,
            step_id=step_id,
            session_id=session_id,
        )

    async def delete_session(self, session_id: int) -> None:
        await self.tx.sessions.delete_session(session_id)

    async def add_item(
        self,
        *,
        session_id: int,
        campaign_id: int,
        participant_id: int,
        seq: int,
        step_id: str,
        text: str,
        value: Any,
        now: datetime,
        source_message_id: str | None = None,
    ) -> None:
        await self.writes.add_item(
            session_id=session_id,
            campaign_id=campaign_id,
            participant_id=participant_id,
            seq=seq,
            step_id=step_id,
            text=text,
            value=value,
            now=now,
            source_message_id=source_message_id,
        )

    async def revise_item(
        self, *, session_id: int, seq: int, revision: int, text: str, value: Any, now: datetime
    ) -> None:
        tx = self.tx
        self._later.append(
            lambda: tx.sessions.revise_item(
                session_id=session_id, seq=seq, revision=revision, text=text, value=value, now=now
            )
        )

    async def delete_item(self, *, session_id: int, seq: int, now: datetime) -> None:
        tx = self.tx
        self._later.append(lambda: tx.sessions.delete_item(session_id=session_id, seq=seq, now=now))

    async def record_consent(
        self, session_id: int, flow_version: int | None, now: datetime
    ) -> None:
        tx = self.tx
        self._later.append(lambda: tx.sessions.record_consent(session_id, flow_version, now))

    async def record_vote(
        self, *, participant_id: int, item_id: int, campaign_id: int, value: Vote, now: datetime
    ) -> None:
        await self.writes.record_vote(
            participant_id=participant_id,
            item_id=item_id,
            campaign_id=campaign_id,
            value=value,
            now=now,
        )

    async def shown(self, participant_id: int, user: UserRef, item_id: int, now: datetime) -> None:
        """A voting card shown (qn_bot.moderation.shown_to), in the batch's statements."""
        await shown_to_user(self.writes, participant_id, user, item_id, now)

    async def update_participant(self, participant_id: int, now: datetime, **values: Any) -> None:
        if values.keys() == {"pending_action"}:  # a voting card after another: batched
            await self.writes.update_pending(participant_id, values["pending_action"], now)
            return
        tx = self.tx
        self._later.append(
            lambda: tx.participants.update_participant(participant_id, now, **values)
        )

    async def flush(self) -> None:
        """Run the writes kept for after the batch's statements (the caller flushed those)."""
        for write in self._later:
            await write()
        self._later.clear()


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value

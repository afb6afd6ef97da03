"""The database schema (SQLAlchemy Core). Alembic migrations in migrations/ must match it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

# Named constraints let Alembic's batch mode (SQLite) alter them later.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Sent (or failed) outbox rows that still hold their content; written out for planners to
#: match the partial index.
KEPT_PAYLOAD = text("status <> 'pending' AND payload IS NOT NULL")

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (autoincrement) with that exact type.
BigId = BigInteger().with_variant(Integer(), "sqlite")

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("edition", String(200), nullable=True),
    Column("flow_id", String(64), nullable=False),
    Column("flow_version", Integer, nullable=False),
    Column(
        "flow_source", Text, nullable=False
    ),  # snapshot: editing the file never rewrites history
    Column("status", String(16), nullable=False),
    Column("opens_at", UTCDateTime, nullable=True),
    Column("closes_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The campaign's own anonymity threshold: public outputs show a section's answers only when
    # at least this many participants gave some (qn_bot.disclosure).
    Column("min_respondents", Integer, nullable=False, server_default=text("5")),
    # "post": items are public until hidden; "pre": only approved items are (qn_bot.moderation).
    Column("moderation", String(8), nullable=False, server_default=text("'post'")),
)

participants = Table(
    "participants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("platform_user_id", String(255), nullable=False),
    Column("pseudonym", String(64), nullable=False, unique=True),
    # A name the citizen chose to sign with (/signer); syntheses and exports show it.
    Column("signature", String(100), nullable=True),
    # SHA-256 of the signature's comparison key (qn_bot.identity): one name, one participant.
    Column("signature_key", String(64), nullable=True),
    Column("language", String(8), nullable=True),
    Column("timezone", String(64), nullable=True),  # for quiet hours; None: the config's
    Column("reply_chat_id", String(255), nullable=False),
    Column("active_campaign_id", Integer, ForeignKey("campaigns.id"), nullable=True),
    Column("pending_action", String(32), nullable=True),  # e.g. awaiting /oublier confirmation
    # When that pending question was asked: a message that arrived earlier does not answer it.
    Column("pending_since", UTCDateTime, nullable=True),
    Column("stopped", Boolean, nullable=False, default=False),
    Column("unreachable", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "platform_user_id"),
    # Unique, so two citizens signing one name at once cannot both get it (NULLs never clash).
    Index("ix_participants_signature_key", "signature_key", unique=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("state", JSONType, nullable=False),
    Column("status", String(16), nullable=False),
    Column("step_id", String(64), nullable=True),
    Column("consent_version", Integer, nullable=True),
    Column("consent_at", UTCDateTime, nullable=True),
    Column("completed_at", UTCDateTime, nullable=True),
    # Reminders: when the citizen last wrote, and how many reminders followed.
    Column("last_input_at", UTCDateTime, nullable=True),
    Column("reminders_sent", Integer, nullable=False, default=0),
    # When the last reminder went, or will go once the citizen's quiet hours end: /relancer and
    # the scheduler's pass leave an hour between two reminders (qn_bot.reminders).
    Column("last_reminded_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("participant_id", "campaign_id"),
    Index("ix_sessions_reminders", "status", "last_input_at"),
)

items = Table(
    "items",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("seq", Integer, nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("value", JSONType, nullable=True),
    Column("revision", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    # The platform message that gave the item: edits and redactions of it revise or delete it.
    Column("source_message_id", String(255), nullable=True),
    UniqueConstraint("session_id", "seq"),
    # Covers the digest's count (live items per step and week, the latest update): SQLite
    # counts ranges of this index instead of reading the table (qn_bot/store/digest_reads.py).
    Index(
        "ix_items_campaign_step_live",
        "campaign_id",
        "step_id",
        "deleted_at",
        "created_at",
        "updated_at",
    ),
    Index("ix_items_source", "participant_id", "source_message_id"),
)

item_revisions = Table(
    "item_revisions",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("value", JSONType, nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("item_id", "revision"),
)

processed_messages = Table(
    "processed_messages",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("message_id", String(255), primary_key=True),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("processed_at", UTCDateTime, nullable=False),
    # The retention purge (qn_bot.retention) deletes old keys by age.
    Index("ix_processed_messages_processed_at", "processed_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("chat_id", String(255), nullable=False),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=True,
    ),
    # None once purged: a message sent (or given up) keeps no content (qn_bot.retention).
    Column("payload", JSONType, nullable=True),
    Column("status", String(16), nullable=False),  # pending | sent | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    # The worker holding the lease (None: a worker without a liveness lock, e.g. the CLI's).
    Column("locked_by", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("dedupe_key", String(255), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    # A message to someone who erased themselves (the goodbye of /oublier): once sent, its chat
    # id goes too.
    Column("forget_after_send", Boolean, nullable=False, server_default=false()),
    # A deferred message (a reminder held until the citizen's quiet hours end): not sent
    # before this instant, and outside its chat's order meanwhile (qn_bot.store.outbox).
    Column("not_before", UTCDateTime, nullable=True),
    # The session a reminder is about: it goes only while that session is unfinished, its
    # citizen has not said /stop and its campaign is open; otherwise it is cancelled.
    Column("mid_flow_session_id", Integer, nullable=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    # Only what waits: the claim's search for each chat's head never walks the sent history.
    # Queries write the status as a literal (store.sql.PENDING) for planners to use it.
    # not_before is in it so that the search reads the index alone.
    Index(
        "ix_outbox_pending_heads",
        "platform",
        "chat_id",
        "id",
        "not_before",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    # Only sent messages still holding their content ([retention] sent_payload_hours > 0): the
    # purge finds them without walking the sent history.
    Index(
        "ix_outbox_kept_payloads",
        "next_attempt_at",
        sqlite_where=KEPT_PAYLOAD,
        postgresql_where=KEPT_PAYLOAD,
    ),
    # Adapters derive idempotent platform transaction ids from the row id (Matrix txn ids): an id
    # must never come back after a deletion, which SQLite's plain rowid allows.
    sqlite_autoincrement=True,
)

facilitators = Table(
    "facilitators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True),
    Column("granted_by", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "user_id", "campaign_id"),
    # NULLs never conflict in a unique constraint: global grants need an index of their own.
    Index(
        "uq_facilitators_global",
        "platform",
        "user_id",
        unique=True,
        sqlite_where=text("campaign_id IS NULL"),
        postgresql_where=text("campaign_id IS NULL"),
    ),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("key", String(255), primary_key=True),  # e.g. digest:<team>:<period>
    Column("claimed_by", String(255), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
)

kv = Table(
    "kv",
    metadata,
    Column("key", String(255), primary_key=True),  # adapter state: sync tokens, device ids
    Column("value", JSONType, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Whom the row is about ("platform:user id" or "platform:chat id"), if anyone: /oublier
    # erases it with them, the retention purge after [retention] adapter_state_days.
    Column("subject", String(300), nullable=True),
    Index("ix_kv_subject", "subject"),
)

# The conversation as a platform that shows it itself keeps it (the web chat's page): one row per
# message, appended, read by citizen after an id. ``subject`` is whom it is about, as in kv:
# /oublier erases it with them, the retention purge once their newest row is older than
# [retention] adapter_state_days. AUTOINCREMENT on SQLite: an id is never given twice, so a
# page that saw id N before an erasure still gets what comes after.
transcripts = Table(
    "transcripts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("subject", String(300), nullable=False),
    Column("role", String(8), nullable=False),
    Column("body", JSONType, nullable=False),  # text, buttons, files, link
    Column("client_id", String(64), nullable=True),  # the citizen's post, to drop a repeat
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_transcripts_subject_id", "subject", "id"),
    Index("ux_transcripts_subject_client", "subject", "client_id", unique=True),
    sqlite_autoincrement=True,
)

# --- moderation (qn_bot.moderation) ---------------------------------------------------------

# A facilitator's last decision on an item: "hidden", or "shown" (approved). No row: undecided
# (public under post-moderation, not under pre-moderation). Public reads filter on this table,
# so the items table and the ingestion path stay as they were.
item_moderation = Table(
    "item_moderation",
    metadata,
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("state", String(8), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    Index("ix_item_moderation_campaign_state", "campaign_id", "state"),
)

# Citizens' /signaler: one flag per citizen and item, gone with either.
item_flags = Table(
    "item_flags",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("item_id", "participant_id"),
    Index("ix_item_flags_campaign", "campaign_id", "item_id"),
)

# Every moderation act (hide, show, flag): who (a pseudonym or "cli", never a platform id),
# when, what, which item. No foreign key to the item: the trail outlives an erased item, and
# holds no text of it.
moderation_log = Table(
    "moderation_log",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("item_id", BigInteger, nullable=False),
    Column("action", String(8), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_moderation_log_campaign", "campaign_id", "id"),
)

# --- opinions (qn_bot.opinions, qn_bot/store/votes.py) ------------------------------------

# Peer votes on statements (the items citizens gave): one row per citizen and item, the latest
# vote winning. Gone with the voter (/oublier) and with the item (erased); a soft-deleted item's
# votes stay but every read leaves them out.
votes = Table(
    "votes",
    metadata,
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    # The item's campaign, copied: a campaign's votes are one range of the index below, read
    # without touching the items (500,000 votes in a fraction of a second).
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("value", SmallInteger, nullable=False),  # 1 agree, -1 disagree, 0 pass
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("value IN (-1, 0, 1)", name="value"),
    # Covers the opinion map's read and the counts per statement.
    Index("ix_votes_campaign", "campaign_id", "item_id", "participant_id", "value"),
    # An erased item's votes go by cascade: found by the item.
    Index("ix_votes_item", "item_id"),
)

# The last computed opinion groups of a campaign: where the next computation starts from (stable
# groups from one run to the next). One row per counted participant, gone with them.
opinion_groups = Table(
    "opinion_groups",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), primary_key=True),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("group_id", Integer, nullable=False),
    Index("ix_opinion_groups_participant", "participant_id"),
)

# --- themes (qn_bot.themes, qn_bot/store/vectors.py) ----------------------------------------

# Each free-text item's sentence embedding, written by the background worker (never on the
# message path). Derived from the text: gone with the item (cascade), with its text (erasure
# blanks both) and replaced when the item is edited (``revision`` no longer the item's).
item_vectors = Table(
    "item_vectors",
    metadata,
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("revision", Integer, nullable=False),  # the item's revision that was embedded
    Column("model", String(64), nullable=False),
    Column("vector", LargeBinary, nullable=False),  # int8 components (qn_bot.themes.embedding)
    # A step's vectors are one range: the themes of 10,000 items read without a scan.
    Index("ix_item_vectors_campaign_step", "campaign_id", "step_id"),
)

# Each completed week's themes of a step, kept (issue 14 §4): a theme's identity across the
# campaign's weeks (``origin_id``: the row of its first week, NULL on that row itself), where it
# comes from (``parents``: identities of the previous week's themes it matched — two for a
# merge; a split's parts share one), its label, counts and centroid. No citizen's text: the
# label is words several citizens used, checked against ``theme_label_items`` when read.
theme_weeks = Table(
    "theme_weeks",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("model", String(64), nullable=False),  # the vectors' model: its space
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("rank", SmallInteger, nullable=False),  # 0: the theme with the most items
    Column("origin_id", BigInteger, nullable=True),
    Column("parents", JSONType, nullable=False),
    Column("label", String(200), nullable=False),  # "" when no word is several citizens'
    # Its words lost their citizens (erasure, deletion): blanked, to be made again when read.
    Column("stale", Boolean, nullable=False, server_default=false()),
    Column("items", Integer, nullable=False),
    Column("people", Integer, nullable=False),
    Column("centroid", LargeBinary, nullable=False),  # int8, like item_vectors
    Column("made_at", UTCDateTime, nullable=False),
    # One week of a step is kept once, even by two processes at once (the loser reads it).
    UniqueConstraint("campaign_id", "step_id", "period_start", "period_end", "rank"),
)

# The items whose words make a kept label, one per citizen, at the revision that held them:
# erased (cascade), deleted, edited, blanked or hidden, they no longer count, and a label with
# fewer than two left is made again from the week's live items before it is shown.
theme_label_items = Table(
    "theme_label_items",
    metadata,
    Column("theme_id", BigId, ForeignKey("theme_weeks.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("revision", Integer, nullable=False),
    Index("ix_theme_label_items_item", "item_id"),
)

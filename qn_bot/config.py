"""Typed configuration: a TOML file, then environment variables for secrets
(docs/architecture.md, "Contracts").

Order: ``--config PATH``, else ``$QN_BOT_CONFIG``, else ``./qn_bot.toml`` if present, else the
defaults (SQLite file ``./qn_bot.db``, console adapter). A section this module does not know is
an error unless an installed platform package declares it (qn_bot.ports.Platform): then its own
model validates it, as strictly as the built-in sections.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
from email.errors import HeaderParseError, MessageError
from email.headerregistry import Address as MailAddress
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from qn_bot.disclosure import DEFAULT_MIN_RESPONDENTS
from qn_bot.domain import Moderation
from qn_bot.errors import ConfigError
from qn_bot.ports import declared_sections

ENV_PREFIX = "QN_BOT_"
DEFAULT_CONFIG_FILE = Path("qn_bot.toml")


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


def check_destination(value: str) -> str:
    """A team destination: ``mailto:ADDRESS`` (a single plain address) or ``PLATFORM:CHAT``."""
    if value.startswith("mailto:"):
        address = value.removeprefix("mailto:")
        try:
            parsed = MailAddress(addr_spec=address)
        except (ValueError, IndexError, HeaderParseError, MessageError):
            parsed = None
        if parsed is None or not parsed.username or not parsed.domain:
            raise ValueError(
                f"destination {value!r}: not an e-mail address (mailto:name@example.org)"
            )
        return value
    platform, _, chat = value.partition(":")
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", platform) or not chat.strip():
        raise ValueError(
            f"destination {value!r}: expected PLATFORM:CHAT (matrix:!room:example.org, "
            "telegram:-1001234567) or mailto:ADDRESS"
        )
    return value


def _octal_umask(value: object) -> int:
    # A string, because a TOML integer written 027 is an error and 27 would silently be 0o33.
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value.strip()):
        return int(value.strip(), 8)
    raise ValueError('umask: octal digits in a string, e.g. "077" (owner only) or "027"')


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlatformSection(_Section):
    """A base for a platform package's config section: unknown keys are errors, values frozen."""


S = TypeVar("S", bound=BaseModel)


class DatabaseConfig(_Section):
    url: str = "sqlite:///qn_bot.db"


class TelegramConfig(_Section):
    token: SecretStr | None = None
    base_url: str | None = None
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    listen: str = "127.0.0.1"
    port: int = 8443
    bot_username: str | None = None
    # Sending pace (Telegram's limits: about 30 messages/s per bot, 1/s per private chat with
    # short bursts, 20/min per group). Raise them only for a local Bot API server or a test
    # emulator: above Telegram's own limits it answers 429 and holds every send back.
    messages_per_second: float = Field(30.0, gt=0)
    chat_messages_per_second: float = Field(1.0, gt=0)
    chat_burst: int = Field(3, ge=1)  # messages a private chat may get at once
    group_messages_per_minute: float = Field(20.0, gt=0)


class MatrixConfig(_Section):
    homeserver: str | None = None
    user_id: str | None = None
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    device_name: str = "qn-bot"
    store_path: Path = Path("matrix-store")
    allowed_servers: tuple[str, ...] = ()  # invitations accepted from these servers (empty: any)


class SmtpConfig(_Section):
    host: str = "localhost"
    port: int = 25
    from_: str = Field("qn-bot@localhost", alias="from")
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False


class TeamConfig(_Section):
    name: str
    campaigns: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    weekday: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
    ] = "monday"
    time: dt.time = dt.time(9, 0)
    timezone: str = "Europe/Paris"
    language: Literal["fr", "en"] = "fr"
    # Anonymity threshold of this team's digests; each campaign's own applies too (the higher).
    min_respondents: int = Field(DEFAULT_MIN_RESPONDENTS, ge=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("destinations")
    @classmethod
    def _destinations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for destination in value:
            check_destination(destination)
        return value


class SiteConfig(_Section):
    """The published site (`qn-bot export-site`)."""

    # A section shows its answers only when at least this many participants gave some (each
    # campaign's own threshold applies too: the higher of the two).
    min_respondents: int = Field(DEFAULT_MIN_RESPONDENTS, ge=1)
    # Where the exported site is published ("https://example.org/synthese/"): recaps link to
    # a campaign's page there. None: recaps give no link.
    base_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"base_url must start with https:// or http://, not {value!r}")
        return value


class ModerationConfig(_Section):
    """Moderation (qn_bot.moderation). ``default``: how a new campaign is moderated unless
    ``qn-bot campaign create --moderation`` says otherwise ("post": items are public until
    hidden; "pre": only approved items are public)."""

    default: Moderation = Moderation.POST
    # Tell a citizen (once per item, in their language) that an item of theirs was hidden.
    tell_author: bool = False


class OutboxConfig(_Section):
    max_attempts: int = Field(8, ge=1)
    backoff_base_seconds: float = Field(1.0, gt=0)
    backoff_max_seconds: float = Field(300.0, gt=0)
    concurrency: int = Field(16, ge=1)


class RemindersConfig(_Section):
    """Nudges for citizens who started a flow and stopped answering."""

    delays_hours: tuple[float, ...] = (24.0, 72.0)  # after the last answer; one reminder each
    quiet_start: dt.time = dt.time(21, 0)  # no message between these local times
    quiet_end: dt.time = dt.time(9, 0)
    timezone: str = "Europe/Paris"  # for citizens whose time zone is unknown
    check_every_seconds: float = Field(60.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)


class LimitsConfig(_Section):
    """Per-citizen flood limits (qn_bot.flood): beyond this sustained rate a citizen gets one
    "doucement" reply and what they send is refused until the rate drops. Counted in each bot
    process's memory (README: "Flood limits")."""

    messages_per_window: int = Field(20, ge=0)  # 0: no limit
    window_seconds: float = Field(10.0, gt=0)


#: Telegram keeps an update for 24 hours and a webhook may be called again within that time: a
#: processed-message key must outlive it, with a margin.
MIN_KEY_DAYS = 2.0


class RetentionConfig(_Section):
    """How long what the bot no longer needs stays in the database; the running bot purges it
    (qn_bot.retention)."""

    # Text and files of a sent message (0: emptied as soon as it is sent).
    sent_payload_hours: float = Field(0.0, ge=0)
    # The rows of sent or failed messages themselves (who got a message, when). Rows that make
    # a send exactly-once (invitations, digests: their dedupe key) are kept, emptied.
    outbox_days: float = Field(30.0, gt=0)
    # Keys of received messages, which make a redelivered message a no-op.
    processed_keys_days: float = Field(7.0)
    # Adapters' state about one person (e.g. a Matrix invitation never accepted).
    adapter_state_days: float = Field(30.0, gt=0)
    purge_every_minutes: float = Field(60.0, gt=0)

    @field_validator("processed_keys_days")
    @classmethod
    def _outlives_redeliveries(cls, value: float) -> float:
        if value < MIN_KEY_DAYS:
            raise ValueError(
                f"processed_keys_days must be at least {MIN_KEY_DAYS:g}: Telegram redelivers "
                "an update for up to 24 hours, and a key purged before that lets it in twice"
            )
        return value


class WebConfig(_Section):
    """The web chat (adapters/web): ``GET /c/SLUG`` is a campaign's chat page, served by
    `qn-bot run` when a port is set. ``base_url`` is where citizens reach it (behind a reverse
    proxy: "https://example.org"); the cookie is marked Secure only when it is https, and the
    published site links to the chat only when it is set."""

    listen: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535)  # None: no web chat; 0: any free port
    base_url: str | None = None
    # Per-IP limit on posts, on top of the per-citizen [limits] (a new cookie is free to get).
    ip_messages_per_window: int = Field(60, ge=0)  # 0: no limit; same window as [limits]
    max_request_bytes: int = Field(16_384, ge=1024)  # a form post; larger ones get 413
    # Event streams one citizen may hold open (pages, tabs, devices); a newer one closes the
    # oldest, which is told so and stops reconnecting.
    streams_per_citizen: int = Field(4, ge=1)
    # Reverse proxies in front of the chat (CIDRs, "127.0.0.1/32", "10.0.0.0/8"): only a post
    # coming from one of them has its X-Forwarded-For believed, for the per-IP limit. Empty:
    # the header is ignored (anyone can write it), the limit counts the connection's address.
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network (CIDR): {cidr!r}") from None
        return value


class HttpConfig(_Section):
    """``GET /healthz`` and ``GET /metrics`` (qn_bot.ops.http), served by `qn-bot run` when a
    port is set. Loopback by default: they are for the operator's monitoring, not the public."""

    listen: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535)  # None: no server; 0: any free port


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    telegram: TelegramConfig = TelegramConfig()
    matrix: MatrixConfig = MatrixConfig()
    smtp: SmtpConfig = SmtpConfig()
    outbox: OutboxConfig = OutboxConfig()
    reminders: RemindersConfig = RemindersConfig()
    site: SiteConfig = SiteConfig()
    moderation: ModerationConfig = ModerationConfig()
    limits: LimitsConfig = LimitsConfig()
    retention: RetentionConfig = RetentionConfig()
    http: HttpConfig = HttpConfig()
    web: WebConfig = WebConfig()
    admins: tuple[str, ...] = ()  # "platform:user_id"
    language: Literal["fr", "en"] = "fr"
    flows_dir: Path | None = None  # extra flow files for `flow list` and `campaign create`
    teams: tuple[TeamConfig, ...] = ()
    # Files and folders qn-bot creates (database, lock file, exports, site) are readable by
    # the bot's user only, unless the operator widens this ("027": the group may read).
    umask: int = 0o077
    source: Path | None = Field(None, exclude=True)
    # The sections of platforms from other packages, each validated by the model it declares.
    platforms: dict[str, BaseModel] = Field(default_factory=dict, exclude=True)

    def section(self, name: str, model: type[S]) -> S | None:
        """The ``[name]`` section a platform package declared with ``model``; None if absent."""
        value = self.platforms.get(name)
        if value is None:
            return None
        if not isinstance(value, model):
            raise TypeError(f"[{name}] was validated as {type(value).__name__}, not {model}")
        return value

    @field_validator("umask", mode="before")
    @classmethod
    def _umask(cls, value: object) -> int:
        return _octal_umask(value)

    @field_validator("admins")
    @classmethod
    def _admin_refs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ref in value:
            if ":" not in ref:
                raise ValueError(f"admin {ref!r} must be PLATFORM:USER_ID, e.g. telegram:12345")
        return value


# Environment variables that override one key each; secrets belong here rather than in files.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "TELEGRAM_TOKEN": ("telegram", "token"),
    "TELEGRAM_BASE_URL": ("telegram", "base_url"),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "MATRIX_HOMESERVER": ("matrix", "homeserver"),
    "MATRIX_USER_ID": ("matrix", "user_id"),
    "MATRIX_PASSWORD": ("matrix", "password"),
    "MATRIX_ACCESS_TOKEN": ("matrix", "access_token"),
    "SMTP_PASSWORD": ("smtp", "password"),
    "SMTP_USERNAME": ("smtp", "username"),
    "HTTP_LISTEN": ("http", "listen"),
    "HTTP_PORT": ("http", "port"),
    "WEB_LISTEN": ("web", "listen"),
    "WEB_PORT": ("web", "port"),
    "WEB_BASE_URL": ("web", "base_url"),
}


def config_path(explicit: str | Path | None, environ: dict[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get(f"{ENV_PREFIX}CONFIG"):
        return Path(env[f"{ENV_PREFIX}CONFIG"])
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_config(
    explicit: str | Path | None = None, environ: dict[str, str] | None = None
) -> Config:
    env = dict(os.environ if environ is None else environ)
    path = config_path(explicit, env)
    raw: dict[str, object] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deep") from None
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    for suffix, (section, key) in ENV_OVERRIDES.items():
        value = env.get(ENV_PREFIX + suffix)
        if value:
            table = raw.setdefault(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [{section}] must be a table")
            table[key] = value
    # Fields set by this function only; in a file they are unknown sections like any other.
    own = set(Config.model_fields) - {"source", "platforms"}
    models = declared_sections({name for name in raw if name not in own})
    platforms: dict[str, BaseModel] = {}
    problems = [
        f"{name}: Extra inputs are not permitted"
        for name in ("source", "platforms")
        if name in raw and name not in models
    ]
    for name in ("source", "platforms"):
        if name not in models:
            raw.pop(name, None)
    for name, model in models.items():
        table = raw.pop(name)
        try:
            platforms[name] = _strict(model).model_validate(_with_env(name, model, table, env))
        except ValidationError as exc:
            problems += _problems(exc, prefix=(name,))
    try:
        config = Config.model_validate({**raw, "source": path, "platforms": platforms})
    except ValidationError as exc:
        problems = _problems(exc) + problems
    if problems:
        raise ConfigError(f"{path or 'configuration'}: {'; '.join(problems)}")
    return config


def _problems(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in (*prefix, *err['loc']))}: {err['msg']}" for err in exc.errors()
    ]


def _strict(model: type[S]) -> type[S]:
    """``model`` refusing unknown keys, whatever its own config says: a typo in a platform's
    section must not pass silently any more than in ours."""
    if model.model_config.get("extra") == "forbid":
        return model
    strict: type[S] = type(
        model.__name__,
        (model,),
        {"model_config": ConfigDict(extra="forbid"), "__module__": model.__module__},
    )
    return strict


def _with_env(name: str, model: type[BaseModel], table: Any, env: dict[str, str]) -> Any:
    """``QN_BOT_<NAME>_<KEY>`` overrides a key of a platform's section (its secrets)."""
    if not isinstance(table, dict):
        return table  # the model says what is wrong
    for key in model.model_fields:
        variable = f"{ENV_PREFIX}{name}_{key}".upper().replace("-", "_")
        value = env.get(variable)
        if value:
            table = {**table, key: value}
    return table

"""Errors that tell the caller what to do: retry, give up, or fix a bug / a file."""

from __future__ import annotations

from dataclasses import dataclass


class QnBotError(Exception):
    """Base of every error qn-bot raises on purpose."""


# --- delivery: raised by adapters, acted on by the outbox worker -------------------------------


class DeliveryError(QnBotError):
    """Sending a message failed."""


class RetryAfter(DeliveryError):
    """The platform asked us to slow down: retry this message after ``seconds``, keep the order."""

    def __init__(self, seconds: float, detail: str = "") -> None:
        super().__init__(f"retry after {seconds:.3f}s {detail}".strip())
        self.seconds = seconds


class TransientDeliveryError(DeliveryError):
    """Network trouble or a server error: retry later with backoff."""


class RecipientUnreachable(DeliveryError):
    """The recipient blocked the bot or left: give up on every message for this address."""


class PermanentDeliveryError(DeliveryError):
    """This message can never be sent (rejected payload): give up on it, go on with the next."""


# --- configuration and input files: the user must fix something ------------------------------


class ConfigError(QnBotError):
    """The configuration is invalid; the message says which key and why."""


@dataclass(frozen=True, slots=True)
class FlowProblem:
    file: str
    step: str | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}: step {self.step!r}" if self.step else self.file
        return f"{where}: {self.problem}"


class FlowError(QnBotError):
    """A flow file is invalid; carries every problem found, each naming file, step and problem."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class CampaignError(QnBotError):
    """A campaign operation is not possible (unknown slug, wrong status transition…).

    ``str()`` is the English sentence the CLI prints. Facilitators read the same error in chat,
    in their language: ``key`` names the catalogue entry ``campaign_error_<key>`` and ``params``
    fill it (qn_bot.facilitation.error_text).
    """

    def __init__(self, message: str, *, key: str = "other", **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params

    @classmethod
    def no_campaign(cls, slug: str) -> CampaignError:
        """No campaign has this slug (or, to a facilitator, none they may see: the same answer,
        so that it tells them nothing)."""
        return cls(
            f"no campaign named {slug!r} (see `qn-bot campaign list`)", key="no_campaign", slug=slug
        )


class DatabaseError(QnBotError):
    """The database cannot be used; the message says why and what to do (no secret in it)."""


class DatabaseUnavailable(DatabaseError):
    """The database is there but cannot answer now (locked, unreachable): retry later."""


class DatabaseBusy(DatabaseUnavailable):
    """Another connection held SQLite's write lock longer than we wait for it."""


class DatabaseInUse(DatabaseError):
    """Another `qn-bot run` already serves this SQLite database (one process per file)."""


class StateVersionError(QnBotError):
    """A stored session state has a schema this code cannot read (a bug or a downgrade)."""

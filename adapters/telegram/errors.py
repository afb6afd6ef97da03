"""python-telegram-bot errors → what the outbox worker should do (qn_bot.errors)."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import error as tg
from telegram.warnings import PTBDeprecationWarning

from qn_bot.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientUnreachable,
    RetryAfter,
    TransientDeliveryError,
)


def retry_after_seconds(exc: tg.RetryAfter) -> float:
    with warnings.catch_warnings():  # int vs timedelta deprecation: both are handled here
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def delivery_error(exc: tg.TelegramError) -> DeliveryError:
    """The qn-bot error for a failed send (order matters: TimedOut is a NetworkError, and
    BadRequest is one too in python-telegram-bot)."""
    detail = str(exc)
    if isinstance(exc, tg.RetryAfter):
        return RetryAfter(retry_after_seconds(exc), detail)
    if isinstance(exc, tg.Forbidden):
        return RecipientUnreachable(detail)
    if isinstance(exc, tg.ChatMigrated):
        return PermanentDeliveryError(f"{detail} (new chat id {exc.new_chat_id})")
    if isinstance(exc, tg.BadRequest):
        if "chat not found" in detail.lower() or "user is deactivated" in detail.lower():
            return RecipientUnreachable(detail)
        return PermanentDeliveryError(detail)
    if isinstance(exc, tg.TimedOut | tg.NetworkError):
        return TransientDeliveryError(detail)
    if isinstance(exc, tg.InvalidToken):
        return TransientDeliveryError(f"invalid token: {detail}")
    return TransientDeliveryError(f"{type(exc).__name__}: {detail}")

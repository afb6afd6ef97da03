"""Telegram adapter on python-telegram-bot 22 (entry point ``telegram``)."""

from .adapter import TelegramAdapter, TelegramAdapterFactory, TelegramSettings
from .pacing import Limits

__all__ = ["Limits", "TelegramAdapter", "TelegramAdapterFactory", "TelegramSettings"]

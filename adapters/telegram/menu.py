"""The command menu registered with setMyCommands, in French (default) and English: made from
the command table (qn_bot.commands)."""

from __future__ import annotations

from telegram import BotCommand

from qn_bot.commands import menu_entries
from qn_bot.i18n import default_catalog


def menu(language: str) -> list[BotCommand]:
    """Participant commands under their French names, or their English aliases for ``en``."""
    return [BotCommand(typed, text) for typed, text in menu_entries(default_catalog(), language)]

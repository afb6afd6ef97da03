"""Telegram adapter (python-telegram-bot): in progress."""

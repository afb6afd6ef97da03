"""The console adapter: chat with the bot in a terminal, or drive it from a script."""

from .adapter import ConsoleAdapter, ConsoleAdapterFactory

__all__ = ["ConsoleAdapter", "ConsoleAdapterFactory"]

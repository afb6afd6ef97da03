"""qn-bot: a chat bot for Questions Numériques foresight campaigns."""

__version__ = "0.1.0"

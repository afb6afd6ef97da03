"""Who may invite the bot into a room (config ``[matrix] allowed_servers``)."""

from __future__ import annotations


def server_of(user_id: str) -> str:
    return user_id.partition(":")[2]


def invite_allowed(inviter: str, allowed: tuple[str, ...]) -> bool:
    """Empty list: anyone. Otherwise the inviter's server name or full user id must be listed."""
    if not allowed:
        return True
    return inviter in allowed or server_of(inviter) in allowed

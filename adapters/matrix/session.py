"""Log in once with the password, then always restore the same device (id + access token).

A fresh login makes a new device: its crypto store is empty, citizens' clients have to learn its
keys again and the first message after it is undecryptable. So the device id and access token
live in our database (``context.kv``) and the crypto store under ``store_path`` survives restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, LoginResponse, WhoamiResponse

from qn_bot.config import MatrixConfig
from qn_bot.errors import ConfigError
from qn_bot.ports import KeyValue

log = logging.getLogger(__name__)

SESSION_KEY = "session"


@dataclass(frozen=True, slots=True)
class StoredSession:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str

    def to_json(self) -> dict[str, str]:
        return {
            "homeserver": self.homeserver,
            "user_id": self.user_id,
            "device_id": self.device_id,
            "access_token": self.access_token,
        }

    @classmethod
    def from_json(cls, data: Any) -> StoredSession | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                str(data["homeserver"]),
                str(data["user_id"]),
                str(data["device_id"]),
                str(data["access_token"]),
            )
        except KeyError:
            return None


def client_config() -> Any:
    return AsyncClientConfig(
        encryption_enabled=True,
        store_sync_tokens=False,  # we save the token ourselves, after handling the events
        max_limit_exceeded=0,  # hand 429s back to us: the outbox worker honours retry_after_ms
        max_timeouts=0,  # connection errors surface at once: our loops back off (capped)
        request_timeout=60,
    )


def new_client(config: MatrixConfig, user_id: str, device_id: str | None = None) -> Any:
    if not config.homeserver:
        raise ConfigError("[matrix] homeserver is required")
    store = Path(config.store_path)
    store.mkdir(parents=True, exist_ok=True)
    return AsyncClient(
        config.homeserver,
        user_id,
        device_id=device_id,
        store_path=str(store),
        config=client_config(),
    )


async def open_session(config: MatrixConfig, kv: KeyValue) -> Any:
    """An AsyncClient logged in as the bot with its crypto store loaded."""
    if not config.homeserver or not config.user_id:
        raise ConfigError("[matrix] needs homeserver and user_id")
    stored = StoredSession.from_json(await kv.get(SESSION_KEY))
    if (
        stored is not None
        and stored.user_id == config.user_id
        and stored.homeserver == config.homeserver
    ):
        client = new_client(config, stored.user_id, stored.device_id)
        client.restore_login(stored.user_id, stored.device_id, stored.access_token)
        log.info("matrix: restored device %s of %s", stored.device_id, stored.user_id)
        return client
    client = new_client(config, config.user_id)
    if config.access_token is not None:
        client.access_token = config.access_token.get_secret_value()
        who = await client.whoami()
        if not isinstance(who, WhoamiResponse) or not who.device_id:
            await client.close()
            raise ConfigError(f"[matrix] access_token rejected by {config.homeserver}: {who}")
        client.restore_login(config.user_id, who.device_id, client.access_token)
        device_id = str(who.device_id)
    elif config.password is not None:
        resp = await client.login(
            config.password.get_secret_value(), device_name=config.device_name
        )
        if not isinstance(resp, LoginResponse):
            await client.close()
            raise ConfigError(f"[matrix] login of {config.user_id} failed: {resp}")
        device_id = str(resp.device_id)
        log.info("matrix: logged in as %s, new device %s", config.user_id, device_id)
    else:
        raise ConfigError("[matrix] needs a password or an access_token")
    await kv.set(
        SESSION_KEY,
        StoredSession(
            config.homeserver, config.user_id, device_id, str(client.access_token)
        ).to_json(),
    )
    return client

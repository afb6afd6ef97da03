"""Sending through nio: idempotent transaction ids and Matrix errors → delivery errors.

The outbox worker retries a failed envelope with the same ``outbox_id``; every event sent for it
uses a transaction id derived from that id, and the homeserver answers a repeated transaction id
with the event it already made, so a retry never posts a message twice.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from aiohttp import ClientError
from nio import (
    LocalProtocolError,
    RoomSendError,
    RoomSendResponse,
    SendRetryError,
    UploadError,
    UploadResponse,
)

from qn_bot.domain import Attachment
from qn_bot.errors import (
    PermanentDeliveryError,
    RecipientUnreachable,
    RetryAfter,
    TransientDeliveryError,
)

log = logging.getLogger(__name__)

DEFAULT_RETRY_SECONDS = 1.0


def error_from_response(resp: Any, what: str) -> Exception:
    """Map a nio error response (RoomSendError, UploadError…) to a delivery error."""
    code = getattr(resp, "status_code", None)
    transport = getattr(resp, "transport_response", None)
    http_status = getattr(transport, "status", None) if transport is not None else None
    # The code only: homeservers' messages name users and rooms ("@x is not in !r"), and this
    # text goes to the log and to the outbox row.
    detail = f"{what}: {code or http_status or type(resp).__name__}"
    if code == "M_LIMIT_EXCEEDED" or http_status == 429:
        retry_ms = getattr(resp, "retry_after_ms", None)
        seconds = retry_ms / 1000 if retry_ms else DEFAULT_RETRY_SECONDS
        log.info("matrix: rate limited (%s); retry after %.2fs", what, seconds)
        return RetryAfter(seconds, detail)
    if code in ("M_FORBIDDEN",) or http_status == 403:
        return RecipientUnreachable(detail)
    if code == "M_TOO_LARGE" or http_status == 413:
        return PermanentDeliveryError(detail)
    if http_status is not None and 400 <= http_status < 500 and code not in ("M_UNKNOWN_TOKEN",):
        return PermanentDeliveryError(detail)
    return TransientDeliveryError(detail)


async def send_event(
    client: Any,
    room_id: str,
    content: dict[str, Any],
    txn_id: str,
    *,
    event_type: str = "m.room.message",
) -> str:
    """Send one room event (encrypted when the room is); returns its event id.

    Every message carries an empty ``m.mentions``: the bot quotes what participants wrote,
    and their "@room", names or matrix.to links must never ping anyone. With the key present,
    homeservers skip the legacy push rules that match the body (display name, "@room")."""
    if event_type == "m.room.message":
        content = {**content, "m.mentions": {}}
    try:
        resp = await client.room_send(
            room_id,
            event_type,
            content,
            tx_id=txn_id,
            # Trust policy (README): unverified devices of the room's members get the keys.
            ignore_unverified_devices=True,
        )
    except (ClientError, TimeoutError, OSError) as exc:
        raise TransientDeliveryError(f"homeserver unreachable: {type(exc).__name__}") from exc
    except SendRetryError as exc:
        raise TransientDeliveryError("encryption set-up failed (keys not shared yet)") from exc
    except LocalProtocolError as exc:
        if "No such room" in str(exc):
            raise RecipientUnreachable("not in the room") from exc
        raise TransientDeliveryError(f"local protocol error: {type(exc).__name__}") from exc
    if isinstance(resp, RoomSendResponse):
        return str(resp.event_id)
    if isinstance(resp, RoomSendError):
        raise error_from_response(resp, "send")
    raise TransientDeliveryError(f"unexpected answer to send: {type(resp).__name__}")


async def upload_attachment(client: Any, attachment: Attachment, encrypted: bool) -> dict[str, Any]:
    """Upload the file; returns the message content that shows it (m.image or m.file)."""
    try:
        resp, keys = await client.upload(
            io.BytesIO(attachment.data),
            content_type=attachment.media_type,
            filename=attachment.filename,
            encrypt=encrypted,
            filesize=len(attachment.data),
        )
    except (ClientError, TimeoutError, OSError) as exc:
        raise TransientDeliveryError(f"upload failed: {type(exc).__name__}") from exc
    if isinstance(resp, UploadError) or not isinstance(resp, UploadResponse):
        raise error_from_response(resp, "upload")
    image = attachment.media_type.startswith("image/")
    content: dict[str, Any] = {
        "msgtype": "m.image" if image else "m.file",
        "body": attachment.filename,
        "filename": attachment.filename,
        "info": {"mimetype": attachment.media_type, "size": len(attachment.data)},
    }
    if encrypted and keys:
        content["file"] = {**keys, "url": resp.content_uri}
    else:
        content["url"] = resp.content_uri
    return content

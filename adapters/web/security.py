"""What keeps the web chat safe on the open web: who the visitor is (a random token in a cookie),
CSRF tokens bound to it, the headers every answer carries, and per-IP flood limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from qn_bot.flood import FloodGate, Verdict

COOKIE = "qn_web"
COOKIE_DAYS = 180
#: secrets.token_urlsafe(32): 43 characters of the URL-safe alphabet, nothing else accepted.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9-]{8,64}")
CODE_RE = re.compile(r"[A-Za-z0-9_-]{32}")

#: No inline script or style anywhere: everything the page runs or wears is served by the bot.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # A /lien code in a URL must not leak to another site through the Referer header.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


#: The citizen's id (``web:ID``): the SHA-256 of their cookie, in hex.
CITIZEN_ID_RE = re.compile(r"[0-9a-f]{64}")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def citizen_id(token: str) -> str:
    """Who the cookie's holder is, as the database knows them. A hash, never the token: whoever
    reads the database (a backup, a dump) learns no cookie to act as anyone with. No key
    needed: the token is 256 random bits, no guess finds one from its hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_key(code: str) -> str:
    """Where a /lien code's record is kept: its hash, so the database holds no usable code."""
    return hashlib.sha256(f"lien:{code}".encode()).hexdigest()


def _pad(code: str) -> bytes:
    return hashlib.sha256(f"seal:{code}".encode()).digest()


def seal(token: str, code: str) -> str:
    """The cookie under the /lien code (one-time pad from the code, which only the link
    holds): the other device gets the same cookie, the database keeps nothing it could use."""
    raw = base64.urlsafe_b64decode(token + "=")
    return bytes(a ^ b for a, b in zip(raw, _pad(code), strict=True)).hex()


def unseal(sealed: str, code: str) -> str | None:
    try:
        raw = bytes.fromhex(sealed)
    except ValueError:
        return None
    if len(raw) != 32:
        return None
    token = base64.urlsafe_b64encode(bytes(a ^ b for a, b in zip(raw, _pad(code), strict=True)))
    return token.decode().rstrip("=")


def new_code() -> str:
    return secrets.token_urlsafe(24)


def citizen_token(request: web.Request) -> str | None:
    value = request.cookies.get(COOKIE)
    return value if value is not None and TOKEN_RE.fullmatch(value) else None


def set_citizen_cookie(response: web.StreamResponse, token: str, *, secure: bool) -> None:
    # Secure only when the public address is https: a browser drops a Secure cookie sent over
    # plain http (a test on loopback, a first try without a proxy), and the chat would forget
    # the citizen at every page.
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_DAYS * 86400,
        path="/",
        httponly=True,
        secure=secure,
        samesite="Lax",
    )


class Csrf:
    """Tokens for forms: an HMAC of what the form acts for (the citizen, or a /lien code), under
    a secret kept in the database, so that they outlive a restart and fit every process."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def token(self, purpose: str, subject: str) -> str:
        mac = hmac.new(self.secret, f"{purpose}:{subject}".encode(), hashlib.sha256)
        return mac.hexdigest()[:40]

    def check(self, purpose: str, subject: str, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(self.token(purpose, subject), given)


class IpGate:
    """The flood rule (qn_bot.flood) per client address: a new cookie is free to get, an
    address is not. Behind a reverse proxy every post comes from the proxy: name it in
    ``trusted_proxies`` and the address it read the post from (X-Forwarded-For) is counted."""

    def __init__(
        self,
        messages_per_window: int,
        window_seconds: float,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self.gate = (
            FloodGate(messages_per_window, window_seconds) if messages_per_window > 0 else None
        )
        self.proxies = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies)

    def admit(self, request: web.Request) -> bool:
        if self.gate is None:
            return True
        return self.gate.check(self.client(request), time.monotonic()) is Verdict.ACCEPT

    def client(self, request: web.Request) -> str:
        """Who sent the post, as far as can be told: the connection's address, unless it is a
        trusted proxy; then X-Forwarded-For read from the right (each proxy appends what it
        saw), past the trusted proxies: the first address no trusted proxy vouches for. The
        left of the header is the client's to write, never believed past that point."""
        peer = request.remote or "?"
        if not self.proxies or not self._trusted(peer):
            return peer
        hops = [
            hop.strip()
            for header in request.headers.getall("X-Forwarded-For", ())
            for hop in header.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer  # only proxies: the farthest one

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.proxies)


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # 404, 413, 403…: the same headers
        for name, value in HEADERS.items():
            exc.headers.setdefault(name, value)
        raise
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response

"""A throwaway Synapse on a free loopback port, run from `.venv-synapse` (make test-servers)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from string import Template
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SERVER_DIR = ROOT / "tests" / "servers" / "synapse"
SYNAPSE_PYTHON = ROOT / ".venv-synapse" / "bin" / "python"
HUGE_RATE = 10000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Synapse:
    def __init__(self, data_dir: Path, *, rate: float = HUGE_RATE) -> None:
        if not SYNAPSE_PYTHON.exists():
            raise RuntimeError(f"{SYNAPSE_PYTHON} missing: run `make .venv-synapse/.installed`")
        self.data_dir = data_dir
        self.port = free_port()
        self.secret = secrets.token_hex(16)
        self.config = data_dir / "homeserver.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self._admin_token: str | None = None
        self.log = data_dir / "synapse.log"
        template = Template((SERVER_DIR / "homeserver.yaml.template").read_text())
        self.config.write_text(
            template.substitute(port=self.port, data_dir=data_dir, secret=self.secret, rate=rate)
        )
        (data_dir / "log.yaml").write_text((SERVER_DIR / "log.yaml").read_text())
        subprocess.run(
            [
                str(SYNAPSE_PYTHON),
                "-m",
                "synapse.app.homeserver",
                "-c",
                str(self.config),
                "--generate-keys",
            ],
            check=True,
            capture_output=True,
            cwd=data_dir,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Generous: under `make test`'s workers each starts its own Synapse, on two busy cores
    # (the wait ends as soon as /health answers).
    def start(self, timeout: float = 120) -> None:
        assert self.proc is None or self.proc.poll() is not None
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "-c", str(self.config)],
            cwd=self.data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"synapse exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.read() == b"OK":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError("synapse did not become healthy")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def register(self, username: str, password: str, *, admin: bool = False) -> str:
        """Create a user through the shared-secret admin API; returns its Matrix id."""
        nonce = self._request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    username.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        result = self._request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": username,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        return str(result["user_id"])

    def admin_token(self) -> str:
        if self._admin_token is None:
            password = secrets.token_hex(8)
            user = self.register(f"admin{secrets.token_hex(3)}", password, admin=True)
            login = self._request(
                "POST",
                "/_matrix/client/v3/login",
                {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": user},
                    "password": password,
                },
            )
            self._admin_token = str(login["access_token"])
        return self._admin_token

    def override_ratelimit(
        self, user_id: str, *, messages_per_second: int, burst_count: int
    ) -> None:
        """Real (small) message limits for one user, so Synapse answers M_LIMIT_EXCEEDED."""
        self._request(
            "POST",
            f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/override_ratelimit",
            {"messages_per_second": messages_per_second, "burst_count": burst_count},
            token=self.admin_token(),
        )

    def delete_device(self, user_id: str, device_id: str) -> None:
        """Delete a device and its access tokens (as when someone logs it out)."""
        self._request(
            "DELETE",
            f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id)}/devices/{device_id}",
            token=self.admin_token(),
        )

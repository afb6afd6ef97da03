"""A throwaway Synapse on a free loopback port, from the `.venv-synapse` venv (make test-servers)."""

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
        self.log = data_dir / "synapse.log"
        template = Template((SERVER_DIR / "homeserver.yaml.template").read_text())
        self.config.write_text(
            template.substitute(
                port=self.port, data_dir=data_dir, secret=self.secret, rate=rate
            )
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

    def start(self, timeout: float = 30) -> None:
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

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
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

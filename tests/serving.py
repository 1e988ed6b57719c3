"""A real ``shopmind serve`` process on loopback, for the API's integration tests."""

from __future__ import annotations

import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shopmind.store import KeyRing, Workspace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DashboardClient(httpx.Client):
    """A client with a dashboard session; ``csrf`` is the session's CSRF token."""

    csrf = ""


@dataclass
class Server:
    """``shopmind serve`` on ``workspace``; ``write_key`` and ``secret_key`` are valid keys."""

    workspace: Path
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    open_files: int | None = None  # the server's open-files limit (soft and hard), e.g. 1024

    def __post_init__(self) -> None:
        if not (self.workspace / "shop.duckdb").exists():
            Workspace.init(self.workspace)
        ring = KeyRing(self.workspace)
        self.write_key = ring.create("write")[1]
        self.secret_key = ring.create("secret")[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        command = [
            sys.executable,
            "-m",
            "shopmind",
            "serve",
            "-w",
            str(self.workspace),
            "--port",
            str(self.port),
        ]
        self.log = open(self.workspace / f"server-{self.port}.log", "ab")  # noqa: SIM115
        limit = self.open_files

        def limited() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.process = subprocess.Popen(
            [*command, *self.args], stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=limited
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not become ready in {timeout} s: {self.output()}")

    def output(self) -> str:
        return (self.workspace / f"server-{self.port}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> int:
        """SIGTERM (graceful) and wait; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.log.close()
        return code

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def add_user(self, login: str, role: str = "owner", password: str | None = None) -> str:
        """A dashboard account (while the server is stopped: this opens the store); its password."""
        from shopmind.store import create_user

        password = password or f"pw-{login}-{secrets.token_hex(6)}"
        with Workspace(self.workspace).open_store() as store:
            create_user(store, login, role, password=password)
        return password

    def dashboard(self, login: str, password: str, **headers: str) -> DashboardClient:
        """A client signed in to the dashboard as a browser would: the sign-in form's token, then
        the form posted from this server's origin; its ``csrf`` attribute is the session's token."""
        client = DashboardClient(base_url=self.url, timeout=30.0, headers={"Accept": "text/html", **headers})
        form = client.get("/dashboard/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token, form.text
        answer = client.post(
            "/dashboard/login",
            data={"login": login, "password": password, "login_token": token[1]},
            headers={"Origin": self.url},
        )
        assert answer.status_code == 303, (answer.status_code, answer.text[:300])
        page = client.get("/dashboard/overview")
        found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert found, page.text[:300]
        client.csrf = found[1]
        return client

"""A real ``shopmind serve`` process on loopback, for the API's integration tests."""

from __future__ import annotations

import os
import resource
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

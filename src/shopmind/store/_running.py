"""The record a running server leaves in its workspace folder, so the command line can find it and
work through it while it owns the store: ``server.json`` (where it listens, its process id, when
it started) and ``admin.token`` (a random credential, mode 0600, that its local admin endpoint
asks for). The server writes both at start and removes them when it stops gracefully; after a
crash they stay, and a reader tells a stale record by the process being gone."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

SERVER_FILE = "server.json"
TOKEN_FILE = "admin.token"

#: addresses a client on the same machine reaches a server listening on every interface by
_EVERY_INTERFACE = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class RunningServer:
    """Where the workspace's server listens and the credential of its admin endpoint."""

    host: str
    port: int
    pid: int
    started_at: datetime
    token: str

    @property
    def url(self) -> str:
        """The server's address as seen from this machine."""
        host = "127.0.0.1" if self.host in _EVERY_INTERFACE else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def alive(self) -> bool:
        """Whether the process that wrote the record still runs."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: it exists
            return True
        return True


def announce_server(
    folder: str | Path, host: str, port: int, *, now: datetime | None = None
) -> RunningServer:
    """Write the record of a server starting now in ``folder`` (a fresh token each time)."""
    folder = Path(folder)
    token = secrets.token_urlsafe(32)
    token_path = folder / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        token_path.unlink()  # a stale token of a crashed server: its mode may not be ours
    fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    server = RunningServer(host, port, os.getpid(), now or datetime.now(UTC), token)
    record = {"host": host, "port": port, "pid": server.pid, "started_at": server.started_at.isoformat()}
    partial = folder / f".{SERVER_FILE}.{server.pid}"
    partial.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    partial.replace(folder / SERVER_FILE)  # readers never see half a record
    return server


def running_server(folder: str | Path) -> RunningServer | None:
    """The record of the server of ``folder`` if there is one and its process runs, else None."""
    folder = Path(folder)
    try:
        record = orjson.loads((folder / SERVER_FILE).read_bytes())
        token = (folder / TOKEN_FILE).read_text().strip()
        server = RunningServer(
            str(record["host"]),
            int(record["port"]),
            int(record["pid"]),
            datetime.fromisoformat(record["started_at"]),
            token,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return server if server.alive() else None


def retire_server(folder: str | Path) -> None:
    """Remove this process's record (a graceful stop); another process's is left alone."""
    folder = Path(folder)
    try:
        record = orjson.loads((folder / SERVER_FILE).read_bytes())
    except (OSError, ValueError):
        return
    if record.get("pid") != os.getpid():
        return
    for name in (SERVER_FILE, TOKEN_FILE):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()

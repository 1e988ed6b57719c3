"""Slow clients (issue 16, point 9): connections that trickle their headers (slowloris) held every
file descriptor of a server with the usual limit of 1,024 open files, and every real request
failed. Reproduced against a real ``shopmind serve`` started with that limit."""

from __future__ import annotations

import contextlib
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving import Server

LORIS = 1_100  # more than the server's open-files limit


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < LORIS + 200:
        pytest.skip(f"this test opens {LORIS} connections; the open-files hard limit here is {hard}")
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (max(soft, LORIS + 200) if hard == resource.RLIM_INFINITY else hard, hard)
    )
    running = Server(
        tmp_path_factory.mktemp("slow") / "shop", args=("--no-recommender",), open_files=1024
    ).start()
    yield running
    running.stop()


def _open_files(server: Server) -> int:
    assert server.process is not None
    return len(list(Path(f"/proc/{server.process.pid}/fd").iterdir()))


def test_slowloris_connections_do_not_starve_real_requests(server: Server) -> None:
    host, port = "127.0.0.1", server.port
    slow: list[socket.socket] = []
    try:
        for _ in range(LORIS):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b"POST /v1/track HTTP/1.1\r\nHost: shop\r\n")
            slow.append(s)
        served = 0
        with httpx.Client(base_url=server.url, timeout=5) as real:
            for i in range(20):
                for s in slow:  # a header line now and then keeps each one "alive"
                    with contextlib.suppress(OSError):  # (closed by the server: fine)
                        s.send(b"X-Slow: 1\r\n")
                answer = real.post(
                    "/v1/track",
                    json={"event": "real", "anonymousId": "r", "messageId": f"real-{i}"},
                    headers={"Authorization": f"Bearer {server.write_key}"},
                )
                served += answer.status_code == 200
                time.sleep(0.2)
        # before: 0 of 20 (accept failed with 'too many open files' once the slow ones held them all)
        assert served == 20
        assert _open_files(server) < 1024
    finally:
        for s in slow:
            s.close()


def test_a_connection_that_never_finishes_its_headers_is_closed(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop\r\n")
        started = time.monotonic()
        s.settimeout(30)
        try:
            closed = s.recv(1024) == b""
        except ConnectionResetError:
            closed = True
        waited = time.monotonic() - started
    assert closed and 5 < waited < 20, waited
    with httpx.Client(base_url=server.url) as c:  # and the server still answers
        assert c.get("/healthz").status_code == 200

"""A full disk (issue 16, point 10): the server answered 500s and reset connections, and /readyz
stayed ready. Reproduced with the workspace on a 20 MB tmpfs filled up under a real
``shopmind serve``: 507 with Retry-After in the JSON error shape, not ready while full, ready and
writing again by itself once space is freed, and every acknowledged event kept."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopmind.store import Workspace
from tests.serving import Server


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(
            f"a small disk needs 'mount -t tmpfs' (root in a machine that allows it): {made.stderr.strip()}"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _batch(i: int) -> dict[str, object]:
    return {
        "batch": [
            {"event": "x", "anonymousId": f"a{i}", "messageId": f"m{i}-{k}", "properties": {"pad": "y" * 200}}
            for k in range(100)
        ]
    }


def test_a_full_disk_answers_507_reports_not_ready_and_recovers_by_itself(small_disk: Path) -> None:
    server = Server(small_disk / "shop", args=("--no-recommender",)).start()
    filler = small_disk / "filler"
    acknowledged: list[str] = []
    try:
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler.write_bytes(b"\0" * (free - 3_000_000))  # 3 MB left for the store
        statuses: dict[int, int] = {}
        full = None
        with server.client(server.write_key) as write:
            for i in range(300):
                answer = write.post("/v1/batch", json=_batch(i))  # no reset: every request is answered
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code == 200:
                    acknowledged += [f"m{i}-{k}" for k in range(100)]
                elif answer.status_code == 507:
                    full = answer
            assert full is not None and 500 not in statuses, statuses
            assert full.headers["retry-after"].isdigit()
            assert full.json()["error"] == "insufficient_storage" and "disk" in full.json()["message"]
            assert full.json()["errors"] == []
            ready = write.get("/readyz")
            assert ready.status_code == 503 and ready.json()["storage"] == "full"
            filler.unlink()  # the operator frees space: no restart needed
            deadline = time.monotonic() + 10
            while (ready := write.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
            assert ready.json()["storage"] == "ok"
            again = write.post("/v1/batch", json=_batch(999))
            assert again.status_code == 200, again.text
            acknowledged += [f"m999-{k}" for k in range(100)]
    finally:
        if filler.exists():
            filler.unlink()
        assert server.stop() == 0
    with Workspace(small_disk / "shop").open_store(read_only=True) as store:
        stored = {m for (m,) in store.sql("SELECT message_id FROM events")}
    assert set(acknowledged) <= stored and len(acknowledged) >= 1000

"""The server's store thread and group commits, without HTTP: the write-ahead log is folded into
the database file when the server is idle, not under load."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shopmind.api import _worker
from shopmind.api._worker import GroupCommitter, StoreWorker
from shopmind.core import FixedClock
from shopmind.events import Event
from shopmind.ingest import validate_incoming
from shopmind.store import Store

from .conftest import NOW


def _events(start: int, n: int) -> list[Event]:
    raws = [
        {"messageId": f"m{i}", "type": "page", "anonymousId": f"a{i % 9}", "context": {"page": {"url": "/p"}}}
        for i in range(start, start + n)
    ]
    events, rejected = validate_incoming(raws, received_at=NOW, hasher=None)
    assert not rejected
    return list(events)


def test_the_log_is_folded_in_when_idle_and_allowed_to_grow_under_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_worker, "CHECKPOINT_IDLE_BYTES", 1024)
    monkeypatch.setattr(_worker, "CHECKPOINT_IDLE_S", 0.2)
    store = Store(tmp_path / "shop.duckdb", clock=FixedClock(NOW))

    async def run() -> tuple[int, int, int, int]:
        worker = StoreWorker(store)
        committer = GroupCommitter(worker, 10_000)
        committer.start()
        for start in range(0, 2000, 500):  # back to back: no checkpoint between the groups
            assert await committer.submit(_events(start, 500), []) == [False] * 500
        grown, made = store.wal_bytes(), committer.checkpoints
        for _ in range(50):  # then idle: folded in after CHECKPOINT_IDLE_S
            await asyncio.sleep(0.05)
            if committer.checkpoints:
                break
        folded = store.wal_bytes()
        await committer.close()
        worker.close()
        return grown, made, committer.checkpoints, folded

    grown, made_under_load, made_idle, folded = asyncio.run(run())
    assert grown > 100_000 and made_under_load == 0
    assert made_idle == 1 and folded < grown / 10
    with Store(tmp_path / "shop.duckdb", read_only=True) as again:
        assert again.scalar("SELECT count(*) FROM events") == 2000


def test_the_store_lets_the_log_grow_to_the_servers_threshold(tmp_path: Path) -> None:
    store = Store(tmp_path / "shop.duckdb")
    worker = StoreWorker(store)
    try:
        threshold = store.scalar("SELECT current_setting('checkpoint_threshold')")
        assert threshold.startswith(str(int(_worker.CHECKPOINT_MB * 1e6 / 2**20)))  # DuckDB says MiB
    finally:
        worker.close()
    assert Store(":memory:").wal_bytes() == 0

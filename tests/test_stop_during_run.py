"""A graceful stop while the server makes a full run: the run is interrupted and its thread ends
before the store closes (a job's connection still working when the database closed aborted the
server with SIGABRT, found by the schemathesis run that happened to start one)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.serving import Server
from tests.shops import demo_workspace


def test_stopping_during_a_full_run_exits_cleanly(tmp_path: Path) -> None:
    shop = demo_workspace(tmp_path / "shop", customers=400, days=60)
    server = Server(shop.folder, args=("--no-recommender", "--run-at", "off")).start()
    with server.client(server.secret_key) as secret:
        started = secret.post("/v1/jobs/run", json={})
        assert started.status_code == 202, started.text
        time.sleep(0.5)  # the run is at work
        assert secret.get("/v1/jobs").json()["running"] is not None
    assert server.stop() == 0
    restarted = Server(shop.folder, args=("--no-recommender", "--run-at", "off")).start()
    try:
        with restarted.client(restarted.secret_key) as secret:
            assert secret.get("/readyz").status_code == 200
    finally:
        assert restarted.stop() == 0

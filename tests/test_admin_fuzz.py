"""Schemathesis against the admin endpoint the command line works through (``POST /admin/v1/cli``,
left out of the public OpenAPI document): generated bodies, valid and invalid, with the
workspace's admin token; no 5xx, whatever a command list holds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shopmind.store import TOKEN_FILE
from tests.serving import Server
from tests.shops import demo_workspace

_ERROR = {"description": "refused (the one error shape)", "content": {"application/json": {}}}
SCHEMA = {
    "openapi": "3.1.0",
    "info": {"title": "shopmind admin", "version": "1"},
    "paths": {
        "/admin/v1/cli": {
            "post": {
                "operationId": "cli",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["command"],
                                "properties": {
                                    "command": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                                    "params": {"type": "object"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "the command's output, one JSON line each, then its exit code"},
                    "400": _ERROR,
                    "401": _ERROR,
                    "403": _ERROR,
                },
            }
        }
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    shop = demo_workspace(tmp_path_factory.mktemp("admin") / "shop", customers=200, days=30)
    running = Server(shop.folder, args=("--no-recommender", "--run-at", "off")).start()
    yield running
    running.stop()


def test_fuzzing_the_admin_endpoint_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    token = (server.workspace / TOKEN_FILE).read_text().strip()
    (tmp_path / "admin.json").write_text(json.dumps(SCHEMA))
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(tmp_path / "admin.json"),
            "--url",
            server.url,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--generation-deterministic",
            "--no-color",
            "--report-dir",
            str(tmp_path / "schemathesis"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    summary = run.stdout[-20000:]
    assert run.returncode == 0, summary
    assert "Tested: 1" in summary and "passed" in summary, summary
    # and the server still runs commands after it
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        answer = c.post("/admin/v1/cli", json={"command": ["status"], "params": {}})
        assert answer.status_code == 200 and json.loads(answer.text.splitlines()[-1]) == {"exit": 0}

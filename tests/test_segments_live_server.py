"""Live segment membership in a real ``shopmind serve``: a saved segment "clicked banner X at least
twice in the last day"; two clicks sent through /v1/batch with the write key make the visitor a
member within a second of the acknowledgement (the live API, and an on-site trigger that targets
the segment); the server's clock moved a day on (``SHOPMIND_CLOCK_SHIFT_FILE``) makes them exit at
the next sweep; the membership history holds the stay, dated; a restart rebuilds the same state."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shopmind.segments import create_segment, parse_definition
from shopmind.store import Workspace
from tests.serving import Server

CLICKED_TWICE = {
    "name": {"ko": "배너 X를 하루에 두 번 이상 클릭", "en": "Clicked banner X twice in a day"},
    "conditions": [
        {
            "kind": "event",
            "type": "banner_click",
            "where": [{"property": "banner_id", "value": "X"}],
            "count": {"at_least": 2},
            "window": {"kind": "last", "days": 1},
        }
    ],
}
NEVER_CLICKED = {
    "name": {"en": "Never clicked a banner"},
    "conditions": [{"kind": "not", "condition": {"kind": "event", "type": "banner_click"}}],
}


def _triggers(segment_id: str) -> str:
    return f"""
[[trigger]]
id = "banner-x-fans"
name = {{ ko = "배너 X 관심 고객", en = "Banner X fans" }}
action = "banner"
placement = "top"
target = {{ saved_segment = ["{segment_id}"] }}
cap = {{ per_session = 100 }}
holdout = 0  # the fan must see it whenever they are in the segment
[trigger.content]
title = {{ ko = "X 기획전", en = "The X sale" }}
"""


def _wait(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``check()`` held (fails after ``seconds``)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


def _click(anon: str) -> dict[str, Any]:
    return {
        "messageId": uuid.uuid4().hex,
        "type": "track",
        "event": "Promotion Clicked",
        "anonymousId": anon,
        "properties": {"banner_id": "X"},
    }


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, str, str]:
    folder = tmp_path / "shop"
    Workspace.init(folder)
    with Workspace(folder).open_store() as store:
        now = datetime.now(UTC)
        live = create_segment(store, parse_definition(CLICKED_TWICE), as_of=now).segment_id
        counted = create_segment(store, parse_definition(NEVER_CLICKED), as_of=now).segment_id
    (folder / "triggers.toml").write_text(_triggers(live), encoding="utf-8")
    return folder, live, counted


def test_a_visitor_enters_within_a_second_and_exits_when_the_day_slides_past(
    workspace: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, segment, counted = workspace
    shift = tmp_path / "clock-shift"
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(shift))
    server = Server(folder, ("--no-recommender", "--run-at", "off")).start()
    try:
        with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
            listed = {s["id"]: s for s in secret.get("/v1/live/segments").json()["segments"]}
            assert listed[segment]["live"] is True
            assert listed[counted]["live"] is False and "did nothing" in listed[counted]["reason"]
            assert secret.get(f"/v1/live/segments/{counted}/members").status_code == 409
            assert write.get("/v1/live/segments").status_code in (401, 403)  # the secret key's

            def member() -> bool:
                found = secret.get("/v1/live/profiles/anon:fan").json()["segments"]
                return segment in found

            def shown() -> str | None:
                answer = write.get("/v1/decide", params={"anonymousId": "fan", "placement": "top"}).json()
                return answer["action"]["trigger"] if answer["action"] else None

            first = write.post("/v1/batch", json={"batch": [_click("fan")]})
            assert first.status_code == 200 and first.json()["accepted"] == 1
            time.sleep(0.3)
            assert not member() and shown() is None  # one click is not two
            other = write.post("/v1/batch", json={"batch": [_click("someone-else")]})
            assert other.status_code == 200
            second = write.post("/v1/batch", json={"batch": [_click("fan")]})
            assert second.status_code == 200
            acknowledged = time.monotonic()
            assert _wait(member, 1.0) < 1.0
            assert shown() == "banner-x-fans"
            assert time.monotonic() - acknowledged < 1.5
            members = secret.get(f"/v1/live/segments/{segment}/members").json()
            assert [m["profile_id"] for m in members["members"]] == ["anon:fan"]
            # the membership history (what the segments API reads) holds the stay too
            history = secret.get(f"/v1/segments/{segment}/members").json()
            assert [m["profile_id"] for m in history["members"]] == ["anon:fan"]
            assert secret.get(f"/v1/segments/{segment}").json()["live"] is True

            # a day and a minute later, by the server's clock: the first click left the window
            shift.write_text(str(24 * 3600 + 60), encoding="utf-8")
            _wait(lambda: not member(), 5.0)
            assert shown() is None
            assert secret.get(f"/v1/live/segments/{segment}/members").json()["count"] == 0
    finally:
        assert server.stop() == 0
    with Workspace(folder).open_store() as store:
        rows = store.sql(
            "SELECT profile_id, entered_at, exited_at FROM segment_history WHERE segment_id = ?", [segment]
        )
    assert len(rows) == 1
    profile, entered, exited = rows[0]
    assert profile == "anon:fan" and entered is not None and exited is not None
    # the exit is dated when the first click left the last day, not when the sweep saw it
    assert (
        timedelta(days=1) - timedelta(seconds=30)
        < exited - entered
        < timedelta(days=1) + timedelta(seconds=5)
    )


def test_a_segment_saved_through_the_api_is_kept_live_from_the_next_sweep(
    workspace: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _, _ = workspace
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(tmp_path / "no-shift"))
    server = Server(folder, ("--no-recommender", "--run-at", "off")).start()
    try:
        with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
            for _ in range(3):  # clicks before the segment exists count too (the state is rebuilt)
                assert write.post("/v1/batch", json={"batch": [_click("early")]}).status_code == 200
            definition = {**CLICKED_TWICE, "name": {"en": "Clicked banner X twice (saved later)"}}
            created = secret.post("/v1/segments", json=definition)
            assert created.status_code == 201, created.text
            assert created.json()["live"] is True and created.json()["live_problem"] is None
            segment = created.json()["id"]

            def live_ids() -> set[str]:
                return {s["id"] for s in secret.get("/v1/live/segments").json()["segments"] if s["live"]}

            _wait(lambda: segment in live_ids(), 3.0)
            found = secret.get(f"/v1/live/segments/{segment}/members").json()
            assert [m["profile_id"] for m in found["members"]] == ["anon:early"]
            write.post("/v1/batch", json={"batch": [_click("late"), _click("late")]})
            _wait(lambda: secret.get(f"/v1/live/segments/{segment}/members").json()["count"] == 2, 1.0)
            history = secret.get(f"/v1/segments/{segment}/members").json()
            assert sorted(m["profile_id"] for m in history["members"]) == ["anon:early", "anon:late"]
    finally:
        assert server.stop() == 0


def test_a_restart_rebuilds_the_members_and_writes_nothing_new(
    workspace: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, segment, _ = workspace
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(tmp_path / "no-shift"))
    args = ("--no-recommender", "--run-at", "off")
    server = Server(folder, args).start()
    try:
        with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
            batch = [_click(f"v{i % 3}") for i in range(7)]  # v0: 3 clicks, v1: 2, v2: 2
            assert write.post("/v1/batch", json={"batch": batch}).status_code == 200
            _wait(lambda: secret.get(f"/v1/live/segments/{segment}/members").json()["count"] == 3, 2.0)
    finally:
        assert server.stop() == 0
    with Workspace(folder).open_store() as store:
        before = store.sql("SELECT * FROM segment_history ORDER BY profile_id")
    assert len(before) == 3
    server = Server(folder, args, port=server.port).start()
    try:
        with server.client(server.secret_key) as secret:
            found = secret.get(f"/v1/live/segments/{segment}/members").json()
            assert sorted(m["profile_id"] for m in found["members"]) == ["anon:v0", "anon:v1", "anon:v2"]
    finally:
        assert server.stop() == 0
    with Workspace(folder).open_store() as store:
        assert store.sql("SELECT * FROM segment_history ORDER BY profile_id") == before

"""Campaigns through the real server (secret key), which also sends the outbox (``serve --send``,
its clock moved by ``SHOPMIND_CLOCK_SHIFT_FILE``): a win-back campaign is created, previewed,
scheduled (its messages wait in the outbox at 10:00 KST), paused (the sender claims none of them
even once they are due), resumed (they go out) and its results read; bad definitions get a 400
naming the field and nothing is stored; a campaign's state moves only along its edges (409)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shopmind.activation import read_outbox_file
from tests.serving import Server
from tests.shops import demo_workspace

WINBACK: dict[str, Any] = {
    "name": "휴면 고객 복귀",
    "audience": {"kind": "rfm", "segments": ["about_to_churn", "hibernating", "lost", "needs_attention"]},
    "steps": [
        {
            "id": "s1",
            "coupon": "WB-{code}",
            "messages": {
                "sms": {"text": "{{ name_or_customer }}님, 다시 만나요. 쿠폰 {{ coupon }}"},
                "email": {
                    "subject": "{{ name_or_customer }}님, 다시 만나요",
                    "text": "쿠폰 {{ coupon }}: {{ link('https://shop.example/coupon') }}",
                },
            },
        }
    ],
    "channel": {"mode": "cheapest", "channels": ["sms", "email"]},
    "send_time": {"mode": "fixed", "hour": 10},
    "holdout": 0.2,
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_workspace(tmp_path_factory.mktemp("campaigns-api") / "shop", customers=300, days=30).folder


@pytest.fixture
def server(shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    shift = tmp_path / "clock-shift"
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(shift))
    contacts = tmp_path / "members.csv"
    contacts.write_text(
        "아이디,이메일,휴대폰\n"
        + "".join(f"m{i:06d},m{i:06d}@shop.example,010-1000-{i:04d}\n" for i in range(400))
    )
    running = Server(
        shop, args=("--send", "--contacts", str(contacts), "--no-recommender", "--run-at", "off")
    )
    running.shift = shift  # type: ignore[attr-defined]
    running.start()
    yield running
    assert running.stop() == 0, running.output()


def _sent_files(shop: Path) -> list[dict[str, Any]]:
    return [m for name in ("sms", "email") for m in read_outbox_file(shop / "outbox" / f"{name}.jsonl")]


def _wait(check: Any, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds  # a hang guard, not a speed check
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_create_preview_schedule_pause_resume_results(server: Server) -> None:
    with server.client(server.secret_key) as c:
        made = c.post("/v1/campaigns", json=WINBACK)
        assert made.status_code == 201, made.text
        campaign = made.json()
        cid = campaign["campaign_id"]
        assert campaign["state"] == "draft" and campaign["definition"]["holdout"] == 0.2
        assert [x["campaign_id"] for x in c.get("/v1/campaigns").json()["campaigns"]] == [cid]

        shown = c.post(f"/v1/campaigns/{cid}/preview", params={"customers": 2})
        assert shown.status_code == 200, shown.text
        preview = shown.json()
        counts = preview["counts"]
        assert counts["members"] == counts["treated"] + counts["holdout"] > 0
        assert counts["treated"] == counts["planned"] + sum(counts["excluded"].values())
        assert sum(counts["by_channel"].values()) == counts["planned"] > 0
        assert len(preview["samples"]) == 2
        for sample in preview["samples"]:
            assert sample["status"] == "planned" and sample["violations"] == []
            assert sample["channel"] in ("sms", "email")
            start = sample["subject"] if sample["channel"] == "email" else sample["text"]
            assert start.startswith("(광고)")
        assert all(datetime.fromisoformat(d["at"]).hour == 1 for d in preview["due"])  # 10:00 KST
        # the excluded customers' summary agrees with the plan
        excluded = c.get(f"/v1/campaigns/{cid}/excluded").json()
        assert {e["reason"]: e["count"] for e in excluded["excluded"]} == {
            k: v for k, v in counts["excluded"].items() if v
        }
        assert excluded["suppressed"] == {}

        scheduled = c.post(f"/v1/campaigns/{cid}/schedule")
        assert scheduled.status_code == 200, scheduled.text
        done = scheduled.json()
        assert done["campaign"]["state"] == "scheduled"
        assert done["queued"] == done["counts"]["planned"] == counts["planned"]
        assert done["members"] == counts["members"]
        due = max(datetime.fromisoformat(d["at"]) for d in done["due"])
        again = c.post(f"/v1/campaigns/{cid}/schedule")
        assert again.status_code == 409 and "only a draft" in again.json()["message"]
        outbox = c.get(f"/v1/campaigns/{cid}").json()["outbox"]
        assert outbox["queued"] == done["queued"]

        assert c.post(f"/v1/campaigns/{cid}/pause").json()["state"] == "paused"
        # the sender's clock passes 10:00: the messages are due, but the campaign is paused
        now = datetime.now(due.tzinfo)
        server.shift.write_text(str((due - now + timedelta(minutes=5)).total_seconds()))  # type: ignore[attr-defined]
        time.sleep(4)  # several sender rounds
        assert c.get(f"/v1/campaigns/{cid}").json()["outbox"]["queued"] == done["queued"]
        assert _sent_files(server.workspace) == []

        assert c.post(f"/v1/campaigns/{cid}/resume").json()["state"] == "scheduled"

        def settled() -> bool:
            outbox = c.get(f"/v1/campaigns/{cid}").json()["outbox"]
            return bool(outbox["queued"] == outbox["sending"] == 0)

        _wait(settled, "the messages were not sent")
        sent = _sent_files(server.workspace)
        assert len(sent) == c.get(f"/v1/campaigns/{cid}").json()["outbox"]["sent"] > 0
        assert all(m["text"].startswith("(광고)") or m["subject"].startswith("(광고)") for m in sent)
        email = next((m for m in sent if m["channel"] == "email"), None)
        if email is not None:  # its link is a signed redirect on the server, the target kept aside
            assert "/m/c/" in email["text"] and "shop.example/coupon" not in email["text"]

        # as of the sender's (moved) clock: the messages went out then
        results = c.get(
            f"/v1/campaigns/{cid}/results", params={"as_of": (due + timedelta(hours=1)).isoformat()}
        )
        assert results.status_code == 200, results.text
        read = results.json()
        (step,) = read["steps"]
        assert step["step"] == "s1" and step["planned"] == done["queued"] and step["sent"] == len(sent)
        uplift = read["uplift"]
        assert uplift["treated"]["members"] == counts["treated"]
        assert uplift["holdout"]["members"] == counts["holdout"]
        assert uplift["conversion_rate_difference"]["low"] <= uplift["conversion_rate_difference"]["high"]

        assert c.post(f"/v1/campaigns/{cid}/finish").json()["state"] == "finished"
        refused = c.post(f"/v1/campaigns/{cid}/resume")
        assert refused.status_code == 409 and "finished" in refused.json()["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"holdout": 1.5}, "holdout"),
        ({"audience": {"kind": "galaxy"}}, "audience"),
        ({"steps": [{"id": "s1", "messages": {"fax": {"text": "hi"}}}]}, "steps[0].messages.fax"),
        (
            {"steps": [{"id": "s1", "messages": {"sms": {"text": "{{ nmae }}"}}}]},
            "steps[0].messages.sms.text",
        ),
        (
            {"steps": [{"id": "s1", "messages": {"email": {"text": "안녕"}}}]},
            "steps[0].messages.email.subject",
        ),
        ({"caps": {"per_day": 5, "per_week": 2}}, "caps"),
        ({"send_time": {"mode": "fixed", "hour": 25}}, "send_time.hour"),
        ({"start_at": "2026-12-06T10:00:00"}, "start_at"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_definition_is_a_400_naming_the_field_and_nothing_is_stored(
    shop: Path, change: dict[str, Any], field: str
) -> None:
    server = _plain_server(shop)
    with server.client(server.secret_key) as c:
        before = len(c.get("/v1/campaigns").json()["campaigns"])
        for path in ("/v1/campaigns", "/v1/campaigns/preview"):
            answer = c.post(path, json={**WINBACK, "name": "틀린 캠페인", **change})
            assert answer.status_code == 400, (path, answer.text)
            body = answer.json()
            assert body["error"] == "invalid_input"
            assert any(e["field"].startswith(field) for e in body["errors"]), body
        assert len(c.get("/v1/campaigns").json()["campaigns"]) == before


_SERVERS: dict[Path, Server] = {}


def _plain_server(shop: Path) -> Server:
    """One server (without the sender) for the bad-input cases, stopped at the module's end."""
    if shop not in _SERVERS:
        _SERVERS[shop] = Server(shop, args=("--no-recommender", "--run-at", "off")).start()
    return _SERVERS[shop]


@pytest.fixture(scope="module", autouse=True)
def _stop_plain_servers() -> Iterator[None]:
    yield
    for running in _SERVERS.values():
        assert running.stop() == 0, running.output()


def test_unknown_campaigns_and_wrong_methods(shop: Path) -> None:
    server = _plain_server(shop)
    with server.client(server.secret_key) as c:
        assert c.get("/v1/campaigns/c_nothing").status_code == 404
        assert c.post("/v1/campaigns/c_nothing/schedule").status_code == 404
        assert c.get("/v1/campaigns/c_nothing/results").json()["error"] == "not_found"
        assert c.get("/v1/campaigns/preview").status_code == 405
    with server.client(server.write_key) as c:  # a write key only collects
        assert c.get("/v1/campaigns").status_code == 403

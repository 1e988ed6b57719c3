"""Segments through the real server (secret key) and through the command line relayed to it: a
definition is previewed, saved, listed, read, its members paged, counted again and deleted; bad
definitions get a 400 naming the field and the reason, nothing is stored, and the server keeps
answering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.serving import Server
from tests.shops import START, demo_workspace
from tests.test_privacy import shopmind

DAYS = 30
AS_OF = (START + timedelta(days=DAYS)).isoformat()
BANNER = "bn-winter-sale"
SAW_NOT_CLICKED: dict[str, Any] = {
    "name": {"ko": "배너를 보고 누르지 않은 고객", "en": "Saw the banner, did not click"},
    "description": {"ko": "겨울 세일 배너", "en": "The winter sale banner"},
    "conditions": [
        {"kind": "event", "type": "banner_impression", "where": [{"property": "banner_id", "value": BANNER}]},
        {
            "kind": "not",
            "condition": {
                "kind": "event",
                "type": "banner_click",
                "where": [{"property": "banner_id", "value": BANNER}],
            },
        },
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    shop = demo_workspace(tmp_path_factory.mktemp("segments-api") / "shop", customers=300, days=DAYS)
    running = Server(shop.folder).start()
    yield running
    assert running.stop() == 0


def stored_segments(server: Server) -> int:
    with server.client(server.secret_key) as c:
        return len(c.get("/v1/segments").json()["segments"])


def test_preview_save_read_page_refresh_delete(server: Server) -> None:
    with server.client(server.secret_key) as c:
        shown = c.post("/v1/segments/preview", params={"as_of": AS_OF, "sample": 3}, json=SAW_NOT_CLICKED)
        assert shown.status_code == 200, shown.text
        preview = shown.json()
        assert preview["count"] > 0 and len(preview["sample"]) == 3 and preview["warnings"] == []
        assert sum(s["customers"] for s in preview["by_segment"]) == preview["count"]
        assert {"profile_id", "member", "segment", "revenue", "clv_12m"} <= set(preview["sample"][0])

        made = c.post("/v1/segments", params={"as_of": AS_OF}, json=SAW_NOT_CLICKED)
        assert made.status_code == 201, made.text
        saved = made.json()
        assert saved["members"] == preview["count"] and saved["name"]["ko"] == SAW_NOT_CLICKED["name"]["ko"]
        assert saved["definition"]["conditions"] == SAW_NOT_CLICKED["conditions"]
        segment_id = saved["id"]

        assert segment_id in {s["id"] for s in c.get("/v1/segments").json()["segments"]}
        assert c.get(f"/v1/segments/{segment_id}").json()["description"]["en"] == "The winter sale banner"
        page = c.get(f"/v1/segments/{segment_id}/members", params={"limit": 5}).json()
        assert page["total"] == preview["count"] and len(page["members"]) == min(5, preview["count"])
        rest = c.get(f"/v1/segments/{segment_id}/members", params={"limit": 1000, "offset": 5}).json()
        ids = [m["profile_id"] for m in page["members"] + rest["members"]]
        assert len(ids) == len(set(ids)) == preview["count"]

        later = (START + timedelta(days=DAYS + 1)).isoformat()
        again = c.post(f"/v1/segments/{segment_id}/refresh", params={"as_of": later}).json()
        assert again == {"id": segment_id, "members": preview["count"], "entered": 0, "exited": 0}

        uses = {
            "name": {"en": "uses it"},
            "conditions": [{"kind": "in_saved_segment", "segment_id": segment_id}],
        }
        user = c.post("/v1/segments", params={"as_of": later}, json=uses)
        assert user.status_code == 201 and user.json()["members"] == preview["count"]
        refused = c.delete(f"/v1/segments/{segment_id}")
        assert refused.status_code == 409 and refused.json()["error"] == "in_use"
        assert c.delete(f"/v1/segments/{user.json()['id']}").status_code == 204
        assert c.delete(f"/v1/segments/{segment_id}").status_code == 204
        assert c.get(f"/v1/segments/{segment_id}").status_code == 404
        assert c.get(f"/v1/segments/{segment_id}/members").status_code == 404


def test_warnings_name_the_closest_known_names(server: Server) -> None:
    typo = {
        "name": {"en": "typo"},
        "conditions": [
            {
                "kind": "event",
                "type": "banner_clik",
                "where": [{"property": "banner_id", "value": "bn-winter-sal"}],
            }
        ],
    }
    with server.client(server.secret_key) as c:
        warnings = c.post("/v1/segments/preview", params={"as_of": AS_OF}, json=typo).json()["warnings"]
    assert {
        "field": "conditions[0].type",
        "reason": "no event type 'banner_clik' has been seen in this shop",
    } | {"suggestions": warnings[0]["suggestions"]} == warnings[0]
    assert warnings[0]["suggestions"][0] == "banner_click"
    assert (
        warnings[1]["field"] == "conditions[0].where[0].value"
        and "bn-winter-sale" in warnings[1]["suggestions"]
    )


def _conditions(*conditions: Any) -> bytes:
    return json.dumps({"name": {"ko": "잘못된 정의"}, "conditions": list(conditions)}).encode()


def _nested(depth: int) -> bytes:
    inner = '{"kind": "event"}'
    return (
        '{"name": {"en": "deep"}, "conditions": ['
        + '{"kind": "not", "condition": ' * depth
        + inner
        + "}" * depth
        + "]}"
    ).encode()


BAD: list[tuple[str, bytes, str, str]] = [
    ("malformed JSON", b'{"name": {"ko": "x"}, "conditions": [', "definition", "not valid JSON"),
    ("not an object", b"[1, 2]", "definition", "expected `object`"),
    (
        "unknown field",
        _conditions({"kind": "event", "colour": "red"}),
        "conditions[0].colour",
        "unknown field",
    ),
    ("unknown kind", _conditions({"kind": "purchase"}), "conditions[0].kind", "invalid value 'purchase'"),
    (
        "negative window",
        _conditions({"kind": "event"}, {"kind": "event", "window": {"kind": "last", "days": -7}}),
        "conditions[1].window.days",
        "must not be negative",
    ),
    (
        "end before start",
        _conditions(
            {"kind": "event", "window": {"kind": "between", "start": "2026-03-01", "end": "2026-02-01"}}
        ),
        "conditions[0].window.end",
        "before the start",
    ),
    (
        "longer than retention",
        _conditions({"kind": "event", "window": {"kind": "last", "days": 5000}}),
        "conditions[0].window.days",
        "days of history kept",
    ),
    (
        "10,000 conditions",
        _conditions(*[{"kind": "event"}] * 10_000),
        "conditions",
        "more than 100 conditions",
    ),
    (
        "catastrophic regex",
        _conditions(
            {"kind": "event", "where": [{"property": "page_url", "op": "regex", "value": "^(a+)+$"}]}
        ),
        "conditions[0].where[0].value",
        "exponential time",
    ),
    (
        "regex RE2 refuses",
        _conditions({"kind": "event", "where": [{"property": "page_url", "op": "regex", "value": "\\Z"}]}),
        "conditions[0].where[0].value",
        "RE2 matcher refuses",
    ),
    ("nested 5,000 deep", _nested(5000), "conditions", "nested too deeply"),
    (
        "text compared with <",
        _conditions({"kind": "event", "where": [{"property": "banner_id", "op": "<", "value": "x"}]}),
        "conditions[0].where[0].op",
        "compares numbers or dates",
    ),
    (
        "unknown saved segment",
        _conditions({"kind": "in_saved_segment", "segment_id": "nope"}),
        "conditions[0].segment_id",
        "no saved segment",
    ),
]


@pytest.mark.parametrize(("why", "body", "field", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_definitions_are_refused_with_the_field(
    server: Server, why: str, body: bytes, field: str, reason: str
) -> None:
    before = stored_segments(server)
    with server.client(server.secret_key) as c:
        for path in ("/v1/segments/preview", "/v1/segments"):
            answer = c.post(path, content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 400, (why, answer.text)
            problem = answer.json()
            assert problem["error"] == "invalid_input"
            assert any(e["field"] == field and reason in e["reason"] for e in problem["errors"]), problem
        assert c.get("/healthz").status_code == 200
    assert stored_segments(server) == before  # nothing stored


def test_the_preview_is_not_a_segment_id(server: Server) -> None:
    with server.client(server.secret_key) as c:
        for method in ("GET", "DELETE", "PUT"):
            answer = c.request(method, "/v1/segments/preview")
            assert answer.status_code == 405 and answer.headers["allow"] == "POST", (method, answer.text)


def test_segments_need_the_secret_key(server: Server) -> None:
    with server.client(server.write_key) as c:
        assert c.get("/v1/segments").status_code == 403
        assert c.post("/v1/segments/preview", json=SAW_NOT_CLICKED).status_code == 403
    with server.client() as c:
        assert c.get("/v1/segments").status_code == 401


def test_the_command_line_works_through_the_running_server(server: Server, tmp_path: Path) -> None:
    definition = tmp_path / "inquiry.yaml"
    definition.write_text(
        "name: {ko: 문의하기를 누른 고객, en: Clicked 문의하기}\n"
        "conditions:\n  - kind: event\n    name: 문의하기 클릭\n",
        encoding="utf-8",
    )
    ws = str(server.workspace)
    shown = shopmind("segments", "preview", str(definition), "-w", ws, "--as-of", AS_OF[:10], "--json")
    assert shown.returncode == 0, shown.stderr
    count = json.loads(shown.stdout)["count"]
    assert count > 0 and "owns this workspace" in shown.stderr
    made = shopmind("segments", "create", str(definition), "-w", ws, "--as-of", AS_OF[:10], "--json")
    assert made.returncode == 0, made.stderr
    segment_id = json.loads(made.stdout)["id"]
    listed = shopmind("segments", "list", "-w", ws)
    assert segment_id in listed.stdout and "문의하기를 누른 고객" in listed.stdout
    out = tmp_path / "members.csv"
    exported = shopmind("segments", "export", segment_id, "-o", str(out), "-w", ws)
    assert exported.returncode == 0, exported.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "profile_id,member,segment,revenue,clv_12m,entered_at" and len(lines) == count + 1
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"name": {"ko": "x"}, "conditions": [{"kind": "event", "window": {"kind": "last", "days": 0}}]}'
    )
    refused = shopmind("segments", "preview", str(bad), "-w", ws)
    assert refused.returncode == 4 and "conditions[0].window.days" in refused.stderr

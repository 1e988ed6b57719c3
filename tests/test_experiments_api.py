"""Experiments through the real server (secret key): one is created from JSON (a draft), listed,
read, its draft replaced, started (then fixed: 409 on a change or a second start), stopped with a
winner that must be one of its variants; bad definitions are a 400 naming the field and store
nothing; unknown ids are 404 and a write key is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shopmind.measure import experiment_results
from shopmind.store import Store, Workspace
from tests import experiment_rows
from tests.serving import Server

POPUP: dict[str, Any] = {
    "id": "exit-popup-copy",
    "name": "이탈 팝업 문구",
    "point": {"kind": "placement", "placement": "popup", "trigger": "exit-coupon"},
    "variants": [
        {"name": "control", "trigger": "exit-coupon"},
        {"name": "free-shipping", "trigger": "exit-free-shipping"},
    ],
    "metrics": [
        {"name": "conversion", "kind": "conversion", "window_days": 7},
        {"name": "revenue", "kind": "revenue", "window_days": 7, "cap_quantile": 0.99},
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("experiments-api") / "shop"
    Workspace.init(folder)
    with Store(folder / "shop.duckdb") as store:
        experiment_rows.seed(
            store,
            "seeded-popup",
            "심어 둔 팝업 실험",
            {"control": 400, "free-shipping": 400},
            {"control": 0.1, "free-shipping": 0.2},
        )
        experiment_rows.empty(store, "nobody-yet", "아무도 없는 실험")
        ORACLE["seeded-popup"] = experiment_results(
            store, "seeded-popup", as_of=experiment_rows.AS_OF
        ).to_dict()
    running = Server(folder, args=("--no-recommender", "--run-at", "off"))
    running.start()
    yield running
    assert running.stop() == 0, running.output()


ORACLE: dict[str, Any] = {}


def test_create_list_change_start_stop(server: Server) -> None:
    with server.client(server.secret_key) as c:
        made = c.post("/v1/experiments", json=POPUP)
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["experiment_id"] == "exit-popup-copy" and body["state"] == "draft"
        assert body["exposures"] == {"control": 0, "free-shipping": 0}
        assert body["definition"]["variants"][1]["trigger"] == "exit-free-shipping"
        again = c.post("/v1/experiments", json=POPUP)
        assert again.status_code == 400 and again.json()["errors"][0]["field"] == "id"

        listed = c.get("/v1/experiments").json()["experiments"]
        assert listed[0]["experiment_id"] == "exit-popup-copy"  # newest first
        running = c.get("/v1/experiments", params={"state": "running"}).json()["experiments"]
        assert "exit-popup-copy" not in [e["experiment_id"] for e in running]

        # a draft's definition can change: now 80/20
        changed = {
            **POPUP,
            "variants": [{**v, "share": s} for v, s in zip(POPUP["variants"], (0.8, 0.2), strict=True)],
        }
        put = c.put("/v1/experiments/exit-popup-copy", json=changed)
        assert put.status_code == 200, put.text
        assert [v["share"] for v in put.json()["definition"]["variants"]] == [0.8, 0.2]
        wrong_id = c.put("/v1/experiments/exit-popup-copy", json={**changed, "id": "other"})
        assert wrong_id.status_code == 400 and wrong_id.json()["errors"][0]["field"] == "id"

        started = c.post("/v1/experiments/exit-popup-copy/start")
        assert started.status_code == 200, started.text
        assert started.json()["state"] == "running" and started.json()["started_at"]
        assert c.post("/v1/experiments/exit-popup-copy/start").status_code == 409
        fixed = c.put("/v1/experiments/exit-popup-copy", json=changed)
        assert fixed.status_code == 409 and "only a draft" in fixed.json()["message"]
        running = c.get("/v1/experiments", params={"state": "running"}).json()["experiments"]
        assert "exit-popup-copy" in [e["experiment_id"] for e in running]

        bad_winner = c.post("/v1/experiments/exit-popup-copy/stop", params={"winner": "nope"})
        assert bad_winner.status_code == 400
        assert bad_winner.json()["errors"][0]["field"] == "winner"
        assert c.get("/v1/experiments/exit-popup-copy").json()["state"] == "running"
        stopped = c.post("/v1/experiments/exit-popup-copy/stop", params={"winner": "free-shipping"})
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["state"] == "stopped" and stopped.json()["winner"] == "free-shipping"
        assert c.post("/v1/experiments/exit-popup-copy/stop").status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"traffic": 0}, "traffic"),
        (
            {
                "variants": [
                    {"name": "a", "trigger": "x", "share": 0.7},
                    {"name": "b", "trigger": "y", "share": 0.5},
                ]
            },
            "variants",
        ),
        ({"variants": [{"name": "only", "trigger": "x"}]}, "variants"),
        ({"point": {"kind": "galaxy"}}, "point"),
        ({"metrics": [{"name": "m", "kind": "happiness"}]}, "metrics[0].kind"),
        ({"id": "Has Spaces"}, "id"),
        ({"policy": {"kind": "contextual"}, "point": {"kind": "recommendations"}}, "policy.kind"),
    ],
)
def test_a_bad_definition_is_a_400_naming_the_field_and_nothing_is_stored(
    server: Server, change: dict[str, Any], field: str
) -> None:
    with server.client(server.secret_key) as c:
        before = c.get("/v1/experiments").json()["experiments"]
        answer = c.post("/v1/experiments", json={**POPUP, "id": "bad-one", **change})
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["error"] == "invalid_input"
        assert any(e["field"].startswith(field) for e in body["errors"]), body
        assert c.get("/v1/experiments").json()["experiments"] == before


def test_the_shares_error_says_they_add_up_above_100(server: Server) -> None:
    variants = [{"name": "a", "trigger": "x", "share": 0.7}, {"name": "b", "trigger": "y", "share": 0.5}]
    with server.client(server.secret_key) as c:
        answer = c.post("/v1/experiments", json={**POPUP, "id": "too-much", "variants": variants})
    assert answer.status_code == 400
    assert "120%, above 100%" in answer.json()["errors"][0]["reason"]


def test_unknown_experiments_and_keys(server: Server) -> None:
    with server.client(server.secret_key) as c:
        assert c.get("/v1/experiments/nothing").status_code == 404
        assert c.post("/v1/experiments/nothing/start").status_code == 404
        assert c.get("/v1/experiments/nothing/results").json()["error"] == "not_found"
        assert c.post("/v1/experiments", content=b"{not json").status_code == 400
    with server.client(server.write_key) as c:  # a write key only collects
        assert c.get("/v1/experiments").status_code == 403
    with server.client() as c:
        assert c.get("/v1/experiments").status_code == 401


def test_results_are_experiment_results_as_json(server: Server) -> None:
    with server.client(server.secret_key) as c:
        answer = c.get(
            "/v1/experiments/seeded-popup/results", params={"as_of": experiment_rows.AS_OF.isoformat()}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        empty = c.get("/v1/experiments/nobody-yet/results").json()
    assert body["name"] == "심어 둔 팝업 실험" and body["state"] == "running"
    oracle = ORACLE["seeded-popup"]
    for key in ("units", "srm", "metrics", "traffic", "notes", "enough_data"):
        assert body[key] == oracle[key], key
    assert body["units"] == 800 and body["srm"]["flagged"] is False
    assert [m["metric"] for m in body["metrics"]] == ["conversion", "revenue"]
    assert "NaN" not in answer.text
    assert empty["units"] == 0 and empty["metrics"] == [] and empty["notes"]
    assert empty["enough_data"] is False

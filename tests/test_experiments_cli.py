"""``shopmind experiments`` run as a user would (real processes) on a small store with a seeded
popup test: an experiment file (YAML, then JSON) is created, listed, shown, started and stopped
with a winner; its results print the numbers ``experiment_results`` computes (``--json`` equals
its ``to_dict``); a broken split prints the SRM flag and no metric; bad files exit 2 naming the
field and store nothing, an unreadable one exits 4, an unknown id or a wrong move exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shopmind.measure import experiment_results
from shopmind.store import Store, Workspace
from tests import experiment_rows
from tests.test_privacy import shopmind

YAML = """\
id: welcome-popup
name: 첫 구매 팝업 문구
point: {kind: placement, placement: popup, trigger: first-purchase-coupon}
variants:
  - {name: control, trigger: first-purchase-coupon, share: 0.5}
  - {name: free-shipping, trigger: first-purchase-free-shipping, share: 0.5}
metrics:
  - {name: conversion, kind: conversion, window_days: 7}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("experiments-cli")
    Workspace.init(folder / "shop")
    with Store(folder / "shop" / "shop.duckdb") as store:
        truth = experiment_rows.seed(
            store,
            "popup-copy",
            "이탈 팝업 문구",
            {"control": 300, "free-shipping": 300},
            {"control": 0.1, "free-shipping": 0.25},
        )
        experiment_rows.seed(
            store,
            "broken",
            "깨진 실험",
            {"control": 600, "free-shipping": 400},
            {"control": 0.1, "free-shipping": 0.1},
            seed=8,
        )
        oracle = experiment_results(store, "popup-copy", as_of=experiment_rows.AS_OF).to_dict()
    return {"folder": folder, "shop": folder / "shop", "truth": truth, "oracle": oracle}


def run(shop: dict[str, Any], *args: str) -> Any:
    return shopmind("experiments", *args, "-w", str(shop["shop"]))


def test_create_list_show_start_stop(shop: dict[str, Any]) -> None:
    (shop["folder"] / "welcome.yaml").write_text(YAML, encoding="utf-8")
    made = run(shop, "create", str(shop["folder"] / "welcome.yaml"))
    assert made.returncode == 0, made.stderr
    assert "created experiment welcome-popup" in made.stdout
    assert "실험 ‘첫 구매 팝업 문구’를 초안으로 만들었습니다" in made.stdout
    again = run(shop, "create", str(shop["folder"] / "welcome.yaml"))
    assert (
        again.returncode == 2
        and "id: an experiment with the id 'welcome-popup' exists already" in again.stderr
    )

    listed = run(shop, "list")
    assert listed.returncode == 0
    for words in ("welcome-popup", "draft · 초안", "popup-copy", "running · 진행 중", "600"):
        assert words in listed.stdout, words
    rows = json.loads(run(shop, "list", "--json").stdout)
    assert {r["experiment_id"]: r["exposures"] for r in rows}["popup-copy"] == {
        "control": 300,
        "free-shipping": 300,
    }
    shown = json.loads(run(shop, "show", "welcome-popup", "--json").stdout)
    assert shown["state"] == "draft" and shown["definition"]["variants"][1]["share"] == 0.5

    assert run(shop, "start", "welcome-popup").returncode == 0
    twice = run(shop, "start", "welcome-popup")
    assert twice.returncode == 2 and "is running and cannot become running" in twice.stderr
    wrong = run(shop, "stop", "welcome-popup", "--winner", "nope")
    assert wrong.returncode == 2 and "winner: 'nope' is not a variant of it" in wrong.stderr
    stopped = run(shop, "stop", "welcome-popup", "--winner", "free-shipping")
    assert stopped.returncode == 0, stopped.stderr
    assert "채택한 변형 free-shipping" in stopped.stdout and "종료했습니다" in stopped.stdout
    after = json.loads(run(shop, "show", "welcome-popup", "--json").stdout)
    assert after["state"] == "stopped" and after["winner"] == "free-shipping"
    missing = run(shop, "show", "nothing")
    assert missing.returncode == 2 and "no experiment has the id 'nothing'" in missing.stderr


def test_results_print_what_experiment_results_computes(shop: dict[str, Any]) -> None:
    as_of = experiment_rows.AS_OF.isoformat()
    printed = run(shop, "results", "popup-copy", "--as-of", as_of)
    assert printed.returncode == 0, printed.stderr
    out = printed.stdout
    assert "SRM check · 표본 비율 검사: control 300, free-shipping 300" in out and "ok · 통과" in out
    for variant, facts in shop["truth"].items():
        assert f"{100 * facts['converted'] / facts['units']:.2f}%" in out, variant
    (conversion,) = [m for m in shop["oracle"]["metrics"] if m["metric"] == "conversion"]
    relative = conversion["comparisons"][0]["relative"]
    assert (
        f"{100 * relative['estimate']:+.1f}% [{100 * relative['low']:+.1f}%, {100 * relative['high']:+.1f}%]"
        in out
    )
    as_json = json.loads(run(shop, "results", "popup-copy", "--as-of", as_of, "--json").stdout)
    for key in ("units", "srm", "metrics", "traffic", "notes"):
        assert as_json[key] == shop["oracle"][key], key

    broken = run(shop, "results", "broken")
    assert broken.returncode == 0
    assert "FLAGGED" in broken.stdout and "표본 비율 불일치: 결과를 숨깁니다" in broken.stdout
    assert "per variant" not in broken.stdout


BAD = [
    (
        YAML.replace("coupon, share: 0.5}", "coupon}"),
        ".yaml",
        "variants",
        "give every variant a share, or none",
    ),
    (
        YAML.replace("coupon, share: 0.5}", "coupon, share: 0.7}"),
        ".yaml",
        "variants",
        "add up to 120%, above 100%",
    ),
    (YAML.replace("kind: conversion", "kind: happiness"), ".yaml", "metrics[0].kind", "expected one of"),
    (
        "id: only-one\nname: x\npoint: {kind: placement, placement: popup, trigger: t}\nvariants: [{name: a}]\n",
        ".yaml",
        "variants",
        "at least two variants",
    ),
    (
        '{"id": "x", "name": "x", "point": {"kind": "send_time", "campaign": "c"}, "variants": [{"name": "a", '
        '"send_time": "25:00"}, {"name": "b", "send_time": "best_hour"}], "traffic": 0}',
        ".json",
        "traffic",
        "a share above 0 and at most 1",
    ),
    ("{not json", ".json", "experiment", "not valid JSON"),
]


def test_a_bad_file_exits_2_naming_the_field_and_stores_nothing(shop: dict[str, Any], tmp_path: Path) -> None:
    """In process (the command's own code, without a process start per case)."""
    from typer.testing import CliRunner

    from shopmind.cli import app

    runner = CliRunner()
    before = json.loads(run(shop, "list", "--json").stdout)
    for i, (text, suffix, field, reason) in enumerate(BAD):
        path = tmp_path / f"bad{i}{suffix}"
        path.write_text(text, encoding="utf-8")
        done = runner.invoke(app, ["experiments", "create", str(path), "-w", str(shop["shop"])])
        err = done.stderr if hasattr(done, "stderr") else done.output
        assert done.exit_code == 2, (text, done.output)
        assert "실험을 쓸 수 없습니다" in err and f"  {field}: " in err and reason in err, err
    assert json.loads(run(shop, "list", "--json").stdout) == before


def test_an_unreadable_file_exits_4(shop: dict[str, Any], tmp_path: Path) -> None:
    done = run(shop, "create", str(tmp_path / "missing.yaml"))
    assert done.returncode == 4, done.stderr
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9".encode("latin-1"))
    done = run(shop, "create", str(tmp_path / "latin1.yaml"))
    assert done.returncode == 4, done.stderr
    assert "caf" not in {e["name"] for e in json.loads(run(shop, "list", "--json").stdout)}


def test_start_and_stop_through_a_running_server_route_its_next_decisions(tmp_path: Path) -> None:
    """The server owns the store: the commands work through it, and its on-site decisions follow
    before the command returns (no restart, no API call)."""
    from shopmind.experiments import Assigner, parse_experiment
    from shopmind.onsite import DEFAULT_TRIGGERS
    from tests.serving import Server
    from tests.test_onsite_experiments import COUPON, FREE_SHIPPING, Shopper, _held_out, _key

    folder = tmp_path / "shop"
    Workspace.init(folder)
    (folder / "triggers.toml").write_text(DEFAULT_TRIGGERS + FREE_SHIPPING, encoding="utf-8")
    definition = {
        "id": "exit-popup-copy",
        "name": "이탈 팝업 문구",
        "point": {"kind": "placement", "placement": "popup", "trigger": COUPON},
        "variants": [
            {"name": "control", "trigger": COUPON},
            {"name": "free-shipping", "trigger": "free-shipping-popup"},
        ],
    }
    (tmp_path / "exit.json").write_text(json.dumps(definition), encoding="utf-8")
    where = {"shop": folder}
    assert run(where, "create", str(tmp_path / "exit.json")).returncode == 0
    assigner = Assigner(parse_experiment(definition), _key(folder))
    server = Server(folder, ("--no-recommender", "--run-at", "off")).start()

    def shown(write: Any, visitor: str) -> str | None:
        shopper = Shopper(write, visitor)
        shopper.about_to_leave_the_cart()
        action = shopper.decide()["action"]
        return None if action is None else str(action["trigger"])

    try:
        with server.client(server.write_key) as write:
            visitors = [f"cli-{n:02d}" for n in range(16)]
            arms = {v: assigner(f"anon:{v}") for v in visitors}
            assert set(arms.values()) == {"control", "free-shipping"}
            started = run(where, "start", "exit-popup-copy")
            assert started.returncode == 0, started.stderr
            assert "working through it" in started.stderr and "시작했습니다" in started.stdout
            for visitor, arm in arms.items():
                expected = COUPON if arm == "control" else "free-shipping-popup"
                assert shown(write, visitor) == expected, (visitor, arm)

            stopped = run(where, "stop", "exit-popup-copy", "--winner", "free-shipping")
            assert stopped.returncode == 0, stopped.stderr
            key = _key(folder)
            for n in range(12):  # new visitors: the winner, or the trigger's own holdout
                visitor = f"after-{n:02d}"
                held = _held_out(key, COUPON, f"anon:{visitor}")
                assert shown(write, visitor) == (None if held else "free-shipping-popup"), visitor
    finally:
        server.stop()

"""The stored bandit states stay small: a contextual bandit's whole state (its per-arm matrices, tens
of kilobytes) is kept for the latest row of an experiment only; older rows keep the light part
(kind, variants, shares, winner, decisions and the bookkeeping), which the traffic-over-time
chart reads. After a restart, the policy is rebuilt from the latest, whole state."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from shopmind.api._live_experiments import LiveExperiments, read_snapshot
from shopmind.experiments import Reward, parse_experiment, policy_for, policy_from_state
from shopmind.store import (
    LIGHT_STATE_KEYS,
    Store,
    Workspace,
    bandit_states,
    create_experiment,
    save_bandit_state,
    set_experiment_state,
)

START = datetime(2026, 3, 2, tzinfo=UTC)
HOURS = 48
DEFINITION = {
    "id": "popup-contextual",
    "name": "팝업 맥락 밴딧",
    "point": {"kind": "placement", "placement": "popup", "trigger": "exit-coupon"},
    "variants": [{"name": v, "trigger": "exit-coupon"} for v in ("control", "a", "b")],
    "policy": {"kind": "contextual", "algorithm": "lints", "batch_minutes": 60},
}
CONTEXTS = [
    {"device": "mobile", "hour": 20, "region": "서울", "segment": "vip", "recent": {"pages": 3}},
    {"device": "desktop", "hour": 10, "region": "부산", "segment": "new", "recent": {"cart_items": 1}},
    {"device": "tablet", "hour": 2},
    None,
]
RATES = {"control": 0.03, "a": 0.08, "b": 0.04}


@pytest.fixture
def hourly(tmp_path: Path) -> tuple[Path, list[dict[str, object]]]:
    """A running contextual bandit taught and saved every hour for two days; its states as saved."""
    folder = tmp_path / "shop"
    experiment = parse_experiment(DEFINITION)
    policy = policy_for(experiment, seed=3)
    rng = random.Random(5)
    saved: list[dict[str, object]] = []
    with Workspace.init(folder).open_store() as store:
        create_experiment(
            store,
            experiment.id,
            experiment.name,
            orjson.dumps(DEFINITION).decode(),
            created_by="t",
            now=START,
        )
        set_experiment_state(store, experiment.id, "running", START)
        for hour in range(HOURS):
            rewards = []
            for j in range(40):
                context = CONTEXTS[j % len(CONTEXTS)]
                variant, _ = policy.choose(context)
                rewards.append(Reward(variant, float(rng.random() < RATES[variant]), context))
            policy.update(rewards)
            state = policy.state()
            saved.append(state)
            save_bandit_state(store, experiment.id, START + timedelta(hours=hour + 1), json.dumps(state))
    return folder, saved


def test_only_the_latest_state_is_whole(hourly: tuple[Path, list[dict[str, object]]]) -> None:
    folder, saved = hourly
    with Store(folder / "shop.duckdb") as store:
        rows = bandit_states(store, DEFINITION["id"])
        sizes = [len(text) for _, text in rows]
    assert len(rows) == HOURS
    whole = len(json.dumps(saved[-1]))
    assert whole > 10_000  # a contextual bandit's matrices
    assert sizes[-1] == whole
    assert max(sizes[:-1]) < 600, sizes[:3]
    assert sum(sizes) < whole + HOURS * 600  # ~48 whole states before: about 40 times as much
    for (_, text), state in zip(rows[:-1], saved[:-1], strict=True):
        light = json.loads(text)
        assert light["light"] is True and set(light) - {"light"} <= set(LIGHT_STATE_KEYS)
        assert light["shares"] == state["shares"] and light["decisions"] == state["decisions"]
        assert light["kind"] == "contextual" and light["variants"] == ["control", "a", "b"]
    assert json.loads(rows[-1][1]) == json.loads(json.dumps(saved[-1]))


def test_after_a_restart_the_policy_is_rebuilt_from_the_latest_whole_state(
    hourly: tuple[Path, list[dict[str, object]]],
) -> None:
    folder, saved = hourly
    experiment = parse_experiment(DEFINITION)
    latest = json.loads(json.dumps(saved[-1]))
    expected = policy_from_state(experiment, latest)
    with Store(folder / "shop.duckdb") as store:
        snapshot = read_snapshot(store)  # what a starting server reads
    live = LiveExperiments()
    live.load(snapshot, {})
    rebuilt = live.running[DEFINITION["id"]].policy
    assert rebuilt is not None
    assert rebuilt.state()["decisions"] == HOURS * 40
    for context in CONTEXTS:
        assert rebuilt.probabilities(context) == pytest.approx(expected.probabilities(context))


def test_a_state_saved_for_an_earlier_instant_is_kept_light_and_the_latest_whole(
    hourly: tuple[Path, list[dict[str, object]]],
) -> None:
    folder, saved = hourly
    with Store(folder / "shop.duckdb") as store:
        late = START - timedelta(minutes=30)  # e.g. a sender's turn that finished after a newer one
        save_bandit_state(store, DEFINITION["id"], late, json.dumps(saved[0]))
        rows = bandit_states(store, DEFINITION["id"])
    assert rows[0][0] == late and json.loads(rows[0][1])["light"] is True
    assert "light" not in json.loads(rows[-1][1]) and len(rows) == HOURS + 1

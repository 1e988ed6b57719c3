"""Off-policy evaluation from the store (``shopmind.measure.policy_value``, ``shopmind experiments
evaluate``, ``GET /v1/experiments/{id}/policy-value``) on the demo shop's simulated popup month:
the estimates are checked against the planted truths of ``demo._popup_effects``, computed on the
very visitors the month logged (their stored contexts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest

from shopmind.core import InvalidInputError
from shopmind.demo import POPUP_VARIANTS
from shopmind.demo._geography import REGION_NAMES
from shopmind.demo._popup_effects import DEVICES, SEGMENT_NAMES, Visitors, click_rates
from shopmind.experiments import cross_fitted_rewards, experiment_json, parse_experiment
from shopmind.measure import policy_value, run_demo_experiments
from shopmind.measure._policy_value import _learned
from shopmind.pipeline import load_demo_shop
from shopmind.store import (
    Store,
    UnknownExperimentError,
    Workspace,
    create_experiment,
    get_experiment,
    log_decisions,
    log_outcomes,
    logged_decisions,
)
from tests.serving import Server

DAYS = 10
PER_DAY = 600
ABN, THOMPSON, CONTEXTUAL = "demo-popup-abn", "demo-popup-thompson", "demo-popup-contextual"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("policy-value")
    with Workspace.init(folder).open_store() as store:
        load_demo_shop(store, customers=300, days=40, seed=3)
        run_demo_experiments(store, days=DAYS, per_day=PER_DAY)
    return folder


@pytest.fixture
def store(shop: Path) -> Iterator[Store]:
    with Workspace(shop).open_store() as opened:
        yield opened


def _truth(store: Store, experiment_id: str) -> tuple[np.ndarray, list[dict[str, object]]]:
    """The planted click rates ``(n, K)`` of the logged visitors (in the log's order), from their
    stored contexts, and the contexts."""
    contexts = [
        orjson.loads(c)
        for (c,) in store.sql(
            "SELECT context FROM decisions WHERE experiment_id = ? ORDER BY decided_at, decision_id",
            [experiment_id],
        )
    ]

    def column(f: object) -> np.ndarray:
        return np.array([f(c) for c in contexts])  # type: ignore[operator]

    visitors = Visitors(
        device=column(lambda c: DEVICES.index(c["device"])),
        hour=column(lambda c: c["hour"]),
        minute=column(lambda c: 0),
        region=column(lambda c: REGION_NAMES.index(c["region"])),
        segment=column(lambda c: SEGMENT_NAMES.index(c["segment"])),
        pages=column(lambda c: c["recent"]["pages"]),
        cart_items=column(lambda c: c["recent"]["cart_items"]),
        orders=column(lambda c: c["recent"]["orders"]),
    )
    return click_rates(visitors), contexts


def test_the_logged_policy_reproduces_its_on_policy_rate(store: Store) -> None:
    """The logging policy's weights are all 1: IPS, SNIPS and DR cover its on-policy click rate
    (for the A/B/n test DR uses the reward model over the known shares, not a shortcut)."""
    for experiment_id in (ABN, THOMPSON, CONTEXTUAL):
        value = policy_value(store, experiment_id, "logged")
        rate = value.rewards / value.decisions
        assert value.decisions == DAYS * PER_DAY and value.reward == "clicked"
        assert value.on_policy.estimate == pytest.approx(rate)
        assert value.on_policy.low < rate < value.on_policy.high
        for interval in (value.ips, value.snips, value.doubly_robust):
            assert interval.covers(rate), (experiment_id, interval, rate)
        assert value.effective_sample_size == pytest.approx(value.decisions)
        assert any("logging policy itself" in note for note in value.notes)
    abn = policy_value(store, ABN, "logged")
    assert abn.doubly_robust.estimate != pytest.approx(abn.on_policy.estimate, abs=1e-9)
    assert abn.shares == pytest.approx({v: 0.25 for v in POPUP_VARIANTS})


def test_always_one_variant_from_the_uniform_log_covers_its_planted_rate(store: Store) -> None:
    """From the A/B/n test's log (a quarter each), the value of showing one variant to everyone
    against its planted click rate over the same visitors. Ten 95% intervals (IPS and DR for the
    four variants and uniform): about 0.5 misses expected, at most 1 allowed (two or more has a
    chance of about 1 in 12 if all were independent; IPS and DR of a target miss together)."""
    rates, _ = _truth(store, ABN)
    targets = {f"always:{v}": float(rates[:, i].mean()) for i, v in enumerate(POPUP_VARIANTS)}
    targets["uniform"] = float(rates.mean())
    misses = []
    for target, truth in targets.items():
        value = policy_value(store, ABN, target)
        for name, interval in (("ips", value.ips), ("dr", value.doubly_robust)):
            print(
                f"{target} {name}: {interval.estimate:.4f} [{interval.low:.4f}, {interval.high:.4f}] true {truth:.4f}"
            )
            if not interval.covers(truth):
                misses.append((target, name))
        if target.startswith("always:"):
            assert value.shares[target.removeprefix("always:")] == 1.0
            assert 0.2 * value.decisions < value.effective_sample_size < 0.3 * value.decisions
    assert len({t for t, _ in misses}) <= 1, misses
    # the best single variant on average is found: evening-mobile's estimate is the highest
    best = max(POPUP_VARIANTS, key=lambda v: policy_value(store, ABN, f"always:{v}").doubly_robust.estimate)
    assert best == "evening-mobile"


def test_the_contextual_policy_is_worth_more_than_uniform(store: Store) -> None:
    """On the contextual bandit's own log, the contextual policy (cross-fitted: each decision
    valued by the policy fed the other parts' rewards) beats uniform, and its DR interval covers
    its true value on the logged visitors; so does the one valued on the A/B/n test's log."""
    contextual = policy_value(store, CONTEXTUAL, "contextual")
    uniform = policy_value(store, CONTEXTUAL, "uniform")
    print(f"contextual {contextual.doubly_robust}, uniform {uniform.doubly_robust}")
    assert contextual.doubly_robust.estimate > uniform.doubly_robust.estimate
    assert contextual.ips.estimate > uniform.ips.estimate
    for experiment_id, value in ((CONTEXTUAL, contextual), (ABN, policy_value(store, ABN, "contextual"))):
        rates, contexts = _truth(store, experiment_id)
        experiment = parse_experiment(get_experiment(store, experiment_id).definition)
        rows = logged_decisions(store, experiment_id, "clicked", datetime.now(UTC))
        arms = np.array([POPUP_VARIANTS.index(r.variant) for r in rows])
        clicks = np.array([r.reward for r in rows], dtype=float)
        probs = _learned(experiment, "contextual", contexts, arms, clicks)  # type: ignore[arg-type]
        truth = float((probs * rates).sum(axis=1).mean())
        print(f"{experiment_id}: contextual DR {value.doubly_robust}, true {truth:.4f}")
        assert value.doubly_robust.covers(truth)
        assert truth > float(rates.mean())  # it is truly better than uniform
        assert any("cross-fitted" in note for note in value.notes)


def test_the_reward_model_is_cross_fitted() -> None:
    """A decision's own reward never moves its own prediction (it is fitted on the other folds),
    and with enough data the per-variant ridge finds the cells' rates."""
    rng = np.random.default_rng(5)
    n = 4000
    x = np.zeros((n, 3))
    x[:, 0] = 1.0
    cell = rng.integers(0, 2, n)
    x[np.arange(n), 1 + cell] = 1.0
    arms = rng.integers(0, 2, n)
    rate = np.where(arms == cell, 0.3, 0.1)
    rewards = (rng.random(n) < rate).astype(float)
    q = cross_fitted_rewards(x, arms, rewards, 2, folds=2, seed=1)
    assert q.shape == (n, 2) and q.min() >= 0 and q.max() <= 1
    expected = np.where(np.arange(2)[None, :] == cell[:, None], 0.3, 0.1)
    # each of the 8 (fold, variant, cell) fits rests on about 500 decisions: standard error about
    # 0.02 at a rate of 0.3, so the largest of the 8 errors stays within 3 of them
    assert np.abs(q - expected).max() < 0.06
    fold = np.random.default_rng(1).permutation(n) % 2
    flipped = rewards.copy()
    flipped[fold == 0] = 1.0 - flipped[fold == 0]
    again = cross_fitted_rewards(x, arms, flipped, 2, folds=2, seed=1)
    assert np.allclose(again[fold == 0], q[fold == 0])  # fold 0's predictions come from fold 1 only
    assert not np.allclose(again[fold == 1], q[fold == 1])
    with pytest.raises(InvalidInputError) as caught:
        cross_fitted_rewards(x, arms + 5, rewards, 2)
    assert caught.value.errors[0].field == "arms"


def test_bad_targets_and_thin_data_are_named(store: Store) -> None:
    def field_of(target: str, **kwargs: object) -> tuple[str, str]:
        with pytest.raises(InvalidInputError) as caught:
            policy_value(store, ABN, target, **kwargs)  # type: ignore[arg-type]
        return caught.value.errors[0].field, caught.value.errors[0].reason

    field, reason = field_of("always:nope")
    assert field == "policy" and "'nope' is not a variant" in reason and "evening-mobile" in reason
    field, reason = field_of("greedy")
    assert field == "policy" and "uniform" in reason and "contextual" in reason
    field, reason = field_of("uniform", reward="bought")
    assert field == "reward"
    first = store.scalar("SELECT min(decided_at) FROM decisions WHERE experiment_id = ?", [ABN])
    field, reason = field_of("uniform", as_of=first - timedelta(seconds=1))
    assert field == "decisions" and reason.startswith("not enough data") and "0 logged decisions" in reason
    with pytest.raises(UnknownExperimentError):
        policy_value(store, "no-such-test", "uniform")


def _small_experiment(store: Store, experiment_id: str, reward: str, kind: str = "fixed") -> None:
    definition = parse_experiment(
        {
            "id": experiment_id,
            "name": experiment_id,
            "point": {"kind": "placement", "placement": "popup", "trigger": "first-purchase-coupon"},
            "variants": [{"name": "a", "trigger": "first-purchase-coupon"}, {"name": "b", "trigger": "t-b"}],
            "metrics": [{"name": "conversion", "kind": "conversion"}],
            "policy": {"kind": kind, "reward": reward},
        }
    )
    create_experiment(
        store,
        experiment_id,
        experiment_id,
        experiment_json(definition),
        created_by="test",
        now=datetime.now(UTC),
    )


def _decisions(experiment_id: str, n: int, propensity: float | None) -> list[dict[str, object]]:
    at = datetime.now(UTC) - timedelta(days=1)
    return [
        {
            "decision_id": f"{experiment_id}-{i}",
            "decided_at": at + timedelta(seconds=i),
            "visitor": f"v{i}",
            "trigger_id": "first-purchase-coupon",
            "action": "popup",
            "experiment_id": experiment_id,
            "variant": "ab"[i % 2],
            "propensity": propensity,
            "context": json.dumps({"device": "mobile", "hour": 20}),
        }
        for i in range(n)
    ]


def test_conversions_count_only_verified_orders(store: Store) -> None:
    """A converted outcome earns the reward only when its order is a verified, placed order: a
    page's claim of an order (no order, or one the shop never confirmed) earns nothing."""
    _small_experiment(store, "ope-converted", "converted")
    log_decisions(store, _decisions("ope-converted", 40, 0.5))
    verified = [o for (o,) in store.sql("SELECT order_id FROM order_totals WHERE NOT is_return LIMIT 3")]
    assert len(verified) == 3
    returned = store.scalar("SELECT order_id FROM order_totals WHERE is_return LIMIT 1")
    at = datetime.now(UTC) - timedelta(hours=1)
    claims = [*verified, "never-confirmed", None, returned]
    log_outcomes(
        store,
        [
            {"decision_id": f"ope-converted-{i}", "outcome": "converted", "outcome_at": at, "order_id": order}
            for i, order in enumerate(claims)
        ],
    )
    value = policy_value(store, "ope-converted", "logged")
    assert value.reward == "converted" and value.rewards == 3
    assert value.logged == {"a": {"decisions": 20, "rewards": 2}, "b": {"decisions": 20, "rewards": 1}}
    with pytest.raises(InvalidInputError) as caught:
        policy_value(store, "ope-converted", "uniform", reward="clicked")
    assert caught.value.errors[0].field == "decisions"
    assert "no logged decision of ope-converted was clicked" in caught.value.errors[0].reason


def test_decisions_without_propensities_are_refused(store: Store) -> None:
    _small_experiment(store, "ope-no-propensity", "clicked")
    log_decisions(store, _decisions("ope-no-propensity", 40, None))
    with pytest.raises(InvalidInputError) as caught:
        policy_value(store, "ope-no-propensity", "uniform")
    error = caught.value.errors[0]
    assert error.field == "decisions.propensity" and "40 of 40 decisions have no propensity" in error.reason


def test_decisions_logged_with_certainty_are_said_to_hide_the_other_variants(store: Store) -> None:
    """After a bandit switches to its winner, the others had no chance: IPS cannot read them there."""
    _small_experiment(store, "ope-switched", "clicked", "thompson")
    rows = _decisions("ope-switched", 60, 0.5)
    for row in rows[40:]:
        row.update(variant="a", propensity=1.0)
    log_decisions(store, rows)
    at = datetime.now(UTC) - timedelta(hours=1)
    log_outcomes(
        store,
        [
            {"decision_id": f"ope-switched-{i}", "outcome": "clicked", "outcome_at": at}
            for i in range(0, 60, 6)
        ],
    )
    uniform = policy_value(store, "ope-switched", "uniform")
    assert any(note.startswith("20 decisions were logged with certainty") for note in uniform.notes)
    assert not any("with certainty" in note for note in policy_value(store, "ope-switched", "always:a").notes)
    assert not any("with certainty" in note for note in policy_value(store, "ope-switched", "logged").notes)
    # fixed shares logged with the wrong propensities: the logged policy's check says so
    _small_experiment(store, "ope-wrong-shares", "clicked")
    rows = _decisions("ope-wrong-shares", 40, 0.5)
    for row in rows[:10]:
        row["propensity"] = 0.9
    log_decisions(store, rows)
    log_outcomes(
        store,
        [{"decision_id": f"ope-wrong-shares-{i}", "outcome": "clicked", "outcome_at": at} for i in (1, 2, 3)],
    )
    notes = policy_value(store, "ope-wrong-shares", "logged").notes
    assert any(note.startswith("10 decisions were logged with a propensity other than") for note in notes)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args], capture_output=True, text=True, env=env, check=False
    )


def test_the_command_prints_both_languages_and_json(shop: Path) -> None:
    done = _cli("experiments", "evaluate", CONTEXTUAL, "--policy", "always:evening-mobile", "-w", str(shop))
    assert done.returncode == 0, done.stderr
    for words in (
        "always evening-mobile · 항상 evening-mobile",
        "예상 클릭률 (95% 구간)",
        "doubly robust · 이중 강건 추정",
        "유효 표본 크기",
        "평가 정책의 노출 비율",
        "100.0%",
    ):
        assert words in done.stdout, (words, done.stdout)
    done = _cli("experiments", "evaluate", ABN, "--policy", "uniform", "--json", "-w", str(shop))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["policy"] == "uniform" and answer["decisions"] == DAYS * PER_DAY
    assert set(answer["doubly_robust"]) == {"estimate", "low", "high"}
    done = _cli("experiments", "evaluate", ABN, "--policy", "always:nope", "-w", str(shop))
    assert done.returncode == 2 and "'nope' is not a variant" in done.stderr
    done = _cli("experiments", "evaluate", "no-such-test", "--policy", "uniform", "-w", str(shop))
    assert done.returncode == 2 and "shopmind experiments list" in done.stderr
    done = _cli("experiments", "evaluate", "--help")
    assert done.returncode == 0 and "without a new test" in done.stdout


def test_the_api_answers_with_the_secret_key(shop: Path) -> None:
    server = Server(shop).start()
    try:
        with server.client(server.secret_key) as c:
            # stopped while its recommender still trains, the server aborts at exit ("terminate
            # called without an active exception", -6), whatever was asked: let it finish first
            deadline = time.monotonic() + 120
            while c.get("/readyz").json()["recommender"] == "training" and time.monotonic() < deadline:
                time.sleep(0.2)
            answer = c.get(f"/v1/experiments/{ABN}/policy-value", params={"policy": "always:evening-mobile"})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["policy"] == "always:evening-mobile" and body["decisions"] == DAYS * PER_DAY
            assert body["ips"]["low"] <= body["ips"]["estimate"] <= body["ips"]["high"]
            assert body["shares"]["evening-mobile"] == 1.0
            bad = c.get(f"/v1/experiments/{ABN}/policy-value", params={"policy": "always:nope"})
            assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "policy"
            missing = c.get("/v1/experiments/no-such-test/policy-value", params={"policy": "uniform"})
            assert missing.status_code == 404
            unasked = c.get(f"/v1/experiments/{ABN}/policy-value")
            assert unasked.status_code == 400
        with server.client(server.write_key) as c:
            assert (
                c.get(f"/v1/experiments/{ABN}/policy-value", params={"policy": "uniform"}).status_code == 403
            )
        with server.client() as c:
            assert (
                c.get(f"/v1/experiments/{ABN}/policy-value", params={"policy": "uniform"}).status_code == 401
            )
    finally:
        code = server.stop()
        assert code == 0, server.output()

"""The traffic policies (fixed shares, Thompson sampling and the contextual bandits): the port's
contract for each, rebuilding from a stored state, the floor, the switch to the winner, and bad
input. Seeded throughout."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from shopmind.core import InvalidInputError
from shopmind.experiments import (
    FixedShares,
    Reward,
    ThompsonSampling,
    TrafficPolicy,
    parse_experiment,
    policy_for,
    policy_from_state,
)

VARIANTS = ["control", "a", "b"]
CONTEXTS = [
    {"device": "mobile", "hour": 20, "region": "서울", "segment": "vip", "recent": {"pages": 3}},
    {"device": "desktop", "hour": 10, "region": "부산", "segment": "new", "recent": {"cart_items": 1}},
    {"device": "tablet", "hour": 2},
    {},
    None,
]


def experiment(policy: dict[str, object], **extra: object):
    return parse_experiment(
        {
            "id": "popup-copy",
            "name": "팝업 문구",
            "point": {"kind": "placement", "placement": "popup", "trigger": "exit-coupon"},
            "variants": [{"name": v, "trigger": "exit-coupon"} for v in VARIANTS],
            "policy": policy,
            **extra,
        }
    )


POLICIES: dict[str, Callable[[], TrafficPolicy]] = {
    "fixed": lambda: FixedShares(VARIANTS, [0.5, 0.3, 0.2], seed=1),
    "thompson": lambda: ThompsonSampling(VARIANTS, floor=0.05, seed=1),
}

RATES = {"control": 0.03, "a": 0.06, "b": 0.04}


def feed(policy: TrafficPolicy, batches: int, per_batch: int, seed: int = 0) -> None:
    """Serve ``batches`` batches of decisions with the planted ``RATES``, updating after each."""
    rng = random.Random(seed)
    for _ in range(batches):
        rewards = []
        for j in range(per_batch):
            context = CONTEXTS[j % len(CONTEXTS)]
            variant, _ = policy.choose(context)
            rewards.append(Reward(variant, float(rng.random() < RATES[variant]), context))
        policy.update(rewards)


@pytest.mark.parametrize("name", POLICIES)
def test_the_port_contract(name: str) -> None:
    policy = POLICIES[name]()
    assert isinstance(policy, TrafficPolicy)
    for step in range(3):
        for context in CONTEXTS:
            probs = policy.probabilities(context)
            assert list(probs) == VARIANTS
            assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)
            assert all(0.0 <= p <= 1.0 for p in probs.values())
            for _ in range(20):
                variant, propensity = policy.choose(context)
                assert variant in VARIANTS
                # the propensity logged is the chance the decision was made with
                assert propensity == pytest.approx(probs[variant], abs=1e-12)
                assert propensity > 0
        if step < 2:
            feed(policy, batches=1, per_batch=500, seed=step)
    state = policy.state()
    assert json.loads(json.dumps(state)) == state  # JSON-ready, no NaN
    for key in ("kind", "variants", "shares", "winner", "decisions"):
        assert key in state, key
    assert state["kind"] == name
    assert state["variants"] == VARIANTS
    assert sum(state["shares"].values()) == pytest.approx(1.0)
    assert state["decisions"] == 1000


@pytest.mark.parametrize("name", POLICIES)
def test_choices_follow_the_probabilities(name: str) -> None:
    """Over many decisions each variant's frequency matches its probability (the propensities are
    honest): within 5 standard errors."""
    policy = POLICIES[name]()
    feed(policy, batches=2, per_batch=400)
    context = CONTEXTS[0]
    probs = policy.probabilities(context)
    n = 20_000
    counts = Counter(policy.choose(context)[0] for _ in range(n))
    for v, p in probs.items():
        se = max((p * (1 - p) / n) ** 0.5, 1e-9)
        assert abs(counts[v] / n - p) < 5 * se + 1e-9, (v, counts[v] / n, p)


@pytest.mark.parametrize("name", POLICIES)
def test_rebuilt_from_its_state_it_serves_the_same(name: str) -> None:
    policy = POLICIES[name]()
    feed(policy, batches=3, per_batch=300)
    kind = {"fixed": {"kind": "fixed"}, "thompson": {"kind": "thompson"}}[name]
    extra = {
        "variants": [
            {"name": v, "trigger": "t", "share": s} for v, s in zip(VARIANTS, [0.5, 0.3, 0.2], strict=True)
        ]
    }
    exp = experiment(kind, **(extra if name == "fixed" else {}))
    state = json.loads(json.dumps(policy.state()))
    rebuilt = policy_from_state(exp, state)
    assert type(rebuilt) is type(policy)
    assert rebuilt.state() == policy.state()
    for context in CONTEXTS:
        assert rebuilt.probabilities(context) == policy.probabilities(context)
    # and it goes on learning the same way
    assert [rebuilt.choose(c) for c in CONTEXTS * 20] == [policy.choose(c) for c in CONTEXTS * 20]
    feed(policy, batches=1, per_batch=300, seed=9)
    feed(rebuilt, batches=1, per_batch=300, seed=9)
    assert rebuilt.state()["shares"] == pytest.approx(policy.state()["shares"])


def test_policy_for_builds_what_the_experiment_declares() -> None:
    assert isinstance(policy_for(experiment({"kind": "fixed"}), seed=1), FixedShares)
    thompson = policy_for(experiment({"kind": "thompson", "floor": 0.1, "switch_at": 0.9}), seed=1)
    assert isinstance(thompson, ThompsonSampling)
    assert thompson.floor == 0.1 and thompson.switch_at == 0.9
    assert thompson.variants == VARIANTS
    # before any reward every variant is as likely as the others
    assert thompson.probabilities() == pytest.approx({v: 1 / 3 for v in VARIANTS}, abs=0.02)


def test_a_state_of_another_experiment_is_refused() -> None:
    exp = experiment({"kind": "thompson"})
    state = ThompsonSampling(["x", "y"], seed=1).state()
    with pytest.raises(InvalidInputError) as err:
        policy_from_state(exp, state)
    assert err.value.errors[0].field == "state.variants"
    fixed_state = FixedShares(VARIANTS, [0.5, 0.3, 0.2], seed=1).state()
    with pytest.raises(InvalidInputError) as err:
        policy_from_state(exp, fixed_state)
    assert err.value.errors[0].field == "state.kind"
    broken = ThompsonSampling(VARIANTS, seed=1).state()
    broken["successes"] = [1.0]
    with pytest.raises(InvalidInputError) as err:
        policy_from_state(exp, broken)
    assert err.value.errors[0].field == "state"


def test_thompson_keeps_the_floor_then_switches_to_the_best() -> None:
    policy = ThompsonSampling(VARIANTS, floor=0.05, switch_at=0.95, seed=3)
    rng = np.random.default_rng(3)
    switched_at = None
    for batch in range(60):
        probs = policy.probabilities()
        if policy.winner is None:
            # the floor: every variant keeps at least 5% until the switch
            assert min(probs.values()) >= 0.05 - 1e-12
        arms = rng.choice(len(VARIANTS), size=300, p=policy.probability_vector())
        rates = np.array([RATES[v] for v in VARIANTS])
        clicks = rng.random(arms.size) < rates[arms]
        policy.update(Reward(VARIANTS[a], float(c)) for a, c in zip(arms, clicks, strict=True))
        if policy.winner is not None:
            switched_at = batch
            break
    assert policy.winner == "a"  # the planted best (6% against 3% and 4%)
    assert switched_at is not None and switched_at > 0
    assert policy.chance_best()["a"] >= 0.95
    assert policy.probabilities() == {"control": 0.0, "a": 1.0, "b": 0.0}
    assert policy.choose() == ("a", 1.0)
    assert policy.state()["winner"] == "a"
    # the winner stays, whatever comes after
    policy.update([Reward("b", 1.0)] * 500)
    assert policy.winner == "a"


def test_thompson_never_switches_on_too_little_data() -> None:
    """A lucky first batch (5 of 5 clicked on one variant) does not decide the test."""
    policy = ThompsonSampling(["a", "b"], switch_at=0.95, seed=1)
    policy.update([Reward("a", 1.0)] * 30 + [Reward("b", 0.0)] * 30)
    assert policy.chance_best()["a"] > 0.99
    assert policy.winner is None
    assert min(policy.probabilities().values()) >= 0.05 - 1e-12


def test_thompson_without_a_switch_keeps_exploring() -> None:
    policy = ThompsonSampling(["a", "b"], floor=0.1, switch_at=None, seed=1)
    policy.update([Reward("a", 1.0)] * 500 + [Reward("b", 0.0)] * 500)
    assert policy.winner is None
    assert policy.probabilities() == pytest.approx({"a": 0.9, "b": 0.1})


def test_the_same_seed_and_rewards_give_the_same_decisions() -> None:
    one, two = (ThompsonSampling(VARIANTS, seed=7) for _ in range(2))
    feed(one, batches=2, per_batch=200)
    feed(two, batches=2, per_batch=200)
    assert [one.choose() for _ in range(50)] == [two.choose() for _ in range(50)]


def test_bad_input_names_the_field() -> None:
    cases = [
        (lambda: ThompsonSampling(["a"]), "variants"),
        (lambda: ThompsonSampling(["a", "a"]), "variants"),
        (lambda: ThompsonSampling(["a", "b", "c"], floor=0.4), "policy.floor"),
        (lambda: ThompsonSampling(["a", "b"], switch_at=1.2), "policy.switch_at"),
        (lambda: FixedShares(["a", "b"], [0.7, 0.7]), "variants"),
    ]
    for build, field in cases:
        with pytest.raises(InvalidInputError) as err:
            build()
        assert err.value.errors[0].field == field
    policy = ThompsonSampling(["a", "b"], seed=1)
    before = policy.state()
    with pytest.raises(InvalidInputError) as err:
        policy.update([Reward("a", 1.0), Reward("zzz", 1.0)])
    assert err.value.errors[0].field == "rewards[1].variant"
    with pytest.raises(InvalidInputError) as err:
        policy.update([Reward("a", float("nan"))])
    assert err.value.errors[0].field == "rewards[0].reward"
    assert policy.state() == before  # a refused batch teaches nothing

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
from shopmind.demo import POPUP_VARIANTS, click_rates, draw_visitors, simulate_month
from shopmind.demo._popup_effects import SEGMENT_NAMES
from shopmind.experiments import (
    ContextEncoder,
    FixedShares,
    LinearThompson,
    LinUCB,
    Reward,
    ThompsonSampling,
    TrafficPolicy,
    cross_fitted_rewards,
    doubly_robust,
    ips,
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
    "lints": lambda: LinearThompson(VARIANTS, floor=0.05, seed=1),
    "linucb": lambda: LinUCB(VARIANTS, floor=0.05, seed=1),
}
DECLARED = {
    "fixed": {"kind": "fixed"},
    "thompson": {"kind": "thompson"},
    "lints": {"kind": "contextual", "algorithm": "lints"},
    "linucb": {"kind": "contextual", "algorithm": "linucb"},
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
    assert state["kind"] == DECLARED[name]["kind"]
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
    kind = DECLARED[name]
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
    lints = policy_for(experiment({"kind": "contextual", "features": ["device", "hour"], "floor": 0.02}))
    assert isinstance(lints, LinearThompson)
    assert lints.floor == 0.02 and lints.encoder.features == ["device", "hour"]
    assert isinstance(lints.seed, int)  # drawn when not given, and kept in the state
    assert lints.state()["seed"] == lints.seed
    linucb = policy_for(experiment({"kind": "contextual", "algorithm": "linucb"}), seed=2)
    assert isinstance(linucb, LinUCB)
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


def test_a_contextual_state_of_the_other_algorithm_is_refused() -> None:
    state = LinUCB(VARIANTS, seed=1).state()
    with pytest.raises(InvalidInputError) as err:
        policy_from_state(experiment({"kind": "contextual", "algorithm": "lints"}), state)
    assert err.value.errors[0].field == "state.algorithm"
    state = LinearThompson(VARIANTS, seed=1).state()
    state["targets"] = [[0.0]]
    with pytest.raises(InvalidInputError) as err:
        policy_from_state(experiment({"kind": "contextual"}), state)
    assert err.value.errors[0].field == "state"


@pytest.mark.parametrize("name", ["lints", "linucb"])
def test_contextual_bandits_learn_who_likes_what_and_keep_the_floor(name: str) -> None:
    """Planted: variant a works on mobile, b on desktop (5% against 2%); after a few batches
    each device gets mostly its own variant, and every variant keeps the floor everywhere."""
    policy = POLICIES[name]()
    rng = np.random.default_rng(5)
    contexts = [{"device": d, "hour": h} for d in ("mobile", "desktop") for h in range(24)]
    rate = {("mobile", "a"): 0.05, ("desktop", "b"): 0.05}
    for _ in range(15):
        rewards = []
        for context in contexts * 40:
            variant, propensity = policy.choose(context)
            assert propensity >= 0.05 - 1e-12
            p = rate.get((context["device"], variant), 0.02)
            rewards.append(Reward(variant, float(rng.random() < p), context))
        policy.update(rewards)
    mobile = policy.probabilities({"device": "mobile", "hour": 20})
    desktop = policy.probabilities({"device": "desktop", "hour": 11})
    assert max(mobile, key=mobile.__getitem__) == "a" and mobile["a"] > 0.6
    assert max(desktop, key=desktop.__getitem__) == "b" and desktop["b"] > 0.6
    for probs in (mobile, desktop):
        assert min(probs.values()) >= 0.05 - 1e-12
    if name == "linucb":  # the argmax gets 1 - (K-1) * floor, the others the floor
        assert sorted(mobile.values()) == pytest.approx([0.05, 0.05, 0.9])
    matrix = policy.probability_matrix([{"device": "mobile", "hour": 20}, None])
    assert matrix.shape == (2, 3)
    assert list(matrix[0]) == pytest.approx(list(mobile.values()))
    assert policy.state()["winner"] is None  # the best variant depends on the visitor


def test_the_context_encoder() -> None:
    encoder = ContextEncoder()
    names = encoder.get_feature_names_out()
    assert names[0] == "intercept" and len(names) == encoder.dimension == len(set(names))
    row = encoder.transform(
        [
            {
                "device": "mobile",
                "hour": 19,
                "region": "부산",
                "segment": "vip",
                "recent": {"pages": 3, "cart_items": 2, "orders": 5},
            }
        ]
    )[0]
    on = {n for n, v in zip(names, row, strict=True) if v}
    assert on == {
        "intercept",
        "device=mobile",
        "hour=evening",
        "device=mobile&hour=evening",
        "region=부산",
        "segment=vip",
        "recent=pages_2_4",
        "recent=cart",
        "recent=orders_2_plus",
    }
    # unknown, missing or malformed values set none of their columns
    for context in (
        {},
        None,
        {"device": "fridge", "hour": 25, "region": "화성", "segment": 3, "recent": "x"},
        {"hour": True, "recent": {"pages": -1, "orders": "many"}},
    ):
        assert [n for n, v in zip(names, encoder.transform([context])[0], strict=True) if v] == ["intercept"]
    assert encoder.key({"hour": "7"}) == encoder.key({"hour": 7.0}) == encoder.key({"hour": 7})
    # only the declared features
    small = ContextEncoder(["device"])
    assert small.get_feature_names_out() == ["intercept", "device=mobile", "device=desktop", "device=tablet"]
    assert small.key({"device": "tablet", "hour": 3}) == small.key({"device": "tablet"})
    with pytest.raises(InvalidInputError) as err:
        ContextEncoder(["device", "weather"])
    assert err.value.errors[0].field == "policy.features[1]"
    assert ContextEncoder.from_config(encoder.config()).get_feature_names_out() == names


def test_the_encoders_segments_are_the_rfm_segments() -> None:
    from shopmind.segments import SEGMENTS

    assert set(ContextEncoder().segments) == set(SEGMENTS)


def test_linear_thompson_chances_match_sampled_scores() -> None:
    """P(best | x), integrated, equals the share of sampled scores each variant wins (within
    0.01; 200,000 draws have a standard error below 0.0012)."""
    policy = LinearThompson(["a", "b", "c", "d"], seed=1)
    rng = np.random.default_rng(0)
    for _ in range(50):
        mean = rng.normal(0.05, 0.02, (1, 4))
        spread = np.exp(rng.normal(-1.0, 0.5, (1, 4)))
        chances = policy._chances(np.zeros((1, 1)), mean, spread)[0]
        scores = mean + policy.scale * spread * rng.standard_normal((200_000, 4))
        sampled = np.bincount(scores.argmax(axis=1), minlength=4) / 200_000
        assert chances.sum() == pytest.approx(1.0)
        assert np.abs(chances - sampled).max() < 0.01


def test_a_month_contextual_beats_thompson_beats_uniform() -> None:
    """The demo shop's planted popup effects (each variant works for its own visitors): over a
    simulated month the contextual bandit's cumulative regret is below Thompson sampling's,
    which is below uniform A/B's; the same visitors and luck for all three."""
    variants = list(POPUP_VARIANTS)
    policies = {
        "uniform": FixedShares(variants, [0.25] * 4, seed=1),
        "thompson": ThompsonSampling(variants, draws=2000, seed=1),
        "contextual": LinearThompson(variants, seed=1),
    }
    months = {name: simulate_month(p, days=30, per_day=2000, seed=11) for name, p in policies.items()}
    regret = {name: m.total_regret for name, m in months.items()}
    print({name: round(r, 1) for name, r in regret.items()})
    assert regret["contextual"] < 0.7 * regret["thompson"]
    assert regret["thompson"] < 0.9 * regret["uniform"]
    for m in months.values():
        assert m.decisions.sum() == 60_000 and len(m.cumulative_regret) == 30
        assert np.all(np.diff(m.cumulative_regret) >= 0)
    # the contextual bandit's regret per day falls as it learns (last week vs first days)
    daily = months["contextual"].regret
    assert daily[-7:].mean() < 0.6 * daily[:3].mean()
    # uniform's regret grows linearly: each day about the same
    assert months["uniform"].regret.std() < 0.2 * months["uniform"].regret.mean()
    # Thompson found the best single variant on average and switched to it
    assert policies["thompson"].winner == "evening-mobile"
    assert months["contextual"].click_rate > months["thompson"].click_rate > months["uniform"].click_rate


def test_the_planted_popup_effects() -> None:
    """Each variant is best for its own visitors, and the evening one is best on average."""
    rng = np.random.default_rng(3)
    visitors = draw_visitors(rng, 50_000)
    rates = click_rates(visitors)
    assert rates.min() >= 0.02 and rates.max() <= 0.14
    best = rates.argmax(axis=1)
    mobile_evening = (visitors.device == 0) & (visitors.hour >= 18)
    vip = np.isin(visitors.segment, [SEGMENT_NAMES.index("vip"), SEGMENT_NAMES.index("loyal")])
    desktop = visitors.device == 1
    index = {v: i for i, v in enumerate(POPUP_VARIANTS)}
    assert np.all(best[mobile_evening & ~vip] == index["evening-mobile"])
    assert np.all(best[desktop & ~vip] == index["desktop-compare"])
    assert np.all(best[vip] == index["vip-exclusive"])
    means = rates.mean(axis=0)
    assert means.argmax() == index["evening-mobile"]
    # a context-aware policy has about three times the best single variant's gain over the control
    gain_single = means.max() - means[0]
    gain_context = rates.max(axis=1).mean() - means[0]
    assert 0.004 < gain_single < 0.01 and gain_context > 2.5 * gain_single
    # visitors as the demo shop's: mostly on phones, the evening peak, sorted by time of day
    assert 0.65 < (visitors.device == 0).mean() < 0.71
    order = visitors.hour * 60 + visitors.minute
    assert np.all(np.diff(order) >= 0)
    assert (visitors.hour >= 18).mean() > 0.3
    context = visitors.take(slice(0, 1)).contexts()[0]
    assert set(context) == {"device", "hour", "region", "segment", "recent"}


def test_logged_propensities_give_unbiased_off_policy_estimates() -> None:
    """The propensities a contextual bandit logs are the probabilities its choices were drawn with:
    IPS and doubly robust estimates (``shopmind.experiments.ips`` / ``doubly_robust``, the latter
    with the cross-fitted reward model), from its log, of other policies' click rates cover their
    values on the same visitors. Five seeded months, five target policies (uniform, each variant
    for everyone): 25 nominal 95% intervals per estimator, about 1.25 misses expected; at most 4
    may miss (under exact 95% coverage 5 or more happens about once in 140 runs). Not "each target
    at most 1 of 5": with five targets and two estimators that rule fails by chance about once in
    ten runs, and does here (always evening-mobile misses in months 1 and 4, low both times; over
    40 other months its IPS interval covered every time, the four variants 93-100%).
    The floor caps each weight at 20, but the weights of "always one variant" are heavy (an
    effective sample of 10-14% of the decisions) and skewed, so the normal interval's misses are
    mostly low (4 of the 5 in those 40 months): a known weakness of IPS's interval.
    """
    k = len(POPUP_VARIANTS)
    misses: Counter[tuple[str, str]] = Counter()
    for seed in range(5):
        policy = LinearThompson(list(POPUP_VARIANTS), seed=seed)
        month = simulate_month(policy, days=10, per_day=2000, seed=seed, keep_log=True)
        assert month.log is not None
        log = month.log.columns()
        arm, p, click, truth = log["arm"], log["propensity"], log["click"].astype(float), log["truth"]
        assert p.min() >= 0.05 - 1e-12
        contexts = [c for part in month.log.visitors for c in part.contexts()]
        q = cross_fitted_rewards(ContextEncoder().transform(contexts), arm, click, k, seed=seed)
        rows = np.arange(arm.size)
        targets = {"uniform": np.full((arm.size, k), 1 / k)}
        for v in POPUP_VARIANTS:
            targets[f"always {v}"] = np.eye(k)[np.full(arm.size, POPUP_VARIANTS.index(v))]
        for name, target in targets.items():
            pi = target[rows, arm]
            value = float((target * truth).sum(axis=1).mean())  # its expected click rate on these visitors
            estimates = {
                "ips": ips(click, p, pi),
                "dr": doubly_robust(click, p, pi, q[rows, arm], (target * q).sum(axis=1)),
            }
            for estimator, interval in estimates.items():
                print(
                    f"seed {seed} {name} {estimator}: {interval.estimate:.4f} "
                    f"[{interval.low:.4f}, {interval.high:.4f}], true {value:.4f}"
                )
                if not interval.covers(value):
                    misses[(name, estimator)] += 1
    print("misses", dict(misses))
    for estimator in ("ips", "dr"):
        assert sum(m for (_, e), m in misses.items() if e == estimator) <= 4, misses


def test_a_full_cache_of_context_probabilities_is_emptied_not_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    import shopmind.experiments._contextual as contextual

    policy = LinearThompson(VARIANTS, seed=1)
    feed(policy, batches=2, per_batch=300)
    contexts = [{"device": d, "hour": h} for d in ("mobile", "desktop", "tablet") for h in range(0, 24, 4)]
    expected = policy.probability_matrix(contexts)
    policy._cache.clear()
    monkeypatch.setattr(contextual, "_CACHE", 3)
    for context in contexts[:2]:
        policy.choose(context)
    assert np.allclose(policy.probability_matrix(contexts), expected)
    assert len(policy._cache) <= len(contexts)
    for context, row in zip(contexts, expected, strict=True):
        assert list(policy.probabilities(context).values()) == pytest.approx(list(row))

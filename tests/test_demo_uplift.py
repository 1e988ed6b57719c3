"""Uplift on the demo shop's planted coupon effect (issue 20 acceptance): a randomised coupon test
on the demo shop (10,000 members, seed 42): every customer in an RFM segment of buyers (the
latest customer-intelligence run's, dormant VIPs included), half sent a coupon, half held out (a
keyed draw), answered by the demo shop's simulated customers (``demo.simulate_responses``: the
coupon adds 8 points of buying to the planted dormant VIPs, 1 point to ordinary buyers and
evening readers, 0.5 to the rest, and nothing to the active VIPs, who buy half the time anyway). ``campaign_uplift`` then ranks the members.

What is checked, and why so. The demo shop plants the effect on its dormant VIPs, about 140 at
this size, so a coupon brings some 6 extra orders among 570: one campaign's observed Qini on a
held-out third (about 1,160 members, 190 of them buying) is mostly noise, and which ranking wins
on one run is a coin weighted about 60/40 (printed for the fixture's run: on the held-out third,
as the command shows it, and cross-fitted). So the observed claim is asserted over repeated runs:

1. **Observed outcomes, replicated.** The campaign is run again 100 times: the same members,
   features and arms, outcomes redrawn by the demo's own simulator with another response seed
   (``redrawn_outcomes``; with the fixture's seed it gives exactly the outcome the store counts,
   which a test checks), and a new seeded split each time. Each run fits and scores exactly as
   ``campaign_uplift`` does (``compare_rankings``: models on two thirds, Qini on the third held
   out). Both rankings are judged on the same members and outcomes, so the comparison is paired:
   the mean of the X-learner's Qini minus the response model's, less two standard errors of that
   mean, must exceed 0. Two standard errors, not a fixed margin: the claim is "not luck", and the
   interval says how sure. The figures are printed as a table.
2. **Not tuned to this test.** ``campaign_uplift``'s trees (7 leaves of at least 5 % of the
   members) were chosen on this shop, so the same replicated comparison is also run with the
   library's defaults (``XLearner``'s 15 leaves of at least 20 rows) and must hold there too.
3. **Against the truth.** The demo shop knows each member's true uplift (their group's
   ``coupon_uplift``), so each run's held-out rankings are also judged by the Qini of the true
   uplift (the expected extra orders among the top k, the curve's area above the random diagonal
   over the perfect ranking's), noise-free in the outcomes: the X-learner's must beat the
   response model's (paired, two standard errors, both settings), and its held-out top tenth must
   hold more of the planted dormant VIPs than a random tenth and than the response model's.
4. **One run, the command's.** The models ``campaign_uplift`` fits on every member (for its target
   list) are judged by the true uplift too, asserting only what held on each of 40 response seeds
   (measured when this test was written): the X-learner's true-uplift Qini beats the response
   model's, its top tenth holds over twice the response model's dormant VIPs, and the response
   model's top tenth holds more active VIPs (the sure things) than dormant ones. The sizes seen on
   the fixture's run (+0.46 against −0.20; 61 of the 140 dormant VIPs in the top tenth) are
   printed, not asserted: over those 40 seeds the X-learner's Qini passed +0.3 in fewer than half
   and its top tenth held over twice a random tenth's dormant VIPs in about half.

What the replicated figures say, plainly: averaged over runs, the response model is worse than a
random order (it spends the top of the list on customers the coupon does not move) and the
X-learner scores about a random order's observed Qini at this size (the planted truth itself, as a
ranking, reaches only about +0.04: the measure's ceiling is low when 6 of 190 orders are the
coupon's). The X-learner beats the response model, on observed outcomes and on the truth; it
does not, at this size, measurably beat a random order on observed outcomes alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from shopmind.activation import demo_recipients
from shopmind.activation._campaign import campaign_json, parse_campaign
from shopmind.activation._demo_campaign import BUYER_SEGMENTS
from shopmind.demo import MESSAGE_RESPONSES, Recipients, SentMessage, simulate_responses
from shopmind.experiments import qini_coefficient
from shopmind.measure import CampaignUplift, campaign_uplift, compare_rankings
from shopmind.measure._campaign_uplift import (
    RANKINGS,
    _ranking_scores,
    _stratified_folds,
    member_features,
    member_outcomes,
)
from shopmind.pipeline import load_demo_shop, run_customer_intelligence
from shopmind.store import Workspace, create_campaign, record_campaign_members
from tests.shops import START

CUSTOMERS, DAYS, SEED = 10_000, 90, 42
AS_OF = START + timedelta(days=DAYS)
MEASURED = AS_OF + timedelta(days=10)
KEY = "5eed" * 16
CAMPAIGN = "c_demo_coupon_test"
RESPONSE_SEED = 19
#: every RFM segment of customers who bought (the demo's buyers), the dormant VIPs among them
SEGMENTS = (*BUYER_SEGMENTS, "dormant_vip")
COUPON = {
    "name": "쿠폰 무작위 시험 (데모)",
    "audience": {"kind": "rfm", "segments": list(SEGMENTS)},
    "steps": [
        {"id": "s1", "coupon": "TEST-{code}", "messages": {"email": {"subject": "쿠폰", "text": "15%"}}}
    ],
    "holdout": 0.5,
    "start_at": AS_OF.isoformat(),
    "attribution_days": 7,
}


@dataclass
class Demo:
    folder: Path
    groups: dict[str, str]  # member → planted group
    found: CampaignUplift
    response: dict[str, float]  # member → a response model's P(buy | treated), fitted on every member
    X: np.ndarray  # the members' features at the campaign's start (campaign_uplift's)
    treated: np.ndarray  # 0/1 per member
    converted: np.ndarray  # 0/1 per member: an order within the window, as the store counts it
    sent: list[SentMessage]
    people: Recipients


def arm(profile_id: str) -> str:
    draw = hashlib.blake2b(profile_id.encode(), digest_size=8, key=b"coupon-test").digest()
    return "treated" if int.from_bytes(draw, "big") / 2**64 < 0.5 else "holdout"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("demo-uplift") / "shop"
    folder.mkdir(mode=0o700)
    (folder / "hash.key").write_text(KEY)
    (folder / "hash.key").chmod(0o600)
    ws = Workspace.init(folder)
    with ws.open_store() as store:
        load_demo_shop(store, customers=CUSTOMERS, days=DAYS, seed=SEED, hasher=ws.hasher())
        run_customer_intelligence(store, AS_OF)
        people = demo_recipients(store, customers=CUSTOMERS, days=DAYS, seed=SEED)
        run = store.latest_run("customer_intelligence")
        assert run is not None
        audience = store.sql(
            "SELECT DISTINCT profile_id FROM segment_members WHERE run_id = ? AND list_contains(?, segment) ORDER BY 1",
            [run[0], list(SEGMENTS)],
        )
        members = [p for (p,) in audience if p in people.groups]  # the demo's members (not its guests)
        arms = [arm(p) for p in members]
        create_campaign(
            store,
            COUPON["name"],
            campaign_json(parse_campaign(COUPON)),
            created_by="test",
            now=AS_OF,
            campaign_id=CAMPAIGN,
        )
        record_campaign_members(store, CAMPAIGN, pa.table({"profile_id": members, "arm": arms}), AS_OF)
        sent = [
            SentMessage(
                CAMPAIGN,
                "s1",
                p,
                a,
                AS_OF,
                channel="email" if a == "treated" else None,
                coupon=a == "treated",
            )
            for p, a in zip(members, arms, strict=True)
        ]
        answers = simulate_responses(sent, people, RESPONSE_SEED)
        store.write_orders(answers.orders, answers.order_lines)
        found = campaign_uplift(
            store, CAMPAIGN, budget=300_000, coupon_cost=3_000, margin=30_000, as_of=MEASURED
        )
        response = response_scores(store, members, arms)
        _, X = member_features(store, CAMPAIGN, AS_OF)
        converted = member_outcomes(store, CAMPAIGN, AS_OF, 7, MEASURED).column("converted").to_numpy()
    treated = np.array([a == "treated" for a in arms], dtype=np.int64)
    groups = {p: people.groups[p] for p in members}
    return Demo(folder, groups, found, response, X, treated, converted.astype(np.int64), sent, people)


def response_scores(store: object, members: list[str], arms: list[str]) -> dict[str, float]:
    """The response model fitted on every treated member (as the target list's X-learner is)."""
    import lightgbm as lgb

    _, X = member_features(store, CAMPAIGN, AS_OF)  # type: ignore[arg-type]
    outcomes = member_outcomes(store, CAMPAIGN, AS_OF, 7, MEASURED)  # type: ignore[arg-type]
    assert outcomes.column("profile_id").to_pylist() == members
    y = outcomes.column("converted").to_numpy()
    t = np.array([a == "treated" for a in arms])
    leaves = max(20, len(members) // 20)  # as campaign_uplift's models
    model = lgb.LGBMClassifier(n_estimators=100, num_leaves=7, min_child_samples=leaves, n_jobs=1, verbose=-1)
    model.fit(X[t], y[t])
    return dict(zip(members, model.predict_proba(X)[:, 1].tolist(), strict=True))


def true_qini(true_uplift: np.ndarray, score: np.ndarray) -> float:
    """The Qini of a ranking judged by each member's true uplift: the expected extra buyers among
    the top k, its area above the random diagonal over the perfect ranking's."""

    def area(order: np.ndarray) -> float:
        gains = np.r_[0.0, np.cumsum(true_uplift[order])]
        k = np.arange(gains.size, dtype=float)
        return float(np.trapezoid(gains, k) - k[-1] * gains[-1] / 2)

    ranked = np.argsort(-score, kind="stable")
    return area(ranked) / area(np.argsort(-true_uplift, kind="stable"))


#: how many times the campaign's outcomes are redrawn (see the module: the paired difference's
#: standard deviation is about 0.06, its mean about 0.018, so a hundred runs put two standard
#: errors near 0.012)
REPLICATIONS = 100
#: the library's own tree settings (XLearner's defaults), against campaign_uplift's 5 % leaves
LIBRARY_TREES = {"num_leaves": 15, "min_child_samples": 20}


def redrawn_outcomes(demo: Demo, seed: int) -> np.ndarray:
    """The members' outcomes had the campaign been run again: the demo's customers answer the same
    messages with another response seed (the members, their features and arms stay)."""
    answers = simulate_responses(demo.sent, demo.people, seed)
    bought = {f"user:{c}" for c in answers.orders.column("customer_id").to_pylist()}
    return np.array([p in bought for p in demo.groups], dtype=np.int64)


@dataclass
class Replicated:
    """Per run (rows) and ranking (columns: X-learner, response model), for each tree setting:
    the observed held-out Qini and the held-out Qini of the true uplift."""

    observed: dict[str, np.ndarray]  # setting → runs × 2
    true: dict[str, np.ndarray]  # setting → runs × 2
    random: np.ndarray  # a random order's observed Qini (campaign_uplift's run)
    oracle: np.ndarray  # the planted true uplift's own ranking: the most any model could score
    #: dormant VIPs among the top tenth of the held-out third by (X-learner, response model), and
    #: a tenth of the third's dormant VIPs (a random tenth's), campaign_uplift's settings
    top_dormant: np.ndarray


SETTINGS = {"campaign_uplift's (7 leaves, 5 %)": None, "library defaults (15 leaves, 20)": LIBRARY_TREES}


@pytest.fixture(scope="module")
def replicated(demo: Demo) -> Replicated:
    observed: dict[str, list[tuple[float, float]]] = {label: [] for label in SETTINGS}
    true: dict[str, list[tuple[float, float]]] = {label: [] for label in SETTINGS}
    random, oracle, top_dormant = [], [], []
    truth = np.array([MESSAGE_RESPONSES[g].coupon_uplift for g in demo.groups.values()])
    dormant = np.array([g == "dormant_vip" for g in demo.groups.values()])
    X, t = demo.X, demo.treated
    for run in range(REPLICATIONS):
        y = redrawn_outcomes(demo, RESPONSE_SEED + 1 + run)
        # a new split each run too (seed = run): the split's luck is averaged over as well
        held = _stratified_folds(t, run) == 0  # compare_rankings' held-out third
        oracle.append(qini_coefficient(y[held], truth[held], t[held]))
        for label, trees in SETTINGS.items():
            # the models campaign_uplift's comparison fits (compare_rankings), kept to judge by the truth
            scores = _ranking_scores(X, t, y, ~held, held, run, 100, trees)
            if run == 0:  # the same numbers as compare_rankings gives
                compared = compare_rankings(X, t, y, seed=run, cross_fit=False, trees=trees)
                assert compared is not None
                assert [r.qini for r in compared[0]] == [
                    qini_coefficient(y[held], scores[n], t[held]) for n in RANKINGS
                ]
            x, response = scores["x_learner"], scores["response_model"]
            observed[label].append(
                (qini_coefficient(y[held], x, t[held]), qini_coefficient(y[held], response, t[held]))
            )
            true[label].append((true_qini(truth[held], x), true_qini(truth[held], response)))
            if trees is None:
                random.append(qini_coefficient(y[held], scores["random"], t[held]))
                tenth = int(held.sum()) // 10
                top_dormant.append(
                    [dormant[held][np.argsort(-s, kind="stable")[:tenth]].sum() for s in (x, response)]
                    + [dormant[held].sum() / 10]
                )
    return Replicated(
        {k: np.array(v) for k, v in observed.items()},
        {k: np.array(v) for k, v in true.items()},
        np.array(random),
        np.array(oracle),
        np.array(top_dormant, dtype=float),
    )


def paired(q: np.ndarray) -> tuple[float, float]:
    """The mean of column 0 minus column 1 and its standard error."""
    difference = q[:, 0] - q[:, 1]
    return float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(difference.size))


def test_redrawn_outcomes_are_what_the_store_measures(demo: Demo) -> None:
    # the replication redraws exactly the outcome campaign_uplift reads from the store
    np.testing.assert_array_equal(redrawn_outcomes(demo, RESPONSE_SEED), demo.converted)
    assert not np.array_equal(redrawn_outcomes(demo, RESPONSE_SEED + 1), demo.converted)


def test_the_x_learners_observed_qini_beats_the_response_models_over_repeated_campaigns(
    replicated: Replicated,
) -> None:
    print(f"\nheld-out third, {REPLICATIONS} runs of the campaign (outcomes redrawn), mean Qini:")
    print(
        f"  {'trees':<34}{'judged by':<14}{'X-learner':>10}{'response':>10}{'difference':>12}{'± 2 SE':>8}"
        f"{'X wins':>8}"
    )
    for label in SETTINGS:
        for judged, q in (("outcomes", replicated.observed[label]), ("true uplift", replicated.true[label])):
            mean, se = paired(q)
            print(
                f"  {label:<34}{judged:<14}{q[:, 0].mean():>+10.4f}{q[:, 1].mean():>+10.4f}{mean:>+12.4f}"
                f"{2 * se:>8.4f}{(q[:, 0] > q[:, 1]).mean():>8.0%}"
            )
            # paired: both rankings are judged on the same held-out members and outcomes each run
            assert mean - 2 * se > 0, (label, judged)
        # the response model ranks the sure things first: worse than random on average
        assert replicated.observed[label][:, 1].mean() < 0, label
    top = replicated.top_dormant
    print(
        f"  random order {replicated.random.mean():+.4f}; the planted true uplift as the ranking (the most "
        f"a model could reach) {replicated.oracle.mean():+.4f}"
    )
    print(
        f"  dormant VIPs in the held-out top tenth: X-learner {top[:, 0].mean():.1f}, response model "
        f"{top[:, 1].mean():.1f}, a random tenth {top[:, 2].mean():.1f}"
    )
    # the measure can see the planted effect at all, given enough runs
    oracle = replicated.oracle
    assert oracle.mean() - 2 * oracle.std(ddof=1) / np.sqrt(oracle.size) > 0
    # the X-learner's top tenth holds more of the planted persuadables than a random tenth (about
    # 1.7 times on average: "over twice", as one run showed, was that run's luck) and than the
    # response model's
    for other in (top[:, 2], top[:, 1]):
        mean, se = paired(np.column_stack([top[:, 0], other]))
        assert mean - 2 * se > 0


def test_the_x_learner_finds_the_planted_persuadables_and_the_response_model_the_sure_things(
    demo: Demo,
) -> None:
    found = demo.found
    members = list(found.uplift)
    truth = np.array([MESSAGE_RESPONSES[demo.groups[p]].coupon_uplift for p in members])
    x_learner = np.array([found.uplift[p] for p in members])
    response = np.array([demo.response[p] for p in members])
    qini_x, qini_response = true_qini(truth, x_learner), true_qini(truth, response)
    counts = Counter(demo.groups.values())
    print(f"\ndemo coupon test: {found.members:,} members {dict(counts)}")
    print(
        f"  ordered within 7 days: treated {found.treated_converted}/{found.treated}, "
        f"holdout {found.holdout_converted}/{found.holdout}"
    )
    for label, scores in (("held-out third", found.rankings), ("cross-fitted", found.cross_fitted)):
        print(f"  observed Qini, {label}: " + ", ".join(f"{r.name} {r.qini:+.3f}" for r in scores))
    print(f"  Qini of the true uplift: X-learner {qini_x:+.3f}, response model {qini_response:+.3f}")
    # on this one run only what held on every one of 40 response seeds (measured; see the module):
    # the margins (+0.65 here) and the X-learner's own level (+0.46 here) vary with the run, and
    # are asserted as means over redrawn runs in the replicated test instead
    assert qini_x > qini_response
    tenth = len(members) // 10
    top_x = Counter(demo.groups[members[i]] for i in np.argsort(-x_learner, kind="stable")[:tenth])
    top_response = Counter(demo.groups[members[i]] for i in np.argsort(-response, kind="stable")[:tenth])
    print(f"  top tenth by the X-learner: {dict(top_x)}; by the response model: {dict(top_response)}")
    assert (
        top_response["active_vip"] > top_response["dormant_vip"]
    )  # the response model picks the sure things
    assert top_x["dormant_vip"] > 2 * top_response["dormant_vip"]


def test_the_target_list_takes_the_persuadables_within_the_budget(demo: Demo) -> None:
    targets = demo.found.targets
    assert targets.spent <= 300_000 and len(targets.targets) == 100  # 300,000 / 3,000 coupons
    assert all(t.expected_gain > 0 for t in targets.targets)
    gains = [t.expected_gain for t in targets.targets]
    assert gains == sorted(gains, reverse=True)
    chosen = Counter(demo.groups[c] for c in targets.customers)
    share = Counter(demo.groups.values())["dormant_vip"] / len(demo.groups)  # 4 %
    assert chosen["dormant_vip"] > 3 * share * len(targets.targets), chosen


def test_the_uplift_command_prints_the_comparison_and_the_list(demo: Demo) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    base = [sys.executable, "-m", "shopmind", "uplift", CAMPAIGN, "--workspace", str(demo.folder)]
    money = [
        "--budget",
        "300000",
        "--coupon-cost",
        "3000",
        "--margin",
        "30000",
        "--as-of",
        MEASURED.isoformat(),
    ]
    shown = subprocess.run([*base, *money], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "Qini" in shown.stdout and "X-learner" in shown.stdout and "target list" in shown.stdout
    as_json = subprocess.run([*base, *money, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["campaign_id"] == CAMPAIGN and data["members"] == demo.found.members
    assert [r["name"] for r in data["rankings"]] == ["x_learner", "response_model", "random"]
    assert data["targets"]["customers"] == 100
    assert data["targets"]["list"][0]["customer"] == demo.found.targets.customers[0]  # the same fit, seeded
    bad = subprocess.run([*base, "--budget", "-1"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "budget" in bad.stderr
    unknown = subprocess.run(
        [*base[:4], "no-such-campaign", *base[5:]], capture_output=True, text=True, env=env, timeout=120
    )
    assert unknown.returncode == 2 and "no-such-campaign" in unknown.stderr


def test_a_campaign_without_a_holdout_or_orders_is_refused_with_the_reason(demo: Demo) -> None:
    from shopmind.core import InvalidInputError

    members = sorted(demo.groups)[:300]
    with Workspace(demo.folder).open_store() as store:
        for name, campaign_id, arms in (
            ("no holdout", "c_no_holdout", ["treated"] * 300),
            ("no orders", "c_no_orders", [arm(p) for p in members]),
        ):
            definition = {**COUPON, "name": name, "start_at": (AS_OF + timedelta(days=60)).isoformat()}
            create_campaign(
                store,
                name,
                campaign_json(parse_campaign(definition)),
                created_by="test",
                now=AS_OF,
                campaign_id=campaign_id,
            )
            record_campaign_members(store, campaign_id, pa.table({"profile_id": members, "arm": arms}), AS_OF)
        with pytest.raises(InvalidInputError) as refused:
            campaign_uplift(store, "no holdout", budget=1000, coupon_cost=10, margin=100)
        assert refused.value.field == "campaign" and "0 held-out" in str(refused.value)
        with pytest.raises(InvalidInputError) as refused:
            campaign_uplift(store, "c_no_orders", budget=1000, coupon_cost=10, margin=100)
        assert refused.value.field == "campaign" and "no member ordered" in str(refused.value)
        with pytest.raises(InvalidInputError) as refused:
            campaign_uplift(store, CAMPAIGN, budget=float("nan"), coupon_cost=10, margin=100)
        assert refused.value.field == "budget"

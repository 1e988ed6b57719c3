"""Who a campaign moved: uplift models fitted on a finished campaign's treated members and its
holdout, judged on a held-out third, and the list of customers worth a coupon next time.

For each member of the campaign (both arms), the features are what the store knew of them at
the campaign's start — the scores of the latest customer-intelligence run (RFM: frequency,
recency, age, monetary value, revenue, P(alive), expected purchases, CLV, the R/F/M scores) and,
when run by then, churn risk and purchase probability — and the outcome is an order within the
campaign's attribution window (from the member's first message; from their entry, or the
campaign's start, for the holdout and the unreached: as the campaign's results count it).

The members are split by a seeded draw stratified on the arm: two thirds train, one third is
held out. On the held-out third three rankings are compared by their Qini coefficient and AUUC:
the X-learner's predicted uplift, a response model's P(buy | treated) (one classifier on the
treated members: it ranks the customers who buy anyway first) and a random order. The target
list then uses an X-learner fitted on every member.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa

from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments import TargetList, XLearner, auuc, qini_coefficient, target_list
from shopmind.store import PLACED_ORDERS_SQL, Store, get_campaign

#: the jobs whose scores describe a member at the campaign's start (the latest run of each)
SCORE_JOBS = ("customer_intelligence", "churn_risk", "purchase_probability")
#: fewer members than this in either arm: no model is worth fitting
MIN_ARM = 20
MIN_LEAF = 20
#: fewer members than this in either arm: the figures are given with a warning
FEW = 300
RANKINGS = ("x_learner", "response_model", "random")


@dataclass(frozen=True)
class RankingScore:
    """One ranking of the held-out members: its Qini coefficient and AUUC (1 perfect, 0 random)."""

    name: str
    qini: float
    auuc: float


@dataclass(frozen=True)
class CampaignUplift:
    """What ``campaign_uplift`` found (see the module)."""

    campaign_id: str
    name: str
    start: datetime
    attribution_days: int
    members: int
    treated: int
    holdout: int
    treated_converted: int
    holdout_converted: int
    features: tuple[str, ...]
    held_out: int  # members in the held-out third
    rankings: tuple[RankingScore, ...]  # on the held-out third (empty: too few orders)
    #: the same on every member, each scored by models fitted on the other two thirds
    cross_fitted: tuple[RankingScore, ...]
    targets: TargetList
    #: each member's predicted uplift (X-learner fitted on every member), by profile id
    uplift: dict[str, float] = field(repr=False)
    notes: tuple[str, ...] = ()

    def ranking(self, name: str, *, cross_fitted: bool = False) -> RankingScore:
        return next(r for r in (self.cross_fitted if cross_fitted else self.rankings) if r.name == name)

    @property
    def treated_rate(self) -> float:
        return self.treated_converted / self.treated if self.treated else math.nan

    @property
    def holdout_rate(self) -> float:
        return self.holdout_converted / self.holdout if self.holdout else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "name": self.name,
            "start": self.start.isoformat(),
            "attribution_days": self.attribution_days,
            "members": self.members,
            "treated": {"members": self.treated, "converted": self.treated_converted},
            "holdout": {"members": self.holdout, "converted": self.holdout_converted},
            "features": list(self.features),
            "held_out": self.held_out,
            "rankings": [{"name": r.name, "qini": r.qini, "auuc": r.auuc} for r in self.rankings],
            "cross_fitted": [{"name": r.name, "qini": r.qini, "auuc": r.auuc} for r in self.cross_fitted],
            "targets": {
                "budget": self.targets.budget,
                "spent": self.targets.spent,
                "customers": len(self.targets.targets),
                "expected_orders": self.targets.expected_orders,
                "expected_gain": self.targets.expected_gain,
                "candidates": self.targets.candidates,
                "worth_it": self.targets.worth_it,
                "list": [
                    {"customer": t.customer, "uplift": t.uplift, "expected_gain": t.expected_gain}
                    for t in self.targets.targets
                ],
            },
            "notes": list(self.notes),
        }


def _start(store: Store, campaign_id: str, definition: dict[str, Any]) -> datetime:
    declared = definition.get("start_at")
    if declared:
        return datetime.fromisoformat(declared)
    first: datetime | None = store.scalar(
        "SELECT min(entered_at) FROM campaign_members WHERE campaign_id = ?", [campaign_id]
    )
    if first is None:
        raise InvalidInputError([FieldError("campaign", "has no members yet: schedule it first")])
    return first


def member_outcomes(
    store: Store, campaign_id: str, start: datetime, attribution_days: int, as_of: datetime | None
) -> pa.Table:
    """profile_id, treated (0/1), converted (0/1): an order within the window, as ``arm_totals``."""
    return store.query_arrow(
        f"""WITH first_sent AS (
                SELECT profile_id, min(sent_at) AS sent_at FROM outbox
                WHERE campaign_id = ? AND sent_at IS NOT NULL GROUP BY ALL
            ), members AS (
                SELECT m.profile_id, m.arm,
                       CASE WHEN m.arm = 'treated' AND f.sent_at IS NOT NULL THEN f.sent_at
                            ELSE greatest(m.entered_at, ?::TIMESTAMPTZ) END AS since
                FROM campaign_members m LEFT JOIN first_sent f USING (profile_id)
                WHERE m.campaign_id = ?
            ), purchases AS (
                SELECT * FROM ({PLACED_ORDERS_SQL}) WHERE ?::TIMESTAMPTZ IS NULL OR ordered_at <= ?
            )
            SELECT m.profile_id, (m.arm = 'treated')::INTEGER AS treated,
                   (count(o.order_id) > 0)::INTEGER AS converted
            FROM members m LEFT JOIN purchases o ON o.profile_id = m.profile_id
                 AND o.ordered_at >= m.since AND o.ordered_at < m.since + INTERVAL {int(attribution_days)} DAY
            GROUP BY ALL ORDER BY m.profile_id""",
        [campaign_id, start, campaign_id, as_of, as_of],
    )


def member_features(store: Store, campaign_id: str, start: datetime) -> tuple[list[str], np.ndarray]:
    """The feature names and one row per member (ordered by profile id; NaN where unknown): the
    scores of each job's latest run at or before ``start``."""
    runs = [
        row[0]
        for job in SCORE_JOBS
        for row in store.sql(
            """SELECT run_id FROM job_runs WHERE job = ? AND status = 'ok' AND as_of <= ?
            ORDER BY as_of DESC, finished_at DESC LIMIT 1""",
            [job, start],
        )
    ]
    if not runs:
        raise InvalidInputError(
            [
                FieldError(
                    "campaign",
                    "no customer-intelligence run at or before the campaign's start: run 'shopmind run' "
                    "with an --as-of before the campaign, then ask again",
                )
            ]
        )
    names = [
        n
        for (n,) in store.sql(
            "SELECT DISTINCT name FROM scores WHERE list_contains(?, run_id) ORDER BY 1", [runs]
        )
    ]
    members = [
        p
        for (p,) in store.sql(
            "SELECT profile_id FROM campaign_members WHERE campaign_id = ? ORDER BY profile_id", [campaign_id]
        )
    ]
    index = {p: i for i, p in enumerate(members)}
    column = {n: j for j, n in enumerate(names)}
    X = np.full((len(members), len(names)), np.nan)
    for profile, name, value in store.sql(
        """SELECT s.profile_id, s.name, s.value FROM scores s
        JOIN campaign_members m ON m.profile_id = s.profile_id AND m.campaign_id = ?
        WHERE list_contains(?, s.run_id)""",
        [campaign_id, runs],
    ):
        if value is not None:
            X[index[profile], column[name]] = value
    return names, X


def _stratified_folds(treated: np.ndarray, seed: int, folds: int = 3) -> np.ndarray:
    """Each member's fold (0 .. folds-1): each arm dealt evenly by a seeded shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(treated.size, dtype=np.int64)
    for arm in (0, 1):
        rows = rng.permutation(np.flatnonzero(treated == arm))
        fold[rows] = np.arange(rows.size) % folds
    return fold


def _leaf_size(members: int) -> int:
    """Leaves of at least 5 % of the members (20 at least): a coupon moves a few points of buying,
    so a leaf of a few dozen customers learns only which of them happened to buy (customers who
    buy half the time anyway, such as active VIPs, then look the most persuadable)."""
    return max(MIN_LEAF, members // 20)


def _ranking_scores(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    n_estimators: int,
    trees: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Each ranking's scores of the ``test`` rows, from models fitted on the ``train`` rows."""
    shape = (
        dict(trees)
        if trees is not None
        else {"num_leaves": 7, "min_child_samples": _leaf_size(int(train.sum()))}
    )
    leaves, leaf = shape["num_leaves"], shape["min_child_samples"]
    params = {"n_estimators": n_estimators, **shape, "random_state": seed}
    out = {"x_learner": XLearner(**params).fit(X[train], t[train], y[train]).predict_uplift(X[test])}
    treated_train = train & (t == 1)
    if y[treated_train].min() == y[treated_train].max():
        out["response_model"] = np.full(int(test.sum()), float(y[treated_train][0]))
    else:
        response = lgb.LGBMClassifier(
            n_estimators=n_estimators,
            num_leaves=leaves,
            min_child_samples=leaf,
            random_state=seed,
            n_jobs=1,
            learning_rate=0.05,
            verbose=-1,
        ).fit(X[treated_train], y[treated_train])
        out["response_model"] = np.asarray(response.predict_proba(X[test]))[:, 1]
    out["random"] = np.random.default_rng(seed).random(int(test.sum()))
    return out


def _judged(y: np.ndarray, t: np.ndarray, scores: dict[str, np.ndarray]) -> tuple[RankingScore, ...]:
    return tuple(RankingScore(n, qini_coefficient(y, scores[n], t), auuc(y, scores[n], t)) for n in RANKINGS)


def compare_rankings(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    n_estimators: int = 100,
    cross_fit: bool = True,
    trees: Mapping[str, int] | None = None,
) -> tuple[tuple[RankingScore, ...], tuple[RankingScore, ...]] | None:
    """The three rankings judged on the held-out third (fold 0 of a seeded split stratified on
    the arm) and, with ``cross_fit``, on every member scored by models fitted on the other two
    thirds (else empty); None when a third or its complement has no orders. What
    ``campaign_uplift`` reports: given apart so that the comparison can be repeated on redrawn
    outcomes (``tests/test_demo_uplift.py``). ``trees``: both models' ``num_leaves`` and
    ``min_child_samples`` (None: ``campaign_uplift``'s, 7 leaves of at least 5 % of the rows)."""
    fold = _stratified_folds(t, seed)
    if any(y[fold == f].sum() == 0 or y[fold != f].sum() == 0 for f in range(3)):
        return None
    parts = [
        _ranking_scores(X, t, y, fold != f, fold == f, seed, n_estimators, trees)
        for f in range(3 if cross_fit else 1)
    ]
    held = fold == 0
    rankings = _judged(y[held], t[held], parts[0])
    if not cross_fit:
        return rankings, ()
    # every member scored by models that did not see them: three times the rows of one third
    joined = {n: np.empty(len(y)) for n in RANKINGS}
    for f, part in enumerate(parts):
        for n in RANKINGS:
            joined[n][fold == f] = part[n]
    return rankings, _judged(y, t, joined)


def campaign_uplift(
    store: Store,
    campaign: str,
    *,
    budget: float,
    coupon_cost: float,
    margin: float,
    discount: float = 0.0,
    as_of: datetime | None = None,
    seed: int = 0,
    n_estimators: int = 100,
) -> CampaignUplift:
    """Fit uplift models on ``campaign``'s (id or name) members and list whom to target (see the
    module). ``margin``: what one order earns after the coupon's discount; ``coupon_cost``: each
    coupon's cost to send; ``discount``: what the coupon takes off an order, which the customers
    who would have bought anyway take too (charged at their predicted chance to buy without it);
    ``budget``: the coupons' total sending cost; ``as_of``: count
    orders up to then (None: every stored order)."""
    errors = [
        FieldError(name, "must be a finite number, zero or more")
        for name, value in (
            ("budget", budget),
            ("coupon_cost", coupon_cost),
            ("margin", margin),
            ("discount", discount),
        )
        if not math.isfinite(value) or value < 0
    ]
    if errors:
        raise InvalidInputError(errors)
    stored = get_campaign(store, campaign)
    definition = json.loads(stored.definition)
    days = int(definition.get("attribution_days", 7))
    start = _start(store, stored.campaign_id, definition)
    outcomes = member_outcomes(store, stored.campaign_id, start, days, as_of)
    ids = outcomes.column("profile_id").to_pylist()
    t = outcomes.column("treated").to_numpy().astype(np.int64)
    y = outcomes.column("converted").to_numpy().astype(np.int64)
    n_treated, n_holdout = int(t.sum()), int((1 - t).sum())
    if n_treated < MIN_ARM or n_holdout < MIN_ARM:
        raise InvalidInputError(
            [
                FieldError(
                    "campaign",
                    f"not enough data: {n_treated} treated and {n_holdout} held-out members; uplift needs "
                    f"at least {MIN_ARM} in each (a campaign with a holdout: 'holdout' in its definition)",
                )
            ]
        )
    if y.sum() == 0:
        raise InvalidInputError(
            [FieldError("campaign", f"not enough data: no member ordered within {days} days of the campaign")]
        )
    names, X = member_features(store, stored.campaign_id, start)
    notes: list[str] = []
    if as_of is not None and as_of < start + timedelta(days=days):
        notes.append(
            f"the {days}-day attribution window is not over by {as_of.isoformat()}: outcomes may grow"
        )
    if min(n_treated, n_holdout) < FEW:
        notes.append(
            f"only {min(n_treated, n_holdout):,} members in the smaller arm: the Qini figures are mostly noise "
            "at this size (an uplift is a difference of two noisy rates per customer group; see docs/uplift.md)"
        )
    compared = compare_rankings(X, t, y, seed=seed, n_estimators=n_estimators)
    if compared is None:
        notes.append("too few orders to split the members in thirds: the rankings are not compared")
    rankings, cross_fitted = compared or ((), ())
    leaf = _leaf_size(len(ids))
    params = {"n_estimators": n_estimators, "num_leaves": 7, "min_child_samples": leaf, "random_state": seed}
    learner = XLearner(**params).fit(X, t, y)
    everyone = learner.predict_uplift(X)
    targets = target_list(
        ids,
        everyone,
        margin=margin,
        coupon_cost=coupon_cost,
        budget=budget,
        discount=discount,
        buy_anyway=np.clip(learner.predict_untreated(X), 0.0, 1.0),
    )
    return CampaignUplift(
        campaign_id=stored.campaign_id,
        name=stored.name,
        start=start,
        attribution_days=days,
        members=len(ids),
        treated=n_treated,
        holdout=n_holdout,
        treated_converted=int(y[t == 1].sum()),
        holdout_converted=int(y[t == 0].sum()),
        features=tuple(names),
        held_out=int((_stratified_folds(t, seed) == 0).sum()),
        rankings=rankings,
        cross_fitted=cross_fitted,
        targets=targets,
        uplift=dict(zip(ids, everyone.tolist(), strict=True)),
        notes=tuple(notes),
    )

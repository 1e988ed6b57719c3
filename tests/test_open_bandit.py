"""Off-policy evaluation on real logged bandit data (issue 20 acceptance): the Open Bandit
Dataset's small version (../shared/data/open_bandit; Saito et al. 2020, arXiv 2008.07146), ZOZOTOWN
fashion recommendations logged under a uniform-random policy and under Bernoulli Thompson
sampling (BTS), each with the logging policy's propensity of the shown item at its position.

From the random policy's log (10,000 impressions, propensity 1/34 men, 1/46 women) we estimate
the BTS policy's click rate by IPS, self-normalised IPS and doubly robust, each with its
interval, and compare with BTS's on-policy click rate (its own log's rate, with a normal
interval): the off-policy intervals cover the on-policy rate, for men and for women.

The target policy's action probabilities: BTS re-sampled its posterior as clicks came in, so its
probability of an item at a position drifted over the week (the log's ``propensity_score`` for
one item and position takes dozens of values). The policy whose value the BTS log's click rate
measures is that mixture over the week, whose chance of item ``a`` at position ``p`` is the
share of the BTS log's impressions at ``p`` that showed ``a`` — an unbiased estimate of the
week's average ``P(a | p)`` — so that is π(a | p) here. (Using one row's logged propensity instead
would evaluate the policy of one moment, not the one the on-policy rate measures.) The reward
model of the doubly robust estimate: the click rate of each item at each position in the random
log, shrunk to the position's rate (50 impressions' worth), cross-fitted on two seeded halves so
that no impression's prediction saw its own click.

Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shopmind.experiments import Interval, doubly_robust, ips, snips
from tests.conftest import data_file

COLUMNS = ["item_id", "position", "click", "propensity_score"]
ITEMS = {"men": 34, "women": 46}
SHRINK = 50.0  # impressions' worth of the position's click rate in each item's estimate


def log(policy: str, campaign: str) -> pd.DataFrame:
    frame = pd.read_csv(data_file("open_bandit", policy, campaign, f"{campaign}.csv"), usecols=COLUMNS)
    assert len(frame) == 10_000
    return frame


def target_probabilities(bts: pd.DataFrame) -> pd.Series:
    """π(item | position): the share of BTS's impressions at each position showing each item."""
    shown = bts.groupby(["position", "item_id"]).size()
    return shown / shown.groupby(level="position").transform("sum")


def reward_model(random: pd.DataFrame, pi: pd.Series, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted q(item, position) for each logged impression, and Σ_a π(a | p) q(a, p)."""
    fold = np.random.default_rng(seed).integers(0, 2, len(random))
    items = sorted(random.item_id.unique())
    logged, expected = np.zeros(len(random)), np.zeros(len(random))
    for f in (0, 1):
        other = random[fold != f]
        prior = other.groupby("position").click.mean()
        every = pd.MultiIndex.from_product([[1, 2, 3], items], names=["position", "item_id"])
        counts = (
            other.groupby(["position", "item_id"]).click.agg(["sum", "count"]).reindex(every, fill_value=0)
        )
        base = prior.reindex(every.get_level_values("position")).to_numpy()
        q = pd.Series(
            (counts["sum"].to_numpy() + SHRINK * base) / (counts["count"].to_numpy() + SHRINK), every
        )
        under_pi = (pi.reindex(every, fill_value=0.0) * q).groupby(level="position").sum()
        rows = random[fold == f]
        logged[fold == f] = q.reindex(pd.MultiIndex.from_arrays([rows.position, rows.item_id])).to_numpy()
        expected[fold == f] = under_pi.reindex(rows.position).to_numpy()
    return logged, expected


def on_policy(bts: pd.DataFrame) -> Interval:
    rate = float(bts.click.mean())
    se = math.sqrt(rate * (1 - rate) / len(bts))
    return Interval(rate, rate - 1.959964 * se, rate + 1.959964 * se)


@pytest.mark.parametrize("campaign", ["men", "women"])
def test_ips_and_doubly_robust_estimates_from_the_random_log_cover_bts_on_policy_rate(campaign: str) -> None:
    random, bts = log("random", campaign), log("bts", campaign)
    assert random.propensity_score.to_numpy() == pytest.approx(1 / ITEMS[campaign])
    pi_table = target_probabilities(bts)
    assert pi_table.groupby(level="position").sum().to_numpy() == pytest.approx([1.0, 1.0, 1.0])
    pi = pi_table.reindex(pd.MultiIndex.from_arrays([random.position, random.item_id]), fill_value=0.0)
    q_logged, q_target = reward_model(random, pi_table)
    estimates = {
        "IPS": ips(random.click, random.propensity_score, pi.to_numpy()),
        "SNIPS": snips(random.click, random.propensity_score, pi.to_numpy()),
        "DR": doubly_robust(random.click, random.propensity_score, pi.to_numpy(), q_logged, q_target),
    }
    truth = on_policy(bts)
    print(
        f"\nOpen Bandit, {campaign}: BTS click rate from the random policy's log ({len(random):,} impressions)"
    )
    print(
        f"  on-policy (BTS log, {int(bts.click.sum())} clicks)  "
        f"{truth.estimate:.5f}  [{truth.low:.5f}, {truth.high:.5f}]"
    )
    print(f"  random policy's own rate          {random.click.mean():.5f}")
    for name, e in estimates.items():
        print(f"  {name:32}  {e.estimate:.5f}  [{e.low:.5f}, {e.high:.5f}]")
    for name, e in estimates.items():
        assert e.covers(truth.estimate), (name, e, truth)
        assert e.low > 0 and e.high < 0.02, (name, e)  # an interval that says something
    # the two estimates of the same value overlap: the off-policy and on-policy intervals agree
    assert estimates["DR"].low < truth.high and truth.low < estimates["DR"].high

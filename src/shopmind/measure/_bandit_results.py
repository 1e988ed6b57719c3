"""A bandit experiment's results, per decision.

A bandit (Thompson sampling, a contextual bandit) chooses anew on every decision, so one visitor
meets several variants and the traffic each variant gets moves over time. The unit of analysis
is therefore the decision: comparing units by the variant they saw first would count every
visitor as "crossed", and comparing plain rates per variant is biased, since the variants were
shown at different times and (for a contextual bandit) to different visitors.

What is sound is the log itself: every decision was made with a known chance (its propensity),
so the reward rate of "always show variant v" is estimated from all decisions by inverse
propensity weighting (``shopmind.experiments.snips``, and plain ``ips``): a target policy that
shows v with probability 1 weights each decision that showed v by 1 / its propensity. Those are
the values this module reports per variant, beside the plain counts and rate.

A caveat the intervals do not carry: once Thompson sampling switches to its winner, the others'
propensity is 0 and the decisions after the switch say nothing about them. SNIPS then rests on the
decisions before the switch (it normalises by the weights it saw); plain IPS, divided by every
decision, reads them too low — hence SNIPS as the value, IPS beside it.

The decisions: on-site placements log each in ``decisions`` (propensity, outcomes in
``decision_outcomes``); campaign messages log each message as an exposure (its ``source`` the
message key; its reward a message event). The reward is the policy's own: ``clicked`` or
``converted``, known by ``as_of``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import numpy as np
import orjson

from shopmind.core import InvalidInputError
from shopmind.experiments import (
    CampaignMessagePoint,
    Experiment,
    Interval,
    PolicyValue,
    snips,
    wilson_interval,
)
from shopmind.experiments import ips as ips_estimate
from shopmind.features._experiment_metrics import verified_orders
from shopmind.store import Store, bandit_states, find_experiment

BANDIT_NOTE = (
    "a bandit chooses anew on each decision: results are per decision, not per unit. Per variant: "
    "the decisions that showed it, their rewards ({reward}), the plain rate (biased as a comparison: "
    "the bandit moved traffic while it learned), and the value of always showing it estimated from "
    "every logged decision by inverse propensity weighting (SNIPS) with its {level} interval; "
    "no sample-ratio check, since a bandit moves traffic on purpose"
)
NEVER_SHOWN = "not enough data: never shown"
NO_REWARDS = "not enough data: no rewards yet"
NO_PROPENSITY = "{n:,} decision(s) without a propensity are counted but left out of the estimates"


def decision_log(store: Store, experiment: Experiment, as_of: datetime) -> ir.Table:
    """variant, propensity, reward (1 or 0) of every decision the bandit made by ``as_of``."""
    t = store.table
    outcome = experiment.policy.reward
    if isinstance(experiment.point, CampaignMessagePoint):
        x = t("exposures")
        sent = x.filter((x.experiment_id == experiment.id) & (x.exposed_at <= as_of))
        events = t("message_events")
        won = events.filter((events.kind == outcome) & (events.occurred_at <= as_of))
        won = won.select(_key=won.message_key.cast("string"))
        if outcome == "converted":
            # as the campaign's bandit learns it: a converted event, or an order since the message
            placed = verified_orders(t("order_totals"), t("orders"), t("profiles"))
            placed = placed.filter(placed.at <= as_of)
            bought = sent.join(placed, (sent.unit_id == placed.profile_id) & (placed.at >= sent.exposed_at))
            won = won.union(bought.select(_key=bought.source.cast("string")), distinct=False)
        won = won.distinct()
        joined = sent.left_join(won, sent.source == won._key)
        return joined.select(
            "variant", "propensity", reward=joined._key.notnull().cast("int64"), at=joined.exposed_at
        )
    d = t("decisions")
    made = d.filter((d.experiment_id == experiment.id) & d.variant.notnull() & (d.decided_at <= as_of))
    o = t("decision_outcomes")
    won = o.filter((o.outcome == outcome) & (o.outcome_at <= as_of))
    won = won.select(_id=won.decision_id).distinct()
    joined = made.left_join(won, made.decision_id == won._id)
    return joined.select(
        "variant", "propensity", reward=joined._id.notnull().cast("int64"), at=joined.decided_at
    )


def _clip(interval: Interval | None) -> Interval | None:
    """A reward rate lies in [0, 1]: the normal interval cut to it (its coverage is unchanged,
    since the true value is inside [0, 1] anyway)."""
    if interval is None or not all(np.isfinite([interval.estimate, interval.low, interval.high])):
        return None
    return Interval(interval.estimate, max(0.0, interval.low), min(1.0, interval.high))


def _latest_state(store: Store, experiment_id: str) -> dict[str, Any]:
    states = bandit_states(store, experiment_id)
    for _, raw in reversed(states):
        try:
            state = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a state this reader does not understand says nothing
        if isinstance(state, dict):
            return state
    return {}


def policy_values(
    store: Store, experiment: Experiment, as_of: datetime
) -> tuple[list[PolicyValue], int, str | None, list[str]]:
    """Per variant (in the experiment's order) its ``PolicyValue``; the decisions in all; the
    winner (the bandit's switch in its latest state, else the variant kept when it stopped);
    notes."""
    alpha = experiment.analysis.alpha
    log = decision_log(store, experiment, as_of).select("variant", "propensity", "reward")
    table = log.to_pyarrow()
    variants = np.asarray(table.column("variant").to_pylist(), dtype=object)
    propensity = np.asarray(table.column("propensity").to_numpy(zero_copy_only=False), dtype=np.float64)
    reward = np.asarray(table.column("reward").to_numpy(zero_copy_only=False), dtype=np.float64)
    usable = np.isfinite(propensity) & (propensity > 0) & (propensity <= 1)
    notes: list[str] = []
    left_out = int((~usable).sum())
    if left_out:
        notes.append(NO_PROPENSITY.format(n=left_out))
    state = _latest_state(store, experiment.id)
    found_shares = state.get("shares")
    shares: dict[str, Any] = found_shares if isinstance(found_shares, dict) else {}
    names = experiment.variant_names
    unknown = sorted(set(variants.tolist()) - set(names))
    if unknown:
        notes.append(
            f"decisions for variants the experiment does not declare are left out: {', '.join(unknown)}"
        )
    out = []
    logged_r, logged_p, logged_v = reward[usable], propensity[usable], variants[usable]
    for name in names:
        mine = variants == name
        shown = int(mine.sum())
        won = int(reward[mine].sum())
        share = shares.get(name)
        share_value = float(share) if isinstance(share, int | float) else None
        if shown == 0:
            out.append(PolicyValue(name, 0, 0, None, None, None, share_value, NEVER_SHOWN))
            continue
        rate = wilson_interval(won, shown, alpha)
        target = (logged_v == name).astype(np.float64)
        value = ips = None
        note = None
        if won == 0:
            note = NO_REWARDS  # every estimate is 0 with no spread: no interval to give
        elif logged_r.size >= 2 and target.sum() > 0:
            try:
                value = _clip(snips(logged_r, logged_p, target, alpha=alpha))
                ips = _clip(ips_estimate(logged_r, logged_p, target, alpha=alpha))
            except InvalidInputError:
                note = NO_REWARDS
        else:
            note = "not enough data: no decision with a propensity"
        out.append(PolicyValue(name, shown, won, rate, value, ips, share_value, note))
    winner = state.get("winner") if isinstance(state.get("winner"), str) else None
    if winner is None:
        stored = find_experiment(store, experiment.id)
        winner = stored.winner if stored is not None else None
    return out, int(variants.size), winner, notes


PER_MEMBER = (
    "; each member got one message, so the per-member metrics are shown too, but their comparisons "
    "lean the same way as the plain rates: the bandit changed the shares between waves"
)


def bandit_note(experiment: Experiment, *, per_member: bool = False) -> str:
    """What a bandit's numbers are, in one English sentence (the surfaces say it in theirs)."""
    said = BANDIT_NOTE.format(reward=experiment.policy.reward, level=f"{1 - experiment.analysis.alpha:.0%}")
    return said + (PER_MEMBER if per_member else "")

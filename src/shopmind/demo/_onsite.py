"""Simulated on-site traffic for the demo shop: decisions of the built-in triggers over the last two
weeks of the period and their outcomes, so the dashboard's on-site page has something to show
before anyone visits the demo shop's pages.

Who gets what follows the triggers' own rules: the first-purchase coupon goes to anonymous visitors
on the cart page, the cart reminder to members, the careers banner to the planted job seekers and
the personal picks to the VIPs still buying. The rates below are the simulator's, not measured
anywhere: converted decisions carry a revenue drawn like a basket, not an order of the ``orders``
table (the log records what a page reported; the demo's orders came before it), so the on-site
report lists that revenue as unverified: it counts verified orders only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pyarrow as pa

from shopmind.demo._geography import REGION_NAMES, REGION_SHARES
from shopmind.demo._truths import PlantedTruths
from shopmind.onsite import DEFAULT_TRIGGERS, parse_triggers

DAYS = 14  # the decisions fall in the period's last two weeks
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARES = (0.68, 0.27, 0.05)


@dataclass(frozen=True)
class Plan:
    """How one trigger's traffic is simulated: who, how many per eligible visitor, on which page,
    and P(shown), P(clicked | shown), P(dismissed | shown, not clicked), P(converted | clicked)."""

    trigger: str
    who: str  # "visitors", "members", "job_seekers" or "vips"
    per_person: float
    page_type: str
    shown: float
    clicked: float
    dismissed: float
    converted: float


PLANS = (
    Plan("first-purchase-coupon", "visitors", 0.12, "cart", 0.92, 0.22, 0.7, 0.35),
    Plan("cart-abandonment", "members", 0.08, "product", 0.88, 0.18, 0.6, 0.45),
    Plan("careers-banner", "job_seekers", 3.0, "category", 0.95, 0.3, 0.5, 0.0),
    Plan("returning-vip", "vips", 1.2, "home", 0.9, 0.35, 0.3, 0.4),
)
DECISION_FIELDS = (
    "decision_id",
    "visitor",
    "user_id",
    "profile_id",
    "session_id",
    "placement",
    "trigger_id",
    "action",
    "page_type",
    "device_type",
    "region",
)


def simulate_onsite(truths: PlantedTruths, seed: int) -> tuple[pa.Table, pa.Table]:
    """(decisions, outcomes) in the layouts of the store's ``decisions`` and ``decision_outcomes``
    (the same seed gives the same rows and ids, so loading them twice stores them once)."""
    rng = np.random.default_rng([seed, 17])
    triggers = {t.id: t for t in parse_triggers(DEFAULT_TRIGGERS, "the default triggers")}
    people: dict[str, list[tuple[str, str | None]]] = {
        "visitors": [  # never bought: not the guests, nor the job seekers (who never buy)
            (a, None)
            for a in sorted(
                truths.anonymous_visitor_ids
                - truths.guest_buyer_anonymous_ids
                - truths.job_seeker_anonymous_ids
            )
        ],
        "job_seekers": [(a, None) for a in sorted(truths.job_seeker_anonymous_ids)],
        "members": [(d[0], u) for u, d in sorted(truths.member_devices.items()) if d],
        "vips": [
            (truths.member_devices[u][0], u)
            for u in sorted(truths.active_vip_user_ids)
            if truths.member_devices.get(u)
        ],
    }
    first = datetime.combine(truths.end - timedelta(days=DAYS), time(0), UTC) - timedelta(hours=9)  # KST
    decisions: dict[str, list[object]] = {name: [] for name in (*DECISION_FIELDS, "decided_at")}
    outcomes: dict[str, list[object]] = {"decision_id": [], "outcome": [], "outcome_at": [], "revenue": []}
    number = 0
    for plan in PLANS:
        trigger = triggers[plan.trigger]
        pool = people[plan.who]
        count = round(len(pool) * plan.per_person)
        if not pool or count == 0:
            continue
        chosen = rng.integers(0, len(pool), count)
        seconds = np.sort(rng.uniform(0, DAYS * 86_400, count))
        for k, (index, offset) in enumerate(zip(chosen.tolist(), seconds.tolist(), strict=True)):
            number += 1
            visitor, user = pool[index]
            decision = f"demo-{seed}-{number:06d}"
            at = first + timedelta(seconds=offset)
            row = (
                decision,
                visitor,
                user,
                f"user:{user}" if user else f"anon:{visitor}",
                f"{visitor}-s{k}",
                trigger.placement,
                trigger.id,
                trigger.action,
                plan.page_type,
                DEVICES[int(rng.choice(3, p=DEVICE_SHARES))],
                REGION_NAMES[int(rng.choice(len(REGION_NAMES), p=REGION_SHARES))],
            )
            for name, value in zip(DECISION_FIELDS, row, strict=True):
                decisions[name].append(value)
            decisions["decided_at"].append(at)
            _outcomes(rng, plan, decision, at, outcomes)
    return (
        pa.table(decisions).select(["decision_id", "decided_at", *DECISION_FIELDS[1:]]),
        pa.table(outcomes),
    )


def _outcomes(
    rng: np.random.Generator, plan: Plan, decision: str, at: datetime, out: dict[str, list[object]]
) -> None:
    def add(outcome: str, after: float, revenue: float | None = None) -> None:
        out["decision_id"].append(decision)
        out["outcome"].append(outcome)
        out["outcome_at"].append(at + timedelta(seconds=after))
        out["revenue"].append(revenue)

    if rng.random() >= plan.shown:
        return
    add("shown", 1.0)
    if rng.random() < plan.clicked:
        add("clicked", float(rng.uniform(2, 60)))
        if rng.random() < plan.converted:  # a basket of the shop's usual size, in whole 100 won
            add("converted", float(rng.uniform(120, 1800)), float(np.round(rng.lognormal(10.6, 0.6), -2)))
    elif rng.random() < plan.dismissed:
        add("dismissed", float(rng.uniform(1, 20)))

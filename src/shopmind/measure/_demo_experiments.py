"""The demo shop's popup experiments, a simulated month of them written into the store, so the
experiment pages have results before anyone runs a test (``shopmind demo-experiments``; ``make
demo`` runs it after ``demo-campaign``).

Three experiments on the exit popup, side by side in one mutually exclusive layer (each holds a
third of the shop's units), over the last ``days`` days of the demo data, with the planted popup
effects of ``demo._popup_effects`` (a variant for phones in the evening, one for desktops, one
for VIPs): an A/B/n test with fixed equal shares (each unit's variant by the keyed hash, as the
server assigns it), Thompson sampling, and a contextual bandit (linear Thompson sampling). Every
decision goes through the real policy (``policy_for``; batch updates every hour) and is stored as
the server stores one: the decision with its experiment, variant, propensity and context, its
outcomes (shown; clicked with the planted chance), the unit's first exposure, and each bandit's
state at the end of every day (the server keeps one per batch; a day's last is what the traffic
chart reads). The simulated month is over, so the experiments are stored as stopped (Thompson
sampling's winner named once it switched); their results are read like any experiment's.

Units are the demo shop's profiles (members for buyers' visits, anonymous visitors for the
others): the visitor's context (device, hour, region, segment, recent behaviour) is the
simulation's, not read from the profile. Units arrive over the month (each its first day, spread
evenly), so a fixed-share test gains units every day as a live one would. Run again, it stores
nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.demo import POPUP_EFFECTS, POPUP_VARIANTS, simulate_month
from shopmind.demo._popup_effects import SEGMENT_NAMES, Visitors
from shopmind.experiments import Assigner, Experiment, experiment_json, parse_experiment, policy_for
from shopmind.store import (
    Store,
    create_experiment,
    find_experiment,
    log_decisions,
    log_outcomes,
    record_exposures,
    save_bandit_state,
    set_experiment_state,
)

DAYS = 30
PER_DAY = 1000  # per experiment: 3,000 popup decisions a day in all
_VISITOR_SEGMENTS = frozenset({"passing_visitor", "new_visitor", "engaged_visitor"})
_DEVICES = ("mobile", "desktop", "tablet")


@dataclass(frozen=True)
class DemoExperimentPlan:
    id: str
    name: str
    policy: dict[str, Any]
    layer: tuple[float, float]


PLANS = (
    DemoExperimentPlan("demo-popup-abn", "팝업 문구 A/B/n 테스트 (데모)", {"kind": "fixed"}, (0.0, 1 / 3)),
    DemoExperimentPlan(
        "demo-popup-thompson",
        "팝업 문구 톰슨 샘플링 (데모)",
        {"kind": "thompson", "floor": 0.05, "switch_at": 0.95, "batch_minutes": 60},
        (1 / 3, 2 / 3),
    ),
    DemoExperimentPlan(
        "demo-popup-contextual",
        "팝업 문구 맥락 밴딧 (데모)",
        {"kind": "contextual", "algorithm": "lints", "floor": 0.05, "batch_minutes": 60},
        (2 / 3, 1.0),
    ),
)


@dataclass(frozen=True)
class DemoExperimentSummary:
    """One experiment's simulated month: decisions, clicks, the regret against the best variant
    per visitor (expected clicks lost), the decisions per variant, the winner if one was named."""

    experiment_id: str
    kind: str
    decisions: int
    clicks: int
    regret: float
    chosen: dict[str, int]
    winner: str | None
    stored_decisions: int  # new rows this run (0 when run again)


@dataclass(frozen=True)
class DemoExperimentsRun:
    start: date  # the first simulated day (the shop's local days)
    days: int
    created: list[str]
    reused: list[str]
    experiments: list[DemoExperimentSummary]


def demo_experiment(plan: DemoExperimentPlan) -> Experiment:
    """The declared experiment of one plan: the popup's four variants, clicks the goal."""
    return parse_experiment(
        {
            "id": plan.id,
            "name": plan.name,
            "description": "Simulated: the demo shop's planted popup effects (demo._popup_effects).",
            "point": {"kind": "placement", "placement": "popup", "trigger": "first-purchase-coupon"},
            "variants": [
                {"name": e.variant, "trigger": "first-purchase-coupon" if i == 0 else f"demo-{e.variant}"}
                for i, e in enumerate(POPUP_EFFECTS)
            ],
            "layer": {"name": "demo-popup", "start": plan.layer[0], "end": plan.layer[1]},
            "metrics": [
                {"name": "clicks", "kind": "clicks", "window_days": 7},
                {"name": "conversion", "kind": "conversion", "window_days": 7},
            ],
            "policy": plan.policy,
        }
    )


def run_demo_experiments(
    store: Store,
    *,
    seed: int = 42,
    days: int = DAYS,
    per_day: int = PER_DAY,
    key: str = "",
    zone: str = DEFAULT_SHOP_TZ,
) -> DemoExperimentsRun:
    """Simulate and store the demo's three popup experiments over the last ``days`` days of the
    demo data (see the module). ``key``: the assignment key the server hashes units with."""
    if not 1 <= days <= 365:
        raise InvalidInputError([FieldError("days", "from 1 to 365")])
    if not 24 <= per_day <= 100_000:
        raise InvalidInputError([FieldError("per_day", "from 24 to 100,000 decisions a day")])
    last = store.scalar("SELECT max(event_time) FROM events")
    if last is None:
        raise InvalidInputError(
            [FieldError("workspace", "no events: load the demo shop first (shopmind demo)")]
        )
    tz = ZoneInfo(zone)
    end_day = last.astimezone(tz).date()  # the month ends with the data's last day
    start = end_day - timedelta(days=days - 1)
    first = datetime.combine(start, time(0), tz).astimezone(UTC)
    # each profile with one of its devices (the visitor id a page would send), if any
    devices = dict(
        store.sql(
            "SELECT profile_id, min(identifier) FILTER (WHERE kind = 'anon') FROM profiles "
            "GROUP BY profile_id ORDER BY profile_id"
        )
    )
    profiles = list(devices)
    if not profiles:
        raise InvalidInputError([FieldError("workspace", "no profiles: load the demo shop first")])
    created: list[str] = []
    reused: list[str] = []
    summaries = []
    for number, plan in enumerate(PLANS):
        experiment = demo_experiment(plan)
        if find_experiment(store, experiment.id) is None:
            create_experiment(
                store,
                experiment.id,
                experiment.name,
                experiment_json(experiment),
                created_by="demo",
                now=first - timedelta(hours=1),
            )
            set_experiment_state(store, experiment.id, "running", first)
            created.append(experiment.id)
        else:
            reused.append(experiment.id)
        summaries.append(_simulate(store, experiment, devices, first, days, per_day, seed * 10 + number, key))
    return DemoExperimentsRun(start, days, created, reused, summaries)


def _simulate(
    store: Store,
    experiment: Experiment,
    devices: dict[str, str | None],
    first: datetime,
    days: int,
    per_day: int,
    seed: int,
    key: str,
) -> DemoExperimentSummary:
    policy = policy_for(experiment, seed=seed)
    bandit = experiment.policy.kind != "fixed"
    states: list[tuple[datetime, str]] = []

    def keep_state(day: int) -> None:
        if bandit:
            at = first + timedelta(days=day + 1) - timedelta(seconds=1)
            states.append((at, orjson.dumps(policy.state()).decode()))

    month = simulate_month(policy, days=days, per_day=per_day, seed=seed, keep_log=True, on_day=keep_state)
    assert month.log is not None
    log = month.log.columns()
    visitors = _joined(month.log.visitors)
    rng = np.random.default_rng([seed, 99])
    units = _units(experiment, list(devices), key)
    n = len(visitors)
    variant_names = list(POPUP_VARIANTS)
    arm = log["arm"]
    members, anonymous = units["members"], units["anonymous"]
    is_visitor = np.isin(visitors.segment, [SEGMENT_NAMES.index(s) for s in _VISITOR_SEGMENTS])
    # visitors arrive over the month, as a shop's do: each unit of a pool has its first day (the
    # pool shuffled, then spread evenly over the days), and a decision on day d draws among the
    # units arrived by then. Drawing from the whole pool from the first day would expose every
    # unit within a day or two, and a fixed-share test's traffic (first exposures per day) would
    # end there while its decisions go on for the month.
    arrivals: dict[str, tuple[list[str], np.ndarray]] = {}
    for name, pool in units.items():
        order = [pool[k] for k in rng.permutation(len(pool))]
        arrivals[name] = (order, (np.arange(len(order)) * days) // max(len(order), 1))
    chosen_units: list[str] = []
    for i in range(n):
        if not bandit:  # the unit's hashed variant is the one shown: draw among that variant's units
            name = variant_names[int(arm[i])]
        else:
            name = "anonymous" if is_visitor[i] and anonymous else "members" if members else "anonymous"
        order, first_day = arrivals[name]
        here = int(np.searchsorted(first_day, int(log["day"][i]), side="right"))
        chosen_units.append(order[int(rng.integers(here))])
    seconds = rng.uniform(0, 60, n)
    decided = [
        first + timedelta(days=int(d), hours=int(h), minutes=int(m), seconds=float(s))
        for d, h, m, s in zip(log["day"], visitors.hour, visitors.minute, seconds, strict=True)
    ]
    contexts = visitors.contexts()
    decisions, outcomes, exposures = [], [], []
    triggers = {v.name: v.trigger for v in experiment.variants}
    for i in range(n):
        unit = chosen_units[i]
        variant = variant_names[int(arm[i])]
        decision_id = f"{experiment.id}-{seed}-{i:07d}"
        at = decided[i]
        propensity = float(log["propensity"][i])
        member = unit.startswith("user:")
        decisions.append(
            {
                "decision_id": decision_id,
                "decided_at": at,
                "visitor": (devices.get(unit) or unit).removeprefix("anon:"),
                "user_id": unit.removeprefix("user:") if member else None,
                "profile_id": unit,
                "session_id": f"{decision_id}-s",
                "placement": "popup",
                "trigger_id": triggers[variant],
                "action": "popup",
                "page_type": "cart",
                "device_type": contexts[i]["device"],
                "region": contexts[i]["region"],
                "experiment_id": experiment.id,
                "variant": variant,
                "propensity": propensity,
                "context": orjson.dumps(contexts[i]).decode(),
            }
        )
        outcomes.append(
            {"decision_id": decision_id, "outcome": "shown", "outcome_at": at + timedelta(seconds=1)}
        )
        if log["click"][i]:
            outcomes.append(
                {
                    "decision_id": decision_id,
                    "outcome": "clicked",
                    "outcome_at": at + timedelta(seconds=float(2 + 58 * (i % 97) / 97)),
                }
            )
        exposures.append(
            {
                "experiment_id": experiment.id,
                "unit_id": unit,
                "variant": variant,
                "exposed_at": at,
                "propensity": propensity,
                "source": "demo",
            }
        )
    stored = log_decisions(store, decisions)
    log_outcomes(store, outcomes)
    record_exposures(store, exposures)
    for at, state in states:
        save_bandit_state(store, experiment.id, at, state)
    winner = getattr(policy, "winner", None)
    end = first + timedelta(days=days)
    current = find_experiment(store, experiment.id)
    if current is not None and current.state == "running":
        set_experiment_state(store, experiment.id, "stopped", end, winner=winner)
    return DemoExperimentSummary(
        experiment.id,
        experiment.policy.kind,
        int(month.decisions.sum()),
        int(month.clicks.sum()),
        month.total_regret,
        dict(zip(variant_names, (int(c) for c in month.chosen), strict=True)),
        winner,
        stored,
    )


def _units(experiment: Experiment, profiles: list[str], key: str) -> dict[str, list[str]]:
    """The profiles in the experiment's part of the layer: members, anonymous visitors, and (for
    fixed shares) those of each variant by the hash."""
    assign = Assigner(experiment, key)
    out: dict[str, list[str]] = {"members": [], "anonymous": []}
    out.update({name: [] for name in experiment.variant_names})
    for unit in profiles:
        variant = assign(unit)
        if variant is None:
            continue
        out["members" if unit.startswith("user:") else "anonymous"].append(unit)
        out[variant].append(unit)
    if not out["members"] and not out["anonymous"]:
        raise InvalidInputError([FieldError("workspace", f"no profiles fall in {experiment.id}'s layer")])
    missing = [name for name in experiment.variant_names if not out[name]]
    if missing and experiment.policy.kind == "fixed":
        raise InvalidInputError([FieldError("workspace", f"too few profiles: none for {', '.join(missing)}")])
    return out


def _joined(parts: list[Visitors]) -> Visitors:
    fields = list(Visitors.__dataclass_fields__)
    return Visitors(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields})

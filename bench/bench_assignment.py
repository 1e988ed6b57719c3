"""What assigning a unit to a variant costs per decision, in microseconds, beside a plain
``random.random()`` draw (the floor of any randomised choice in Python):

- fixed shares by the keyed hash (``Assigner``: layer, traffic and variant points, BLAKE2b);
- the server's whole routing of a qualifying trigger (``LiveExperiments.route``: the sticky
  lookup of the visitor's identifiers, the hash, the exposure row) for a placement experiment
  and for a trigger's default holdout;
- Thompson sampling, linear Thompson sampling and LinUCB choosing from a visitor's context.

Target: < 10 µs per decision for fixed shares. Run with ``python -m bench.bench_assignment``
(a few seconds)."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shopmind.api._live_experiments import LiveExperiments, Snapshot
from shopmind.experiments import Assigner, Experiment, parse_experiment, policy_for
from shopmind.onsite import DEFAULT_TRIGGERS, Session, Visitor, parse_triggers

TARGET_US = 10.0
UNITS = 20_000
KEY = "ab" * 32  # a workspace key's length (hex of 32 bytes)
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
PLACEMENT = {
    "id": "exit-popup-copy",
    "name": "이탈 팝업 문구",
    "point": {"kind": "placement", "placement": "popup", "trigger": "first-purchase-coupon"},
    "variants": [
        {"name": "control", "trigger": "first-purchase-coupon"},
        {"name": "free-shipping", "trigger": "first-purchase-coupon"},
        {"name": "nothing", "trigger": None},
    ],
    "traffic": 0.8,
    "layer": {"name": "popup", "start": 0.0, "end": 0.7},
}
CONTEXTS = [
    {
        "device": device,
        "hour": hour,
        "region": region,
        "segment": segment,
        "recent": {"pages": pages, "cart_items": cart, "orders": orders},
    }
    for device in ("mobile", "desktop", "tablet")
    for hour in (9, 13, 21)
    for region in ("서울", "부산", "대구")
    for segment in ("vip", "loyal", None)
    for pages, cart, orders in ((1, 0, 0), (6, 2, 1))
]


def _per_call_us(fn: Callable[[int], object], n: int, fresh: Callable[[], object] | None = None) -> float:
    """Best of three runs of ``n`` calls, in microseconds per call (``fresh`` before each run)."""
    best = float("inf")
    for _ in range(3):
        if fresh is not None:
            fresh()
        started = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - started)
    return best / n * 1e6


def main() -> None:
    units = [f"anon:v-{i:06d}" for i in range(UNITS)]
    rng = random.Random(0)
    plain = _per_call_us(lambda i: rng.random() < 0.5, UNITS)

    experiment = parse_experiment(PLACEMENT)
    assigner = Assigner(experiment, KEY)
    fixed = _per_call_us(lambda i: assigner(units[i]), UNITS)

    triggers = {t.id: t for t in parse_triggers(DEFAULT_TRIGGERS)}
    coupon = triggers["first-purchase-coupon"]
    sessions = [Session(f"v-{i:06d}", NOW, NOW) for i in range(UNITS)]
    visitor = Visitor()

    live = LiveExperiments()

    def load(experiments: list[tuple[Experiment, str | None, datetime | None]]) -> None:
        live.load(Snapshot(KEY, experiments, {}, []), {})  # nobody exposed yet

    def route(i: int) -> object:
        return live.route(coupon, triggers, sessions[i], visitor, NOW, "d")

    with_experiment = [(experiment, None, NOW)]
    first_exposure = _per_call_us(route, UNITS, lambda: load(with_experiment))
    returning = _per_call_us(route, UNITS)  # every unit exposed: their variant found, not hashed
    route_holdout = _per_call_us(route, UNITS, lambda: load([]))

    rows = [
        ("random.random() (baseline)", plain),
        ("fixed shares: Assigner (hash)", fixed),
        ("route: experiment, first exposure", first_exposure),
        ("route: experiment, exposed unit", returning),
        ("route: a trigger's holdout", route_holdout),
    ]
    for kind, algorithm in (("thompson", "lints"), ("contextual", "lints"), ("contextual", "linucb")):
        bandit = parse_experiment({**PLACEMENT, "policy": {"kind": kind, "algorithm": algorithm}})
        policy = policy_for(bandit, seed=0)
        n = 2_000 if kind == "contextual" else 5_000
        cost = _per_call_us(lambda i, p=policy: p.choose(CONTEXTS[i % len(CONTEXTS)]), n)
        label = "Thompson sampling" if kind == "thompson" else f"contextual: {algorithm}"
        rows.append((f"{label} choose", cost))
    print(f"{'assignment':<34}{'µs/decision':>14}{'× baseline':>12}")
    for label, cost in rows:
        print(f"{label:<34}{cost:>14.2f}{cost / plain:>12.1f}")
    print(
        f"target < {TARGET_US:.0f} µs for fixed shares (the hash): {'met' if fixed < TARGET_US else 'NOT met'}"
    )
    whole = "within" if first_exposure < TARGET_US else "above"
    print(f"the server's whole route, first exposure: {first_exposure:.1f} µs ({whole} the target)")


if __name__ == "__main__":
    main()

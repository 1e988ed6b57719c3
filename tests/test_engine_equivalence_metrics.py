"""An experiment's metrics (who was exposed, each person's value in the window and before it, caps,
the per-variant sums the statistics read, daily exposures) give the same results on DuckDB and on
PySpark from the same Arrow input (floats to 1e-9 relative).

The orders and profiles are the demo shop's; the experiment's exposures, decisions, outcomes,
messages and message events are made up here, seeded, in the store's layouts, with people exposed
under two identifiers (merged later) and some who saw both variants."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pytest

from shopmind.features import (
    MetricSpec,
    experiment_clicks,
    exposed_units,
    message_kind_events,
    unit_values,
    variant_sums,
    verified_orders,
)
from shopmind.features._experiment_metrics import capped, daily_exposures
from shopmind.features._time import local_day
from shopmind.store import Store
from tests import spark_fixtures
from tests.engine_pair import Engines, demo_tables, load, quick_small_queries

spark = spark_fixtures.spark  # the session-scoped Spark fixture, one session per test process

AS_OF = datetime(2026, 4, 12, 15, 0, tzinfo=UTC)
START = datetime(2026, 3, 25, tzinfo=UTC)
EXPERIMENT = "exp-1"
TABLES = ("exposures", "decisions", "decision_outcomes", "outbox", "message_events")
#: every metric kind, with windows, CUPED pre-periods and both kinds of cap
SPECS: dict[str, MetricSpec] = {
    "conversion": MetricSpec("conversion", window_days=7, pre_days=14),
    "orders": MetricSpec("orders", window_days=10, pre_days=7),
    "revenue_capped": MetricSpec("revenue", window_days=14, cap=150_000.0, pre_days=14),
    "revenue_p90": MetricSpec("revenue", window_days=14, cap_quantile=0.9, pre_days=14),
    "order_value": MetricSpec("order_value", window_days=14),
    "clicks": MetricSpec("clicks", window_days=7),
    "unsubscribes": MetricSpec("unsubscribes", window_days=7, pre_days=7),
    "bounces": MetricSpec("bounces", window_days=7, cap=1.0),
}


def _experiment_tables(tables: dict[str, pa.Table], schemas: dict[str, Any]) -> dict[str, pa.Table]:
    rng = random.Random(5)
    profiles = tables["profiles"].to_pylist()
    people = sorted({r["profile_id"] for r in profiles})
    identifiers = [r for r in profiles if r["identifier"] != r["profile_id"]]
    at = lambda: START + timedelta(seconds=rng.randrange(int((AS_OF - START).total_seconds())))  # noqa: E731
    exposures = []
    for i, p in enumerate(people[:90]):
        variant = rng.choice(["A", "B"])
        exposures.append(
            {
                "experiment_id": EXPERIMENT,
                "unit_id": p,
                "variant": variant,
                "exposed_at": at(),
                "propensity": 0.5,
                "source": None,
            }
        )
        if i % 15 == 0:  # saw the other variant too: crossed
            other = "B" if variant == "A" else "A"
            exposures.append(
                {
                    "experiment_id": EXPERIMENT,
                    "unit_id": p,
                    "variant": other,
                    "exposed_at": at(),
                    "propensity": 0.5,
                    "source": None,
                }
            )
    for r in identifiers[:30]:  # the same people under an identifier later merged into them
        exposures.append(
            {
                "experiment_id": EXPERIMENT,
                "unit_id": r["identifier"],
                "variant": rng.choice(["A", "B"]),
                "exposed_at": at(),
                "propensity": 0.5,
                "source": None,
            }
        )
    exposures.append(
        {
            "experiment_id": "other",
            "unit_id": people[0],
            "variant": "A",
            "exposed_at": at(),
            "propensity": None,
            "source": None,
        }
    )
    decisions, outcomes = [], []
    for i, p in enumerate(people[60:130]):
        decision_id = f"d{i}"
        decisions.append(
            {
                "decision_id": decision_id,
                "decided_at": at(),
                "visitor": f"v{i}",
                "user_id": None,
                "profile_id": p if i % 4 else None,
                "session_id": None,
                "placement": "popup",
                "trigger_id": "t1",
                "action": "show",
                "page_type": None,
                "device_type": "mobile",
                "region": None,
                "experiment_id": EXPERIMENT,
                "variant": rng.choice(["A", "B"]),
                "propensity": 0.5,
                "context": None,
            }
        )
        if rng.random() < 0.5:
            outcomes.append(
                {
                    "decision_id": decision_id,
                    "outcome": "clicked",
                    "outcome_at": at(),
                    "order_id": None,
                    "revenue": None,
                }
            )
    outbox, message_events = [], []
    for i, p in enumerate(people[:100]):
        key = f"m{i}"
        due = at()
        outbox.append(
            {
                "message_key": key,
                "campaign_id": "c1",
                "step": "s1",
                "profile_id": p,
                "channel": "sms",
                "format": "text",
                "kind": "advertising",
                "state": "sent",
                "due_at": due,
                "planned_at": due,
                "attempts": 1,
                "next_attempt_at": None,
                "subject": None,
                "body_text": "(광고) 봄 세일",
                "body_html": None,
                "template_code": None,
                "image_url": None,
                "links": None,
                "cost": None,
                "reason": None,
                "provider_id": None,
                "resends": 0,
                "created_at": due,
                "updated_at": due,
                "sent_at": due,
                "experiment_id": EXPERIMENT if i % 2 else None,
                "variant": rng.choice(["A", "B"]) if i % 2 else None,
            }
        )
        for kind in ("clicked", "unsubscribed", "failed"):
            if rng.random() < 0.35:
                when = due + timedelta(hours=rng.randint(1, 72))
                message_events.append(
                    {
                        "event_id": f"{key}-{kind}",
                        "message_key": key,
                        "campaign_id": "c1",
                        "step": "s1",
                        "profile_id": p,
                        "kind": kind,
                        "occurred_at": when,
                        "recorded_at": when,
                        "detail": None,
                    }
                )
    made = {
        "exposures": exposures,
        "decisions": decisions,
        "decision_outcomes": outcomes,
        "outbox": outbox,
        "message_events": message_events,
    }
    return {
        name: pa.Table.from_pylist(rows, schema=_arrow_schema(schemas[name])) for name, rows in made.items()
    }


def _arrow_schema(schema: Any) -> pa.Schema:
    return pa.schema(
        [pa.field(n, t.to_pyarrow() if not t.is_json() else pa.string()) for n, t in schema.items()]
    )


@pytest.fixture(scope="module")
def engines(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    tables, schemas = demo_tables()
    with Store(":memory:") as store:
        schemas = {**schemas, **{n: store.table(n).schema() for n in TABLES}}
    tables = {**tables, **_experiment_tables(tables, schemas)}
    with quick_small_queries(spark):
        yield load(tables, schemas, spark, tmp_path_factory.mktemp("equivalence"), "meq")


def _happenings(t: dict[str, Any], kind: str) -> Any:
    if kind in ("conversion", "orders", "revenue", "order_value"):
        return verified_orders(t["order_totals"], t["orders"], t["profiles"])
    if kind == "clicks":
        return experiment_clicks(
            t["decisions"],
            t["decision_outcomes"],
            t["outbox"],
            t["message_events"],
            t["profiles"],
            EXPERIMENT,
        )
    return message_kind_events(
        t["message_events"], t["profiles"], {"unsubscribes": "unsubscribed", "bounces": "failed"}[kind]
    )


def _units(t: dict[str, Any]) -> Any:
    return exposed_units(t["exposures"], t["decisions"], t["profiles"], EXPERIMENT, AS_OF)


def _all_sums(t: dict[str, Any]) -> Any:
    """Every metric's per-variant sums, labelled, as one table (one query per engine)."""
    parts = []
    for name, spec in SPECS.items():
        values = capped(unit_values(_units(t), _happenings(t, spec.kind), spec, AS_OF), spec)
        sums = variant_sums(values, pre=True, ratio=True)
        parts.append(sums.mutate(metric=ibis.literal(name, type="string")))
    out = parts[0]
    for part in parts[1:]:
        out = out.union(part)
    return out


def test_exposed_units(engines: Engines) -> None:
    found = engines.assert_same(_units, keys=["profile_id"])
    assert any(r["crossed"] for r in found) and len(found) > 80


def test_variant_sums_of_every_metric(engines: Engines) -> None:
    found = engines.assert_same(_all_sums, keys=["metric", "variant"])
    by_metric = {(r["metric"], r["variant"]): r for r in found}
    assert len(by_metric) == 2 * len(SPECS)
    # the comparison means something only where people did something
    active = [m for m in SPECS if by_metric[(m, "A")]["sum"] + by_metric[(m, "B")]["sum"] > 0]
    assert len(active) >= len(SPECS) - 1, found


def test_daily_exposures(engines: Engines) -> None:
    def build(t: dict[str, Any]) -> Any:
        units = _units(t)
        return daily_exposures(units, local_day(units.exposed_at, "Asia/Seoul", AS_OF))

    found = engines.assert_same(build, keys=["day", "variant"])
    assert len(found) > 10

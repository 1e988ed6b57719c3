"""Every rule kind of the segment language, and the RFM scores, segments and movements, give the
same members on DuckDB and on PySpark from the same Arrow input.

The facts are the demo shop's (with a few ``identify`` calls carrying traits added); what the jobs
write (runs, scores, segment members, taste and habit facts, saved segments) is made up here,
seeded, in the store's layouts. Each group of definitions runs as one query per engine (the
members of every definition, labelled), so the file stays one Spark session's worth of work."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from shopmind.features import purchase_transactions, rfm_summary, visit_summary
from shopmind.segments import (
    SEGMENTS,
    compile_definition,
    customer_segments,
    moved,
    parse_definition,
    rfm_segments,
    segment_transitions,
)
from shopmind.segments._sources import Sources
from shopmind.store import Store
from tests import spark_fixtures
from tests.engine_pair import Engines, demo_tables, load, quick_small_queries

spark = spark_fixtures.spark  # the session-scoped Spark fixture, one session per test process

AS_OF = datetime(2026, 4, 12, 15, 0, tzinfo=UTC)
ZONE = "Europe/London"
JOB_TABLES = ("scores", "segment_members", "job_runs", "profile_facts", "segment_history")


def _job_tables(tables: dict[str, pa.Table], schemas: dict[str, Any]) -> dict[str, pa.Table]:
    """Seeded job outputs for the demo's profiles, in the store's layouts."""
    rng = random.Random(7)
    profiles = sorted(set(tables["profiles"].column("profile_id").to_pylist()))
    day = timedelta(days=1)
    runs = [
        ("ci-1", "customer_intelligence", AS_OF - 8 * day, "ok"),
        ("ci-2", "customer_intelligence", AS_OF - day, "ok"),
        ("ci-late", "customer_intelligence", AS_OF + day, "ok"),  # after as_of: unseen
        ("ci-bad", "customer_intelligence", AS_OF - 2 * day / 3, "failed"),
        ("churn-1", "churn", AS_OF - 2 * day, "ok"),
        ("prefs-1", "preferences", AS_OF - day, "ok"),
    ]
    job_runs = [
        {
            "run_id": r,
            "job": j,
            "as_of": at,
            "started_at": at,
            "finished_at": at + timedelta(minutes=3),
            "status": s,
        }
        for r, j, at, s in runs
    ]
    keys = list(SEGMENTS)[:6]
    scores, members, facts = [], [], []
    for run_id, _, at, _ in runs:
        for p in profiles:
            if run_id.startswith("ci"):
                members.append({"run_id": run_id, "segment": rng.choice(keys), "profile_id": p, "as_of": at})
                for name in ("r_score", "f_score", "m_score"):
                    scores.append(
                        {
                            "run_id": run_id,
                            "profile_id": p,
                            "name": name,
                            "value": float(rng.randint(1, 5)),
                            "as_of": at,
                        }
                    )
                scores.append(
                    {
                        "run_id": run_id,
                        "profile_id": p,
                        "name": "clv_12m",
                        "value": rng.uniform(0, 9000),
                        "as_of": at,
                    }
                )
                value = None if rng.random() < 0.1 else rng.uniform(0, 1e6)
                scores.append(
                    {"run_id": run_id, "profile_id": p, "name": "revenue", "value": value, "as_of": at}
                )
            elif run_id == "churn-1":
                risk = rng.random()
                scores.append(
                    {"run_id": run_id, "profile_id": p, "name": "churn_risk", "value": risk, "as_of": at}
                )
                if risk > 0.7:
                    members.append(
                        {"run_id": run_id, "segment": "high_churn_risk", "profile_id": p, "as_of": at}
                    )
            else:
                taste = {
                    "favourite_category": rng.choice(["상의", "정육", "디지털", None]),
                    "favourite_brand": rng.choice(["무신사 스탠다드", "삼성", None]),
                    "bought_price_avg": None if rng.random() < 0.5 else round(rng.uniform(1e3, 2e5), 2),
                    "viewed_price_avg": round(rng.uniform(1e3, 2e5), 2),
                }
                habits = {
                    "browse_device": rng.choice(["mobile", "desktop", "tablet"]),
                    "browse_hour": rng.randint(0, 23),
                    "buy_device": rng.choice(["mobile", "desktop", None]),
                    "buy_hour": rng.choice([None, *range(24)]),
                    "send_channel": rng.choice(["sms", "email", "app_push"]),
                    "send_hour": rng.randint(0, 23),
                }
                written: tuple[tuple[str, dict[str, Any]], ...] = (("taste", taste), ("habits", habits))
                for kind, fact in written:
                    facts.append(
                        {
                            "run_id": run_id,
                            "profile_id": p,
                            "kind": kind,
                            "facts": json.dumps(fact),
                            "as_of": at,
                        }
                    )
    history = [
        {
            "segment_id": "seg-a",
            "profile_id": p,
            "entered_at": AS_OF - 5 * day,
            "exited_at": AS_OF - day if i % 3 == 0 else None,
        }
        for i, p in enumerate(profiles[::4])
    ]
    made = {
        "job_runs": job_runs,
        "scores": scores,
        "segment_members": members,
        "profile_facts": facts,
        "segment_history": history,
    }
    return {
        name: pa.Table.from_pylist(rows, schema=_arrow_schema(schemas[name])) for name, rows in made.items()
    }


def _arrow_schema(schema: Any) -> pa.Schema:
    return pa.schema(
        [pa.field(n, t.to_pyarrow() if not t.is_json() else pa.string()) for n, t in schema.items()]
    )


def _with_traits(events: pa.Table) -> pa.Table:
    """The events with ``identify`` calls carrying traits (gender, age, sign-up) for a few members."""
    rows = events.to_pylist()
    identified = [r for r in rows if r["type"] == "identify" and r["user_id"]][:24]
    genders = ["여성", "male", "F", "남자", " Woman ", ""]
    extra = []
    for i, row in enumerate(identified):
        traits: dict[str, Any] = {"gender": genders[i % len(genders)]}
        if i % 2:
            traits["age"] = 19 + 7 * i
        else:
            traits["age_band"] = "30s"
        if i % 3 == 0:
            traits["signed_up_at"] = f"2026-03-{10 + i:02d}T23:30:00"
        extra.append(
            dict(row, message_id=f"{row['message_id']}-traits", properties=json.dumps({"traits": traits}))
        )
    return pa.Table.from_pylist(rows + extra, schema=events.schema)


@pytest.fixture(scope="module")
def engines(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    tables, schemas = demo_tables()
    with Store(":memory:") as store:
        schemas = {**schemas, **{n: store.table(n).schema() for n in JOB_TABLES}}
    tables = {**tables, "events": _with_traits(tables["events"])}
    tables |= _job_tables(tables, schemas)
    with quick_small_queries(spark):
        yield load(tables, schemas, spark, tmp_path_factory.mktemp("equivalence"), "seq")


def _event(**fields: Any) -> dict[str, Any]:
    return {"kind": "event", **fields}


def _profile(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"kind": "profile", "field": field, "op": op, "value": value}


#: every rule kind: events (type, name, page, product, category, where on columns and properties,
#: counts, windows), sequences, profile fields of every group and operator, consent, segments,
#: movements, saved segments and the combinators
EVENT_RULES: dict[str, dict[str, Any]] = {
    "views_3_last_week": _event(type="page_view", count={"at_least": 3}, window={"kind": "last", "days": 7}),
    "bought_2_dear_products": _event(
        type="order_completed",
        where=[{"property": "price", "op": ">", "value": 20_000}],
        count={"at_least": 2, "distinct": "product_id"},
    ),
    "bought_in_seoul": _event(
        type="order_completed", where=[{"property": "region", "op": "=", "value": "서울"}]
    ),
    "asked": _event(type="custom", name="문의하기 클릭"),
    "category_pages": _event(type="page_view", page="/category/*"),
    "tops_after_summer_time": _event(
        type="product_view",
        category="상의",
        window={"kind": "between", "start": "2026-03-29", "end": "2026-04-05"},
    ),
    "product_p00102": _event(type="product_view", product="P00102"),
    "woman_by_traits": _event(
        type="identify", where=[{"property": "properties.traits.gender", "op": "=", "value": "여성"}]
    ),
    "age_30_plus_by_traits": _event(
        type="identify", where=[{"property": "properties.traits.age", "op": ">=", "value": 30}]
    ),
    "at_most_one_cart": _event(type="cart_add", count={"at_most": 1}),
    "two_views_first_3_days": _event(
        type="product_view", count={"exactly": 2}, window={"kind": "since_first_visit", "days": 3}
    ),
    "handheld_last_3_5_days": _event(
        type="page_view",
        where=[{"property": "device_type", "op": "in", "value": ["mobile", "tablet"]}],
        window={"kind": "last", "days": 3, "hours": 12},
    ),
    "in_the_app": _event(where=[{"property": "page_url", "op": "regex", "value": "^app://"}]),
    "searched_outside_seoul": _event(
        type="search", where=[{"property": "region", "op": "not_in", "value": ["서울", "경기"]}]
    ),
    "view_cart_checkout_hour": {
        "kind": "sequence",
        "steps": [{"type": "product_view"}, {"type": "cart_add"}, {"type": "checkout_start"}],
        "within_minutes": 60,
        "window": {"kind": "last", "days": 30},
    },
}
PROFILE_RULES: dict[str, dict[str, Any]] = {
    "member": _profile("member", "=", True),
    "not_member": _profile("member", "=", False),
    "buyer": _profile("buyer", "=", True),
    "female": _profile("gender", "=", "female"),
    "not_male": _profile("gender", "!=", "male"),
    "thirties": _profile("age_band", "in", ["30s", "40s"]),
    "seoul": _profile("region", "=", "서울"),
    "region_has_a_ju": _profile("region", "contains", "주"),
    "signed_up_late": _profile("signed_up", ">=", "2026-03-20"),
    "churn_risky": _profile("churn_risk", ">", 0.5),
    "clv_band": _profile("clv_12m", "between", [1000, 5000]),
    "recent_r": _profile("r_score", ">=", 4),
    "revenue_known": _profile("revenue", "exists"),
    "low_m": _profile("m_score", "<=", 2),
    "likes_tops": _profile("top_category", "=", "상의"),
    "brand_in": _profile("top_brand", "in", ["삼성", "무신사 스탠다드"]),
    "category_regex": _profile("top_category", "regex", "^[상정]"),
    "high_price": _profile("price_band", "=", "high"),
    "mobile": _profile("device", "=", "mobile"),
    "evenings": _profile("hour", "between", [18, 23]),
    "buys_mornings": _profile("buy_hour", "<", 12),
    "buys_on_desktop": _profile("buy_device", "!=", "mobile"),
    "not_by_sms": _profile("send_channel", "not_in", ["sms"]),
    "send_at_20": _profile("send_hour", "=", 20),
}
OTHER_RULES: dict[str, dict[str, Any]] = {
    "sms_consent": {"kind": "consent", "channel": "sms"},
    "no_email_consent": {"kind": "consent", "channel": "email", "granted": False},
    "night_sms": {"kind": "consent", "channel": "sms", "purpose": "night_advertising"},
    "in_vip": {"kind": "in_segment", "segment": "vip"},
    "in_high_churn": {"kind": "in_segment", "segment": "high_churn_risk"},
    "vip_to_loyal": {"kind": "moved", "from": "vip", "to": "loyal"},
    "named_runs": {"kind": "moved", "from": "loyal", "to": "vip", "from_run": "ci-1", "to_run": "ci-2"},
    "saved_a": {"kind": "in_saved_segment", "segment_id": "seg-a"},
    "all_with_not": {
        "kind": "all",
        "conditions": [
            _profile("member", "=", True),
            {"kind": "not", "condition": _event(type="order_completed")},
        ],
    },
    "any_of": {
        "kind": "any",
        "conditions": [_profile("device", "=", "tablet"), {"kind": "consent", "channel": "kakao"}],
    },
    "not_alone": {"kind": "not", "condition": _event(type="cart_add")},
    "all_negative": {
        "kind": "all",
        "conditions": [{"kind": "not", "condition": _profile("member", "=", True)}],
    },
}


def _members(t: dict[str, Any], rules: dict[str, dict[str, Any]]) -> Any:
    """The members of every rule, labelled, as one table (one query per engine)."""
    sources = Sources(t, AS_OF, ZONE)
    parts = []
    for name, rule in rules.items():
        definition = parse_definition({"name": {"ko": name, "en": name}, "conditions": [rule]})
        found = compile_definition(definition, sources)
        parts.append(found.select(rule=ibis_literal(name), profile_id=found.profile_id.cast("string")))
    out = parts[0]
    for part in parts[1:]:
        out = out.union(part)
    return out


def ibis_literal(value: str) -> Any:
    import ibis

    return ibis.literal(value, type="string")


def _check(engines: Engines, rules: dict[str, dict[str, Any]]) -> dict[str, int]:
    found = engines.assert_same(lambda t: _members(t, rules), keys=["rule", "profile_id"])
    counts = {name: 0 for name in rules}
    for row in found:
        counts[row["rule"]] += 1
    return counts


def test_event_and_sequence_rules(engines: Engines) -> None:
    counts = _check(engines, EVENT_RULES)
    # the comparison means something only where there are members
    assert sum(1 for n in counts.values() if n > 0) >= len(EVENT_RULES) - 2, counts


def test_profile_rules(engines: Engines) -> None:
    counts = _check(engines, PROFILE_RULES)
    assert sum(1 for n in counts.values() if n > 0) >= len(PROFILE_RULES) - 2, counts


def test_consent_segment_and_combinator_rules(engines: Engines) -> None:
    counts = _check(engines, OTHER_RULES)
    assert sum(1 for n in counts.values() if n > 0) >= len(OTHER_RULES) - 1, counts


def test_rfm_scores_segments_and_movement(engines: Engines) -> None:
    def summary(t: dict[str, Any], at: datetime) -> Any:
        return rfm_summary(purchase_transactions(t["orders"], t["order_lines"], t["profiles"]), at, zone=ZONE)

    def segments(t: dict[str, Any], at: datetime) -> Any:
        return customer_segments(summary(t, at), visit_summary(t["events"], t["profiles"], at, zone=ZONE))

    engines.assert_same(lambda t: rfm_segments(summary(t, AS_OF)), keys=["profile_id"])
    earlier = AS_OF - timedelta(days=12)
    found = engines.assert_same(
        lambda t: segment_transitions(segments(t, earlier), segments(t, AS_OF)),
        keys=["segment_from", "segment_to"],
    )
    assert len(found) >= 3
    engines.assert_same(
        lambda t: moved(segments(t, earlier), segments(t, AS_OF), "new", "promising"), keys=["profile_id"]
    )

"""Each kind of condition on a small hand-made shop whose answers are known, and a property test:
for random events and random definitions, the compiled Ibis expression finds exactly the
customers a naive Python evaluation of the same definition over the same events finds."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from shopmind.core import FixedClock, InvalidInputError
from shopmind.ingest import import_events, import_orders
from shopmind.segments import members, page_pattern, preview
from shopmind.store import Store

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def at(days_before: float, minutes: float = 0) -> str:
    return (AS_OF - timedelta(days=days_before) + timedelta(minutes=minutes)).isoformat()


def event(n: int, kind: str, who: str, when: str, **more: Any) -> dict[str, Any]:
    ids = (
        {"userId": who.removeprefix("user:")}
        if who.startswith("user:")
        else {"anonymousId": who.removeprefix("anon:")}
    )
    return {"messageId": f"m{n}", "type": kind, "timestamp": when, **ids, **more}


def load(store: Store, folder: Path, events: list[dict[str, Any]], orders: str | None = None) -> None:
    lines = folder / "events.jsonl"
    lines.write_text("\n".join(orjson.dumps(e).decode() for e in events) + "\n", encoding="utf-8")
    report = import_events(store, lines, clock=FixedClock(AS_OF))
    assert report.rejected == 0, report
    if orders:
        table = folder / "orders.csv"
        table.write_text(orders, encoding="utf-8")
        import_orders(store, table)


def ids(store: Store, definition: dict[str, Any], as_of: datetime = AS_OF) -> set[str]:
    found = members(store, {"name": {"en": "t"}, **definition}, as_of=as_of)
    return set(found.column("profile_id").to_pylist())


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("conditions")
    context = {"device": {"type": "mobile"}, "location": {"region": "부산"}}
    events = [
        # kim: a member, woman in her thirties, signed up 2025-05-01, busy on mobile in 부산
        event(
            1,
            "identify",
            "user:kim",
            at(40),
            traits={"gender": "여성", "age": 34, "signed_up_at": "2025-05-01"},
        ),
        event(
            2,
            "page_view",
            "user:kim",
            at(3),
            context={**context, "page": {"url": "https://shop.kr/careers?x=1"}},
        ),
        event(
            3,
            "track",
            "user:kim",
            at(2),
            event="문의하기 클릭",
            properties={"size": 270, "colour": "red", "gift": True},
        ),
        event(
            4, "track", "user:kim", at(1), event="문의하기 클릭", properties={"size": 250, "colour": "blue"}
        ),
        event(
            5,
            "product_view",
            "user:kim",
            at(1, 1),
            properties={"product_id": "P1", "category": "라면", "price": 900},
        ),
        event(
            6,
            "cart_add",
            "user:kim",
            at(1, 5),
            properties={"product_id": "P1", "category": "라면", "price": 900},
        ),
        # lee: a member, a man in his sixties, in 서울 then 대전 (the latest counts)
        event(7, "identify", "user:lee", at(30), traits={"gender": "M", "age": 64}),
        event(
            8,
            "page_view",
            "user:lee",
            at(20),
            context={"location": {"region": "서울"}, "page": {"url": "https://shop.kr/"}},
        ),
        event(
            9,
            "page_view",
            "user:lee",
            at(5),
            context={"location": {"region": "대전"}, "page": {"url": "https://shop.kr/about"}},
        ),
        event(
            10,
            "cart_add",
            "user:lee",
            at(4),
            properties={"product_id": "P1", "category": "라면", "price": 900},
        ),
        event(
            11,
            "product_view",
            "user:lee",
            at(4, 30),
            properties={"product_id": "P2", "category": "김치", "price": 5000},
        ),
        # a visitor: first seen 10 days ago, again today
        event(12, "page_view", "anon:v1", at(10), context={"page": {"url": "app://shop/careers"}}),
        event(
            13,
            "product_view",
            "anon:v1",
            at(9),
            properties={"product_id": "P2", "category": "김치", "price": 5000},
        ),
        event(
            14,
            "product_view",
            "anon:v1",
            at(0.5),
            properties={"product_id": "P3", "category": "과일", "price": 3000},
        ),
        event(15, "banner_click", "anon:v1", at(0.5), properties={"banner_id": "bn-1"}),
        # after as_of: never seen
        event(16, "banner_click", "anon:v1", at(-1), properties={"banner_id": "bn-1"}),
    ]
    orders = (
        "order_id,ordered_at,product_id,quantity,unit_price,customer_id,category\n"
        f"O1,{at(6)},P1,2,900,kim,라면\n"
        f"O2,{at(6)},P2,1,5000,lee,김치\n"
        f"O3,{at(2)},P1,1,900,lee,라면\n"
        f"O4,{at(2)},P9,1,0,kim,라면\n"  # worth nothing: not a purchase
    )
    with Store(":memory:", clock=FixedClock(AS_OF)) as store:
        load(store, folder, events, orders)
        store.sql(
            "INSERT OR REPLACE INTO products VALUES ('P1', '라면 1', '라면', '농심', 900, 'KRW', NULL, NULL, NULL, NULL, true, NULL)"
        )
        store.sql(
            "INSERT OR REPLACE INTO products VALUES ('P2', '김치 1', '김치', '비비고', 5000, 'KRW', NULL, NULL, NULL, NULL, true, NULL)"
        )
        with store.job_run("churn_risk", AS_OF - timedelta(days=1)) as run:
            store.write_scores(
                run,
                AS_OF,
                pa.table(
                    {"profile_id": ["user:kim", "user:lee"], "name": ["churn_risk"] * 2, "value": [0.2, 0.7]}
                ),
            )
        with store.job_run("churn_risk", AS_OF + timedelta(days=1)) as later:  # after as_of: not seen
            store.write_scores(
                later, AS_OF, pa.table({"profile_id": ["user:kim"], "name": ["churn_risk"], "value": [0.9]})
            )
        with store.job_run("customer_intelligence", AS_OF - timedelta(days=31)) as before:
            store.write_segment_members(
                before, AS_OF, pa.table({"segment": ["vip", "loyal"], "profile_id": ["user:kim", "user:lee"]})
            )
        with store.job_run("customer_intelligence", AS_OF - timedelta(days=1)) as now:
            store.write_segment_members(
                now,
                AS_OF,
                pa.table({"segment": ["dormant_vip", "dormant_vip"], "profile_id": ["user:kim", "user:lee"]}),
            )
        with store.job_run("preferences", AS_OF - timedelta(days=1)) as prefs:
            store.write_profile_facts(
                prefs,
                AS_OF,
                "habits",
                pa.table(
                    {
                        "profile_id": ["user:kim", "user:lee"],
                        "browse_device": ["mobile", "desktop"],
                        "browse_hour": [21, 9],
                    }
                ),
            )
            store.write_profile_facts(
                prefs,
                AS_OF,
                "taste",
                pa.table(
                    {
                        "profile_id": ["user:kim", "anon:v1"],
                        "favourite_category": ["라면", "과일"],
                        "bought_price_avg": [900.0, None],
                        "viewed_price_avg": [900.0, 3000.0],
                    }
                ),
            )
        store.record_consent("user:kim", "sms", "advertising", True)
        store.record_consent("user:lee", "sms", "advertising", True)
        store.sql("UPDATE consents SET recorded_at = recorded_at - INTERVAL 1 DAY")
        store.record_consent("user:lee", "sms", "advertising", False)  # withdrawn later: the latest holds
        yield store


def profile(field: str, op: str = "=", value: Any = None) -> dict[str, Any]:
    return {"conditions": [{"kind": "profile", "field": field, "op": op, "value": value}]}


def test_traits(shop: Store) -> None:
    assert ids(shop, profile("gender", value="female")) == {"user:kim"}
    assert ids(shop, profile("gender", value="male")) == {"user:lee"}
    assert ids(shop, profile("age_band", value="30s")) == {"user:kim"}
    assert ids(shop, profile("age_band", value="60s+")) == {"user:lee"}
    assert ids(shop, profile("region", value="대전")) == {"user:lee"}  # the latest region
    assert ids(shop, profile("region", "in", ["부산", "서울"])) == {"user:kim"}
    assert ids(shop, profile("signed_up", "<", "2025-06-01")) == {"user:kim"}
    # lee gave no date: his first identify as a member, 30 days before
    assert ids(shop, profile("signed_up", ">=", "2026-01-15")) == {"user:lee"}
    assert ids(shop, profile("member", value=True)) == {"user:kim", "user:lee"}
    assert ids(shop, profile("member", value=False)) == {"anon:v1"}
    assert ids(shop, profile("buyer", value=True)) == {"user:kim", "user:lee"}


def test_not_equal_includes_the_unknown(shop: Store) -> None:
    assert ids(shop, profile("gender", "!=", "female")) == {"user:lee", "anon:v1"}
    assert ids(shop, profile("gender", "not_in", ["female", "male"])) == {"anon:v1"}
    assert ids(shop, profile("gender", "exists")) == {"user:kim", "user:lee"}


def test_scores_taste_habits_consent(shop: Store) -> None:
    assert ids(shop, profile("churn_risk", ">", 0.5)) == {"user:lee"}  # the later run is after as_of
    # later, the latest churn run scored kim only (0.9): lee has no score "now"
    assert ids(shop, profile("churn_risk", ">", 0.5), AS_OF + timedelta(days=2)) == {"user:kim"}
    assert ids(shop, profile("top_category", value="과일")) == {"anon:v1"}
    assert ids(shop, profile("price_band", value="low")) == {"user:kim"}  # 900 below the catalogue's third
    assert ids(shop, profile("price_band", value="mid")) == {
        "anon:v1"
    }  # 3,000 between the thirds of 900 and 5,000
    assert ids(shop, profile("device", value="mobile")) == {"user:kim"}
    assert ids(shop, profile("hour", "between", [18, 23])) == {"user:kim"}
    sms = {"conditions": [{"kind": "consent", "channel": "sms"}]}
    assert ids(shop, sms) == {"user:kim"}  # lee withdrew
    no_sms = {"conditions": [{"kind": "consent", "channel": "sms", "granted": False}]}
    assert ids(shop, no_sms) == {"user:lee", "anon:v1"}


def test_events_windows_counts_and_properties(shop: Store) -> None:
    asked = {"kind": "event", "name": "문의하기 클릭"}
    assert ids(shop, {"conditions": [asked]}) == {"user:kim"}
    assert ids(shop, {"conditions": [{**asked, "count": {"exactly": 2}}]}) == {"user:kim"}
    assert ids(shop, {"conditions": [{**asked, "count": {"at_least": 3}}]}) == set()
    assert ids(shop, {"conditions": [{**asked, "count": {"at_most": 0}}]}) == {"user:lee", "anon:v1"}
    assert ids(shop, {"conditions": [{**asked, "window": {"kind": "last", "hours": 30}}]}) == {"user:kim"}
    two_days = {**asked, "count": {"at_least": 2}, "window": {"kind": "last", "days": 1, "hours": 12}}
    assert ids(shop, {"conditions": [two_days]}) == set()  # only one click in the last 36 hours
    big = {**asked, "where": [{"property": "size", "op": ">=", "value": 260}]}
    assert ids(shop, {"conditions": [big]}) == {"user:kim"}
    assert ids(
        shop,
        {
            "conditions": [
                {**asked, "where": [{"property": "properties.colour", "op": "in", "value": ["red"]}]}
            ]
        },
    ) == {"user:kim"}
    assert ids(shop, {"conditions": [{**asked, "where": [{"property": "gift", "value": True}]}]}) == {
        "user:kim"
    }
    assert (
        ids(
            shop,
            {"conditions": [{**asked, "where": [{"property": "colour", "op": "regex", "value": "^gr"}]}]},
        )
        == set()
    )
    banner = {"kind": "event", "type": "banner_click", "where": [{"property": "banner_id", "value": "bn-1"}]}
    assert (
        ids(shop, {"conditions": [{**banner, "count": {"at_least": 2}}]}) == set()
    )  # the second is after as_of
    between = {
        "kind": "event",
        "type": "page_view",
        "window": {"kind": "between", "start": at(21)[:10], "end": at(19)[:10]},
    }
    assert ids(shop, {"conditions": [between]}) == {"user:lee"}
    first_days = {"kind": "event", "type": "product_view", "window": {"kind": "since_first_visit", "days": 2}}
    assert ids(shop, {"conditions": [first_days]}) == {"anon:v1"}  # kim's first visit is her identify
    assert ids(
        shop,
        {
            "conditions": [
                {"kind": "event", "type": "product_view", "count": {"at_least": 2, "distinct": "category"}}
            ]
        },
    ) == {"anon:v1"}


def test_pages(shop: Store) -> None:
    careers = {"conditions": [{"kind": "event", "page": "/careers"}]}
    assert ids(shop, careers) == {"user:kim", "anon:v1"}  # any host, a query string ignored
    assert ids(shop, {"conditions": [{"kind": "event", "page": "*about"}]}) == {"user:lee"}
    assert ids(shop, {"conditions": [{"kind": "event", "page": "https://shop.kr/"}]}) == {"user:lee"}
    assert page_pattern("/a.b*") == r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*://[^/?#]*)?/a\.b.*(?:[?#].*)?$"


def test_purchases_and_sequences(shop: Store) -> None:
    ramen = {"kind": "event", "type": "order_completed", "category": "라면"}
    kimchi = {"kind": "event", "type": "order_completed", "category": "김치"}
    assert ids(shop, {"conditions": [ramen, {"kind": "not", "condition": kimchi}]}) == {"user:kim"}
    assert ids(shop, {"conditions": [{**ramen, "count": {"at_least": 2}}]}) == set()  # O4 is worth nothing
    two_orders = {"kind": "event", "type": "order_completed", "count": {"exactly": 2}}
    assert ids(shop, {"conditions": [two_orders]}) == {"user:lee"}
    seq = {
        "kind": "sequence",
        "steps": [{"type": "product_view"}, {"type": "cart_add"}],
        "within_minutes": 10,
    }
    assert ids(shop, {"conditions": [seq]}) == {"user:kim"}  # lee carted before he viewed
    wide = {**seq, "steps": [{"type": "cart_add"}, {"type": "product_view"}], "within_minutes": 60}
    assert ids(shop, {"conditions": [wide]}) == {"user:lee"}
    bought_then = {
        "kind": "sequence",
        "steps": [{"type": "order_completed"}, {"type": "track"}],
        "within_minutes": 60 * 24 * 7,
    }
    assert ids(shop, {"conditions": [bought_then]}) == set()  # no event of type "track" is stored


def test_segments_and_movement(shop: Store) -> None:
    assert ids(shop, {"conditions": [{"kind": "in_segment", "segment": "dormant_vip"}]}) == {
        "user:kim",
        "user:lee",
    }
    moved = {"conditions": [{"kind": "moved", "from": "vip", "to": "dormant_vip"}]}
    assert ids(shop, moved) == {"user:kim"}
    either = {
        "match": "any",
        "conditions": [moved["conditions"][0], {"kind": "moved", "from": "loyal", "to": "dormant_vip"}],
    }
    assert ids(shop, either) == {"user:kim", "user:lee"}
    runs = [
        r
        for (r,) in shop.sql("SELECT run_id FROM job_runs WHERE job = 'customer_intelligence' ORDER BY as_of")
    ]
    named = {
        "conditions": [
            {"kind": "moved", "from": "loyal", "to": "dormant_vip", "from_run": runs[0], "to_run": runs[1]}
        ]
    }
    assert ids(shop, named) == {"user:lee"}


def test_compile_time_errors_name_the_field(shop: Store) -> None:
    cases = [
        ({"kind": "event", "type": "order_completed", "page": "/x"}, "conditions[0].page"),
        (
            {"kind": "event", "type": "order_completed", "where": [{"property": "colour", "value": "x"}]},
            "conditions[0].where[0].property",
        ),
        (
            {"kind": "event", "where": [{"property": "price", "value": "cheap"}]},
            "conditions[0].where[0].value",
        ),
        ({"kind": "event", "count": {"at_least": 2, "distinct": "colourr"}}, "conditions[0].count.distinct"),
        ({"kind": "in_saved_segment", "segment_id": "0123456789abcdef"}, "conditions[0].segment_id"),
    ]
    for condition, field in cases:
        with pytest.raises(InvalidInputError) as caught:
            ids(shop, {"conditions": [condition]})
        assert caught.value.field == field, caught.value


def test_preview_warns_about_unknown_property_keys(shop: Store) -> None:
    definition = {
        "name": {"en": "t"},
        "conditions": [
            {"kind": "event", "name": "문의하기 클릭", "where": [{"property": "colr", "value": "red"}]}
        ],
    }
    warned = preview(shop, definition, as_of=AS_OF).warnings
    assert [(w.field, w.suggestions[:1]) for w in warned] == [
        ("conditions[0].where[0].property", ("colour",))
    ]


# -- the property test: compiled equals naive ------------------------------------------------

PEOPLE = ("anon:a", "anon:b", "anon:c", "user:d", "user:e")
TYPES = ("page_view", "banner_click", "product_view")
BANNERS = ("b1", "b2")


@st.composite
def random_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 14))
    out = []
    for i in range(n):
        who = draw(st.sampled_from(PEOPLE))
        kind = draw(st.sampled_from(TYPES))
        minutes = draw(st.integers(0, 60 * 24 * 12))
        props: dict[str, Any] = {"size": draw(st.integers(0, 3))}
        if kind == "banner_click":
            props["banner_id"] = draw(st.sampled_from(BANNERS))
        if kind == "product_view":
            props.update(product_id="P1", category=draw(st.sampled_from(("라면", "김치"))))
        out.append(event(i, kind, who, (AS_OF - timedelta(minutes=minutes)).isoformat(), properties=props))
    return out


def leaf() -> st.SearchStrategy[dict[str, Any]]:
    where = st.lists(
        st.one_of(
            st.builds(lambda v: {"property": "banner_id", "value": v}, st.sampled_from(BANNERS)),
            st.builds(
                lambda op, v: {"property": "size", "op": op, "value": v},
                st.sampled_from(["<", ">=", "!=", "="]),
                st.integers(0, 3),
            ),
            st.builds(
                lambda v: {"property": "category", "op": "in", "value": v},
                st.lists(st.sampled_from(("라면", "김치")), min_size=1, max_size=2),
            ),
        ),
        max_size=2,
    )
    count = st.one_of(
        st.none(),
        st.builds(lambda n: {"at_least": n}, st.integers(0, 3)),
        st.builds(lambda n: {"at_most": n}, st.integers(0, 2)),
        st.builds(lambda n: {"exactly": n}, st.integers(0, 2)),
    )
    window = st.one_of(st.none(), st.builds(lambda d: {"kind": "last", "days": d}, st.integers(1, 12)))

    def build(kind: str | None, where: list[Any], count: Any, window: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "event", "where": where}
        if kind:
            out["type"] = kind
        if count:
            out["count"] = count
        if window:
            out["window"] = window
        return out

    events = st.builds(build, st.one_of(st.none(), st.sampled_from(TYPES)), where, count, window)
    sequences = st.builds(
        lambda a, b, m: {"kind": "sequence", "steps": [{"type": a}, {"type": b}], "within_minutes": m},
        st.sampled_from(TYPES),
        st.sampled_from(TYPES),
        st.integers(1, 60 * 24 * 3),
    )
    return st.one_of(events, sequences)


conditions = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.builds(lambda c: {"kind": "not", "condition": c}, inner),
        st.builds(lambda cs: {"kind": "all", "conditions": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"kind": "any", "conditions": cs}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=5,
)


def naive(condition: dict[str, Any], events: list[dict[str, Any]], people: set[str]) -> set[str]:
    """The definition evaluated by hand, event by event, person by person."""
    kind = condition["kind"]
    if kind == "not":
        return people - naive(condition["condition"], events, people)
    if kind == "all":
        out = set(people)
        for c in condition["conditions"]:
            out &= naive(c, events, people)
        return out
    if kind == "any":
        found: set[str] = set()
        for c in condition["conditions"]:
            found |= naive(c, events, people)
        return found
    seen = [e for e in events if datetime.fromisoformat(e["timestamp"]) < AS_OF]
    if kind == "sequence":
        a, b = (s["type"] for s in condition["steps"])
        within = timedelta(minutes=condition["within_minutes"])
        return {
            who(x)
            for x in seen
            for y in seen
            if who(x) == who(y)
            and x["type"] == a
            and y["type"] == b
            and timedelta(0) < _time(y) - _time(x) <= within
        }
    matched = [e for e in seen if _matches(e, condition)]
    low, high = 1, None
    count = condition.get("count") or {}
    if "exactly" in count:
        low = high = count["exactly"]
    elif "at_least" in count:
        low = count["at_least"]
    elif "at_most" in count:
        low, high = 0, count["at_most"]
    n = {p: sum(1 for e in matched if who(e) == p) for p in people}
    return {p for p in people if n[p] >= low and (high is None or n[p] <= high)}


def who(e: dict[str, Any]) -> str:
    return f"user:{e['userId']}" if "userId" in e else f"anon:{e['anonymousId']}"


def _time(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


def _matches(e: dict[str, Any], condition: dict[str, Any]) -> bool:
    if "type" in condition and e["type"] != condition["type"]:
        return False
    window = condition.get("window")
    if window and _time(e) < AS_OF - timedelta(days=window["days"]):
        return False
    props = e.get("properties", {})
    for w in condition.get("where", []):
        value, op, want = props.get(w["property"]), w.get("op", "="), w["value"]
        ok = {
            "=": lambda v=value, x=want: v == x,
            "!=": lambda v=value, x=want: v is None or v != x,
            "<": lambda v=value, x=want: v is not None and v < x,
            ">=": lambda v=value, x=want: v is not None and v >= x,
            "in": lambda v=value, x=want: v in x,
        }[op]()
        if not ok:
            return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=random_events(), definition=st.lists(conditions, min_size=1, max_size=3))
def test_compiled_equals_naive(events: list[dict[str, Any]], definition: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder, Store(":memory:", clock=FixedClock(AS_OF)) as store:
        if events:
            load(store, Path(folder), events)
        people = {p for (p,) in store.sql("SELECT DISTINCT profile_id FROM profiles")}
        expected = naive({"kind": "all", "conditions": definition}, events, people)
        note(f"events: {events}\ndefinition: {definition}")
        assert ids(store, {"conditions": definition}) == expected

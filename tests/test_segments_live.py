"""Live segment membership equals a full recomputation: for random live definitions and any
sequence of events (shuffled arrival, re-sent duplicates, identity links that join customers,
restarts in the middle, a clock that moves windows past their events), the members kept
incrementally are those the compiled Ibis query counts over the stored events, and those a plain
pandas computation finds; the membership history holds them too."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopmind.core import FixedClock
from shopmind.ingest import LiveWriter, validate_incoming
from shopmind.segments import (
    AllOf,
    AnyOf,
    Between,
    Condition,
    Count,
    Definition,
    Event,
    EventSequence,
    Last,
    Names,
    Not,
    Profile,
    SinceFirstVisit,
    Step,
    Where,
    check_definition,
    create_segment,
    members,
    parse_definition,
    window_bounds,
)
from shopmind.segments._live import is_live, live_problem
from shopmind.segments._live_store import LiveMembership
from shopmind.store import Store

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TYPES = ("banner_click", "banner_impression", "page_view")
ANONS = ("a0", "a1", "a2")
USERS = (None, None, None, "u0", "u1")


# -- a shop fed as the server feeds it ------------------------------------------------------------


@dataclass
class Shop:
    """A store, the live writer and live membership, fed as the server's write path feeds them:
    a group of events is stored, the committed new ones are counted, then the identity links
    derived from them are written and the customers they joined are moved."""

    clock: FixedClock = field(default_factory=lambda: FixedClock(NOW))
    segments: dict[str, Definition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = Store(":memory:", clock=self.clock)
        self.writer = LiveWriter()
        self.live = LiveMembership(self.clock)
        self.sent: list[dict[str, Any]] = []

    def save(self, definition: Definition) -> str:
        saved = create_segment(self.store, definition, as_of=self.clock.now(), materialize=False)
        self.segments[saved.segment_id] = definition
        return saved.segment_id

    def start(self) -> None:
        self.live.start(self.store)

    def send(self, raws: list[dict[str, Any]]) -> None:
        events, rejected = validate_incoming(raws, received_at=self.clock.now(), hasher=None)
        assert not rejected, rejected
        duplicate = self.writer.write(self.store, events, rejected)
        self.live.observe(self.store, events, duplicate)
        self.live.before_links(self.store)
        moves = self.writer.flush(self.store)
        self.live.after_links(self.store, moves)
        self.live.write(self.store)
        self.sent += raws

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.live.sweep(self.store)

    def restart(self) -> None:
        """A new server on the same store: the state rebuilt from the stored events."""
        before = {s: set(self.live.engine.members(s)) for s in self.segments}
        self.live = LiveMembership(self.clock)
        self.live.start(self.store)
        after = {s: set(self.live.engine.members(s)) for s in self.segments}
        assert after == before
        assert self.live.written == 0  # the history already held them: nothing to change

    def live_members(self, segment_id: str) -> set[str]:
        return set(self.live.engine.members(segment_id))

    def ibis_members(self, segment_id: str) -> set[str]:
        found = members(self.store, self.segments[segment_id], as_of=self.clock.now())
        return set(found.column("profile_id").to_pylist())

    def history_members(self, segment_id: str) -> set[str]:
        rows = self.store.sql(
            "SELECT profile_id FROM segment_history WHERE segment_id = ? AND exited_at IS NULL", [segment_id]
        )
        return {r[0] for r in rows}


# -- a plain pandas computation over the stored events --------------------------------------------


def pandas_members(store: Store, definition: Definition, as_of: datetime) -> set[str]:
    """The members as a person would compute them by hand: every event with its customer, then
    each condition evaluated per customer with no shortcut."""
    events = store.query_arrow(
        "SELECT message_id, type, user_id, anonymous_id, event_time, banner_id, properties FROM events"
    ).to_pandas()
    profiles = dict(store.sql("SELECT identifier, profile_id FROM profiles"))
    ident = events.user_id.map(lambda u: f"user:{u}", na_action="ignore").fillna(
        "anon:" + events.anonymous_id
    )
    events["profile_id"] = [profiles.get(i, i) for i in ident]
    events["event_time"] = pd.to_datetime(events.event_time, utc=True)
    events = events[events.event_time < as_of]
    customers = set(profiles.values())
    first = events.groupby("profile_id").event_time.min().to_dict()

    def matches(step: Step, row: Any) -> bool:
        if step.type is not None and row.type != step.type:
            return False
        properties = orjson.loads(row.properties) if isinstance(row.properties, str) else {}
        for where in step.where:
            if where.property == "banner_id":
                value = row.banner_id if isinstance(row.banner_id, str) else None
                if where.op == "=" and value != where.value:
                    return False
                if where.op == "!=" and value == where.value:
                    return False
                if where.op == "in" and value not in (where.value or []):
                    return False
            elif where.op == "exists":
                if "colour" not in properties:
                    return False
            elif properties.get("colour") != where.value:
                return False
        return True

    def in_window(window: Any, t: Any, profile: str) -> bool:
        if isinstance(window, Last):
            return bool(t >= as_of - window.span())
        if isinstance(window, Between):
            start, end = window_bounds(window)
            return bool(start <= t < end)
        if isinstance(window, SinceFirstVisit) and window.days is not None:
            return bool(t < first[profile] + timedelta(days=window.days))
        return True

    def times(step: Step, window: Any, column: str = "event_time") -> dict[str, list[Any]]:
        """Per customer, the matching events' ``column`` (their times by default)."""
        found: dict[str, list[Any]] = {}
        for row in events.itertuples():
            if matches(step, row) and (window is None or in_window(window, row.event_time, row.profile_id)):
                found.setdefault(row.profile_id, []).append(getattr(row, column))
        return found

    def holds(node: Condition) -> set[str]:
        if isinstance(node, AllOf):
            out = set(customers)
            for child in node.conditions:
                out &= holds(child)
            return out
        if isinstance(node, AnyOf):
            return set().union(*(holds(child) for child in node.conditions))
        if isinstance(node, Not):
            return customers - holds(node.condition)
        if isinstance(node, Profile):  # member: a customer with a member id
            members = {p for i, p in profiles.items() if i.startswith("user:")}
            return members if node.value else customers - members
        if isinstance(node, Event):
            distinct = node.count.distinct if node.count else None
            if distinct is None:
                counts = {p: len(ts) for p, ts in times(node, node.window).items()}
            else:  # different values of a column (a missing one is none)
                values = times(node, node.window, distinct)
                counts = {p: len({v for v in vs if isinstance(v, str)}) for p, vs in values.items()}
            low, high = node.count.bounds() if node.count else (1, None)
            return {
                p for p in customers if low <= counts.get(p, 0) and (high is None or counts.get(p, 0) <= high)
            }
        assert isinstance(node, EventSequence)
        per_step = [times(step, node.window if i == 0 else None) for i, step in enumerate(node.steps)]
        within = timedelta(minutes=node.within_minutes)
        out = set()
        for profile in per_step[0]:
            lists = [found.get(profile, []) for found in per_step]
            for chain in itertools.product(*lists):
                if all(a < b for a, b in itertools.pairwise(chain)) and chain[-1] <= chain[0] + within:
                    out.add(profile)
                    break
        return out

    return holds(definition.root)


# -- definitions and events ---------------------------------------------------------------------

_banner_wheres = st.sampled_from(
    [
        [Where(property="banner_id", value="B1")],
        [Where(property="banner_id", op="!=", value="B1")],
        [Where(property="banner_id", op="in", value=["B1", "B2"])],
    ]
)
_colour_wheres = st.sampled_from(
    [[Where(property="properties.colour", value="red")], [Where(property="colour", op="exists")]]
)


@st.composite
def _steps(draw: st.DrawFn) -> Step:
    kind = draw(st.sampled_from((*TYPES, "banner_click", None)))
    wheres = [st.just([]), st.just([]), _colour_wheres]
    if kind is not None and kind.startswith("banner"):
        wheres.append(_banner_wheres)
    return Step(type=kind, where=draw(st.one_of(*wheres)))


_windows = st.one_of(
    st.none(),
    st.builds(lambda h: Last(hours=h), st.integers(1, 72)),
    st.builds(
        lambda start, hours: Between(
            start=(NOW + timedelta(hours=start)).isoformat(),
            end=(NOW + timedelta(hours=start + hours)).isoformat(),
        ),
        st.integers(-72, 24),
        st.integers(1, 72),
    ),
    st.builds(lambda d: SinceFirstVisit(days=d), st.one_of(st.none(), st.integers(1, 3))),
)
_counts = st.one_of(
    st.none(),
    st.builds(lambda n: Count(at_least=n), st.integers(0, 3)),
    st.builds(lambda n: Count(exactly=n), st.integers(1, 2)),
    st.builds(lambda n, m: Count(at_least=n, at_most=n + m), st.integers(1, 2), st.integers(0, 2)),
    st.builds(lambda n: Count(at_most=n), st.integers(0, 2)),
    st.builds(
        lambda n, m, column: Count(at_least=n, at_most=m, distinct=column),
        st.integers(1, 2),
        st.one_of(st.none(), st.integers(2, 3)),
        st.sampled_from(("banner_id", "type")),
    ),
)
_events = st.builds(
    lambda step, count, window: Event(type=step.type, where=step.where, count=count, window=window),
    _steps(),
    _counts,
    _windows,
)
_sequences = st.builds(
    lambda steps, within, window: EventSequence(steps=steps, within_minutes=within, window=window),
    st.lists(_steps(), min_size=2, max_size=3),
    st.one_of(st.integers(1, 60), st.integers(60, 3000)),
    _windows,
)
# a condition on the profile (read from the latest run: constant between runs)
_members = st.sampled_from([Profile(field="member", value=True), Profile(field="member", value=False)])
_leaves = st.one_of(_events, _events, _events, _sequences, _members)
_trees = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.builds(lambda cs: AllOf(conditions=cs), st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda cs: AnyOf(conditions=cs), st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda c: Not(condition=c), children),
    ),
    max_leaves=4,
)


@st.composite
def live_definitions(draw: st.DrawFn) -> Definition:
    """A definition live membership supports: the tree alone if it is live, else the tree
    narrowed by an event condition (``all`` of both)."""
    tree = draw(_trees)
    definition = Definition(name=Names(en="live"), conditions=[tree])
    if not is_live(definition):
        anchor = draw(st.one_of(_sequences, _events.filter(lambda e: e.count is None)))
        definition = Definition(name=Names(en="live"), conditions=[anchor, tree])
    assert not check_definition(definition), check_definition(definition)
    assert is_live(definition), live_problem(definition)
    return definition


@st.composite
def raw_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from((*TYPES, "banner_click", "banner_click", "page_view", "identify")))
    anon, user = draw(st.sampled_from(ANONS)), draw(st.sampled_from(USERS))
    raw: dict[str, Any] = {"type": kind, "anonymousId": anon}
    if kind == "identify":
        raw["userId"] = user or "u2"
    elif user is not None:
        raw["userId"] = user
    properties: dict[str, Any] = {}
    if kind.startswith("banner"):
        properties["banner_id"] = draw(st.sampled_from(("B1", "B2")))
    colour = draw(st.sampled_from((None, "red", "blue")))
    if colour is not None:
        properties["colour"] = colour
    if properties:
        raw["properties"] = properties
    # minutes before the clock's time (a few after it: a client clock a little ahead)
    raw["minutes"] = draw(st.one_of(st.integers(-12 * 60, 4), st.integers(-5 * 24 * 60, 4)))
    return raw


_operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.lists(raw_events(), min_size=1, max_size=12)),
        st.tuples(st.just("send"), st.lists(raw_events(), min_size=1, max_size=12)),
        st.tuples(st.just("resend"), st.integers(0, 1000)),
        st.tuples(st.just("advance"), st.one_of(st.integers(1, 120), st.integers(1, 3 * 24 * 60))),
        st.tuples(st.just("restart"), st.none()),
    ),
    min_size=2,
    max_size=8,
)


def _stamp(raws: list[dict[str, Any]], now: datetime, start: int) -> list[dict[str, Any]]:
    out = []
    for i, raw in enumerate(raws):
        minutes = raw["minutes"]
        stamped = {k: v for k, v in raw.items() if k != "minutes"}
        stamped["messageId"] = f"m{start + i}"
        stamped["timestamp"] = (now + timedelta(minutes=minutes)).isoformat()
        out.append(stamped)
    return out


def _check(shop: Shop) -> None:
    shop.live.refresh_static(shop.store)  # as a run would (who is a member changes with events)
    for segment_id, definition in shop.segments.items():
        live = shop.live_members(segment_id)
        assert live == shop.ibis_members(segment_id), (segment_id, live)
        assert live == pandas_members(shop.store, definition, shop.clock.now()), (segment_id, live)
        assert live == shop.history_members(segment_id)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(
    definitions=st.lists(live_definitions(), min_size=1, max_size=3),
    first=st.lists(raw_events(), min_size=3, max_size=15),
    operations=_operations,
)
def test_live_membership_equals_recomputation(
    definitions: list[Definition], first: list[dict[str, Any]], operations: list[Any]
) -> None:
    shop = Shop()
    for definition in definitions:
        shop.save(definition)
    shop.start()
    sent = 0
    for op, arg in [("send", first), *operations]:
        if op == "send":
            shop.send(_stamp(arg, shop.clock.now(), sent))
            sent += len(arg)
        elif op == "resend" and shop.sent:  # the same message id again: stored once, counted once
            shop.send([shop.sent[arg % len(shop.sent)]])
        elif op == "advance":
            shop.advance(timedelta(minutes=arg))
        elif op == "restart":
            shop.restart()
        _check(shop)


# -- worked examples --------------------------------------------------------------------------------

CLICKED_TWICE = {
    "name": {"ko": "배너 X 두 번 클릭", "en": "Clicked banner X twice"},
    "conditions": [
        {
            "kind": "event",
            "type": "banner_click",
            "where": [{"property": "banner_id", "value": "X"}],
            "count": {"at_least": 2},
            "window": {"kind": "last", "days": 1},
        }
    ],
}


def _click(i: int, anon: str, at: datetime, user: str | None = None) -> dict[str, Any]:
    raw = {
        "messageId": f"c{i}",
        "type": "banner_click",
        "anonymousId": anon,
        "timestamp": at.isoformat(),
        "properties": {"banner_id": "X"},
    }
    if user:
        raw["userId"] = user
    return raw


def test_a_second_click_enters_and_the_window_sliding_past_exits_at_its_moment() -> None:
    shop = Shop()
    segment = shop.save(parse_definition(CLICKED_TWICE))
    shop.start()
    shop.send([_click(1, "a", NOW - timedelta(hours=3))])
    assert shop.live_members(segment) == set()
    shop.send([_click(1, "a", NOW - timedelta(hours=3))])  # re-sent: still one click
    assert shop.live_members(segment) == set()
    shop.send([_click(2, "a", NOW - timedelta(hours=1))])
    assert shop.live_members(segment) == {"anon:a"}
    assert shop.live.engine.segments_of("anon:a") == {segment}
    shop.advance(timedelta(hours=20, minutes=59))
    assert shop.live_members(segment) == {"anon:a"}
    shop.advance(timedelta(hours=2))  # the first click left the last day at 09:00 the next day
    assert shop.live_members(segment) == set()
    shop.advance(timedelta(hours=2))  # the second one too: nothing of the visitor is kept
    assert shop.live.engine.stats()["identifiers"] == 0
    rows = shop.store.sql(
        "SELECT profile_id, entered_at, exited_at FROM segment_history WHERE segment_id = ?", [segment]
    )
    assert rows == [("anon:a", NOW, NOW + timedelta(hours=21, microseconds=1))]


def test_a_link_joins_two_visitors_clicks_into_one_customer() -> None:
    shop = Shop()
    segment = shop.save(parse_definition(CLICKED_TWICE))
    shop.start()
    shop.send([_click(1, "phone", NOW - timedelta(hours=2))])
    shop.send([_click(2, "laptop", NOW - timedelta(hours=1), user="m1")])
    assert shop.live_members(segment) == set()  # one click each, as far as anyone knows
    shop.send([{"messageId": "i1", "type": "identify", "anonymousId": "phone", "userId": "m1"}])
    assert shop.live_members(segment) == {"user:m1"} == shop.ibis_members(segment)
    # the on-site decision asks by the device's id: it is the member's
    assert shop.live.engine.segments_of("anon:phone") == {segment}
    assert shop.live.engine.segments_of("anon:laptop") == {segment}


def test_segments_that_need_no_event_are_counted_at_each_run() -> None:
    never = parse_definition(
        {
            "name": {"en": "never clicked"},
            "conditions": [{"kind": "not", "condition": {"kind": "event", "type": "banner_click"}}],
        }
    )
    purchase = parse_definition(
        {"name": {"en": "bought"}, "conditions": [{"kind": "event", "type": "order_completed"}]}
    )
    scores = parse_definition(
        {
            "name": {"en": "risky"},
            "conditions": [{"kind": "profile", "field": "churn_risk", "op": ">", "value": 0.5}],
        }
    )
    assert "did nothing" in str(live_problem(never))
    assert "purchase" in str(live_problem(purchase))
    assert "no event" in str(live_problem(scores))
    narrowed = parse_definition(
        {
            "name": {"en": "clicked, not risky"},
            "conditions": [
                {"kind": "event", "type": "banner_click"},
                {"kind": "not", "condition": scores.conditions[0]},
            ],
        }
    )
    assert is_live(narrowed)


def test_static_conditions_come_from_the_latest_run_and_are_applied_when_it_changes() -> None:
    shop = Shop()
    clicked_member = parse_definition(
        {
            "name": {"en": "clicked members"},
            "conditions": [
                {"kind": "event", "type": "banner_click"},
                {"kind": "profile", "field": "member", "value": True},
            ],
        }
    )
    segment = shop.save(clicked_member)
    shop.start()
    shop.send(
        [_click(1, "a", NOW - timedelta(minutes=5)), _click(2, "b", NOW - timedelta(minutes=5), user="m2")]
    )
    # the member list is a static condition: read at start (nobody then) and after each run
    assert shop.live_members(segment) == set()
    shop.live.refresh_static(shop.store)
    assert shop.live_members(segment) == {"user:m2"} == shop.ibis_members(segment)


@pytest.mark.parametrize("restart_every", [1, 3])
def test_restarts_rebuild_the_same_members_from_the_stored_events(restart_every: int) -> None:
    shop = Shop()
    segment = shop.save(parse_definition(CLICKED_TWICE))
    shop.start()
    for i in range(8):
        shop.send([_click(i, f"v{i % 3}", NOW - timedelta(hours=i))])
        if i % restart_every == 0:
            shop.restart()
        assert shop.live_members(segment) == shop.ibis_members(segment) == shop.history_members(segment)


def test_an_erased_customer_leaves_the_live_segments_without_a_trace() -> None:
    from shopmind.core import IdentifierHasher
    from shopmind.store import erase_profile

    shop = Shop()
    segment = shop.save(parse_definition(CLICKED_TWICE))
    shop.start()
    shop.send(
        [_click(1, "gone", NOW - timedelta(hours=2), user="m9"), _click(2, "gone", NOW - timedelta(hours=1))]
    )
    shop.send([_click(3, "stays", NOW - timedelta(hours=2)), _click(4, "stays", NOW - timedelta(hours=1))])
    assert shop.live_members(segment) == {"user:m9", "anon:stays"}
    erased = erase_profile(shop.store, "user:m9", IdentifierHasher(b"k" * 32))
    shop.live.forget({*erased.identifiers, erased.profile_id})  # as the server does after an erasure
    shop.live.write(shop.store)
    assert shop.live_members(segment) == {"anon:stays"} == shop.ibis_members(segment)
    assert shop.live.engine.segments_of("anon:gone", "user:m9") == frozenset()
    assert shop.history_members(segment) == {"anon:stays"}
    assert shop.store.sql("SELECT count(*) FROM segment_history WHERE profile_id = 'user:m9'") == [(0,)]
    shop.advance(timedelta(days=2))  # nothing of theirs comes back, not even an exit
    shop.restart()
    assert shop.store.sql("SELECT count(*) FROM segment_history WHERE profile_id = 'user:m9'") == [(0,)]


def test_the_columns_live_conditions_may_name_are_the_compilers() -> None:
    from shopmind.segments._definition import EVENT_COLUMNS
    from shopmind.segments._live import _COLUMN_NAMES
    from shopmind.store import LIVE_EVENT_COLUMNS

    assert set(EVENT_COLUMNS) == _COLUMN_NAMES <= set(LIVE_EVENT_COLUMNS)


def test_an_undone_merge_splits_the_customer_again_at_the_next_sweep() -> None:
    shop = Shop()
    segment = shop.save(parse_definition(CLICKED_TWICE))
    shop.start()
    shop.send(
        [
            _click(1, "phone", NOW - timedelta(hours=2)),
            _click(2, "laptop", NOW - timedelta(hours=1), user="m1"),
        ]
    )
    shop.send([{"messageId": "i1", "type": "identify", "anonymousId": "phone", "userId": "m1"}])
    assert shop.live_members(segment) == {"user:m1"}
    (link,) = shop.store.sql("SELECT link_id FROM identity_links WHERE a = 'anon:phone' OR b = 'anon:phone'")
    shop.store.undo_link(link[0])  # (the command line's `identities undo`)
    shop.store.rebuild_profiles()
    shop.live.sweep(shop.store)
    assert shop.live_members(segment) == set() == shop.ibis_members(segment) == shop.history_members(segment)

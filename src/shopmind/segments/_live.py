"""Live membership of saved segments: kept up to date as events arrive, without reading the events
table again for each one.

Which segments are live (``live_problem`` says why one is not): those whose members must have done
something, that is whose conditions are event and sequence conditions over any window, combined
with AND / OR / NOT and with conditions on profiles, consent and segments. The latter are read
once per run of the jobs that compute them (``LiveSegments.set_static``) and are constant between
runs, as their values are. A segment that a customer with no matching event could be in (a ``not``
or an ``at most`` on its own) and one on purchases (read from the orders, which a client's claim
does not make) are counted at each run instead.

The state is per identifier (``user:…`` for an event with a member id, else ``anon:…``, as the
store assigns events to customers), per step of each event or sequence condition: the times of the
matching events, sorted, only as many as can still matter (a window's expired events go; a count
of at least N needs the newest N in a sliding window, the oldest N in a fixed one). A customer's
value is taken over every identifier of theirs, so when an identity link joins two customers their
state joins too, and the combinator is evaluated again for the joined customer (``move``). Each
evaluation also says when the value can next change with time alone (an event leaving a sliding
window, or an event stamped a little in the future becoming past), and ``sweep`` re-evaluates the
customers whose moment has come, at that moment, so an exit is dated when it happened.

Pure: the server feeds it committed, non-duplicate events, identity moves and the clock's time,
and writes the changes (``LiveChange``) it collects into the membership history.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.events import EventType
from shopmind.segments._definition import (
    EVENT_COLUMNS,
    AllOf,
    AnyOf,
    Between,
    Condition,
    Consent,
    Definition,
    Event,
    EventSequence,
    InSavedSegment,
    InSegment,
    Last,
    Moved,
    Not,
    Profile,
    SinceFirstVisit,
    Step,
    Window,
    nodes,
    window_bounds,
)

if TYPE_CHECKING:
    from shopmind.segments._live_match import Test

#: purchase conditions read the orders (``_sources.PURCHASE``), not the events
PURCHASE = EventType.ORDER_COMPLETED.value

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EMPTY: list[int] = []
_US = timedelta(microseconds=1)
#: matching events kept per step of a sequence per identifier at most (a sequence needs every
#: event in its window; beyond this many, the ones least likely to matter go first)
MAX_KEPT = 1_000
#: static conditions: read from the jobs' latest results, not from events
STATIC = (Profile, Consent, InSegment, Moved, InSavedSegment)


def micros(moment: datetime) -> int:
    """Microseconds since 1970 (UTC): exact, and quick to compare."""
    return (moment - EPOCH) // _US


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


# -- which segments are live --------------------------------------------------------------------


def live_problem(definition: Definition) -> str | None:
    """Why ``definition``'s members are counted at each run rather than kept live (None: live)."""
    root = definition.root
    events = 0
    for node in _walk(root):
        if isinstance(node, Event | EventSequence):
            events += 1
            steps = node.steps if isinstance(node, EventSequence) else [node]
            if any(step.type == PURCHASE for step in steps):
                return (
                    "a purchase condition reads the orders (a client's order is a claim until the shop's "
                    "server confirms it): counted at each run"
                )
    if not events:
        return "no event or sequence condition: its members change with the runs, not with events"
    if not _anchored(root):
        return (
            "a customer who did nothing could be a member (a 'not' or an 'at most' that no event "
            "condition narrows): counted at each run"
        )
    return None


def is_live(definition: Definition) -> bool:
    return live_problem(definition) is None


def _walk(node: Condition) -> Iterable[Condition]:
    yield node
    if isinstance(node, AllOf | AnyOf):
        for child in node.conditions:
            yield from _walk(child)
    elif isinstance(node, Not):
        yield from _walk(node.condition)


def _bounds(node: Event) -> tuple[int, int | None]:
    return node.count.bounds() if node.count is not None else (1, None)


def _anchored(node: Condition) -> bool:
    """Whether ``node`` can hold only for a customer with a matching event: then only the customers
    with live state need evaluating."""
    if isinstance(node, Event):
        return _bounds(node)[0] >= 1
    if isinstance(node, EventSequence):
        return True
    if isinstance(node, AllOf):
        return any(_anchored(c) for c in node.conditions)
    if isinstance(node, AnyOf):
        return all(_anchored(c) for c in node.conditions)
    return False


# -- compiled definitions -----------------------------------------------------------------------

_LAST, _BETWEEN, _FIRST = 1, 2, 3


class _Leaf:
    """An event or sequence condition, shared by every live segment that has it."""

    __slots__ = (
        "distinct",
        "end",
        "high",
        "index",
        "keep",
        "kind",
        "low",
        "segments",
        "sequence",
        "slots",
        "span",
        "start",
        "within",
    )

    def __init__(self, index: int, node: Event | EventSequence, first_slot: int, zone: str) -> None:
        self.index = index
        self.sequence = isinstance(node, EventSequence)
        steps = node.steps if isinstance(node, EventSequence) else [node]
        self.slots = tuple(range(first_slot, first_slot + len(steps)))
        self.segments: list[_Segment] = []
        self.kind, self.span, self.start, self.end = _window(node.window, zone)
        self.within = node.within_minutes * 60_000_000 if isinstance(node, EventSequence) else 0
        #: the event column whose different values are counted (None: events are counted)
        self.distinct = node.count.distinct if isinstance(node, Event) and node.count is not None else None
        if isinstance(node, Event):
            self.low, self.high = _bounds(node)
            #: a count needs to know the number of events up to this many
            self.keep = max(self.low, 1) if self.high is None else max(self.low, self.high + 1, 1)
        else:
            self.low, self.high, self.keep = 1, None, MAX_KEPT

    def add(self, times: dict[int, Any], step: int, t: int, now: int, value: Any = None) -> bool:
        """Keep the time of a matching event (``value``: its ``distinct`` column's); False when it
        can never matter."""
        kind = self.kind
        first_step = step == 0
        if kind == _LAST:
            if t < now - self.span:  # already out of the window
                return False
        elif kind == _BETWEEN and first_step and not self.start <= t < self.end:
            return False
        if self.distinct is not None:
            return self._add_value(times, t, now, value)
        slot = self.slots[step]
        found = times.get(slot)
        if found is None:
            times[slot] = [t]
            return True
        insort(found, t)
        if kind == _LAST:
            expired = bisect_left(found, now - self.span)
            if expired:
                del found[:expired]
            # a sliding window needs the newest events before now (and every later one)
            past = bisect_left(found, now)
            if past > self.keep:
                del found[: past - self.keep]
                return t >= found[0]
        elif len(found) > self.keep:  # a fixed start: the oldest events decide any count up to keep
            dropped = found.pop()
            return dropped != t or t in found
        return True

    def _add_value(self, times: dict[int, Any], t: int, now: int, value: Any) -> bool:
        """A distinct count keeps, per value, the times that decide whether it counts: in a
        sliding window the newest before now (and any later); from a fixed start the oldest."""
        if value is None:  # (a missing value is no value)
            return False
        values: dict[Any, list[int]] = times.setdefault(self.slots[0], {})
        found = values.get(value)
        if found is None:
            values[value] = [t]
            return True
        if self.kind == _LAST:
            insort(found, t)
            past = bisect_left(found, now)
            if past > 1:
                del found[: past - 1]
            return t in found
        if t < found[0]:
            found[0] = t
            return True
        return False

    def prune(self, times: dict[int, Any], now: int) -> None:
        """Forget what left a sliding window for good."""
        if self.kind != _LAST:
            return
        cut = now - self.span
        if self.distinct is not None:
            values = times.get(self.slots[0])
            if values:
                for value in [v for v, found in values.items() if found[-1] < cut]:
                    del values[value]
                if not values:
                    del times[self.slots[0]]
            return
        for slot in self.slots:
            found = times.get(slot)
            if found and found[0] < cut:
                del found[: bisect_left(found, cut)]
                if not found:
                    del times[slot]

    def value(self, lists: list[Any], first: int | None, now: int) -> tuple[bool, int | None]:
        """Whether the condition holds at ``now`` over the customer's times (``lists``: per step,
        sorted), and the next moment it may change with time alone (None: not by time)."""
        if self.sequence:
            return self._sequence(lists, first, now)
        found = lists[0] if self.distinct is None else self._representatives(lists[0], now)
        lo = 0
        hi = bisect_left(found, now)  # events before now
        if self.kind == _LAST:
            lo = bisect_left(found, now - self.span)
        elif self.kind == _FIRST:
            if first is None:
                return self._count(0), None
            hi = bisect_left(found, min(now, first + self.span))
        n = hi - lo
        value = self._count(n)
        nxt: int | None = None
        # the next event to become past (if it can count then)
        if (
            hi < len(found)
            and found[hi] >= now
            and (self.kind != _FIRST or (first is not None and found[hi] < first + self.span))
        ):
            nxt = found[hi] + 1
        if self.kind == _LAST and n:
            # the counted events leave the window oldest first: when will the count's value flip?
            # (if never, when the last has left: the customer's state is then forgotten)
            leave = found[hi - 1] + self.span + 1
            for left in range(1, n + 1):
                if self._count(n - left) != value:
                    leave = found[lo + left - 1] + self.span + 1
                    break
            nxt = leave if nxt is None else min(nxt, leave)
        return value, nxt

    def _representatives(self, values: Mapping[Any, list[int]], now: int) -> list[int]:
        """One time per value, sorted, that a count of values reads as a count of events: the
        newest before now (in a sliding window) or the oldest; and the first later one of a value
        that has none before now (when it comes, the value counts)."""
        out = []
        for found in values.values():
            if self.kind != _LAST:
                out.append(found[0])
                continue
            past = bisect_left(found, now)
            if past and found[past - 1] >= now - self.span:
                out.append(found[past - 1])
            elif past < len(found):
                out.append(found[past])
        out.sort()
        return out

    def _count(self, n: int) -> bool:
        """Whether ``n`` events (or values) meet the count, as the compiler reads it."""
        low, high = self.low, self.high
        if high is None and low == 0:  # at least zero times: anyone
            return True
        if low >= 1:
            return n >= low and (high is None or n <= high)
        assert high is not None
        return n <= high

    def _sequence(self, lists: list[list[int]], first: int | None, now: int) -> tuple[bool, int | None]:
        starts = lists[0]
        within = self.within
        lo, hi = 0, bisect_left(starts, now)
        if self.kind == _LAST:
            lo = bisect_left(starts, now - self.span)
        elif self.kind == _FIRST:
            hi = 0 if first is None else bisect_left(starts, min(now, first + self.span))
        # only starts that a later step can follow: after the first next step's earliest time
        # less ``within``, and before the last step's latest time before now
        later = lists[1:]
        if all(later):
            lo = max(lo, bisect_left(starts, later[0][0] - within))
            last = later[-1]
            past = bisect_left(last, now)
            hi = min(hi, bisect_left(starts, last[past - 1])) if past else lo
        else:
            hi = lo
        # the latest start with a complete chain: each next step the earliest strictly after the
        # one before, before now, and no later than ``within`` after the start
        found: int | None = None
        for i in range(hi - 1, lo - 1, -1):
            t0 = starts[i]
            limit = min(t0 + within, now - 1)
            t = t0
            for steps in lists[1:]:
                j = bisect_right(steps, t)
                if j == len(steps) or steps[j] > limit:
                    break
                t = steps[j]
            else:
                found = t0
                break
        nxt: int | None = None
        for steps in lists:  # a step stamped in the future may complete a chain when it is past
            j = bisect_left(steps, now)
            if j < len(steps):
                nxt = steps[j] + 1 if nxt is None else min(nxt, steps[j] + 1)
        if self.kind == _LAST:
            if found is not None:  # the latest complete chain's start leaves the window
                leave: int | None = found + self.span + 1
            else:  # (with none, when every step's events have left: the state is then forgotten)
                pasts = [steps[j - 1] for steps in lists if (j := bisect_left(steps, now))]
                leave = max(pasts) + self.span + 1 if pasts else None
            if leave is not None:
                nxt = leave if nxt is None else min(nxt, leave)
        return found is not None, nxt


def _window(window: Window | None, zone: str) -> tuple[int, int, int, int]:
    """(kind, span, start, end) in microseconds."""
    if isinstance(window, Last):
        return _LAST, window.span() // _US, 0, 0
    if isinstance(window, Between):
        start, end = window_bounds(window, zone)
        return _BETWEEN, 0, micros(start), micros(end)
    if isinstance(window, SinceFirstVisit) and window.days is not None:
        return _FIRST, timedelta(days=window.days) // _US, 0, 0
    return 0, 0, 0, 0


class _Static:
    """A condition on profiles, consent or segments: its members as of the latest runs."""

    __slots__ = ("condition", "index", "members", "segments")

    def __init__(self, index: int, condition: Condition) -> None:
        self.index = index
        self.condition = condition
        self.members: frozenset[str] = frozenset()
        self.segments: list[_Segment] = []


_Entry = tuple["_Leaf", int, "Test | None"]
#: the events table's columns a ``where`` may name (any other name is a property)
_COLUMN_NAMES = frozenset(EVENT_COLUMNS)
#: the event columns a step may name with ``=`` that the index files it under (the most selective first)
_KEYS = ("product_id", "category", "name", "banner_id", "campaign_id", "page_url", "query")


class _Index:
    """The steps of one event type, filed by a column they need equal to a value (the product,
    the category, the name, the banner...): an event is tested against the steps filed under its
    own values and those filed under none, not against every step of its type."""

    __slots__ = ("keyed", "rest")

    def __init__(self) -> None:
        self.keyed: dict[str, dict[Any, list[_Entry]]] = {}
        self.rest: list[_Entry] = []

    def add(self, step: Step, entry: _Entry) -> None:
        wanted = {"product_id": step.product, "category": step.category, "name": step.name}
        for where in step.where:
            key = where.property
            if where.op == "=" and isinstance(where.value, str) and key in _KEYS and wanted.get(key) is None:
                wanted[key] = where.value
        for key in _KEYS:
            value = wanted.get(key)
            if value is not None:
                self.keyed.setdefault(key, {}).setdefault(value, []).append(entry)
                return
        self.rest.append(entry)

    def candidates(self, row: Mapping[str, Any]) -> list[_Entry]:
        found = self.rest
        for key, table in self.keyed.items():
            value = row[key]
            if value is not None:
                more = table.get(value)
                if more:
                    found = found + more
        return found


_ALL, _ANY, _NOT, _LEAF, _STATIC = range(5)
Node = tuple[Any, ...]


class _Segment:
    __slots__ = ("definition", "holds", "leaves", "monotone", "segment_id", "statics", "tree")

    def __init__(self, segment_id: str, definition: Definition) -> None:
        self.segment_id = segment_id
        self.definition = definition
        self.leaves: list[_Leaf] = []
        self.statics: list[_Static] = []
        self.tree: Node = ()
        #: the tree as one function of the conditions' values and the profile id
        self.holds: Callable[[Mapping[int, bool], str], bool] = lambda values, profile: False
        #: whether another event can only keep a member in (no ``not`` above an event
        #: condition, no upper bound on a count, no window from the first visit, which an
        #: earlier event moves): a member's new events then need no evaluation
        self.monotone = False


class _Visitor:
    """One identifier's state: its customer (profile id), the times of its matching events per
    step slot, and its first event's time (when a window starts at the first visit)."""

    __slots__ = ("first", "ident", "profile", "times")

    def __init__(self, ident: str, profile: str) -> None:
        self.ident = ident
        self.profile = profile
        self.times: dict[int, list[int]] = {}
        self.first: int | None = None


@dataclass(frozen=True)
class LiveChange:
    """A customer entered (or exited) a segment at ``at``; an exit says when the stay it ends
    began (``since``)."""

    segment_id: str
    profile_id: str
    entered: bool
    at: datetime
    since: datetime | None = None


Resolve = Callable[[str], str]


class LiveSegments:
    """The live members of the live saved segments. Not thread-safe: one thread (the server's
    store thread) calls every method but ``segments_of``/``members``, which only read."""

    def __init__(self, zone: str = DEFAULT_SHOP_TZ) -> None:
        self.zone = zone
        self.segments: dict[str, _Segment] = {}
        self.problems: dict[str, str] = {}  # segment id → why it is not live
        self._leaves: list[_Leaf] = []
        self._statics: list[_Static] = []
        self._slot_leaf: list[_Leaf] = []
        self._by_type: dict[str, _Index] = {}
        self._any_type: list[_Entry] = []
        self._first_segments: list[_Segment] = []
        self._track_first = False
        self._visitors: dict[str, _Visitor] = {}
        self._groups: dict[str, list[_Visitor]] = {}
        self._via: dict[str, str] = {}  # device identifier → the member identifier it was seen with
        self._members: dict[str, dict[str, int]] = {}  # segment → profile → entered at (µs)
        self._of: dict[str, set[str]] = {}  # profile → the segments it is in
        self._due: dict[tuple[str, str], int] = {}
        self._heap: list[tuple[int, str, str]] = []
        self._now = 0
        #: membership changes not yet written, oldest first
        self.changes: list[LiveChange] = []

    # -- definitions --------------------------------------------------------------------------
    def define(self, saved: Iterable[tuple[str, Definition]]) -> None:
        """Take these saved segments (the live ones among them) as the ones to keep; the state is
        emptied: ``rebuild`` or feed events from the start of the longest window after this."""
        self.segments, self.problems = {}, {}
        self._leaves, self._statics, self._slot_leaf = [], [], []
        self._by_type, self._any_type, self._track_first = {}, [], False
        self._first_segments = []
        leaves: dict[bytes, _Leaf] = {}
        statics: dict[bytes, _Static] = {}
        for segment_id, definition in saved:
            problem = live_problem(definition)
            if problem is not None:
                self.problems[segment_id] = problem
                continue
            segment = _Segment(segment_id, definition)
            segment.tree = self._compile(definition.root, segment, leaves, statics, "conditions")
            segment.holds = _function(segment.tree)
            segment.monotone = _monotone(segment.tree, positive=True)
            self.segments[segment_id] = segment
        self._finish()
        self._visitors, self._groups, self._via = {}, {}, {}
        self._members = {segment_id: {} for segment_id in self.segments}
        self._of, self._due, self._heap, self.changes = {}, {}, [], []

    def _compile(
        self,
        node: Condition,
        segment: _Segment,
        leaves: dict[bytes, _Leaf],
        statics: dict[bytes, _Static],
        at: str,
    ) -> Node:
        if isinstance(node, AllOf | AnyOf):
            kind = _ALL if isinstance(node, AllOf) else _ANY
            children = tuple(
                self._compile(c, segment, leaves, statics, f"{at}.conditions[{i}]")
                for i, c in enumerate(node.conditions)
            )
            return (kind, children)
        if isinstance(node, Not):
            return (_NOT, self._compile(node.condition, segment, leaves, statics, f"{at}.condition"))
        key = msgspec.json.encode(node)
        if isinstance(node, Event | EventSequence):
            leaf = leaves.get(key)
            if leaf is None:
                leaf = leaves[key] = self._leaf(node, at)
            if segment not in leaf.segments:
                leaf.segments.append(segment)
                segment.leaves.append(leaf)
            return (_LEAF, leaf)
        assert isinstance(node, STATIC)
        static = statics.get(key)
        if static is None:
            static = statics[key] = _Static(len(self._statics), node)
            self._statics.append(static)
        if segment not in static.segments:
            static.segments.append(segment)
            segment.statics.append(static)
        return (_STATIC, static)

    def _leaf(self, node: Event | EventSequence, at: str) -> _Leaf:
        from shopmind.segments._live_match import step_matcher  # (it loads the compiler, and Ibis)

        leaf = _Leaf(len(self._leaves), node, len(self._slot_leaf), self.zone)
        self._leaves.append(leaf)
        steps: Sequence[Step] = node.steps if isinstance(node, EventSequence) else [node]
        for i, step in enumerate(steps):
            self._slot_leaf.append(leaf)
            where = f"{at}.steps[{i}]" if isinstance(node, EventSequence) else at
            entry = (leaf, i, step_matcher(step, where))
            if step.type is None:
                self._any_type.append(entry)
            else:
                self._by_type.setdefault(step.type, _Index()).add(step, entry)
        if leaf.kind == _FIRST:
            self._track_first = True
        return leaf

    @property
    def statics(self) -> list[tuple[int, Condition]]:
        """The static conditions to read (index, condition) for ``set_static``."""
        return [(s.index, s.condition) for s in self._statics]

    @property
    def columns(self) -> frozenset[str]:
        """The event columns the live conditions read (what a rebuild needs of the stored events)."""
        found = {"type", "user_id", "anonymous_id", "event_time"}
        for segment in self.segments.values():
            for node, _, _ in nodes(segment.definition):
                steps = (
                    node.steps
                    if isinstance(node, EventSequence)
                    else [node]
                    if isinstance(node, Event)
                    else []
                )
                for step in steps:
                    found.update(
                        column
                        for column, given in (
                            ("name", step.name),
                            ("page_url", step.page),
                            ("product_id", step.product),
                            ("category", step.category),
                        )
                        if given is not None
                    )
                    for where in step.where:
                        key = where.property
                        found.add(key if key in _COLUMN_NAMES else "properties")
                if isinstance(node, Event) and node.count is not None and node.count.distinct is not None:
                    found.add(node.count.distinct)
        return frozenset(found)

    @property
    def tracks_first_visits(self) -> bool:
        """Whether a window starts at the first visit (every identifier's first event is kept)."""
        return self._track_first

    def _finish(self) -> None:
        self._first_segments = list(
            {id(s): s for leaf in self._leaves if leaf.kind == _FIRST for s in leaf.segments}.values()
        )

    @property
    def event_types(self) -> frozenset[str] | None:
        """The event types a live segment can match (None: any type)."""
        if self._any_type or self._track_first:
            return None
        return frozenset(self._by_type)

    def lookback(self, now: datetime) -> datetime | None:
        """The earliest event time a live segment can still count at ``now`` (None: all history)."""
        earliest: int | None = None
        for leaf in self._leaves:
            if leaf.kind == _LAST:
                start = micros(now) - leaf.span
            elif leaf.kind == _BETWEEN and not leaf.sequence:
                start = leaf.start
            else:
                return None
            earliest = start if earliest is None else min(earliest, start)
        return None if earliest is None else moment(earliest)

    # -- events -------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return bool(self.segments)

    def observe(
        self,
        events: Sequence[Any],
        now: datetime,
        resolve: Resolve,
        duplicate: Sequence[bool] | None = None,
    ) -> None:
        """Count committed events (``duplicate``: per event, whether it was stored before, and so
        counted before) and evaluate the customers whose conditions they changed."""
        if not self.segments:
            return
        at = self._advance(now)
        dirty: dict[str, set[_Segment]] = {}
        for i, event in enumerate(events):
            if duplicate is not None and duplicate[i]:
                continue
            self._apply(vars(event), None, resolve, at, dirty)
        self._evaluate_dirty(dirty, at)

    def _apply(
        self,
        row: Mapping[str, Any],
        t: int | None,
        resolve: Resolve,
        now: int,
        dirty: dict[str, set[_Segment]] | None,
    ) -> None:
        index = self._by_type.get(row["type"])
        if index is None:
            if not self._any_type and not self._track_first:
                return
            candidates = self._any_type
        else:
            candidates = index.candidates(row)
            if self._any_type:
                candidates = candidates + self._any_type
        memo: dict[str, Any] = {}
        matched = [(leaf, step) for leaf, step, test in candidates if test is None or test(row, memo)]
        if not matched and not self._track_first:
            return
        user, anon = row["user_id"], row["anonymous_id"]
        ident = f"user:{user}" if user is not None else f"anon:{anon}"
        if t is None:
            t = micros(row["event_time"])
        visitor = self._visitors.get(ident)
        new = visitor is None
        if visitor is None:
            visitor = self._visitor(ident, resolve(ident))
        if user is not None and anon is not None:
            self._via[f"anon:{anon}"] = ident
        if self._track_first and (visitor.first is None or t < visitor.first):
            visitor.first = t
            if dirty is not None:
                dirty.setdefault(visitor.profile, set()).update(self._first_segments)
        for leaf, step in matched:
            value = row[leaf.distinct] if leaf.distinct is not None else None
            if leaf.add(visitor.times, step, t, now, value) and dirty is not None:
                if leaf.sequence and t < now and not self._may_chain(leaf, step, t, visitor.profile):
                    continue
                dirty.setdefault(visitor.profile, set()).update(leaf.segments)
        if new and not visitor.times and visitor.first is None:  # nothing of it can count
            del self._visitors[ident]
            self._drop(visitor)

    def _may_chain(self, leaf: _Leaf, step: int, t: int, profile: str) -> bool:
        """Whether a step of a sequence at ``t`` may complete a chain now: not without a start
        before it, nor while no next step comes after it (the usual case as events arrive in
        order); the event is kept all the same (a step sent late may come before it)."""
        group = self._groups[profile]
        slots = leaf.slots
        if step and not any(slots[0] in v.times for v in group):
            return False
        if step + 1 < len(slots):
            following = slots[step + 1]
            return any((found := v.times.get(following)) and found[-1] > t for v in group)
        return True

    def _drop(self, visitor: _Visitor) -> None:
        group = self._groups.get(visitor.profile)
        if group is not None and visitor in group:
            group.remove(visitor)
            if not group:
                del self._groups[visitor.profile]

    def _visitor(self, ident: str, profile: str) -> _Visitor:
        visitor = self._visitors[ident] = _Visitor(ident, profile)
        self._groups.setdefault(profile, []).append(visitor)
        return visitor

    def _advance(self, now: datetime) -> int:
        """``now`` in microseconds, never before the last (a clock set back does not undo exits);
        every change due by then is applied first, at its own moment."""
        at = max(micros(now), self._now)
        self._sweep(at)
        self._now = at
        return at

    # -- evaluation ---------------------------------------------------------------------------
    def _evaluate_dirty(self, dirty: dict[str, set[_Segment]], now: int) -> None:
        members = self._members
        for profile, segments in dirty.items():
            group = self._groups.get(profile, ())
            for segment in segments:
                # a member stays one: their next change by time may only come later than planned,
                # and the evaluation planned (earlier) finds that out then
                if segment.monotone and profile in members[segment.segment_id]:
                    continue
                self._evaluate(profile, group, segment, now, now)

    def _evaluate(
        self, profile: str, group: Sequence[_Visitor], segment: _Segment, now: int, stamp: int
    ) -> None:
        """Evaluate ``segment`` for ``profile`` at ``now``; a change is dated ``stamp``."""
        values: dict[int, bool] = {}
        due: int | None = None
        first: int | None = None
        if self._track_first:
            firsts = [v.first for v in group if v.first is not None]
            first = min(firsts) if firsts else None
        single = len(group) == 1
        for leaf in segment.leaves:
            if single:
                times = group[0].times
                if leaf.kind == _LAST:
                    leaf.prune(times, now)
                lists = [times.get(s, _EMPTY) for s in leaf.slots]
            else:
                for visitor in group:
                    leaf.prune(visitor.times, now)
                merge: Callable[[list[Any]], Any] = _merged if leaf.distinct is None else _merged_values
                lists = [merge([v.times[s] for v in group if s in v.times]) for s in leaf.slots]
            if not leaf.sequence and not lists[0]:
                values[leaf.index] = leaf._count(0)
                continue
            value, nxt = leaf.value(lists, first, now)
            values[leaf.index] = value
            if nxt is not None and (due is None or nxt < due):
                due = nxt
        member = segment.holds(values, profile)
        members = self._members[segment.segment_id]
        was = profile in members
        if member != was:
            if member:
                members[profile] = stamp
                self._of.setdefault(profile, set()).add(segment.segment_id)
                self.changes.append(LiveChange(segment.segment_id, profile, True, moment(stamp)))
            else:
                since = members.pop(profile)
                inside = self._of.get(profile)
                if inside is not None:
                    inside.discard(segment.segment_id)
                    if not inside:
                        del self._of[profile]
                self.changes.append(
                    LiveChange(segment.segment_id, profile, False, moment(stamp), moment(since))
                )
        key = (profile, segment.segment_id)
        if due is None:
            self._due.pop(key, None)
        elif self._due.get(key) != due:
            self._due[key] = due
            heapq.heappush(self._heap, (due, profile, segment.segment_id))

    def _sweep(self, until: int) -> int:
        """Evaluate every customer whose moment came by ``until``, at that moment."""
        heap, done = self._heap, 0
        while heap and heap[0][0] <= until:
            due, profile, segment_id = heapq.heappop(heap)
            key = (profile, segment_id)
            if self._due.get(key) != due:
                continue  # evaluated since, for another reason
            del self._due[key]
            segment = self.segments.get(segment_id)
            if segment is not None:
                group = self._groups.get(profile, ())
                self._evaluate(profile, group, segment, due, due)
                done += 1
                self._forget_idle(profile, group)
        return done

    def _forget_idle(self, profile: str, group: Sequence[_Visitor]) -> None:
        """Identifiers whose events all left their windows, of a customer in no segment, go (a
        long-running server does not keep every visitor it ever saw)."""
        if profile in self._of or any(v.times or v.first is not None for v in group):
            return
        for visitor in list(group):
            self._visitors.pop(visitor.ident, None)
            self._drop(visitor)

    def sweep(self, now: datetime) -> int:
        """Apply the exits (and entries) that time alone makes by ``now``; how many customers
        were evaluated."""
        at = max(micros(now), self._now)
        done = self._sweep(at)
        self._now = at
        return done

    def next_due(self) -> datetime | None:
        """When the next change by time alone may come (None: none waits)."""
        while self._heap and self._due.get((self._heap[0][1], self._heap[0][2])) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return moment(self._heap[0][0]) if self._heap else None

    def evaluate_all(self, now: datetime, segments: Iterable[_Segment] | None = None) -> None:
        """Evaluate every customer with live state (and every current member) for ``segments``
        (all by default), e.g. after the static conditions changed."""
        at = self._advance(now)
        chosen = list(self.segments.values()) if segments is None else list(segments)
        for segment in chosen:
            for profile in sorted(self._candidates(segment)):
                self._evaluate(profile, self._groups.get(profile, ()), segment, at, at)

    def _candidates(self, segment: _Segment) -> set[str]:
        """The customers who may be in ``segment``: its members, and those with a kept event of
        one of its conditions (a live segment holds no one without one)."""
        slots = {slot for leaf in segment.leaves for slot in leaf.slots}
        found = set(self._members[segment.segment_id])
        first = self._track_first and any(leaf.kind == _FIRST for leaf in segment.leaves)
        for visitor in self._visitors.values():
            if (first and visitor.first is not None) or not slots.isdisjoint(visitor.times):
                found.add(visitor.profile)
        return found

    # -- static conditions and identities -------------------------------------------------------
    def set_static(
        self, values: Mapping[int, Iterable[str]], now: datetime, *, evaluate: bool = True
    ) -> None:
        """The members of the static conditions (by index, see ``statics``) as the latest runs
        found them; the segments that use a changed one are evaluated again (``evaluate``)."""
        touched: dict[str, _Segment] = {}
        for index, found in values.items():
            static = self._statics[index]
            members = frozenset(found)
            if members != static.members:
                static.members = members
                touched.update((s.segment_id, s) for s in static.segments)
        if touched and evaluate:
            self.evaluate_all(now, touched.values())

    def move(self, moves: Mapping[str, str], now: datetime) -> None:
        """Customers joined by identity links: every identifier of profile ``old`` now belongs to
        ``moves[old]``; both are evaluated again (the old one leaves its segments)."""
        if not self.segments or not moves:
            return
        at = self._advance(now)
        affected: set[str] = set()
        for old, new in moves.items():
            if old == new:
                continue
            group = self._groups.pop(old, None)
            if group is not None:
                for visitor in group:
                    visitor.profile = new
                self._groups.setdefault(new, []).extend(group)
                affected.update((old, new))
            elif old in self._of:
                affected.update((old, new))
        self._reevaluate(affected, at)

    def resolve_all(self, resolve: Resolve, now: datetime) -> None:
        """Assign every identifier to its customer again (after links were undone or an import
        linked identities outside the live path)."""
        if not self.segments:
            return
        at = self._advance(now)
        affected: set[str] = set()
        for visitor in self._visitors.values():
            profile = resolve(visitor.ident)
            if profile != visitor.profile:
                self._drop(visitor)
                affected.update((visitor.profile, profile))
                visitor.profile = profile
                self._groups.setdefault(profile, []).append(visitor)
        self._reevaluate(affected, at)

    def _reevaluate(self, profiles: Iterable[str], at: int) -> None:
        for profile in sorted(profiles):
            group = self._groups.get(profile, ())
            segments = {id(s): s for v in group for slot in v.times for s in self._slot_leaf[slot].segments}
            if self._track_first and group:
                segments.update(
                    (id(s), s) for leaf in self._leaves if leaf.kind == _FIRST for s in leaf.segments
                )
            for segment_id in self._of.get(profile, ()):
                segment = self.segments[segment_id]
                segments[id(segment)] = segment
            for segment in segments.values():
                self._evaluate(profile, group, segment, at, at)

    def forget(self, identifiers: Iterable[str]) -> None:
        """Erased customers: their state and memberships go without a trace (their history rows
        are deleted by the erasure; nothing is written for them)."""
        profiles: set[str] = set()
        for ident in identifiers:
            visitor = self._visitors.pop(ident, None)
            self._via.pop(ident, None)
            if visitor is not None:
                profiles.add(visitor.profile)
                self._drop(visitor)
            profiles.add(ident)
        for profile in profiles:
            for segment_id in self._of.pop(profile, ()):
                self._members[segment_id].pop(profile, None)
            for segment_id in self.segments:
                self._due.pop((profile, segment_id), None)
        self.changes = [c for c in self.changes if c.profile_id not in profiles]

    # -- rebuilding -----------------------------------------------------------------------------
    def rebuild(
        self,
        rows: Iterable[Mapping[str, Any]],
        firsts: Iterable[tuple[str, datetime]],
        resolve: Resolve,
        now: datetime,
        current: Mapping[str, Mapping[str, datetime]] | None = None,
    ) -> None:
        """The state from stored events (``rows``: the events table's columns), the first event
        time of every identifier (when a window starts at the first visit), and the members as
        the history holds them (``current``: segment → profile → entered at). Members the events
        no longer hold exit now; new ones enter now; the others keep their entry time."""
        for segment_id in self.segments:
            self._members[segment_id] = {}
        self._visitors, self._groups, self._via, self._of = {}, {}, {}, {}
        self._due, self._heap, self.changes = {}, [], []
        at = max(micros(now), self._now)
        self._now = at
        if self._track_first:
            for ident, first in firsts:
                visitor = self._visitors.get(ident) or self._visitor(ident, resolve(ident))
                t = micros(first)
                if visitor.first is None or t < visitor.first:
                    visitor.first = t
        for row in rows:
            self._apply(row, None, resolve, at, None)
        held = current or {}
        for segment in self.segments.values():
            for profile in sorted(self._candidates(segment)):
                self._evaluate(profile, self._groups.get(profile, ()), segment, at, at)
        # the history's members who still qualify keep their entry time; the others exit now
        self.changes = []
        for segment_id in self.segments:
            members, before = self._members[segment_id], held.get(segment_id, {})
            for profile in sorted(members):
                if profile in before:
                    members[profile] = micros(before[profile])
                else:
                    self.changes.append(LiveChange(segment_id, profile, True, moment(at)))
            for profile, entered in sorted(before.items()):
                if profile not in members:
                    self.changes.append(LiveChange(segment_id, profile, False, moment(at), entered))

    # -- reading --------------------------------------------------------------------------------
    def members(self, segment_id: str) -> dict[str, datetime]:
        """The live members of a segment now: profile id → when they entered."""
        found = self._members.get(segment_id, {})
        return {profile: moment(at) for profile, at in list(found.items())}

    def segments_of(self, *identifiers: str | None) -> frozenset[str]:
        """The live segments the customer of any of ``identifiers`` (``user:…``, ``anon:…`` or a
        profile id) is in now."""
        found: set[str] = set()
        for ident in identifiers:
            if ident is None:
                continue
            visitor = self._visitors.get(ident) or self._visitors.get(self._via.get(ident, ""))
            profile = visitor.profile if visitor is not None else ident
            found.update(self._of.get(profile, ()))
        return frozenset(found)

    @property
    def pending(self) -> int:
        return len(self.changes)

    def take_changes(self) -> list[LiveChange]:
        changes, self.changes = self.changes, []
        return changes

    def stats(self) -> dict[str, int]:
        """How much state is kept: identifiers, customers, kept event times, members."""
        visitors = list(self._visitors.values())  # (a copy at once: another thread may add some)
        return {
            "segments": len(self.segments),
            "identifiers": len(visitors),
            "customers": len(self._groups),
            "times": sum(len(t) for v in visitors for t in list(v.times.values())),
            "members": sum(len(m) for m in list(self._members.values())),
        }


def _merged_values(dicts: list[dict[Any, list[int]]]) -> dict[Any, list[int]]:
    if len(dicts) == 1:
        return dicts[0]
    out: dict[Any, list[int]] = {}
    for found in dicts:
        for value, times in found.items():
            out[value] = sorted(out.get(value, []) + times)
    return out


def _merged(lists: list[list[int]]) -> list[int]:
    if not lists:
        return []
    if len(lists) == 1:
        return lists[0]
    return sorted(t for found in lists for t in found)


def _monotone(node: Node, *, positive: bool) -> bool:
    kind = node[0]
    if kind == _STATIC:
        return True
    if kind == _NOT:
        return _monotone(node[1], positive=not positive)
    if kind == _LEAF:
        leaf = node[1]
        return positive and leaf.kind != _FIRST and (leaf.sequence or leaf.high is None)
    return all(_monotone(c, positive=positive) for c in node[1])


def _function(node: Node) -> Callable[[Mapping[int, bool], str], bool]:
    """The tree ``node`` as a function (values of the conditions by index, profile id) → bool."""
    kind = node[0]
    if kind == _LEAF:
        index = node[1].index
        return lambda values, _: values[index]
    if kind == _STATIC:
        static = node[1]
        return lambda _, profile: profile in static.members
    if kind == _NOT:
        inner = _function(node[1])
        return lambda values, profile: not inner(values, profile)
    parts = [_function(c) for c in node[1]]
    if len(parts) == 1:
        return parts[0]
    if kind == _ALL:
        return lambda values, profile: all(part(values, profile) for part in parts)
    return lambda values, profile: any(part(values, profile) for part in parts)

"""Live membership on a store: the engine (``_live.LiveSegments``) fed from the server's write
path, rebuilt from the stored events at start, and written into the segments' membership history.

Every method runs on the thread that owns the store (the server's store thread), in this order of
life: ``start`` once; then, per group of committed events, ``observe``; around each write of the
identity links derived from events, ``before_links`` and ``after_links``; now and then ``sweep``
(time-based exits, segments saved or changed meanwhile, identities changed outside the live path);
``refresh_static`` after each run of the jobs; ``write`` whenever changes wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shopmind.core import DEFAULT_SHOP_TZ, Clock, ShopmindError
from shopmind.segments._definition import Definition, parse_definition, to_json
from shopmind.segments._live import LiveChange, LiveSegments, Resolve, is_live, live_problem
from shopmind.store import (
    Store,
    first_event_times,
    live_event_rows,
    open_stays,
    record_stays,
    saved_definitions,
    segments_signature,
)

_log = logging.getLogger("shopmind.segments")


class LiveMembership:
    """The live members of a store's saved segments, kept as events are committed."""

    def __init__(self, clock: Clock, zone: str = DEFAULT_SHOP_TZ) -> None:
        self.clock = clock
        self.zone = zone
        self.engine = LiveSegments(zone)
        self._signature: str | None = None
        self._graph: object | None = None
        self._graph_version = -1
        self._counted: dict[str, datetime | None] = {}  # segment → last counted by a query
        self._since: float | None = None  # monotonic time of the oldest change waiting
        self.written = 0  # changes written to the history so far

    # -- the life of the server -------------------------------------------------------------
    def start(self, store: Store) -> None:
        """Read the saved segments, rebuild the live state from the stored events in the longest
        window, bring the history in line with it and read the static conditions."""
        signature = segments_signature(store)
        self._define(store, self._saved(store))
        self._signature = signature  # (not before: a start that failed is tried again by the sweep)

    def _saved(self, store: Store) -> list[tuple[str, Definition]]:
        saved = []
        self._counted = {}
        for segment_id, text, counted in saved_definitions(store):
            try:
                saved.append((segment_id, parse_definition(text)))
            except ShopmindError as exc:  # written by a newer shopmind, say: counted at each run
                _log.warning("segment %s is not kept live: %s", segment_id, exc)
            self._counted[segment_id] = counted
        return saved

    def _reload(self, store: Store, signature: str) -> None:
        """The saved segments changed: start again if the live ones did, or one of them was
        counted into its history by a query (``segments refresh``: the live state corrects the
        history from there); else only note why the others are not live."""
        before = {segment_id: self._counted.get(segment_id) for segment_id in self.engine.segments}
        known = {segment_id: to_json(s.definition) for segment_id, s in self.engine.segments.items()}
        saved = self._saved(store)
        live = {segment_id: to_json(d) for segment_id, d in saved if is_live(d)}
        if live != known or any(self._counted.get(segment_id) != at for segment_id, at in before.items()):
            self._define(store, saved)
        else:
            self.engine.problems = {
                segment_id: problem for segment_id, d in saved if (problem := live_problem(d)) is not None
            }
        self._signature = signature

    def _define(self, store: Store, saved: Sequence[tuple[str, Definition]]) -> None:
        """A new state for ``saved``, built aside and then put in place at once (the API and the
        on-site decisions read the state from other threads: never a half-built one)."""
        self.write(store)  # what the state in place found is written first
        engine = LiveSegments(self.zone)
        engine.define(saved)
        now = self.clock.now()
        if engine.active:
            resolve = self._resolve(store)
            self._statics(store, now, engine, evaluate=False)
            rows = live_event_rows(store, engine.lookback(now), engine.event_types, columns=engine.columns)
            firsts = first_event_times(store) if engine.tracks_first_visits else ()
            current = open_stays(store, list(engine.segments))
            engine.rebuild(rows, firsts, resolve, now, current)
        self.engine = engine
        graph = store.identity_graph()
        self._graph, self._graph_version = graph, graph.version
        self.write(store)

    def observe(self, store: Store, events: Sequence[Any], duplicate: Sequence[bool] | None) -> None:
        """Count a group of committed events (``duplicate``: per event, stored before)."""
        if self.engine.active:
            self.engine.observe(events, self.clock.now(), self._resolve(store), duplicate)
            if self.engine.changes and self._since is None:
                self._since = time.monotonic()

    def before_links(self, store: Store) -> None:
        """Before the live writer records identity links: take in any change of the customers
        made since the last look by something else (an import's links, an undone merge)."""
        if not self.engine.active:
            return
        graph = store.identity_graph()
        if graph is not self._graph or graph.version != self._graph_version:
            self.engine.resolve_all(graph.profile_of, self.clock.now())
            self._graph, self._graph_version = graph, graph.version

    def after_links(self, store: Store, moves: Mapping[str, str]) -> None:
        """The customers the live writer's links joined (old profile id → joined one)."""
        if not self.engine.active:
            return
        self.engine.move(moves, self.clock.now())
        graph = store.identity_graph()
        self._graph, self._graph_version = graph, graph.version

    def sweep(self, store: Store) -> int:
        """Reload the segments if they changed, take in identity changes, and apply the exits
        (and entries) time alone made by now; how many customers were evaluated."""
        signature = segments_signature(store)
        if signature != self._signature:
            if self._signature is None:  # the start failed: try it again
                self.start(store)
            else:
                self._reload(store, signature)
        self.before_links(store)
        done = self.engine.sweep(self.clock.now())
        self.write(store)
        return done

    def refresh_static(self, store: Store) -> None:
        """Read the conditions on profiles, consent and segments again (after a run)."""
        if self.engine.active and self.engine.statics:
            self._statics(store, self.clock.now(), self.engine, evaluate=True)
            self.write(store)

    def _statics(self, store: Store, now: datetime, engine: LiveSegments, *, evaluate: bool) -> None:
        from shopmind.segments._compile import compile_condition
        from shopmind.segments._sources import Sources

        sources = Sources.of(store, now, self.zone)
        values: dict[int, Iterable[str]] = {}
        for index, condition in engine.statics:
            try:
                found = compile_condition(condition, sources).to_pyarrow()
            except ShopmindError as exc:  # e.g. a saved segment it names was deleted: nobody
                _log.warning("a live segment's condition cannot be read: %s", exc)
                values[index] = ()
            else:
                values[index] = found.column("profile_id").to_pylist()
        engine.set_static(values, now, evaluate=evaluate)

    def segments_of(self, *identifiers: str | None) -> frozenset[str]:
        """The live segments the customer of any of ``identifiers`` is in now (any thread)."""
        return self.engine.segments_of(*identifiers)

    def forget(self, identifiers: Iterable[str]) -> None:
        """Erased customers (their history is deleted by the erasure)."""
        self.engine.forget(identifiers)

    def write(self, store: Store) -> int:
        """Write the changes waiting into the history (kept waiting if that fails); how many
        stays were written (opened or closed)."""
        changes = self.engine.changes
        if not changes:
            self._since = None
            return 0
        written = record_stays(store, stays(changes))
        del changes[: len(changes)]
        self._since = None
        self.written += written
        return written

    # -- reading --------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Membership changes waiting to be written."""
        return self.engine.pending

    def age(self) -> float:
        """Seconds the oldest waiting change has waited (0 when none waits)."""
        return 0.0 if self._since is None or not self.engine.changes else time.monotonic() - self._since

    def _resolve(self, store: Store) -> Resolve:
        return store.identity_graph().profile_of


def stays(changes: Iterable[LiveChange]) -> list[tuple[str, str, datetime, datetime | None]]:
    """The stays that changes (oldest first) open or close: (segment, profile, entered, exited),
    each once, as it is after them all."""
    found: dict[tuple[str, str, datetime], datetime | None] = {}
    for c in changes:
        if c.entered:  # (an exit and an entry of one moment: the stay goes on)
            found[(c.segment_id, c.profile_id, c.at)] = None
        else:
            assert c.since is not None, "an exit says when its stay began"
            found[(c.segment_id, c.profile_id, c.since)] = c.at
    return [(*key, exited) for key, exited in found.items()]

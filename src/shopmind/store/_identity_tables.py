"""The identity graph's table (``identity_links``) and the profiles it implies."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import UnknownIdentityLinkError
from shopmind.events import LINK_COLUMNS, IdentityGraph, IdentityLink, implied_links
from shopmind.store._keyed_writes import KeyedWrites

_DISTINCT_FROM = 1_000  # events per write: fewer are converted as they come (the live API's batches)
_LINK_SCHEMA = pa.schema(
    [
        ("link_id", pa.int64()),
        ("a", pa.string()),
        ("b", pa.string()),
        ("reason", pa.string()),
        ("merged", pa.bool_()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("undone_at", pa.timestamp("us", tz="UTC")),
    ]
)


class IdentityTables(KeyedWrites):
    def _link_from_events(self, events: pa.Table) -> None:
        """Record the identity links the events imply (``events.implied_links``)."""
        columns = [c.to_pylist() for c in _distinct_link_rows(events).columns]
        pairs = implied_links(zip(*columns, strict=True))
        if pairs:
            self.link_identities(pairs)

    def identity_graph(self) -> IdentityGraph:
        """The identity graph of the active (not undone) links."""
        if self._graph is None:
            rows = self._run(
                "SELECT link_id, a, b, reason, merged FROM identity_links WHERE undone_at IS NULL"
            )
            next_id = int(self.scalar("SELECT coalesce(max(link_id), 0) + 1 FROM identity_links"))
            self._graph = IdentityGraph(
                (IdentityLink(int(r[0]), r[1], r[2], r[3], bool(r[4])) for r in sorted(rows)), next_id=next_id
            )
        return self._graph

    def forget_identity_graph(self) -> None:
        """Drop the cached identity graph (after links were deleted, e.g. by an erasure)."""
        self._graph = None

    def link_identities(self, pairs: Iterable[tuple[str, str, str]]) -> list[IdentityLink]:
        """Record links (a, b, reason) between identifiers; returns the new ones (merges flagged)."""
        if self._owner is not None:
            given = list(pairs)
            found: list[IdentityLink] = self._owner(lambda owner: owner.link_identities(given))
            return found
        graph = self.identity_graph()
        new = [link for a, b, reason in pairs if (link := graph.link(a, b, reason)) is not None]
        if new:
            now = self._clock.now()
            rows = pa.table(
                {
                    "link_id": [lk.link_id for lk in new],
                    "a": [lk.a for lk in new],
                    "b": [lk.b for lk in new],
                    "reason": [lk.reason for lk in new],
                    "merged": [lk.merged for lk in new],
                    "created_at": [now] * len(new),
                    "undone_at": [None] * len(new),
                },
                schema=_LINK_SCHEMA,
            )
            try:
                with self._transaction():
                    self._append("identity_links", rows, _LINK_SCHEMA)
            except BaseException:
                self._graph = None  # the cache holds links that were not stored
                raise
        return new

    def undo_link(self, link_id: int) -> IdentityLink:
        """Undo a merge: the link stays on record, marked undone; call ``rebuild_profiles`` next."""
        if self._owner is not None:
            undone: IdentityLink = self._owner(lambda owner: owner.undo_link(link_id))
            return undone
        rows = self._run(
            "SELECT link_id, a, b, reason, merged FROM identity_links WHERE link_id = ? AND undone_at IS NULL",
            [link_id],
        )
        if not rows:
            raise UnknownIdentityLinkError(f"no active identity link with id {link_id}")
        self._run("UPDATE identity_links SET undone_at = ? WHERE link_id = ?", [self._clock.now(), link_id])
        self._graph = None
        row = rows[0]
        return IdentityLink(int(row[0]), row[1], row[2], row[3], bool(row[4]))

    def rebuild_profiles(self) -> int:
        """Recompute identifier -> profile for every identifier seen; returns the number of profiles."""
        if self._owner is not None:
            count: int = self._owner(lambda owner: owner.rebuild_profiles())
            return count
        graph = self.identity_graph()
        linked = pa.table(
            {
                "identifier": list(graph.assignments().keys()),
                "profile_id": list(graph.assignments().values()),
            },
            schema=pa.schema([("identifier", pa.string()), ("profile_id", pa.string())]),
        )
        self._con.register("_linked_profiles", linked)
        try:
            with self._transaction():
                self._run("DELETE FROM profiles")
                self._run(
                    """INSERT INTO profiles (identifier, profile_id, kind)
                    SELECT ident, coalesce(l.profile_id, ident), split_part(ident, ':', 1) FROM (
                        SELECT 'anon:' || anonymous_id AS ident FROM events WHERE anonymous_id IS NOT NULL
                        UNION SELECT 'user:' || user_id FROM events WHERE user_id IS NOT NULL
                        UNION SELECT 'user:' || customer_id FROM orders WHERE customer_id IS NOT NULL
                        UNION SELECT 'anon:' || anonymous_id FROM orders WHERE anonymous_id IS NOT NULL
                        UNION SELECT 'email:' || email_hash FROM orders WHERE email_hash IS NOT NULL
                        UNION SELECT 'phone:' || phone_hash FROM orders WHERE phone_hash IS NOT NULL
                        UNION SELECT identifier FROM _linked_profiles
                        UNION SELECT identifier FROM consent_ledger
                        UNION SELECT identifier FROM consent_notices
                    ) AS seen LEFT JOIN _linked_profiles l ON l.identifier = seen.ident"""
                )
        finally:
            self._con.unregister("_linked_profiles")
        return int(self.scalar("SELECT count(DISTINCT profile_id) FROM profiles"))


def _distinct_link_rows(events: pa.Table) -> pa.Table:
    """The events' ``LINK_COLUMNS``, each distinct row once, in the order of its first event, the
    type kept only where it matters (identify, alias): the links they imply, in the same order.
    A visitor sends many events with the same ids, so a large batch (a lake import's 200,000
    events) shrinks to a few rows before they become Python objects (a row's pairs depend on its
    values only, and a pair first appears with the first of the rows that imply it)."""
    kinds = events.column("type")
    wanted = pc.is_in(kinds, value_set=pa.array(["identify", "alias"], kinds.type))
    rows = events.select(LINK_COLUMNS).set_column(
        0, "type", pc.if_else(wanted, kinds, pa.scalar(None, kinds.type))
    )
    if rows.num_rows < _DISTINCT_FROM:
        return rows
    first = rows.append_column("_at", pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    grouped = first.group_by(list(LINK_COLUMNS), use_threads=False).aggregate([("_at", "min")])
    return grouped.sort_by("_at_min").select(list(LINK_COLUMNS))

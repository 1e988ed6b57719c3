"""Profiles as visitors arrive: every identifier seen gets its row in ``profiles`` (identifier →
profile id) when its events are written, and the identifiers of customers a new identity link
joined move to the joined profile. ``Store.rebuild_profiles`` computes the same table from
scratch (after an import or an undone merge); this keeps it true between rebuilds."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import pyarrow as pa

from shopmind.store._store import Store

_CHUNK = 1000  # identifiers per IN list: each is one lookup of the primary-key index
_PROFILE_SCHEMA = pa.schema([("identifier", pa.string()), ("profile_id", pa.string()), ("kind", pa.string())])


def stored_profiles(store: Store, identifiers: Iterable[str]) -> dict[str, str]:
    """identifier → stored profile id, for those of ``identifiers`` that have a row."""
    wanted = list(identifiers)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        found.update(
            store.sql(f"SELECT identifier, profile_id FROM profiles WHERE identifier IN ({marks})", chunk)
        )
    return found


def record_profiles(store: Store, seen: Collection[str], joined: Collection[str] = ()) -> int:
    """Give every identifier of ``seen`` without a profile row its row, and move the customers
    that links between the identifiers of ``joined`` merged to their merged profile id (the
    links must be recorded already: ``Store.link_identities``). One transaction with the
    caller's, if one is open. Returns the rows added."""
    if not seen and not joined:
        return 0
    graph = store.identity_graph()
    stored = stored_profiles(store, set(seen) | set(joined))
    # a merge only ever joins whole customers: every row still pointing at a joined customer's
    # old profile id moves to the new one
    moves = {
        before: after
        for ident in joined
        if (before := stored.get(ident)) is not None and (after := graph.profile_of(ident)) != before
    }
    with store.atomically():
        for before, after in moves.items():
            store.sql("UPDATE profiles SET profile_id = ? WHERE profile_id = ?", [after, before])
        new = sorted(ident for ident in set(seen) | set(joined) if ident not in stored)
        if new:
            rows = pa.table(
                [new, [graph.profile_of(i) for i in new], [i.partition(":")[0] for i in new]],
                schema=_PROFILE_SCHEMA,
            )
            with store.staged("_new_profiles", rows) as src:
                store.sql(f"INSERT INTO profiles (identifier, profile_id, kind) SELECT * FROM {src}")
    return len(new)


def missing_profiles(store: Store) -> list[str]:
    """Identifiers of stored events that have no profile row (what a server stopped between
    writing events and their profiles left behind)."""
    rows = store.sql(
        """SELECT DISTINCT ident FROM (
            SELECT 'anon:' || anonymous_id AS ident FROM events WHERE anonymous_id IS NOT NULL
            UNION ALL SELECT 'user:' || user_id FROM events WHERE user_id IS NOT NULL
        ) AS seen WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.identifier = seen.ident)
        ORDER BY 1"""
    )
    return [r[0] for r in rows]

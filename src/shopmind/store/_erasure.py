"""Erasing a customer (개인정보 보호법 제36조, the right to have one's data deleted): every row that
holds one of their identifiers or hashes goes, in one transaction, and only a record that an
erasure happened stays (when, how many rows per table, and a keyed token of the profile id that
recognises a repeated request without naming anyone).

The customer is resolved through the identity graph: every identifier of the profile (member ids,
anonymous ids, hashed e-mail and phone) leads to their events, orders and order lines, identity
links and profile rows, scores, segment memberships (and their history in saved segments), findings,
recommendations, on-site decisions and their outcomes, consent ledger entries and §50⑧ notices, interest
signals, the quarantined input that mentions any of them, and what campaigns kept of them: their
outbox messages (and their lines in the workspace's outbox files), campaign memberships, message events and Web Push subscriptions, and their exposures to experiments. Of their consent, only the counts of the
erasure record stay: no identifier, so no state that could be read back as theirs.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from shopmind.core import IdentifierHasher, UnknownProfileError
from shopmind.events import KIND_PRIORITY
from shopmind.store._outbox_files import erase_outbox_lines, outbox_folder
from shopmind.store._store import Store
from shopmind.store._workspace import models_folder

#: The tables an erasure deletes from, in the order it does (dependants first).
ERASED_TABLES = (
    "decision_outcomes",
    "decisions",
    "order_lines",
    "orders",
    "events",
    "identity_links",
    "profiles",
    "scores",
    "segment_members",
    "profile_facts",
    "recommendations",
    "segment_history",
    "consent_ledger",
    "consent_notices",
    "external_interests",
    "quarantine",
)
#: The campaigns' tables an erasure deletes from too (after ``ERASED_TABLES``; kept apart so that
#: a shop that never ran a campaign is not asked to show rows of them).
ERASED_MESSAGE_TABLES = ("message_events", "outbox", "campaign_members", "push_subscriptions")
#: The experiments' table of exposures (which variant they saw, when): deleted last. Their
#: on-site decisions inside experiments (variant, propensity, context) go with ``decisions``.
ERASED_EXPERIMENT_TABLES = ("exposures",)
_TOKEN_KIND = "erasure"


@dataclass(frozen=True)
class Erasure:
    """What an erasure did, ``counts``: rows deleted per table (``ERASED_TABLES``, then
    ``ERASED_MESSAGE_TABLES``, then ``ERASED_EXPERIMENT_TABLES`` order);
    ``erasure_id`` is None when nothing was left to delete (``erased_before`` then says when
    the customer was erased)."""

    profile_id: str
    erasure_id: str | None
    erased_at: datetime | None
    counts: tuple[tuple[str, int], ...]
    erased_before: tuple[datetime, ...] = ()
    #: the stored model files removed with them (learned from their data, e.g. the recommender)
    models_removed: tuple[str, ...] = ()
    #: the lines of their messages removed from the workspace's outbox files (``outbox/*.jsonl``)
    outbox_lines_removed: int = 0
    #: the identifiers erased (for the caller's own caches; never stored, not in ``to_dict``)
    identifiers: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)

    def to_dict(self) -> dict[str, object]:
        return {
            "profile_id": self.profile_id,
            "erasure_id": self.erasure_id,
            "erased_at": self.erased_at.isoformat() if self.erased_at else None,
            "deleted": dict(self.counts),
            "total": self.total,
            "erased_before": [at.isoformat() for at in self.erased_before],
            "models_removed": list(self.models_removed),
            "outbox_lines_removed": self.outbox_lines_removed,
        }


def erasure_token(hasher: IdentifierHasher, profile_id: str) -> str:
    """The keyed token an erasure of ``profile_id`` is recorded under (no one can read the id
    back from it without the workspace's key)."""
    return hasher.hash_value(_TOKEN_KIND, profile_id)


def _candidates(identifier: str) -> list[str]:
    kind = identifier.partition(":")[0]
    if kind in KIND_PRIORITY and ":" in identifier:
        return [identifier]
    return [identifier, f"user:{identifier}", f"anon:{identifier}"]


def _known(store: Store, ident: str) -> bool:
    """Whether anything is stored about the identifier ``ident``."""
    kind, _, value = ident.partition(":")
    if store.sql("SELECT 1 FROM profiles WHERE identifier = ? OR profile_id = ? LIMIT 1", [ident, ident]):
        return True
    checks = {
        "user": "SELECT 1 FROM events WHERE user_id = ? UNION ALL SELECT 1 FROM orders WHERE customer_id = ?",
        "anon": "SELECT 1 FROM events WHERE anonymous_id = ? UNION ALL SELECT 1 FROM orders WHERE anonymous_id = ?",
        "email": "SELECT 1 FROM events WHERE email_hash = ? UNION ALL SELECT 1 FROM orders WHERE email_hash = ?",
        "phone": "SELECT 1 FROM events WHERE phone_hash = ? UNION ALL SELECT 1 FROM orders WHERE phone_hash = ?",
    }
    if kind in checks and store.sql(f"SELECT 1 FROM ({checks[kind]}) LIMIT 1", [value, value]):
        return True
    return bool(
        store.sql(
            """SELECT 1 FROM (SELECT identifier FROM consent_ledger UNION ALL SELECT identifier FROM consent_notices
            UNION ALL SELECT identifier FROM external_interests
            UNION ALL SELECT profile_id FROM scores UNION ALL SELECT profile_id FROM decisions)
            WHERE identifier = ? LIMIT 1""",
            [ident],
        )
    )


def resolve_person(store: Store, identifier: str) -> tuple[str, frozenset[str]] | None:
    """The profile id and every identifier of the customer known by ``identifier`` (a profile id,
    ``user:…``/``anon:…``/``email:…``/``phone:…``, or a bare user or anonymous id), or None."""
    graph = store.identity_graph()
    for candidate in _candidates(identifier):
        group = graph.group_of(candidate)
        if len(group) > 1 or _known(store, candidate):
            return graph.profile_of(candidate), group
    return None


def erase_profile(store: Store, identifier: str, hasher: IdentifierHasher) -> Erasure:
    """Delete everything stored about the customer known by ``identifier`` in one transaction, and
    record that it happened (``erasures``). Raises ``UnknownProfileError`` when nothing is stored
    about them and they were never erased. Afterwards the write-ahead log, which still holds the
    rows as they were written, is folded into the database file."""
    resolved = resolve_person(store, identifier)
    tokens = [erasure_token(hasher, c) for c in _candidates(identifier)]
    if resolved is not None:
        tokens.append(erasure_token(hasher, resolved[0]))
    before = tuple(
        at
        for (at,) in store.sql(
            "SELECT erased_at FROM erasures WHERE list_contains(?, token) ORDER BY erased_at", [tokens]
        )
    )
    if resolved is None:
        if before:
            return Erasure(
                identifier,
                None,
                None,
                tuple((t, 0) for t in (*ERASED_TABLES, *ERASED_MESSAGE_TABLES, *ERASED_EXPERIMENT_TABLES)),
                before,
            )
        raise UnknownProfileError(
            f"no customer {identifier!r}: give a profile id (e.g. user:m000123), a user id or an anonymous id"
        )
    profile_id, idents = resolved
    with store.atomically():
        # their lines in the workspace's outbox files go first: should that fail, nothing is
        # deleted and the erasure can be asked again (the keys would be gone with the rows)
        keys = [
            k
            for (k,) in store.sql(
                "SELECT message_key FROM outbox WHERE list_contains(?, profile_id)", [sorted(idents)]
            )
        ]
        lines_removed = erase_outbox_lines(outbox_folder(store), frozenset(keys))
        counts = _delete(store, idents)
        erasure_id = erased_at = None
        if sum(counts.values()):
            erasure_id = uuid.uuid4().hex
            erased_at = store.scalar("SELECT now()")
            store.sql(
                "INSERT INTO erasures VALUES (?, ?, ?, ?)",
                [erasure_id, erased_at, erasure_token(hasher, profile_id), orjson.dumps(counts).decode()],
            )
    store.forget_identity_graph()
    store.checkpoint()
    removed = _remove_models(store) if erasure_id is not None else ()
    return Erasure(
        profile_id, erasure_id, erased_at, tuple(counts.items()), before, removed, lines_removed, idents
    )


def _remove_models(store: Store) -> tuple[str, ...]:
    """Delete the models the runs stored in the workspace (they hold the customer's ids and what
    they chose); the next run learns them again without the customer."""
    folder = models_folder(store)
    if folder is None or not folder.is_dir():
        return ()
    removed = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    return tuple(removed)


def _delete(store: Store, idents: frozenset[str]) -> dict[str, int]:
    everyone = sorted(idents)
    kinds, values = zip(*(ident.partition(":")[::2] for ident in everyone), strict=True)
    staged = pa.table(
        {
            "ident": pa.array(everyone, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "value": pa.array(values, pa.string()),
        }
    )
    counts: dict[str, int] = {}

    def delete(table: str, where: str) -> None:
        counts[table] = int(store.sql(f"DELETE FROM {table} WHERE {where}")[0][0])

    with store.staged("_erased", staged):
        ids = "(SELECT ident FROM _erased)"
        users, anons = (
            "(SELECT value FROM _erased WHERE kind = 'user')",
            "(SELECT value FROM _erased WHERE kind = 'anon')",
        )
        emails, phones = (
            "(SELECT value FROM _erased WHERE kind = 'email')",
            "(SELECT value FROM _erased WHERE kind = 'phone')",
        )
        decisions = (
            f"(SELECT decision_id FROM decisions WHERE visitor IN {anons} OR visitor IN {users} "
            f"OR user_id IN {users} OR profile_id IN {ids})"
        )
        delete("decision_outcomes", f"decision_id IN {decisions}")
        delete("decisions", f"decision_id IN {decisions}")
        their_events = (
            f"user_id IN {users} OR anonymous_id IN {anons} OR previous_id IN {anons} "
            f"OR email_hash IN {emails} OR phone_hash IN {phones}"
        )
        orders = (
            f"(SELECT order_id FROM orders WHERE customer_id IN {users} OR anonymous_id IN {anons} "
            f"OR email_hash IN {emails} OR phone_hash IN {phones} "
            f"UNION SELECT order_id FROM events WHERE order_id IS NOT NULL AND ({their_events}))"
        )
        delete("order_lines", f"order_id IN {orders}")
        delete("orders", f"order_id IN {orders}")
        delete("events", their_events)
        delete("identity_links", f"a IN {ids} OR b IN {ids}")
        delete("profiles", f"identifier IN {ids} OR profile_id IN {ids}")
        for table in ("scores", "segment_members", "profile_facts", "recommendations"):
            delete(table, f"profile_id IN {ids}")
        # every stay in a saved segment goes: no member list, past or present, holds them
        delete("segment_history", f"profile_id IN {ids}")
        # the consent ledger is append-only but for this: the erasure's counts are all that stays of it
        for table in ("consent_ledger", "consent_notices", "external_interests"):
            delete(table, f"identifier IN {ids}")
        # the messages sent to them (their text may name them), what they did with them, their
        # place in campaigns, and the browsers they let send them pushes
        for table in ("message_events", "outbox", "campaign_members"):
            delete(table, f"profile_id IN {ids}")
        delete("push_subscriptions", f"identifier IN {ids}")
        # the variants they saw (a unit is their profile id, or an identifier before they had one)
        delete("exposures", f"unit_id IN {ids}")
    counts["quarantine"] = _delete_quarantined(store, [*values, *everyone])
    tables = (*ERASED_TABLES, *ERASED_MESSAGE_TABLES, *ERASED_EXPERIMENT_TABLES)
    return {table: counts.get(table, 0) for table in tables}


def _delete_quarantined(store: Store, values: Iterable[str]) -> int:
    """Delete the quarantined input that mentions any of ``values`` as a whole token (``u-1``
    is not in ``u-10``)."""
    wanted = sorted({v for v in values if v})
    if not wanted:
        return 0
    pattern = re.compile(
        r"(?<![\w.@-])(?:"
        + "|".join(re.escape(v) for v in sorted(wanted, key=len, reverse=True))
        + r")(?![\w.@-])"
    )
    rows = store.sql(
        "SELECT rowid, raw, reason FROM quarantine WHERE len(list_filter(?, lambda v: contains(coalesce(raw, '') "
        "|| ' ' || reason, v))) > 0",
        [wanted],
    )
    doomed = [rowid for rowid, raw, reason in rows if pattern.search(f"{raw or ''} {reason}")]
    if not doomed:
        return 0
    return int(store.sql("DELETE FROM quarantine WHERE list_contains(?, rowid)", [doomed])[0][0])


def compact_store(path: str | Path) -> None:
    """Rewrite the store file at ``path`` (no connection to it may be open) with its live rows
    only. DuckDB leaves the bytes of deleted rows in freed blocks of the file until it reuses
    them: after an erasure, the copy is what holds no trace of the customer. Takes about as long
    as reading the whole store."""
    path = Path(path)
    fresh = path.with_name(path.name + ".compact")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("CHECKPOINT")
        name = con.execute("SELECT current_database()").fetchall()[0][0]
        quoted = str(fresh).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS _compacted")
        con.execute(f'COPY FROM DATABASE "{name}" TO _compacted')
        con.execute("DETACH _compacted")
    finally:
        con.close()
    os.replace(fresh, path)

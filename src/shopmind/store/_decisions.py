"""The log of on-site decisions and their outcomes: what was shown to whom, where and why, and
whether it was seen, clicked, dismissed or followed by an order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from shopmind.store._store import Store

DECISION_SCHEMA = pa.schema(
    [
        ("decision_id", pa.string()),
        ("decided_at", pa.timestamp("us", tz="UTC")),
        ("visitor", pa.string()),
        ("user_id", pa.string()),
        ("profile_id", pa.string()),
        ("session_id", pa.string()),
        ("placement", pa.string()),
        ("trigger_id", pa.string()),
        ("action", pa.string()),
        ("page_type", pa.string()),
        ("device_type", pa.string()),
        ("region", pa.string()),
        # inside an experiment: its id, the variant, the chance the policy gave it, the context (JSON)
        ("experiment_id", pa.string()),
        ("variant", pa.string()),
        ("propensity", pa.float64()),
        ("context", pa.string()),
    ]
)
OUTCOME_SCHEMA = pa.schema(
    [
        ("decision_id", pa.string()),
        ("outcome", pa.string()),
        ("outcome_at", pa.timestamp("us", tz="UTC")),
        ("order_id", pa.string()),
        ("revenue", pa.float64()),
    ]
)
OUTCOMES = ("shown", "clicked", "dismissed", "converted")


def log_decisions(store: Store, rows: Sequence[dict[str, Any]]) -> int:
    """Store decisions (``DECISION_SCHEMA`` keys); a decision id already stored is skipped."""
    return _insert(store, "decisions", DECISION_SCHEMA, rows, "decision_id")


def log_outcomes(store: Store, rows: Sequence[dict[str, Any]]) -> int:
    """Store outcomes (``OUTCOME_SCHEMA`` keys); each outcome of a decision is kept once (the first)."""
    return _insert(store, "decision_outcomes", OUTCOME_SCHEMA, rows, "decision_id, outcome")


def append_decisions(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Store new decisions (fresh ids) in one statement, its own transaction: durable when it
    returns, in about a millisecond (no Arrow view, no BEGIN and COMMIT, no conflict check:
    ``log_decisions`` for ids that may be stored)."""
    _values(store, "decisions", DECISION_SCHEMA.names, rows, "")


def append_outcomes(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Store outcomes in one statement, its own transaction; each outcome of a decision once."""
    _values(
        store,
        "decision_outcomes",
        OUTCOME_SCHEMA.names,
        rows,
        " ON CONFLICT (decision_id, outcome) DO NOTHING",
    )


def _values(
    store: Store, table: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], tail: str
) -> None:
    if not rows:
        return
    row = "(" + ", ".join("?" * len(columns)) + ")"
    params = [r.get(c) for r in rows for c in columns]
    store.sql(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * len(rows))}{tail}", params
    )


def _insert(store: Store, table: str, schema: pa.Schema, rows: Sequence[dict[str, Any]], key: str) -> int:
    if not rows:
        return 0
    cols = ", ".join(schema.names)
    with (
        store.atomically(),
        store.staged(f"_incoming_{table}", pa.Table.from_pylist(list(rows), schema)) as src,
    ):
        return int(
            store.sql(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {src} ON CONFLICT ({key}) DO NOTHING"
            )[0][0]
        )


def served_since(store: Store, since: datetime) -> list[tuple[str, str, datetime]]:
    """(visitor, trigger, decided_at) of the decisions since ``since`` (frequency caps after a restart)."""
    return [
        (v, t, at)
        for v, t, at in store.sql(
            "SELECT visitor, trigger_id, decided_at FROM decisions WHERE decided_at >= ? ORDER BY decided_at",
            [since],
        )
    ]


def trigger_performance(store: Store, since: datetime | None = None) -> list[dict[str, Any]]:
    """Per trigger: decisions served (a held-out visitor's decision, action ``none``, was not), and how many were shown, clicked, dismissed and converted,
    with the converted revenue: ``revenue`` counts verified orders only (the shop's server or an
    import confirmed them; their confirmed amount, as ``order_totals`` has it), and
    ``unverified_revenue`` what the pages reported for orders not (yet) verified, a browser's
    claim that anyone holding the public write key could make."""
    rows = store.sql(
        """SELECT d.trigger_id, any_value(d.action) AS action, count(*) AS served,
               count(*) FILTER (WHERE o.shown) AS shown,
               count(*) FILTER (WHERE o.clicked) AS clicked,
               count(*) FILTER (WHERE o.dismissed) AS dismissed,
               count(*) FILTER (WHERE o.converted) AS converted,
               coalesce(sum(o.revenue), 0) AS revenue,
               coalesce(sum(o.unverified_revenue), 0) AS unverified_revenue
        FROM decisions d LEFT JOIN (
            SELECT c.decision_id,
                   bool_or(c.outcome = 'shown') AS shown, bool_or(c.outcome = 'clicked') AS clicked,
                   bool_or(c.outcome = 'dismissed') AS dismissed, bool_or(c.outcome = 'converted') AS converted,
                   sum(t.revenue) FILTER (WHERE c.outcome = 'converted' AND t.order_id IS NOT NULL) AS revenue,
                   sum(c.revenue) FILTER (WHERE c.outcome = 'converted' AND t.order_id IS NULL)
                       AS unverified_revenue
            FROM decision_outcomes c
            LEFT JOIN order_totals t ON t.order_id = c.order_id AND NOT t.is_return  -- verified orders only
            GROUP BY c.decision_id
        ) o USING (decision_id)
        WHERE (? IS NULL OR d.decided_at >= ?) AND d.action <> 'none'  -- a holdout was shown nothing
        GROUP BY d.trigger_id ORDER BY served DESC, d.trigger_id""",
        [since, since],
    )
    keys = (
        "trigger_id",
        "action",
        "served",
        "shown",
        "clicked",
        "dismissed",
        "converted",
        "revenue",
        "unverified_revenue",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]

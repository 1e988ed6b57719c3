"""The embedded DuckDB store of one workspace (one shop).

Writers hand over Arrow tables in the layouts of ``shopmind.events`` (``EVENT_SCHEMA``,
``ORDER_SCHEMA``, ``ORDER_LINE_SCHEMA``); every write is one transaction, so it is durable when
the call returns (DuckDB syncs its write-ahead log at commit), and idempotent: an event whose
message id, an order whose id, or an order line whose line key is already stored is skipped and
counted as a duplicate (keyed rows are first inserted as new, and looked up by the primary-key
index only if one was not: see ``write_atomically``). Readers get Ibis tables, so the same
expressions run on Spark later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shopmind.store._fact_tables import QUARANTINE_SCHEMA, FactTables
from shopmind.store._keyed_writes import WriteResult
from shopmind.store._run_results import RunResults

__all__ = ["FACT_TABLES", "QUARANTINE_SCHEMA", "Store", "StoreStatus", "TableSummary", "WriteResult"]

FACT_TABLES = (
    "events",
    "orders",
    "order_lines",
    "products",
    "profiles",
    "identity_links",
    "consent_ledger",
    "consent_notices",
    "external_interests",
    "weather",
    "quarantine",
    "imports",
)


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class StoreStatus:
    """Counts per table, date ranges and a data-quality summary."""

    path: str
    schema_version: int
    tables: tuple[TableSummary, ...]
    quarantine_by_reason: tuple[tuple[str, int], ...]
    quality: tuple[tuple[str, int], ...]

    def rows(self, table: str) -> int:
        return next(t.rows for t in self.tables if t.name == table)


_TIME_COLUMNS = {
    "events": "event_time",
    "orders": "ordered_at",
    "quarantine": "quarantined_at",
    "imports": "started_at",
    "identity_links": "created_at",
    "consent_ledger": "occurred_at",
    "consent_notices": "sent_at",
    "weather": "day",
    "external_interests": "observed_at",
}


class Store(FactTables, RunResults):
    """A workspace's DuckDB file (or an in-memory store for tests with ``path=":memory:"``).

    ``personal``: the fields that hold personal data (the workspace's list), redacted from rejected
    input before the quarantine keeps it. The file and its write-ahead log are readable by their
    owner only (see ``keep_private``)."""

    # -- status ----------------------------------------------------------------------------
    def status(self) -> StoreStatus:
        tables = []
        for name in FACT_TABLES:
            col = _TIME_COLUMNS.get(name)
            if col:
                rows, first, last = self._run(f"SELECT count(*), min({col}), max({col}) FROM {name}")[0]
            else:
                rows, first, last = self._count(name), None, None
            tables.append(TableSummary(name, int(rows), first, last))
        by_reason = self._run(
            "SELECT split_part(reason, ';', 1) AS r, count(*) FROM quarantine GROUP BY r ORDER BY 2 DESC LIMIT 20"
        )
        quality = [
            (
                "events with a corrected clock",
                "SELECT count(*) FROM events WHERE time_flag = 'skew_corrected'",
            ),
            (
                "events clamped from the future",
                "SELECT count(*) FROM events WHERE time_flag = 'future_clamped'",
            ),
            ("anonymous-only events", "SELECT count(*) FROM events WHERE user_id IS NULL"),
            (
                "guest orders (no member id)",
                "SELECT count(*) FROM orders WHERE customer_id IS NULL",
            ),
            ("return / cancellation lines", "SELECT count(*) FROM order_lines WHERE is_return"),
            ("non-product lines (postage, fees...)", "SELECT count(*) FROM order_lines WHERE NOT is_product"),
            ("lines without a description", "SELECT count(*) FROM order_lines WHERE description IS NULL"),
            ("quarantined rows", "SELECT count(*) FROM quarantine"),
        ]
        return StoreStatus(
            path=self.path,
            schema_version=self.schema_version(),
            tables=tuple(tables),
            quarantine_by_reason=tuple((str(r), int(n)) for r, n in by_reason),
            quality=tuple((label, int(self.scalar(q))) for label, q in quality),
        )

"""The facts a shop hands over: events, orders and their lines, products, weather, interest
signals, the quarantine of rejected input and the log of imports."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.compute as pc

from shopmind.events import EVENT_SCHEMA, ORDER_SCHEMA
from shopmind.store._claims import replace_claims
from shopmind.store._identity_tables import IdentityTables
from shopmind.store._keyed_writes import WriteResult, _conform
from shopmind.store._order_lines import insert_new_lines, insert_new_lines_from
from shopmind.store._private import redact_rejected

QUARANTINE_SCHEMA = pa.schema(
    [
        ("line_no", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


class FactTables(IdentityTables):
    def write_events(self, events: pa.Table, *, link: bool = True) -> WriteResult:
        """Store events (``EVENT_SCHEMA`` layout); re-sent message ids are stored once.

        Identity links implied by the new events (anonymous id with user id, alias, hashed
        contact data) are recorded in the same call, unless ``link`` is false (the caller then
        records them itself, e.g. later in a larger transaction); call ``rebuild_profiles`` after
        a load.
        """
        if events.num_rows == 0:
            return WriteResult(0, 0)
        if not self._in_transaction and link:  # the events and their links in one transaction
            return self.write_atomically(lambda: self.write_events(events, link=link))
        result = self._insert_new("events", "message_id", events, EVENT_SCHEMA)
        if result.inserted and link:
            self._link_from_events(events)
        return result

    def write_orders(self, orders: pa.Table, lines: pa.Table) -> tuple[WriteResult, WriteResult]:
        """Store order headers and lines; known order ids and line keys are skipped, except that a
        verified order (from an import or the shop's server) replaces a client's unverified claim
        of the same id, lines and all. Headers without ``verified`` are verified. (Lines skipped
        as stored before are counted, not named: ``stored_before`` is empty for them.)"""
        if "verified" not in orders.column_names:
            orders = orders.append_column("verified", pa.repeat(pa.scalar(True), orders.num_rows))
        if not self._in_transaction:
            return self.write_atomically(lambda: self.write_orders(orders, lines))
        confirmed = pc.filter(orders.column("order_id"), orders.column("verified")).to_pylist()
        if confirmed:
            replace_claims(self, confirmed)
        headers = self._insert_new("orders", "order_id", orders, ORDER_SCHEMA)
        new = (
            set(orders.column("order_id").to_pylist()) - headers.stored_before if headers.inserted else set()
        )
        return headers, insert_new_lines(self, lines, new_orders=new)

    def write_order_lines_from(self, relation: str, *, unique_rows: int | None = None) -> WriteResult:
        """Store order lines the engine holds already (``relation``: a table or a parenthesised
        query with the columns of ``ORDER_LINE_SCHEMA``), in one statement: lines of a large
        import never pass through Python. Known line keys are skipped, as in ``write_orders``
        (``unique_rows``: see ``insert_new_lines_from``)."""
        return insert_new_lines_from(self, relation, unique_rows=unique_rows)

    def write_products(self, products: pa.Table, *, overwrite: bool = True) -> WriteResult:
        """Insert new products; update known ones.

        With ``overwrite`` (a catalogue import) the given non-null attributes replace the stored
        ones; without it (products seen in orders) they only fill attributes still missing.
        """
        if products.num_rows == 0:
            return WriteResult(0, 0)
        names = [c for c in products.column_names if c != "product_id"]
        first, second = ("excluded", "products") if overwrite else ("products", "excluded")
        sets = ", ".join(f'"{c}" = coalesce({first}."{c}", {second}."{c}")' for c in names)
        cols = ", ".join(f'"{c}"' for c in ["product_id", *names])
        return self._write(
            "products",
            products,
            f"""INSERT INTO products ({cols}, updated_at)
            SELECT {cols}, ? FROM (
                SELECT *, row_number() OVER (PARTITION BY product_id) AS _copy FROM {{src}}
            ) WHERE _copy = 1
            ON CONFLICT (product_id) DO UPDATE SET {sets}, updated_at = excluded.updated_at""",
            [self._clock.now()],
        )

    def write_weather(self, weather: pa.Table) -> WriteResult:
        """Daily weather per region (region, day, temp_c, precip_mm)."""
        return self._write(
            "weather",
            weather,
            """INSERT OR REPLACE INTO weather (region, day, temp_c, precip_mm)
            SELECT region, day, temp_c, precip_mm FROM {src}""",
        )

    def write_interests(self, interests: pa.Table) -> WriteResult:
        """External interest signals (identifier, keyword, topic, weight, observed_at, source)."""
        return self._write(
            "external_interests",
            interests,
            """INSERT OR IGNORE INTO external_interests (identifier, keyword, topic, weight, observed_at, source)
            SELECT identifier, keyword, topic, weight, observed_at, source FROM {src}""",
        )

    def quarantine(
        self,
        rows: pa.Table,
        *,
        source: str,
        import_id: str | None = None,
        file_sha256: str | None = None,
    ) -> int:
        """Keep rejected input with its reason (``QUARANTINE_SCHEMA`` layout); returns rows kept.

        Personal data is redacted from each row's raw input and reason first (``personal``), so
        the quarantine holds no plain contact data. A line of a file (same content hash) that is
        already in the quarantine is not kept twice.
        """
        if rows.num_rows == 0:
            return 0
        return self._write(
            "quarantine",
            redact_rejected(_conform(rows, QUARANTINE_SCHEMA), self.personal),
            """INSERT INTO quarantine (import_id, source, file_sha256, line_no, field, reason, raw, quarantined_at)
            SELECT ?, ?, ?, line_no, field, reason, raw, ? FROM {src} r
            WHERE ? IS NULL OR NOT EXISTS (
                SELECT 1 FROM quarantine q WHERE q.file_sha256 = ? AND q.line_no IS NOT DISTINCT FROM r.line_no
            )""",
            [import_id, source, file_sha256, self._clock.now(), file_sha256, file_sha256],
        ).inserted

    def begin_import(self, kind: str, source: str, file_sha256: str | None) -> str:
        import_id = uuid.uuid4().hex[:16]
        self._run(
            "INSERT INTO imports (import_id, kind, source, file_sha256, started_at) VALUES (?, ?, ?, ?, ?)",
            [import_id, kind, source, file_sha256, self._clock.now()],
        )
        return import_id

    def finish_import(
        self, import_id: str, *, rows_read: int, accepted: int, duplicates: int, rejected: int
    ) -> None:
        self._run(
            """UPDATE imports SET finished_at = ?, rows_read = ?, accepted = ?, duplicates = ?, rejected = ?
            WHERE import_id = ?""",
            [self._clock.now(), rows_read, accepted, duplicates, rejected, import_id],
        )

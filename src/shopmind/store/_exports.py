"""What audience exports keep: the webhook destinations (URL and signing secret, named by the shop's
admin, so an API caller can only send to a destination set up beforehand) and the export log: what
left, when, in which format, to whom and who ran it — counts, columns and a keyed digest of the
member list, never a customer's identifier (an erased customer leaves no trace in it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from shopmind.core import FieldError, InvalidInputError
from shopmind.store._store import Store

DESTINATION_KINDS = ("webhook",)


@dataclass(frozen=True)
class Destination:
    """Where a webhook export goes; ``secret`` signs each request (never shown by listings)."""

    name: str
    kind: str
    url: str
    secret: str
    created_at: datetime
    created_by: str

    def public(self) -> dict[str, Any]:
        """The destination without its secret (what listings show)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class ExportRecord:
    """One export as the log keeps it. ``members``: distinct customers that left; ``rows_out``:
    rows written (a customer with two contact rows counts twice); ``members_digest``: HMAC-SHA256
    under the workspace's key of the sorted profile ids (proves which list left without storing
    it); ``detail``: JSON with the consent channels used and how many were left out and why."""

    export_id: str
    started_at: datetime
    finished_at: datetime | None
    format: str
    destination: str
    audience: str
    members: int
    rows_out: int
    members_digest: str | None
    columns: str
    detail: str
    actor: str
    status: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["columns"] = orjson.loads(self.columns)
        out["detail"] = orjson.loads(self.detail)
        for key in ("started_at", "finished_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


_LOG_COLUMNS = [f.name for f in fields(ExportRecord)]
_DEST_COLUMNS = [f.name for f in fields(Destination)]


def record_export(store: Store, record: ExportRecord) -> None:
    """Keep ``record`` (a record with the same id is replaced)."""
    values = asdict(record)
    marks = ", ".join("?" * len(_LOG_COLUMNS))
    with store.atomically():
        store.sql("DELETE FROM export_log WHERE export_id = ?", [record.export_id])
        store.sql(
            f"INSERT INTO export_log ({', '.join(_LOG_COLUMNS)}) VALUES ({marks})",
            [values[c] for c in _LOG_COLUMNS],
        )


def export_log(store: Store, limit: int = 50) -> list[ExportRecord]:
    """The newest ``limit`` exports, newest first."""
    rows = store.sql(
        f"SELECT {', '.join(_LOG_COLUMNS)} FROM export_log ORDER BY started_at DESC, export_id LIMIT ?",
        [limit],
    )
    return [ExportRecord(*row) for row in rows]


def add_destination(store: Store, destination: Destination) -> None:
    """Keep a new destination; a name in use is refused (remove it first)."""
    if destination.kind not in DESTINATION_KINDS:
        raise InvalidInputError(
            [FieldError("kind", f"unknown destination kind {destination.kind!r}; one of {DESTINATION_KINDS}")]
        )
    if store.sql("SELECT 1 FROM export_destinations WHERE name = ?", [destination.name]):
        raise InvalidInputError(
            [FieldError("name", f"a destination named {destination.name!r} exists; remove it first")]
        )
    values = asdict(destination)
    store.sql(
        f"INSERT INTO export_destinations ({', '.join(_DEST_COLUMNS)}) VALUES ({', '.join('?' * len(_DEST_COLUMNS))})",
        [values[c] for c in _DEST_COLUMNS],
    )


def destinations(store: Store) -> list[Destination]:
    rows = store.sql(f"SELECT {', '.join(_DEST_COLUMNS)} FROM export_destinations ORDER BY name")
    return [Destination(*row) for row in rows]


def find_destination(store: Store, name: str) -> Destination | None:
    rows = store.sql(f"SELECT {', '.join(_DEST_COLUMNS)} FROM export_destinations WHERE name = ?", [name])
    return Destination(*rows[0]) if rows else None


def remove_destination(store: Store, name: str) -> bool:
    """Forget the destination ``name``; whether there was one."""
    rows = store.sql("DELETE FROM export_destinations WHERE name = ?", [name])
    return bool(rows and rows[0][0])


def stream_query(
    store: Store, query: str, params: Sequence[object] | None = None, rows: int = 65_536
) -> Iterator[pa.RecordBatch]:
    """The result of ``query`` in Arrow batches of about ``rows`` rows, fetched as they are read (a
    million-row export never sits in memory whole). The connection runs nothing else until the
    iterator is exhausted or closed."""
    reader = store._con.sql(query, params=list(params or [])).to_arrow_reader(rows)
    try:
        yield from reader
    finally:
        reader.close()

"""Importing events from JSON Lines (one event object per line, the collection API's shape)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa

from shopmind.core import Clock, IdentifierHasher, ImportFileError, InvalidEventError, SystemClock
from shopmind.events import Event, events_to_arrow, orders_from_events, validate_event
from shopmind.ingest._report import ImportReport, Progress, finish_import, no_progress
from shopmind.ingest._tabular import file_sha256
from shopmind.store import QUARANTINE_SCHEMA, Store, WriteResult

CHUNK_EVENTS = 50_000
# how much of a rejected line goes to the quarantine, which redacts personal data and then keeps
# its first 4,096 characters
_RAW_LIMIT = 64 * 1024


def _reject(line_no: int, field: str, reason: str, raw: bytes) -> dict[str, object]:
    return {
        "line_no": line_no,
        "field": field,
        "reason": reason,
        "raw": raw[:_RAW_LIMIT].decode("utf-8", "backslashreplace"),
    }


def import_events(
    store: Store,
    path: str | Path,
    *,
    hasher: IdentifierHasher | None = None,
    clock: Clock | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    """Validate and store every event of a JSON Lines file; bad lines go to the quarantine."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    clock = clock or SystemClock()
    sha = file_sha256(path)
    import_id = store.begin_import("events", str(path), sha)
    total_bytes = path.stat().st_size
    read = 0
    written = WriteResult(0, 0)
    rejected: list[dict[str, object]] = []
    batch: list[Event] = []
    reasons: dict[str, int] = {}

    def flush() -> None:
        nonlocal written, batch
        if batch:
            written += store.write_events(events_to_arrow(batch))
            orders, lines = orders_from_events(batch)
            store.write_orders(orders, lines)
            batch = []

    with path.open("rb") as fh:
        done = 0
        for line_no, raw in enumerate(fh, start=1):
            done += len(raw)
            line = raw.strip()
            if not line:
                continue
            read += 1
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                reason = f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at position {exc.start}); send UTF-8"
                rejected.append(_reject(line_no, "line", reason, line))
                reasons["line: not valid UTF-8"] = reasons.get("line: not valid UTF-8", 0) + 1
                continue
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                rejected.append(_reject(line_no, "line", f"not valid JSON ({exc})", line))
                reasons["line: not valid JSON"] = reasons.get("line: not valid JSON", 0) + 1
                continue
            try:
                batch.append(validate_event(obj, received_at=clock.now(), hasher=hasher, source="import"))
            except InvalidEventError as exc:
                rejected.append(_reject(line_no, exc.field, str(exc), line))
                key = (
                    str(exc.errors[0].field) + ": " + exc.errors[0].reason.split("(")[0].split("'")[0].strip()
                )
                reasons[key] = reasons.get(key, 0) + 1
            if len(batch) >= CHUNK_EVENTS:
                flush()
                progress("events", done, total_bytes)
        flush()
        progress("events", total_bytes, total_bytes)
    store.quarantine(
        pa.Table.from_pylist(rejected, schema=QUARANTINE_SCHEMA),
        source=str(path),
        import_id=import_id,
        file_sha256=sha,
    )
    store.rebuild_profiles()
    return finish_import(
        store,
        import_id=import_id,
        kind="events",
        source=str(path),
        rows_read=read,
        written=written,
        rejected=len(rejected),
        rejected_by_reason=tuple(sorted(reasons.items(), key=lambda kv: -kv[1])),
    )

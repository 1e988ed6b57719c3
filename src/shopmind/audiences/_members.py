"""The columns a marketer expects of an audience — profile id, member id, RFM segment and the latest
scores — streamed from the store in Arrow batches, written as CSV (every cell through
``spreadsheet_safe``) or Parquet. No contact data: the store holds none.

Only profiles the store knows now are exported: an erased customer's profile rows are gone, so a
list that still names them (an old file of profile ids) exports without them."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from shopmind.audiences._audience import SEGMENT_JOB, Audience
from shopmind.core import IdentifierHasher
from shopmind.segments import write_csv
from shopmind.store import Store, stream_query

#: the scores an export carries, as the latest run of each job left them
EXPORT_SCORES = ("clv_12m", "p_alive", "churn_risk", "purchase_probability_7d", "vip_lookalike")
STAGED = "_export_audience"


def member_columns(audience: Audience) -> list[str]:
    scores = list(EXPORT_SCORES)
    if audience.score and audience.score not in scores:
        scores.append(audience.score)
    return ["profile_id", "member_id", "segment", *scores]


def member_query(store: Store, audience: Audience) -> tuple[str, list[Any]]:
    """SQL (over the audience staged as ``STAGED``) for the export's rows, sorted by profile id."""
    scores = member_columns(audience)[3:]
    picks = ", ".join(f"max(value) FILTER (WHERE name = '{s}') AS {s}" for s in scores)
    latest = store.latest_run(SEGMENT_JOB)
    sql = f"""
        WITH wanted AS (SELECT DISTINCT profile_id FROM {STAGED}),
        known AS (
            SELECT profile_id, min(identifier) FILTER (WHERE kind = 'user') AS member
            FROM profiles WHERE profile_id IN (SELECT profile_id FROM wanted) GROUP BY profile_id
        ),
        seg AS (
            SELECT profile_id, min(segment) AS segment FROM segment_members
            WHERE run_id = ? AND profile_id IN (SELECT profile_id FROM wanted) GROUP BY profile_id
        ),
        runs AS (SELECT arg_max(run_id, as_of) AS run_id FROM job_runs WHERE status = 'ok' GROUP BY job),
        sc AS (
            SELECT profile_id, {picks} FROM scores
            WHERE run_id IN (SELECT run_id FROM runs) AND profile_id IN (SELECT profile_id FROM wanted)
            GROUP BY profile_id
        )
        SELECT k.profile_id, substr(k.member, 6) AS member_id, seg.segment, {", ".join(f"sc.{s}" for s in scores)}
        FROM known k LEFT JOIN seg USING (profile_id) LEFT JOIN sc USING (profile_id)
        ORDER BY k.profile_id"""
    return sql, [latest[0] if latest else None]


class MemberDigest:
    """A keyed digest of the sorted profile ids that left (HMAC-SHA256 under a key derived from
    the workspace's hashing key): it proves which list an export sent without storing any id."""

    def __init__(self, hasher: IdentifierHasher) -> None:
        key = hasher.hash_value("export-digest-key", "v1").encode()
        self._mac = hmac.new(key, digestmod="sha256")
        self.count = 0

    def update(self, ids: list[str]) -> None:
        for profile_id in ids:
            self._mac.update(profile_id.encode() + b"\n")
        self.count += len(ids)

    def hexdigest(self) -> str:
        return self._mac.hexdigest()


def member_batches(store: Store, audience: Audience, rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """The export's rows in batches (the audience stays staged while they are read)."""
    sql, params = member_query(store, audience)
    with store.staged(STAGED, audience.table()):
        yield from stream_query(store, sql, params, rows)


def write_members_csv(
    batches: Iterator[pa.RecordBatch], out: IO[str], columns: list[str], digest: MemberDigest
) -> int:
    """Write the rows as CSV (cells through ``spreadsheet_safe``); the number of rows."""

    def rows() -> Iterator[tuple[object, ...]]:
        for batch in batches:
            digest.update(batch.column("profile_id").to_pylist())
            yield from zip(*(batch.column(c).to_pylist() for c in columns), strict=True)

    return write_csv(out, columns, rows())


def write_members_parquet(
    batches: Iterator[pa.RecordBatch], out: IO[bytes], columns: list[str], digest: MemberDigest
) -> int:
    """Write the rows as Parquet (zstd), a row group per batch; the number of rows."""
    writer: pq.ParquetWriter | None = None
    count = 0
    try:
        for batch in batches:
            digest.update(batch.column("profile_id").to_pylist())
            table = pa.Table.from_batches([batch]).select(columns)
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema, compression="zstd")
            writer.write_table(table)
            count += batch.num_rows
        if writer is None:  # an empty audience: a file with the columns and no rows
            empty = pa.schema([(c, pa.float64() if i >= 3 else pa.string()) for i, c in enumerate(columns)])
            writer = pq.ParquetWriter(out, empty, compression="zstd")
    finally:
        if writer is not None:
            writer.close()
    return count


def member_records(batch: pa.RecordBatch, columns: list[str]) -> list[dict[str, Any]]:
    """A batch as JSON-ready members: ids, segment and a ``scores`` object (a webhook's body)."""
    values = {c: batch.column(c).to_pylist() for c in columns}
    out = []
    for i in range(batch.num_rows):
        out.append(
            {
                "profile_id": values["profile_id"][i],
                "member_id": values["member_id"][i],
                "segment": values["segment"][i],
                "scores": {c: values[c][i] for c in columns[3:]},
            }
        )
    return out

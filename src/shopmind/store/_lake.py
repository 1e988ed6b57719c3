"""The open data layout ("the lake"): a shop's facts and scores as Parquet files in hive-style
folders, readable by DuckDB, Spark, pyarrow, pandas or any warehouse without shopmind.

``DIR/<table>/day=YYYY-MM-DD/part-<uuid>.parquet`` for the time series (events, orders, order
lines, scores), ``DIR/<table>/part-<uuid>.parquet`` for the snapshots and the small ledger (products, profiles, consents). ``day`` is
the shop-local calendar date (the zone is recorded in ``DIR/_lake.json``) of the row's time:
``event_time``, ``ordered_at`` (order lines: their order's), ``as_of`` (scores). As hive readers
expect, ``day`` is in the folder name only, not in the files. Writers only add files, never
rewrite one, so a reader never sees half a file (each file is written under a hidden name and
renamed when complete). ``docs/data-layout.md`` is the reference for users.

This module declares the layout; ``_lake_writer`` appends chunks to a lake, ``_lake_export``
writes a store's tables.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import FieldError, InvalidInputError, StoreError
from shopmind.events import EVENT_SCHEMA, ORDER_LINE_SCHEMA, ORDER_SCHEMA
from shopmind.events import PRODUCT_SCHEMA as CATALOGUE_SCHEMA
from shopmind.store._consent import ENTRY_SCHEMA as CONSENT_SCHEMA

__all__ = [
    "LAKE_TABLES",
    "LakeError",
    "LakeReport",
    "lake_partition",
    "lake_schema",
    "read_manifest",
    "shop_dates",
]

_TS = pa.timestamp("us", tz="UTC")

#: The tables of the open layout, in the order an importer reads them (orders before their lines).
LAKE_TABLES: tuple[str, ...] = (
    "events",
    "orders",
    "order_lines",
    "products",
    "profiles",
    "consents",
    "scores",
)

#: The partition column of the time series: the shop-local date, ``YYYY-MM-DD``.
DAY = "day"
MANIFEST = "_lake.json"
LAYOUT_NAME = "shopmind-lake"
LAYOUT_VERSION = 1

#: The catalogue as the lake keeps it: its columns and when each product was last updated.
PRODUCT_SCHEMA = CATALOGUE_SCHEMA.append(pa.field("updated_at", _TS))
#: identifier (``user:m1``, ``anon:a1``, ``email:<hash>``, ``phone:<hash>``) -> its customer.
PROFILE_SCHEMA = pa.schema([("identifier", pa.string()), ("profile_id", pa.string()), ("kind", pa.string())])
SCORE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job", pa.string()),
        ("profile_id", pa.string()),
        ("name", pa.string()),
        ("value", pa.float64()),
        ("as_of", _TS),
    ]
)

_FILE_SCHEMAS: dict[str, pa.Schema] = {
    "events": EVENT_SCHEMA,
    "orders": ORDER_SCHEMA,
    "order_lines": ORDER_LINE_SCHEMA,
    "products": PRODUCT_SCHEMA,
    "profiles": PROFILE_SCHEMA,
    "consents": CONSENT_SCHEMA,
    "scores": SCORE_SCHEMA,
}
#: the time column whose shop-local date is a row's ``day`` (order lines: their order's
#: ``ordered_at``, given to the writer beside the lines or as ``day``)
_DAY_OF: dict[str, str] = {
    "events": "event_time",
    "orders": "ordered_at",
    "order_lines": "ordered_at",
    "scores": "as_of",
}
#: columns a writer must be given (the store's NOT NULL columns without a default)
_REQUIRED: dict[str, tuple[str, ...]] = {
    "events": ("message_id", "type", "event_time", "received_at", "source"),
    "orders": ("order_id", "ordered_at", "currency", "source"),
    "order_lines": ("line_key", "order_id", "product_id", "quantity", "unit_price"),
    "products": ("product_id",),
    "profiles": ("identifier", "profile_id", "kind"),
    "consents": (
        "entry_id",
        "identifier",
        "channel",
        "purpose",
        "granted",
        "occurred_at",
        "method",
        "source",
    ),
    "scores": ("run_id", "profile_id", "name", "as_of"),
}
#: defaults of the store's NOT NULL columns that have one
_DEFAULTS: dict[str, dict[str, bool]] = {
    "orders": {"is_return": False, "verified": True},
    "order_lines": {"is_return": False, "is_product": True},
    "products": {"is_product": True},
}


class LakeError(StoreError):
    """A lake directory cannot be written as asked (not empty, another zone, not a directory)."""


def _known(name: str) -> None:
    if name not in _FILE_SCHEMAS:
        raise InvalidInputError(
            [FieldError("table", f"unknown lake table {name!r}; the tables are {', '.join(LAKE_TABLES)}")]
        )


def lake_partition(name: str) -> str | None:
    """The partition column of a lake table (``day``), or None for the snapshots."""
    _known(name)
    return DAY if name in _DAY_OF else None


def lake_schema(name: str, *, partition: bool = True) -> pa.Schema:
    """The declared Arrow schema of a lake table as a hive reader sees it: the files' columns and,
    for the time series, ``day`` (date32) from the folder names; ``partition=False``: the files'
    columns only."""
    _known(name)
    schema = _FILE_SCHEMAS[name]
    if partition and name in _DAY_OF:
        return schema.append(pa.field(DAY, pa.date32()))
    return schema


def _zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            [FieldError("zone", f"{zone!r} is not an IANA time zone, e.g. Asia/Seoul")]
        ) from None
    return zone


def shop_dates(times: pa.ChunkedArray | pa.Array, zone: str) -> pa.ChunkedArray | pa.Array:
    """``YYYY-MM-DD`` strings: the shop-local dates of UTC moments (naive moments are UTC, as stored).

    Explicit conversion to the zone, independent of any session or machine zone, so every engine
    that follows the same rule files a row under the same day."""
    if not pa.types.is_timestamp(times.type):
        raise InvalidInputError([FieldError("time", f"expected timestamps, got {times.type}")])
    utc = times.cast(_TS) if times.type.tz is None else times
    local = pc.local_timestamp(utc.cast(pa.timestamp("us", tz=zone)))
    return local.cast(pa.date32()).cast(pa.string())


def read_manifest(directory: str | Path) -> dict[str, object] | None:
    """The lake's ``_lake.json`` (layout, version, zone), or None for a directory written by
    another tool."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LakeError(f"{path}: not a readable lake manifest ({exc})") from None
    return found if isinstance(found, dict) else None


def _write_manifest(directory: Path, zone: str) -> None:
    found = read_manifest(directory)
    if found is not None and found.get("zone") not in (None, zone):
        raise LakeError(
            f"{directory} holds days in the zone {found.get('zone')}, not {zone}: a lake has one zone "
            "(write to another directory, or use its zone)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    body = {"layout": LAYOUT_NAME, "version": LAYOUT_VERSION, "zone": zone, "tables": list(LAKE_TABLES)}
    _atomic_write(directory / MANIFEST, lambda tmp: tmp.write_text(json.dumps(body, indent=2) + "\n"))


def _atomic_write(final: Path, write: Callable[[Path], object]) -> None:
    """Write under a hidden name (hive readers skip names starting with '.' or '_'), then rename:
    a reader sees the whole file or none of it."""
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class LakeReport:
    """What was written: rows and files per table, the lake's directory and zone."""

    directory: str
    zone: str
    tables: tuple[tuple[str, int, int], ...]  # (table, rows, files)

    def rows(self, table: str) -> int:
        return next((rows for name, rows, _ in self.tables if name == table), 0)

    def files(self, table: str) -> int:
        return next((files for name, _, files in self.tables if name == table), 0)

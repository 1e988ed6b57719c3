"""Saved audiences: a rule (e.g. purchase probability between 30% and 60% in a run) and the
profiles it held when the marketer saved it, so a campaign later reaches exactly them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from shopmind.store._store import Store


def save_audience(
    store: Store, name: str, definition: dict[str, Any], run_id: str | None, profile_ids: Sequence[str]
) -> str:
    """Store an audience and its members in one transaction; its new id."""
    audience_id = uuid.uuid4().hex[:16]
    members = pa.table({"audience_id": [audience_id] * len(profile_ids), "profile_id": list(profile_ids)})

    def write() -> None:
        store.sql(
            "INSERT INTO audiences VALUES (?, ?, ?, ?, ?, now())",
            [audience_id, name, json.dumps(definition, ensure_ascii=False), run_id, len(profile_ids)],
        )
        with store.staged("_audience_members", members) as staged:
            store.sql(f"INSERT INTO audience_members SELECT DISTINCT audience_id, profile_id FROM {staged}")

    with store.atomically():
        write()
    return audience_id


def saved_audiences(store: Store) -> list[dict[str, Any]]:
    """Every saved audience, newest first."""
    rows = store.sql(
        "SELECT audience_id, name, definition, run_id, size, created_at FROM audiences ORDER BY created_at DESC"
    )
    keys = ("audience_id", "name", "definition", "run_id", "size", "created_at")
    return [{**dict(zip(keys, r, strict=True)), "definition": json.loads(r[2])} for r in rows]

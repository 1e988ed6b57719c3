"""Visits per shop-local day as a customer-intelligence run counted them (see
``features.daily_visits``): aggregates only, no identifiers, so erasure has nothing to do here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from shopmind.store._store import Store


def write_visit_days(store: Store, run_id: str, as_of: datetime, days: pa.Table) -> int:
    """Keep ``days`` (day, sessions, converted, visitors) with ``run_id``; returns how many."""
    return store._write(
        "visit_days",
        days,
        "INSERT INTO visit_days (run_id, day, sessions, converted, visitors, as_of) "
        "SELECT ?, day, sessions, converted, visitors, ? FROM {src}",
        [run_id, as_of],
    ).inserted

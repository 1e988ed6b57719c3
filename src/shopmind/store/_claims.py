"""Orders a browser or app reported with the public write key are claims: anyone can send them.
They are stored with ``verified = false`` and kept out of revenue, lifetime value, VIPs and model
training (``order_totals`` and ``features.purchase_transactions`` read verified orders only) until
a server-side source (an import, the shop's server with a secret key) sends the same order, which
then replaces the claim, lines and all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shopmind.store._connection import StoreConnection

_CHUNK = 1000  # ids per lookup: each is a primary-key probe, never a scan


def replace_claims(store: StoreConnection, order_ids: Sequence[str]) -> int:
    """Delete the unverified claims among ``order_ids`` and their lines, so the verified orders
    about to be written take their place (inside the caller's transaction). Returns how many."""
    replaced = 0
    # a shop with no claim at all (every import-only shop): one look, not a probe per 1,000 ids
    if not order_ids or not store.sql("SELECT 1 FROM orders WHERE NOT verified LIMIT 1"):
        return 0
    for start in range(0, len(order_ids), _CHUNK):
        chunk = list(order_ids[start : start + _CHUNK])
        marks = ", ".join("?" * len(chunk))
        claims = [
            row[0]
            for row in store.sql(
                f"SELECT order_id FROM orders WHERE order_id IN ({marks}) AND NOT verified", chunk
            )
        ]
        if claims:
            marks = ", ".join("?" * len(claims))
            store._run(f"DELETE FROM order_lines WHERE order_id IN ({marks})", claims)
            store._run(f"DELETE FROM orders WHERE order_id IN ({marks})", claims)
            replaced += len(claims)
    return replaced


def unverified_orders(store: StoreConnection) -> int:
    """How many orders are clients' claims that no server-side source has confirmed."""
    return int(store.scalar("SELECT count(*) FROM orders WHERE NOT verified"))

"""A seeded sample of customers that every engine draws alike: the first 32 bits of
md5("<seed>:<profile_id>") below the sample's share of 2^32 (text functions DuckDB and Spark both
have, so both keep the same customers, and a draw made again keeps them again)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

_SCALE = 16**8  # the draw: 8 hex digits of md5


def sampled_customers(table: ir.Table, share: float, seed: int = 0) -> ir.Table:
    """The rows of ``table`` (with a ``profile_id``) of the customers drawn with probability
    ``share`` by ``seed``; ``table`` itself when the share is 1."""
    if share >= 1.0:
        return table
    threshold = f"{min(int(share * _SCALE), _SCALE - 1):08x}"
    draw = (ibis.literal(f"{seed}:") + table.profile_id).hexdigest("md5").substr(0, 8)
    return table.filter(draw < threshold)

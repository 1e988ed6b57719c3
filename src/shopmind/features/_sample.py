"""Seeded draws of customers that every engine makes alike, from the first 32 bits of
md5("<seed>:<profile_id>") (text functions DuckDB and Spark both have, so both keep the same
customers, and a draw made again keeps them again):

- :func:`sampled_customers`: a sample, the customers whose draw is below the share of 2^32;
- :func:`customers_in_part`: one of ``parts`` disjoint parts that together hold every customer,
  the customers whose draw falls in the part's slice of 0..2^32 (a job too big for memory in one
  query runs part by part)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from shopmind.core import FieldError, InvalidInputError

_SCALE = 16**8  # the draw: 8 hex digits of md5


def _draw(profile_id: ir.StringValue, seed: int) -> ir.StringValue:
    return (ibis.literal(f"{seed}:") + profile_id).hexdigest("md5").substr(0, 8)


def _bound(fraction: float) -> str:
    return f"{min(int(fraction * _SCALE), _SCALE - 1):08x}"


def sampled_customers(table: ir.Table, share: float, seed: int = 0) -> ir.Table:
    """The rows of ``table`` (with a ``profile_id``) of the customers drawn with probability
    ``share`` by ``seed``; ``table`` itself when the share is 1."""
    if share >= 1.0:
        return table
    return table.filter(_draw(table.profile_id, seed) < _bound(share))


def customers_in_part(table: ir.Table, part: int, parts: int, seed: int = 0) -> ir.Table:
    """The rows of ``table`` (with a ``profile_id``) of the customers in part ``part`` of
    ``parts`` (0-based): every customer is in exactly one part, the parts about equal in size;
    ``table`` itself when there is one part."""
    if parts < 1 or not 0 <= part < parts:
        raise InvalidInputError([FieldError("part", f"part {part} of {parts}: want 0 <= part < parts >= 1")])
    if parts == 1:
        return table
    draw = _draw(table.profile_id, seed)
    kept = ibis.literal(True)
    if part > 0:
        kept = kept & (draw >= f"{part * _SCALE // parts:08x}")
    if part < parts - 1:
        kept = kept & (draw < f"{(part + 1) * _SCALE // parts:08x}")
    return table.filter(kept)

"""The sufficient statistics of the lifetime-value fits, aggregated where the data are.

BG/NBD and Pareto/NBD see a customer only through (frequency, recency, T), and Gamma-Gamma a
repeat buyer only through (frequency, mean spend): the distinct rows with the number of customers
each stands for give the same fit as one row per customer (``fit(..., counts=...)``). On Spark
these are a few thousand rows however many customers the shop has, so the driver that fits the
models never holds a row per customer for the fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["repeat_purchase_counts", "spend_counts"]


def repeat_purchase_counts(summary: ir.Table) -> ir.Table:
    """The distinct (frequency, recency, T) of ``summary`` (``features.rfm_summary``: one row per
    buyer) with ``customers``, the buyers each stands for, ordered by the triple."""
    counted = summary.group_by(["frequency", "recency", "T"]).aggregate(customers=summary.count())
    return counted.order_by(["frequency", "recency", "T"])


def spend_counts(summary: ir.Table) -> ir.Table:
    """The distinct (frequency, monetary_value) of the repeat buyers with a positive mean spend
    (those a Gamma-Gamma fit takes) with ``customers``, ordered by the pair."""
    repeat = summary.filter((summary.frequency > 0) & (summary.monetary_value > 0))
    counted = repeat.group_by(["frequency", "monetary_value"]).aggregate(customers=repeat.count())
    return counted.order_by(["frequency", "monetary_value"])

"""Ibis expressions that turn stored facts into model inputs: purchase (RFM) and visit summaries."""

from shopmind.features._rfm import (
    customer_key,
    event_profiles,
    purchase_transactions,
    rfm_summary,
    visit_summary,
)
from shopmind.features._time import as_of_day, local_day

__all__ = [
    "as_of_day",
    "customer_key",
    "event_profiles",
    "local_day",
    "purchase_transactions",
    "rfm_summary",
    "visit_summary",
]

"""Ibis expressions that turn stored facts into model inputs: purchase (RFM) and visit summaries,
tastes (categories, brands, price band, interests) and habits (best time and channel)."""

from shopmind.features._habits import best_time_and_device, send_channel
from shopmind.features._rfm import (
    customer_key,
    event_profiles,
    purchase_transactions,
    rfm_summary,
    visit_summary,
)
from shopmind.features._taste import customer_taste, taste_scores
from shopmind.features._time import as_of_day, local_day

__all__ = [
    "as_of_day",
    "best_time_and_device",
    "customer_key",
    "customer_taste",
    "event_profiles",
    "local_day",
    "purchase_transactions",
    "rfm_summary",
    "send_channel",
    "taste_scores",
    "visit_summary",
]

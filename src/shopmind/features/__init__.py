"""Ibis expressions that turn stored facts into model inputs: purchase (RFM) and visit summaries,
tastes (categories, brands, price band, interests), habits (best time and channel) and the
behavioural features and labels of the supervised models (purchase probability, churn, look-alikes)."""

from shopmind.features._behaviour import (
    FEATURES,
    NEVER,
    behaviour_features,
    purchase_context,
    purchase_labels,
)
from shopmind.features._calendar import (
    CALENDAR_COLUMNS,
    MOMENTUM_COLUMNS,
    calendar_and_momentum,
    calendar_features,
    shop_activity,
    shop_momentum,
    shop_order_rates,
)
from shopmind.features._experiment_metrics import (
    MetricSpec,
    experiment_clicks,
    exposed_units,
    message_kind_events,
    unit_values,
    variant_sums,
    verified_orders,
)
from shopmind.features._habits import best_time_and_device, send_channel, send_fallbacks
from shopmind.features._interactions import interactions, recommender_catalogue
from shopmind.features._rfm import (
    customer_key,
    event_profiles,
    purchase_transactions,
    rfm_summary,
    visit_summary,
)
from shopmind.features._sample import customers_in_part, sampled_customers
from shopmind.features._taste import catalogue_price_thirds, customer_taste, price_band, taste_scores
from shopmind.features._time import as_of_day, local_day
from shopmind.features._visits import daily_visits

__all__ = [
    "CALENDAR_COLUMNS",
    "FEATURES",
    "MOMENTUM_COLUMNS",
    "NEVER",
    "MetricSpec",
    "as_of_day",
    "behaviour_features",
    "best_time_and_device",
    "calendar_and_momentum",
    "calendar_features",
    "catalogue_price_thirds",
    "customer_key",
    "customer_taste",
    "customers_in_part",
    "daily_visits",
    "event_profiles",
    "experiment_clicks",
    "exposed_units",
    "interactions",
    "local_day",
    "message_kind_events",
    "price_band",
    "purchase_context",
    "purchase_labels",
    "purchase_transactions",
    "recommender_catalogue",
    "rfm_summary",
    "sampled_customers",
    "send_channel",
    "send_fallbacks",
    "shop_activity",
    "shop_momentum",
    "shop_order_rates",
    "taste_scores",
    "unit_values",
    "variant_sums",
    "verified_orders",
    "visit_summary",
]

"""Visits per shop-local day: sessions, sessions that ended in an order, and distinct visitors,
so the dashboard can show the conversion rate of visits and revenue per visitor for any date range
without reading the event table (a job computes this once per run).

A session is the events sharing a ``session_id`` (an event without one is a session of its own,
as in :mod:`shopmind.features._habits`) and belongs to the day of its first event. It *converted*
when it holds an ``order_completed`` event whose order is a placed, verified order: a browser's
unconfirmed claim does not count, as everywhere else. A visitor is a profile (a member's devices
are one visitor), counted once per day.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.features._habits import BUY_EVENT
from shopmind.features._rfm import event_profiles, placed_orders
from shopmind.features._time import local_day


def daily_visits(
    events: ir.Table, orders: ir.Table, profiles: ir.Table, as_of: datetime, *, zone: str = DEFAULT_SHOP_TZ
) -> ir.Table:
    """One row per shop-local day with a session started before ``as_of``: ``day``, ``sessions``,
    ``converted`` (sessions with a placed, verified order) and ``visitors`` (distinct profiles)."""
    seen = event_profiles(events.filter(events.event_time < as_of), profiles)
    placed = placed_orders(orders).select(_placed_id=orders.order_id)
    seen = seen.mutate(
        _session=ibis.coalesce(seen.session_id, ibis.literal("event:") + seen.message_id),
        _bought=ibis.ifelse(seen.type == BUY_EVENT, seen.order_id, ibis.null("string")),
    )
    seen = seen.left_join(placed, seen._bought == placed._placed_id)
    per = seen.group_by("_session").aggregate(
        started=seen.event_time.min(),
        visitor=seen.profile_id.argmin(seen.event_time),
        converted=seen._placed_id.notnull().any(),
    )
    per = per.mutate(day=local_day(per.started, zone, as_of))
    return per.group_by("day").aggregate(
        sessions=per.count(),
        converted=per.converted.sum().cast("int64"),
        visitors=per.visitor.nunique(),
    )

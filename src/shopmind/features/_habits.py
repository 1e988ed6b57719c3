"""When and on what each profile browses and buys, and the best hour and channel to message them,
as Ibis expressions (they run in the engine).

The unit is the session (events sharing a ``session_id``; an event without one is a session of its
own): a session with an ``order_completed`` event is a *buying* session, any other a *browsing*
session. A session happens at the shop-local hour and weekday of its first event (the moment the
customer opened the shop, which is what a message should meet) and on the device and channel
(``app`` or ``web``) of its first event.

Peak hours are found on a circular histogram smoothed over the neighbouring hours (an hour scores
its own sessions plus half of those one hour either side, across midnight too), so a customer who
opens the shop at 7:50 one day and 8:10 the next has one peak, not two half-peaks; ties go to the
hour with more sessions of its own, then to the hour of the latest session. The device and channel of a peak are
the most frequent among the sessions within one hour of it.

The best **send hour** is the buying peak: a message should arrive when the customer is in the
mood to buy, and their buying sessions show when that is (someone who browses on the way to work
but buys at night is best reached at night). Customers who never bought are reached at their
browsing peak. The **send channel** follows the device and channel of the sessions around the
send hour:

======================  ============  ==============================================================
sessions around it      channel       why
======================  ============  ==============================================================
the shop's app (any)    ``app_push``  an app push opens the app they already use at that hour
web on a mobile phone   ``sms``       a text (문자, 알림톡) is read at once on the phone, its link
                                      opens the mobile web they use
web on desktop/tablet   ``email``     read at the desk; its link opens the browser they buy in
======================  ============  ==============================================================

(The channel codes are the consent ledger's: ``store.CHANNELS``.)

Profiles with fewer than ``min_sessions`` sessions before ``as_of`` get the send hour and channel
of their segment (when ``segments`` is given and they are in one) or else of the whole shop, and
``is_fallback`` says so. Consent is not considered here: the send step must check it
(``store.may_send_advertising``).
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.features._rfm import event_profiles
from shopmind.features._sample import customers_in_part
from shopmind.features._time import local_hour, local_weekday

BUY_EVENT = "order_completed"
HOURS = 24
WEEKDAYS = 7  # Monday = 0
NEIGHBOUR_WEIGHT = 0.5
_BINS = {
    "browse_by_hour": HOURS,
    "buy_by_hour": HOURS,
    "browse_by_weekday": WEEKDAYS,
    "buy_by_weekday": WEEKDAYS,
}


def send_channel(device_type: ir.StringValue, channel: ir.StringValue) -> ir.StringValue:
    """The message channel for sessions on ``device_type`` through ``channel`` (see the module)."""
    return ibis.cases(
        (channel == "app", "app_push"),
        (device_type == "mobile", "sms"),
        else_="email",
    )


def _sessions(events: ir.Table, profiles: ir.Table, as_of: datetime, zone: str) -> ir.Table:
    """One row per session before ``as_of``: profile_id, started (UTC), hour and weekday (local),
    device_type, channel, is_buy."""
    seen = event_profiles(events.filter(events.event_time < as_of), profiles)
    seen = seen.mutate(
        _session=ibis.coalesce(seen.session_id, ibis.literal("event:") + seen.message_id),
    )
    per = seen.group_by("profile_id", "_session").aggregate(
        started=seen.event_time.min(),
        device_type=ibis.coalesce(seen.device_type.argmin(seen.event_time), "unknown"),
        channel=ibis.coalesce(seen.channel.argmin(seen.event_time), "unknown"),
        is_buy=(seen.type == BUY_EVENT).any(),
    )
    # the local hour and weekday by explicit offset arithmetic (``features._time``), the same on
    # every engine and with each session's own daylight-saving offset
    return per.select(
        "profile_id",
        "started",
        hour=local_hour(per.started, zone, as_of),
        weekday=local_weekday(per.started, zone, as_of),
        device_type=per.device_type,
        channel=per.channel,
        is_buy=per.is_buy,
    )


def _peak(sessions: ir.Table, keys: list[str]) -> ir.Table:
    """Per ``keys``: the peak hour of the smoothed circular histogram of ``sessions`` and, from the
    sessions within an hour of it, the most frequent device and channel."""
    spread = sessions.mutate(_shift=ibis.array([-1, 0, 1]).unnest())
    spread = spread.mutate(
        _hour=(spread.hour + spread._shift + HOURS) % HOURS,
        _score=ibis.ifelse(spread._shift == 0, 1.0, NEIGHBOUR_WEIGHT),
    )
    own = spread._shift == 0
    scores = spread.group_by([*keys, "_hour"]).aggregate(
        _score=spread._score.sum(), _own=own.sum(), _latest=spread.started.max(where=own)
    )
    best = ibis.row_number().over(
        group_by=keys,
        order_by=[ibis.desc("_score"), ibis.desc("_own"), ibis.desc("_latest"), "_hour"],
    )
    peak = scores.mutate(_rank=best).filter(ibis._._rank == 0).select(*keys, peak_hour=ibis._._hour)

    near = sessions.join(peak, keys)
    distance = (near.hour - near.peak_hour).abs()
    near = near.filter(ibis.least(distance, HOURS - distance) <= 1)
    devices = near.group_by([*keys, "device_type", "channel"]).aggregate(_n=near.count())
    first = ibis.row_number().over(group_by=keys, order_by=[ibis.desc("_n"), "device_type", "channel"])
    device = devices.mutate(_rank=first).filter(ibis._._rank == 0).drop("_rank", "_n")
    return peak.join(device, keys)


def _send_peak(sessions: ir.Table, keys: list[str]) -> ir.Table:
    """Per ``keys``: the buying peak, or the browsing peak where nobody bought."""
    marked = sessions.mutate(_any_buy=sessions.is_buy.any().over(group_by=keys))
    return _peak(marked.filter(marked.is_buy | ~marked._any_buy), keys)


def _peak_weekday(sessions: ir.Table, keys: list[str]) -> ir.Table:
    """Per ``keys``: the weekday with most sessions (Monday = 0; ties go to the latest session)."""
    counts = sessions.group_by([*keys, "weekday"]).aggregate(
        _n=sessions.count(), _latest=sessions.started.max()
    )
    first = ibis.row_number().over(group_by=keys, order_by=[ibis.desc("_n"), ibis.desc("_latest"), "weekday"])
    return counts.mutate(_rank=first).filter(ibis._._rank == 0).select(*keys, peak_weekday=ibis._.weekday)


def _renamed(table: ir.Table, prefix: str, keys: list[str]) -> ir.Table:
    return table.rename({f"{prefix}_{c}": c for c in table.columns if c not in keys})


def _fallbacks(sessions: ir.Table, segments: ir.Table | None) -> ir.Table:
    """The shop's send peak (``segment`` null) and each segment's, from every session."""
    shop = _send_peak(sessions.mutate(_all=1), ["_all"]).select(
        segment=ibis.null("string"), peak_hour="peak_hour", device_type="device_type", channel="channel"
    )
    if segments is None:
        return shop
    membership = _membership(segments)
    by_segment = _send_peak(sessions.join(membership, "profile_id"), ["segment"])
    return shop.union(by_segment.select("segment", "peak_hour", "device_type", "channel"))


def _membership(segments: ir.Table) -> ir.Table:
    """Each profile's segment: the alphabetically first of its segments."""
    return segments.group_by("profile_id").aggregate(segment=segments.segment.min())


def send_fallbacks(
    events: ir.Table,
    profiles: ir.Table,
    as_of: datetime,
    *,
    zone: str = DEFAULT_SHOP_TZ,
    segments: ir.Table | None = None,
) -> ir.Table:
    """The send peaks that customers with little history fall back to, from every session before
    ``as_of``: one row for the shop (``segment`` null) and one per segment of ``segments``, with
    ``peak_hour`` (local), ``device_type`` and ``channel`` of the sessions around it. A few rows:
    computed once, they let :func:`best_time_and_device` run part by part."""
    return _fallbacks(_sessions(events, profiles, as_of, zone), segments)


def best_time_and_device(
    events: ir.Table,
    profiles: ir.Table,
    as_of: datetime,
    *,
    zone: str = DEFAULT_SHOP_TZ,
    segments: ir.Table | None = None,
    min_sessions: int = 3,
    part: tuple[int, int] = (0, 1),
    fallbacks: ir.Table | None = None,
) -> ir.Table:
    """Per profile, members and anonymous visitors alike, when and on what they browse and buy,
    and the best hour and channel to message them (see the module for the definitions).

    Every profile of ``profiles`` gets a row, and so does every visitor with events but no
    profile, so a profile without history still gets the fallback. ``segments`` (optional:
    ``profile_id``, ``segment``; the alphabetically first segment is used for a profile in
    several) gives a better fallback than the whole shop. Hours are shop-local (``zone``).

    ``part`` = (i, n): only the profiles in part i of n (:func:`customers_in_part`), so that a
    shop too big for one query runs part by part; ``fallbacks`` (from :func:`send_fallbacks`,
    the same ``segments``): the shop's and segments' peaks computed once for every part, else
    computed here from every session.

    Columns:

    - ``profile_id``
    - ``sessions``, ``browse_sessions``, ``buy_sessions``: counts before ``as_of``
    - ``browse_by_hour``, ``buy_by_hour``: 24 session counts, local hours 0..23
    - ``browse_by_weekday``, ``buy_by_weekday``: 7 session counts, Monday first
    - ``browse_hour``, ``browse_weekday`` (Monday = 0), ``browse_device``, ``browse_channel``:
      the browsing peak (null without browsing sessions); ``buy_hour``, ``buy_weekday``,
      ``buy_device``, ``buy_channel`` likewise for buying sessions
    - ``send_hour`` (local, 0..23), ``send_device``, ``send_channel`` (``app_push``, ``sms``
      or ``email``): the best time and channel to message them
    - ``send_basis``: ``profile``, ``segment`` or ``shop``; ``is_fallback``: not ``profile``
    """
    every_session = _sessions(events, profiles, as_of, zone)
    if fallbacks is None:
        fallbacks = _fallbacks(every_session, segments)
    sessions = customers_in_part(every_session, *part)
    buy = sessions.is_buy

    def bins(column: ir.IntegerColumn, n: int, where: ir.BooleanValue) -> ir.ArrayValue:
        return ibis.array([(where & (column == i)).sum().cast("int64") for i in range(n)])

    stats = sessions.group_by("profile_id").aggregate(
        sessions=sessions.count(),
        browse_sessions=(~buy).sum().cast("int64"),
        buy_sessions=buy.sum().cast("int64"),
        browse_by_hour=bins(sessions.hour, HOURS, ~buy),
        buy_by_hour=bins(sessions.hour, HOURS, buy),
        browse_by_weekday=bins(sessions.weekday, WEEKDAYS, ~buy),
        buy_by_weekday=bins(sessions.weekday, WEEKDAYS, buy),
    )

    key = ["profile_id"]
    browsing, buying = sessions.filter(~sessions.is_buy), sessions.filter(sessions.is_buy)
    browse = _renamed(_peak(browsing, key), "browse", key).join(
        _renamed(_peak_weekday(browsing, key), "browse", key), key
    )
    bought = _renamed(_peak(buying, key), "buy", key).join(
        _renamed(_peak_weekday(buying, key), "buy", key), key
    )
    shop = fallbacks.filter(fallbacks.segment.isnull()).select(
        _all=ibis.literal(1),
        shop_peak_hour=fallbacks.peak_hour,
        shop_device_type=fallbacks.device_type,
        shop_channel=fallbacks.channel,
    )

    universe = customers_in_part(profiles.select(profile_id=profiles.profile_id.cast("string")), *part).union(
        sessions.select(profile_id=sessions.profile_id.cast("string")), distinct=True
    )
    out = universe.left_join(stats, key).drop("profile_id_right")
    for peaks in (browse, bought):
        out = out.left_join(peaks, key).drop("profile_id_right")
    # a left join, not a cross join: before any session there is no shop peak, yet every profile
    out = out.mutate(_all=1).left_join(shop, "_all").drop("_all", "_all_right")

    if segments is not None:
        membership = _membership(segments)
        by_segment = fallbacks.filter(fallbacks.segment.notnull()).select(
            "segment",
            segment_peak_hour=fallbacks.peak_hour,
            segment_device_type=fallbacks.device_type,
            segment_channel=fallbacks.channel,
        )
        out = (
            out.left_join(membership, key)
            .drop("profile_id_right")
            .left_join(by_segment, "segment")
            .drop("segment_right")
        )
        segment_hour, segment_device, segment_channel = (
            out.segment_peak_hour,
            out.segment_device_type,
            out.segment_channel,
        )
    else:
        segment_hour = ibis.null("int64")
        segment_device = segment_channel = ibis.null("string")

    # their own send peak is the buying peak, or the browsing one if they never bought
    has_bought = out.buy_peak_hour.notnull()
    own_hour = ibis.ifelse(has_bought, out.buy_peak_hour, out.browse_peak_hour)
    own_device = ibis.ifelse(has_bought, out.buy_device_type, out.browse_device_type)
    own_channel = ibis.ifelse(has_bought, out.buy_channel, out.browse_channel)
    n = ibis.coalesce(out.sessions, 0)
    is_own = (n >= min_sessions) & own_hour.notnull()
    is_segment = ~is_own & segment_hour.notnull()

    def pick(own: ir.Value, segment: ir.Value, shop: ir.Value) -> ir.Value:
        return ibis.cases((is_own, own), (is_segment, segment), else_=shop)

    device = pick(own_device, segment_device, out.shop_device_type)
    zeros = {c: ibis.literal([0] * size, type="array<int64>") for c, size in _BINS.items()}
    return out.select(
        "profile_id",
        sessions=n.cast("int64"),
        browse_sessions=ibis.coalesce(out.browse_sessions, 0).cast("int64"),
        buy_sessions=ibis.coalesce(out.buy_sessions, 0).cast("int64"),
        **{c: ibis.coalesce(out[c], zero) for c, zero in zeros.items()},
        browse_hour=out.browse_peak_hour.cast("int64"),
        browse_weekday=out.browse_peak_weekday.cast("int64"),
        browse_device=out.browse_device_type,
        browse_channel=out.browse_channel,
        buy_hour=out.buy_peak_hour.cast("int64"),
        buy_weekday=out.buy_peak_weekday.cast("int64"),
        buy_device=out.buy_device_type,
        buy_channel=out.buy_channel,
        send_hour=pick(own_hour, segment_hour, out.shop_peak_hour).cast("int64"),
        send_device=device,
        send_channel=send_channel(device, pick(own_channel, segment_channel, out.shop_channel)),
        send_basis=pick(ibis.literal("profile"), ibis.literal("segment"), ibis.literal("shop")),
        is_fallback=~is_own,
    ).order_by("profile_id")

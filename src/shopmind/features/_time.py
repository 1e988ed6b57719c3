"""Shop-local days, hours and weekdays from stored UTC times, computed the same way on every engine.

Both engines turn an instant into a calendar day through their *session* time zone (DuckDB's
``TimeZone``, Spark's ``spark.sql.session.timeZone``), and each reads "seconds since 1970" through
it in a different place (DuckDB's ``epoch`` of a zoned timestamp, Spark's ``timestampdiff``), so
one session left in another zone moves a purchase near midnight to the neighbouring day on one
engine only. Here nothing calendrical is left to the engine: the UTC instant becomes whole
seconds since 1970, the shop's offset *at that instant* (from the IANA database Python ships,
daylight saving time included) is added as a number, and the day, hour and weekday are integer
arithmetic on the result. The sessions run in UTC (``store`` sets DuckDB's zone, and
``ibis.pyspark.connect`` Spark's); with that, DuckDB and Spark give the same days as
``datetime.astimezone(zone)`` for every instant from 1970 to 2100.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from shopmind.core import DEFAULT_SHOP_TZ

SECONDS_PER_DAY = 86_400
#: the instant whole seconds are counted from: before any stored time, so that both engines'
#: "seconds between" (one counts second boundaries crossed, the other truncates) agree
_ORIGIN = datetime(1900, 1, 1, tzinfo=UTC)
_ORIGIN_TO_1970 = int((datetime(1970, 1, 1, tzinfo=UTC) - _ORIGIN).total_seconds())
#: the span whose daylight-saving changes are applied; outside it the nearest known offset holds
_FIRST_YEAR, _LAST_YEAR = 1970, 2100
_EPOCH_DAY = date(1970, 1, 1)
#: how far back a job's offset changes reach (see ``local_seconds``)
YEARS_BEFORE = 20
#: 1970-01-01 was a Thursday (Monday = 0)
_EPOCH_WEEKDAY = 3


def utc_offset_hours(zone: str, at: datetime) -> float:
    """The zone's offset at ``at`` (one instant; the expressions below apply the offset of each
    row's own instant)."""
    offset = at.astimezone(ZoneInfo(zone)).utcoffset()
    return 0.0 if offset is None else offset.total_seconds() / 3600


def _offset_seconds(zone: ZoneInfo, at: datetime) -> int:
    offset = at.astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


@lru_cache(maxsize=32)
def offset_changes(zone: str) -> tuple[int, tuple[tuple[datetime, int], ...]]:
    """The zone's offset in seconds on 1970-01-01 and every change after it until 2100:
    (the UTC instant of the change, the offset from then on), in order."""
    tz = ZoneInfo(zone)
    origin = datetime(1970, 1, 1, tzinfo=UTC)

    def offset_at(second: int) -> int:
        return _offset_seconds(tz, origin + timedelta(seconds=second))

    # a week's steps, then halving to the second: no zone keeps an offset for less than a week
    step = 7 * SECONDS_PER_DAY
    end = int((datetime(_LAST_YEAR + 1, 1, 1, tzinfo=UTC) - origin).total_seconds())
    first = previous = offset_at(0)
    changes: list[tuple[datetime, int]] = []
    for low in range(0, end, step):
        high = low + step
        offset = offset_at(high)
        if offset == previous:
            continue
        while high - low > 1:  # offset_at(low) == previous != offset_at(high)
            middle = (low + high) // 2
            if offset_at(middle) == previous:
                low = middle
            else:
                high = middle
        changes.append((origin + timedelta(seconds=high), offset))
        previous = offset
    return first, tuple(changes)


def _offset_of(
    ts: ir.TimestampValue, first: int, changes: tuple[tuple[datetime, int], ...]
) -> ir.IntegerValue:
    """The offset in effect at ``ts``: one flat ``CASE`` comparing ``ts`` with the change instants,
    newest first (most rows are recent and stop at the first test), a comparison of instants
    meaning the same on every engine whatever its zone. (A nested, balanced form plans slowly.)"""
    if not changes:
        return ibis.literal(first, type="int64")
    tests = [
        (ts >= ibis.literal(when, type="timestamp('UTC')"), ibis.literal(offset, type="int64"))
        for when, offset in reversed(changes)
    ]
    return ibis.cases(*tests, else_=ibis.literal(first, type="int64"))


def utc_seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds from 1970-01-01 UTC to ``ts`` (rounded down)."""
    origin = ibis.literal(_ORIGIN, type="timestamp('UTC')")
    return ts.delta(origin, unit="second").cast("int64") - _ORIGIN_TO_1970


def _changes_near(zone: str, at: datetime | None) -> tuple[int, tuple[tuple[datetime, int], ...]]:
    """The zone's offset changes within ``YEARS_BEFORE`` years before ``at`` and a year after it
    (all of them without ``at``), and the offset before the first: every change is a comparison
    in the query, and engines plan hundreds of nested ones slowly (Spark: tens of seconds)."""
    first, changes = offset_changes(zone)
    if at is None:
        return first, changes
    start = datetime(at.year - YEARS_BEFORE, 1, 1, tzinfo=UTC)
    end = datetime(at.year + 2, 1, 1, tzinfo=UTC)
    earlier = [offset for when, offset in changes if when < start]
    kept = tuple((when, offset) for when, offset in changes if start <= when < end)
    return (earlier[-1] if earlier else first), kept


def local_seconds(
    ts: ir.TimestampValue, zone: str = DEFAULT_SHOP_TZ, at: datetime | None = None
) -> ir.IntegerValue:
    """Whole seconds from 1970-01-01 00:00 *shop-local* wall time to ``ts``'s local wall time.

    With ``at`` (the job's ``as_of``), the offset changes of the ``YEARS_BEFORE`` years before it
    and the year after are applied; an instant earlier than that gets the offset in effect at
    the start of that span (the same on every engine; only an hour near midnight in a zone with
    daylight saving time, decades back, can land on the neighbouring day)."""
    first, changes = _changes_near(zone, at)
    return utc_seconds(ts) + _offset_of(ts, first, changes)


def local_day_number(
    ts: ir.TimestampValue, zone: str = DEFAULT_SHOP_TZ, at: datetime | None = None
) -> ir.IntegerValue:
    """Days from 1970-01-01 to ``ts``'s shop-local day."""
    return local_seconds(ts, zone, at).floordiv(SECONDS_PER_DAY).cast("int64")


def day_from_number(days: ir.IntegerValue) -> ir.DateValue:
    """The date ``days`` after 1970-01-01."""
    return (ibis.literal(_EPOCH_DAY) + days.cast("int32").as_interval("D")).cast("date")


def local_day(ts: ir.TimestampValue, zone: str = DEFAULT_SHOP_TZ, at: datetime | None = None) -> ir.DateValue:
    """The shop-local calendar day of a UTC timestamp column (``at``: the job's ``as_of``, see
    ``local_seconds``)."""
    return day_from_number(local_day_number(ts, zone, at))


def local_hour(
    ts: ir.TimestampValue, zone: str = DEFAULT_SHOP_TZ, at: datetime | None = None
) -> ir.IntegerValue:
    """The shop-local hour (0..23) of a UTC timestamp column."""
    return (local_seconds(ts, zone, at) % SECONDS_PER_DAY).floordiv(3600).cast("int64")


def local_weekday(
    ts: ir.TimestampValue, zone: str = DEFAULT_SHOP_TZ, at: datetime | None = None
) -> ir.IntegerValue:
    """The shop-local weekday (Monday = 0) of a UTC timestamp column."""
    return ((local_day_number(ts, zone, at) + _EPOCH_WEEKDAY) % 7).cast("int64")


def as_of_day(as_of: datetime, zone: str = DEFAULT_SHOP_TZ) -> date:
    """The last shop-local day observed before ``as_of`` (the day of ``as_of`` itself unless it is
    exactly midnight), so that ``as_of = 1997-10-01 00:00`` observes up to and including 1997-09-30,
    the convention of the buy-till-you-die papers' "end of calibration" date."""
    return (as_of.astimezone(ZoneInfo(zone)) - timedelta(microseconds=1)).date()

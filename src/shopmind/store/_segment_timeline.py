"""A saved segment's membership over time: how many customers entered and left it each day (in the
shop's time zone) and how many were members at the end of that day, read from its history of stays
(``segment_history``: one row per stay, entered and exited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.store._store import Store


@dataclass(frozen=True)
class MembershipDay:
    day: date  # shop-local
    entered: int
    exited: int
    members: int  # at the end of the day


def membership_timeline(
    store: Store, segment_id: str, *, zone: str = DEFAULT_SHOP_TZ, days: int = 90
) -> list[MembershipDay]:
    """The days on which customers entered or left the segment, oldest first; only the last
    ``days`` of them (the member count still counts every earlier stay)."""
    rows = store.sql(
        """WITH moves AS (
            SELECT entered_at AS moved_at, 1 AS entered, 0 AS exited FROM segment_history WHERE segment_id = ?
            UNION ALL
            SELECT exited_at, 0, 1 FROM segment_history WHERE segment_id = ? AND exited_at IS NOT NULL
        )
        SELECT CAST(timezone(?, moved_at) AS DATE) AS day, sum(entered), sum(exited)
        FROM moves GROUP BY 1 ORDER BY 1""",
        [segment_id, segment_id, zone],
    )
    out: list[MembershipDay] = []
    members = 0
    for day, entered, exited in rows:
        members += int(entered) - int(exited)
        out.append(MembershipDay(day, int(entered), int(exited), members))
    return out[-days:] if days > 0 else out

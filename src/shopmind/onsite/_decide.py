"""Deciding the on-site action for a placement: the enabled triggers of that placement whose
conditions hold for the live session and whose targeting admits the visitor, within their
frequency caps; the one with the highest priority wins (ties: the first in the file)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shopmind.onsite._session import Session
from shopmind.onsite._triggers import Trigger

DAY = timedelta(days=1)
VIP_SEGMENTS = frozenset({"vip", "clv_vip"})


@dataclass(frozen=True)
class Visitor:
    """What the store knew about a visitor before this session: their profile, segments (RFM and
    the model lists), orders completed, and whether they had been seen at all; and the live saved
    segments they are in now (ids)."""

    profile_id: str | None = None
    segments: frozenset[str] = frozenset()
    orders: int = 0
    known: bool = False
    saved_segments: frozenset[str] = frozenset()

    @property
    def vip(self) -> bool:
        return bool(self.segments & VIP_SEGMENTS)


class FrequencyLedger:
    """When each visitor was served each trigger over the last day (per-day caps, cool-downs)."""

    def __init__(self) -> None:
        self._served: dict[tuple[str, str], list[datetime]] = {}

    def record(self, visitor: str, trigger: str, at: datetime) -> None:
        times = self._served.setdefault((visitor, trigger), [])
        times.append(at)
        if len(times) > 64:  # nobody's cap is that high: keep the list short
            del times[:-64]

    def served_since(self, visitor: str, trigger: str, since: datetime) -> int:
        return sum(1 for at in self._served.get((visitor, trigger), ()) if at >= since)

    def last(self, visitor: str, trigger: str) -> datetime | None:
        times = self._served.get((visitor, trigger))
        return times[-1] if times else None

    def forget_before(self, cut: datetime) -> None:
        """Drop what no cap looks at any more."""
        for key in [k for k, times in self._served.items() if times[-1] < cut]:
            del self._served[key]

    def __len__(self) -> int:
        return len(self._served)


def unmet(trigger: Trigger, session: Session, visitor: Visitor, now: datetime) -> list[str]:
    """The conditions and targeting rules of ``trigger`` that do not hold (empty: it matches)."""
    w, t = trigger.when, trigger.target
    failed: list[str] = []

    def need(name: str, holds: bool) -> None:
        if not holds:
            failed.append(name)

    if w.exit_intent is not None:
        need("exit_intent", session.exit_intent == w.exit_intent)
    if w.page_type is not None:
        need("page_type", session.page_type in w.page_type)
    if w.page_type_not is not None:
        need("page_type_not", session.page_type not in w.page_type_not)
    if w.pages_min is not None:
        need("pages_min", session.pages >= w.pages_min)
    if w.cart_items_min is not None:
        need("cart_items_min", session.cart_items >= w.cart_items_min)
    if w.cart_items_max is not None:
        need("cart_items_max", session.cart_items <= w.cart_items_max)
    if w.cart_idle_seconds_min is not None:
        changed = session.cart_changed_at
        need(
            "cart_idle_seconds_min",
            bool(session.cart)
            and changed is not None
            and (now - changed).total_seconds() >= w.cart_idle_seconds_min,
        )
    if w.categories_viewed_min is not None:
        need("categories_viewed_min", len(session.categories) >= w.categories_viewed_min)
    if w.mean_dwell_seconds_max is not None:
        dwell = session.mean_dwell_seconds
        need("mean_dwell_seconds_max", dwell is not None and dwell <= w.mean_dwell_seconds_max)
    if w.scroll_percent_min is not None:
        need("scroll_percent_min", session.scroll_percent >= w.scroll_percent_min)
    if w.first_time_buyer is not None:
        need("first_time_buyer", (visitor.orders + session.orders == 0) == w.first_time_buyer)
    if w.returning is not None:
        need("returning", (visitor.known or session.number > 1) == w.returning)
    if w.vip is not None:
        need("vip", visitor.vip == w.vip)
    if t.device is not None:
        need("target.device", session.device in t.device)
    if t.region is not None:
        need("target.region", session.region in t.region)
    if t.segment is not None:
        need("target.segment", bool(visitor.segments & set(t.segment)))
    if t.saved_segment is not None:
        need("target.saved_segment", bool(visitor.saved_segments & set(t.saved_segment)))
    return failed


def capped(trigger: Trigger, session: Session, ledger: FrequencyLedger, now: datetime) -> str | None:
    """Which frequency cap stops ``trigger`` for this visitor now (None: none does)."""
    cap = trigger.cap
    if cap.per_session is not None and session.served_count(trigger.id) >= cap.per_session:
        return "cap.per_session"
    if cap.per_day is not None and ledger.served_since(session.visitor, trigger.id, now - DAY) >= cap.per_day:
        return "cap.per_day"
    if cap.cooldown_minutes:
        last = ledger.last(session.visitor, trigger.id)
        if last is not None and now - last < timedelta(minutes=cap.cooldown_minutes):
            return "cap.cooldown_minutes"
    return None


def decide(
    triggers: Sequence[Trigger],
    session: Session,
    visitor: Visitor,
    ledger: FrequencyLedger,
    now: datetime,
    placement: str | None = None,
) -> Trigger | None:
    """The action to show in ``placement`` (any placement when None), or None."""
    best: Trigger | None = None
    for trigger in _eligible(triggers, placement):
        if best is not None and trigger.priority <= best.priority:
            continue
        if not unmet(trigger, session, visitor, now) and capped(trigger, session, ledger, now) is None:
            best = trigger
    return best


def _eligible(triggers: Sequence[Trigger], placement: str | None) -> Iterable[Trigger]:
    return (t for t in triggers if t.enabled and (placement is None or t.placement == placement))


def serve(
    trigger: Trigger, session: Session, ledger: FrequencyLedger, decision_id: str, now: datetime
) -> None:
    """Count ``trigger`` as shown to the visitor (against its caps) under ``decision_id``."""
    session.record_served(decision_id, trigger.id)
    ledger.record(session.visitor, trigger.id, now)

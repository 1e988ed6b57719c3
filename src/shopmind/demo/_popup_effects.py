"""The demo shop's planted on-site popup effects: which popup variant a visitor clicks depends on
who and when (device, hour, RFM segment), so a bandit that reads the context can beat one that
does not (``demo._bandit_month`` simulates a month of it; ``tests/test_bandits.py`` checks it).

Visitors are drawn as the demo shop's: devices in its shares (68% mobile), hours by its sessions'
hour weights (the evening peak), regions by its shoppers' regions, segments in the shares below,
recent behaviour (pages seen this session, items in the cart, orders before) by segment.

P(click | shown) = the visitor's base rate (``BASE_RATE``, plus ``DEEP_SESSION_LIFT`` after five
pages or more and ``CART_LIFT`` with items in the cart) + each variant's planted lift in the
contexts where it works and its ``elsewhere`` change in all others (below). All rates stay
between 2% and 14%.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from shopmind.demo._geography import REGION_NAMES, REGION_SHARES
from shopmind.demo._people import HOUR_WEIGHTS

DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARES = np.array([0.68, 0.27, 0.05])
BASE_RATE = 0.04
DEEP_SESSION_LIFT = 0.01  # five pages or more this session
CART_LIFT = 0.01  # items in the cart

#: The RFM segments of the popup's visitors (most are not buyers yet) and the chance of each
#: number of earlier orders in them.
SEGMENT_SHARES: MappingProxyType[str, float] = MappingProxyType(
    {
        "passing_visitor": 0.22,
        "new_visitor": 0.14,
        "engaged_visitor": 0.10,
        "new": 0.08,
        "promising": 0.08,
        "needs_attention": 0.07,
        "hibernating": 0.05,
        "lost": 0.04,
        "about_to_churn": 0.04,
        "potential_vip": 0.04,
        "loyal": 0.06,
        "vip": 0.06,
        "dormant_vip": 0.02,
    }
)
SEGMENT_NAMES = tuple(SEGMENT_SHARES)
_VISITOR_SEGMENTS = frozenset({"passing_visitor", "new_visitor", "engaged_visitor"})


@dataclass(frozen=True)
class PopupEffect:
    """One popup variant's planted effect on the click rate, in percentage points (as a share):
    ``lift`` for visitors on one of ``devices`` at one of ``hours`` (KST) and in one of
    ``segments`` (None: any), ``elsewhere`` (negative: it annoys) for everyone else."""

    variant: str
    title: str  # what the popup says (Korean, as shown)
    lift: float
    elsewhere: float
    devices: tuple[str, ...] | None = None
    hours: tuple[int, ...] | None = None
    segments: tuple[str, ...] | None = None

    def applies(self, device: np.ndarray, hour: np.ndarray, segment: np.ndarray) -> np.ndarray:
        """Where the lift applies, for arrays of device and segment indices and hours."""
        where = np.ones(device.shape, dtype=bool)
        if self.devices is not None:
            where &= np.isin(device, [DEVICES.index(d) for d in self.devices])
        if self.hours is not None:
            where &= np.isin(hour, self.hours)
        if self.segments is not None:
            where &= np.isin(segment, [SEGMENT_NAMES.index(s) for s in self.segments])
        return where


#: The control (the shop's current popup) and three variants, each with its own audience:
#: tonight-only free shipping works on phones in the evening (18-23h) and not on desktops;
#: a detailed comparison banner works on desktops; a members-only coupon works for VIPs and
#: loyal customers. No single variant is best for everyone: over the visitor mix the evening
#: one is best on average (+0.6 points over the control), a context-aware policy gains about
#: three times that.
POPUP_EFFECTS: tuple[PopupEffect, ...] = (
    PopupEffect("control", "회원가입하고 10% 할인 받으세요", 0.0, 0.0),
    PopupEffect(
        "evening-mobile",
        "오늘 밤 12시까지 무료배송",
        0.05,
        -0.01,
        devices=("mobile",),
        hours=(18, 19, 20, 21, 22, 23),
    ),
    PopupEffect("desktop-compare", "인기 상품 한눈에 비교하기", 0.03, -0.01, devices=("desktop",)),
    PopupEffect("vip-exclusive", "VIP 회원 전용 15% 쿠폰", 0.06, -0.015, segments=("vip", "loyal")),
)
POPUP_VARIANTS = tuple(e.variant for e in POPUP_EFFECTS)


@dataclass(frozen=True)
class Visitors:
    """Visitors as columns: ``device`` and ``segment`` are indices into ``DEVICES`` and
    ``SEGMENT_NAMES``, ``region`` into the demo's ``REGION_NAMES``; ``hour`` KST, ``minute``
    within it; ``pages``, ``cart_items``, ``orders`` their recent behaviour."""

    device: np.ndarray
    hour: np.ndarray
    minute: np.ndarray
    region: np.ndarray
    segment: np.ndarray
    pages: np.ndarray
    cart_items: np.ndarray
    orders: np.ndarray

    def __len__(self) -> int:
        return int(self.device.size)

    def take(self, index: np.ndarray | slice) -> Visitors:
        return Visitors(**{f: getattr(self, f)[index] for f in self.__dataclass_fields__})

    def contexts(self) -> list[dict[str, Any]]:
        """Each visitor's context as the server builds it for a policy."""
        return [
            {
                "device": DEVICES[d],
                "hour": int(h),
                "region": REGION_NAMES[r],
                "segment": SEGMENT_NAMES[s],
                "recent": {"pages": int(p), "cart_items": int(c), "orders": int(o)},
            }
            for d, h, r, s, p, c, o in zip(
                self.device.tolist(),
                self.hour.tolist(),
                self.region.tolist(),
                self.segment.tolist(),
                self.pages.tolist(),
                self.cart_items.tolist(),
                self.orders.tolist(),
                strict=True,
            )
        ]


def draw_visitors(rng: np.random.Generator, n: int) -> Visitors:
    """``n`` visitors of one day, as the demo shop's, sorted by time of day."""
    hour_p = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
    segment_p = np.array(list(SEGMENT_SHARES.values()))
    segment = rng.choice(len(SEGMENT_NAMES), size=n, p=segment_p / segment_p.sum())
    visitor = np.isin(segment, [SEGMENT_NAMES.index(s) for s in _VISITOR_SEGMENTS])
    buyer_orders = 1 + rng.poisson(np.where(np.isin(segment, [SEGMENT_NAMES.index("vip")]), 6.0, 1.5))
    visitors = Visitors(
        device=rng.choice(len(DEVICES), size=n, p=DEVICE_SHARES),
        hour=rng.choice(24, size=n, p=hour_p),
        minute=rng.integers(0, 60, size=n),
        region=rng.choice(len(REGION_NAMES), size=n, p=REGION_SHARES),
        segment=segment,
        pages=1 + rng.poisson(2.5, size=n),
        cart_items=np.where(rng.random(n) < 0.2, rng.integers(1, 4, size=n), 0),
        orders=np.where(visitor, 0, buyer_orders),
    )
    return visitors.take(np.lexsort((visitors.minute, visitors.hour)))


def click_rates(visitors: Visitors) -> np.ndarray:
    """``(len(visitors), len(POPUP_VARIANTS))``: each visitor's planted chance of clicking each
    variant (the truth a policy's regret is measured against)."""
    base = BASE_RATE + DEEP_SESSION_LIFT * (visitors.pages >= 5) + CART_LIFT * (visitors.cart_items > 0)
    columns = [
        base + np.where(e.applies(visitors.device, visitors.hour, visitors.segment), e.lift, e.elsewhere)
        for e in POPUP_EFFECTS
    ]
    return np.stack(columns, axis=1)

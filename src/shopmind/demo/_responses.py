"""How the demo shop's members answer campaign messages: opens, clicks and orders with planted
effects (``_truths.MESSAGE_RESPONSES``), so that a campaign's measured uplift can be checked
against what was planted.

Pure and seeded: ``simulate_responses(messages, recipients, seed)`` draws every number from a
keyed hash of the seed and the row (campaign, profile, step), never from a shared stream, so a
member answers the same whoever else was sent something, and the same member sent the same
message at another hour draws the same numbers (a paired comparison of send hours).

The model, per campaign and member (``MessageResponse`` for the member's group):

- one uniform ``u`` decides buying: the member orders without any message when
  ``u < no_message`` (at a random moment within ``RESPONSE_DAYS`` of their first send moment,
  the holdout's too); each treated message, in time order, then wins the member over when ``u``
  falls in the next ``uplift`` of the scale. So P(at least one order) = ``no_message`` + the
  uplifts, exactly, and the holdout's rate is the no-message rate.
- a member won over reads the message, clicks its link and orders within two days;
- anyone else reads it with ``read`` (``read_own_hour`` when it arrives in one of their own shop-
  local hours: the evening readers' 21-22h) and clicks with ``click`` when they read.

A read shows as an ``opened`` message event only where the channel can report it (e-mail's pixel,
the push services); text and Kakao messages show only their clicks. ``delivered`` and
``converted`` events are not drawn: the channel and the measurement record those. Event ids
are those the tracking derives (``opened:KEY``, ``clicked:KEY:0``: the message's first link), so
a simulated event and a tracked one are stored once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.demo._catalogue import CURRENCY
from shopmind.demo._events import SOURCE
from shopmind.demo._simulator import SyntheticShop
from shopmind.demo._truths import EVENING_READER_HOURS, MESSAGE_RESPONSES, RESPONSE_DAYS, MessageResponse
from shopmind.events import ORDER_LINE_SCHEMA, ORDER_SCHEMA

#: The consent channels a message may go by (the store's ``CHANNELS``; the demo may not import it).
CHANNELS = ("email", "sms", "kakao", "app_push", "web_push")
#: Channels whose reads are reported (e-mail's open pixel, the push services' open callbacks).
OPEN_TRACKED = frozenset({"email", "app_push", "web_push"})
ARMS = ("treated", "holdout")
VIP_GROUPS = frozenset({"dormant_vip", "active_vip"})
FAVOURITE_SHARE = 0.4  # of an order's lines, from the member's favourite category
#: Columns of the ``message_events`` rows the simulation gives (migration 16's table).
MESSAGE_EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("message_key", pa.string()),
        ("campaign_id", pa.string()),
        ("step", pa.string()),
        ("profile_id", pa.string()),
        ("kind", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("detail", pa.string()),
    ]
)
_ZONE = ZoneInfo(DEFAULT_SHOP_TZ)
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class SentMessage:
    """One campaign member's message: ``at`` is the moment it was sent (time-zone aware; the
    reading hour is its shop-local hour). A holdout member gets no message: their row says when
    they would have got it (``channel`` and ``coupon`` are then ignored)."""

    campaign_id: str
    step: str
    profile_id: str
    arm: str
    at: datetime
    channel: str | None = None
    coupon: bool = False
    message_key: str | None = None  # the outbox key; derived from campaign, step and profile if None

    @property
    def key(self) -> str:
        return self.message_key or f"{self.campaign_id}:{self.step}:{self.profile_id}"


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str
    price: float


@dataclass(frozen=True)
class Recipients:
    """The demo shop's members as campaign recipients, by profile id (``user:<member id>``): their
    group (a key of ``MESSAGE_RESPONSES``), own reading hours, and what their orders look like.
    ``shop_recipients(shop)`` builds it from a generated shop; tests may build one directly."""

    groups: Mapping[str, str]
    products: tuple[Product, ...]
    own_hours: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    favourites: Mapping[str, str] = field(default_factory=dict)  # profile → category
    devices: Mapping[str, str] = field(default_factory=dict)  # profile → an anonymous id of theirs
    regions: Mapping[str, str] = field(default_factory=dict)  # profile → region of their last order
    #: profile → (channel, device type) of their last order (else the shop's usual: web, mobile)
    order_devices: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Responses:
    """What the members did: ``message_events`` (``MESSAGE_EVENT_SCHEMA``: opened, clicked),
    ``orders`` and ``order_lines`` (``ORDER_SCHEMA``/``ORDER_LINE_SCHEMA``, loadable with the
    store's ``write_orders`` like the rest of the demo)."""

    message_events: pa.Table
    orders: pa.Table
    order_lines: pa.Table


def shop_recipients(shop: SyntheticShop) -> Recipients:
    """The members of ``shop`` with their planted groups (see ``_truths.MESSAGE_RESPONSES``)."""
    truths = shop.truths
    buyers = {c for c in shop.orders.column("customer_id").to_pylist() if c is not None}
    last_region: dict[str, str] = {}
    last_device: dict[str, tuple[str, str]] = {}
    o = shop.orders
    for customer, region, channel, device in zip(
        o.column("customer_id").to_pylist(),
        o.column("region").to_pylist(),
        o.column("channel").to_pylist(),
        o.column("device_type").to_pylist(),
        strict=True,
    ):
        if customer is not None:  # orders are in time order: the last one wins
            if region is not None:
                last_region[customer] = region
            last_device[customer] = (channel or "web", device or "mobile")
    evening = truths.evening_reader_user_ids
    groups: dict[str, str] = {}
    for user in truths.member_devices:
        if user in truths.churned_vip_user_ids:
            group = "dormant_vip"
        elif user in truths.vip_user_ids:
            group = "active_vip"
        elif user in evening:
            group = "evening_reader"
        elif user in buyers:
            group = "buyer"
        else:
            group = "non_buyer"
        groups[f"user:{user}"] = group
    p = shop.products
    products = tuple(
        Product(i, n, c, float(pr))
        for i, n, c, pr, is_product in zip(
            p.column("product_id").to_pylist(),
            p.column("name").to_pylist(),
            p.column("category").to_pylist(),
            p.column("price").to_pylist(),
            p.column("is_product").to_pylist(),
            strict=True,
        )
        if is_product and pr
    )
    return Recipients(
        groups=MappingProxyType(groups),
        products=products,
        own_hours=MappingProxyType({f"user:{u}": EVENING_READER_HOURS for u in evening}),
        favourites=MappingProxyType({f"user:{u}": c for u, c in truths.favourite_categories.items()}),
        devices=MappingProxyType({f"user:{u}": d[0] for u, d in truths.member_devices.items() if d}),
        regions=MappingProxyType({f"user:{u}": r for u, r in last_region.items()}),
        order_devices=MappingProxyType({f"user:{u}": d for u, d in last_device.items()}),
    )


def _uniforms(seed: int, *parts: str) -> np.ndarray:
    """Eight uniforms in [0, 1) from a keyed hash of the seed and ``parts``."""
    digest = hashlib.blake2b(
        "\x1f".join(parts).encode(), digest_size=32, key=f"demo-responses:{seed}".encode()
    ).digest()
    return np.frombuffer(digest, dtype="<u4").astype(np.float64) / 2.0**32


def _check(messages: Sequence[SentMessage], people: Recipients) -> None:
    errors: list[FieldError] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if m.arm not in ARMS:
            errors.append(FieldError(f"{where}.arm", f"expected one of {', '.join(ARMS)}"))
        if m.arm == "treated" and m.channel not in CHANNELS:
            errors.append(FieldError(f"{where}.channel", f"expected one of {', '.join(CHANNELS)}"))
        if m.at.tzinfo is None:
            errors.append(FieldError(f"{where}.at", "give a time-zone aware moment"))
        group = people.groups.get(m.profile_id)
        if group is None:
            errors.append(
                FieldError(f"{where}.profile_id", f"{m.profile_id!r} is not a member of the demo shop")
            )
        elif group not in MESSAGE_RESPONSES:
            errors.append(FieldError(f"{where}.profile_id", f"unknown response group {group!r}"))
    if errors:
        raise InvalidInputError(errors[:20])


def simulate_responses(messages: Sequence[SentMessage], people: Recipients, seed: int) -> Responses:
    """The opens, clicks and orders that ``messages`` (treated and holdout rows of one or more
    campaigns) bring from the demo shop's ``people``, with the planted effects."""
    _check(messages, people)
    by_member: dict[tuple[str, str], list[SentMessage]] = {}
    for m in messages:
        by_member.setdefault((m.campaign_id, m.profile_id), []).append(m)
    events: list[tuple[object, ...]] = []
    orders: list[_Order] = []
    for (campaign, profile), rows in sorted(by_member.items()):
        rows.sort(key=lambda m: (m.at, m.step))
        answer = MESSAGE_RESPONSES[people.groups[profile]]
        buy = _uniforms(seed, "buy", campaign, profile)
        if buy[0] < answer.no_message:  # would have bought anyway: within the window of the first moment
            orders.append(_Order(campaign, profile, "", rows[0].at + timedelta(days=RESPONSE_DAYS * buy[1])))
        low = answer.no_message
        for m in rows:
            if m.arm != "treated":
                continue
            high = min(1.0, low + (answer.coupon_uplift if m.coupon else answer.message_uplift))
            won = low <= buy[0] < high
            low = high
            events.extend(_answer(seed, m, answer, people, won, orders))
    return Responses(
        message_events=pa.Table.from_pylist(
            [dict(zip(MESSAGE_EVENT_SCHEMA.names, e, strict=True)) for e in events],
            schema=MESSAGE_EVENT_SCHEMA,
        ),
        **_order_tables(seed, orders, people),
    )


@dataclass(frozen=True)
class _Order:
    campaign_id: str
    profile_id: str
    step: str  # the step whose message won the member over; "" for an order without one
    at: datetime


def _answer(
    seed: int, m: SentMessage, answer: MessageResponse, people: Recipients, won: bool, orders: list[_Order]
) -> list[tuple[object, ...]]:
    r = _uniforms(seed, "message", m.campaign_id, m.step, m.profile_id)
    own = m.at.astimezone(_ZONE).hour in people.own_hours.get(m.profile_id, ())
    read = won or r[0] < (answer.read_own_hour if own else answer.read)
    if not read:
        return []
    clicked = won or r[1] < answer.click
    # read within minutes at one's own hour, else some hours later (exponential waits)
    read_at = m.at + timedelta(minutes=-math.log1p(-r[2]) * (15.0 if own else 150.0))
    out: list[tuple[object, ...]] = []

    def event(kind: str, at: datetime, detail: str | None, event_id: str) -> None:
        at = at.astimezone(_UTC)
        out.append((event_id, m.key, m.campaign_id, m.step, m.profile_id, kind, at, at, detail))

    if m.channel in OPEN_TRACKED:
        event("opened", read_at, None, f"opened:{m.key}")
    if clicked:
        click_at = read_at + timedelta(seconds=20 + 280 * r[3])
        event("clicked", click_at, json.dumps({"link": 0}), f"clicked:{m.key}:0")
        if won:
            orders.append(
                _Order(m.campaign_id, m.profile_id, m.step, click_at + timedelta(hours=0.1 + 47.8 * r[4]))
            )
    return out


def _order_tables(seed: int, orders: list[_Order], people: Recipients) -> dict[str, pa.Table]:
    heads: list[dict[str, object]] = []
    lines: list[dict[str, object]] = []
    products = people.products
    for o in sorted(orders, key=lambda o: (o.at, o.profile_id)):
        digest = hashlib.blake2b(
            f"{seed}\x1f{o.campaign_id}\x1f{o.profile_id}\x1f{o.step}".encode(), digest_size=8
        ).hexdigest()
        order_id = f"demo-r-{digest}"
        rng = np.random.default_rng(int(digest, 16))
        vip = people.groups[o.profile_id] in VIP_GROUPS
        favourite = [p for p in products if p.category == people.favourites.get(o.profile_id)]
        count = int(rng.integers(2, 5) if vip else rng.integers(1, 3))
        customer = o.profile_id.removeprefix("user:")
        channel, device = people.order_devices.get(o.profile_id, ("web", "mobile"))
        heads.append(
            {
                "order_id": order_id,
                "ordered_at": o.at.astimezone(_UTC),
                "customer_id": customer,
                "anonymous_id": people.devices.get(o.profile_id),
                "email_hash": None,
                "phone_hash": None,
                "currency": CURRENCY,
                "country": "KR",
                "region": people.regions.get(o.profile_id),
                "channel": channel,
                "device_type": device,
                "is_return": False,
                "source": SOURCE,
                "verified": True,
            }
        )
        for line_no in range(1, count + 1):
            pool = favourite if favourite and rng.random() < FAVOURITE_SHARE else products
            product = pool[int(rng.integers(0, len(pool)))]
            lines.append(
                {
                    "order_id": order_id,
                    "line_key": f"{order_id}#{line_no}",
                    "line_no": line_no,
                    "product_id": product.product_id,
                    "description": product.name,
                    "quantity": 1 + int(rng.random() < 0.2),
                    "unit_price": product.price,
                    "is_return": False,
                    "is_product": True,
                }
            )
    return {
        "orders": pa.Table.from_pylist(heads, schema=ORDER_SCHEMA),
        "order_lines": pa.Table.from_pylist(lines, schema=ORDER_LINE_SCHEMA),
    }


__all__ = [
    "CHANNELS",
    "MESSAGE_EVENT_SCHEMA",
    "OPEN_TRACKED",
    "Product",
    "Recipients",
    "Responses",
    "SentMessage",
    "shop_recipients",
    "simulate_responses",
]

"""Rows of a campaign written straight into the store (campaigns, campaign_members, outbox, orders),
for the tests of tracking and results while the planning and sending code lands beside them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from shopmind.activation import Campaign, Content, SegmentAudience, Step, campaign_json
from shopmind.store import OutboxRow, Store


def define_campaign(
    store: Store,
    campaign_id: str,
    *,
    attribution_days: int = 7,
    start_at: datetime | None = None,
    at: datetime,
    steps: Sequence[str] = ("s1",),
) -> Campaign:
    campaign = Campaign(
        name=f"campaign {campaign_id}",
        audience=SegmentAudience(segment="dormant_vip"),
        steps=[
            Step(id=s, messages={"email": Content(text="안녕하세요", subject="다시 만나요")}) for s in steps
        ],
        attribution_days=attribution_days,
        start_at=start_at,
    )
    store.sql(
        """INSERT INTO campaigns (campaign_id, name, definition, state, created_at, created_by, updated_at)
        VALUES (?, ?, ?, 'running', ?, 'test', ?)""",
        [campaign_id, campaign.name, campaign_json(campaign), at, at],
    )
    return campaign


def add_members(store: Store, campaign_id: str, members: Sequence[tuple[str, str, datetime]]) -> None:
    """``members``: (profile id, arm, entered at)."""
    rows = pa.table(
        {
            "profile_id": [m[0] for m in members],
            "arm": [m[1] for m in members],
            "entered_at": pa.array([m[2] for m in members], pa.timestamp("us", tz="UTC")),
        }
    )
    with store.staged("_test_members", rows) as src:
        store.sql(
            f"""INSERT INTO campaign_members (campaign_id, profile_id, arm, entered_at)
            SELECT ?, profile_id, arm, entered_at FROM {src}""",
            [campaign_id],
        )


@dataclass
class Row:
    """One outbox row (what the plan and the sender would have written)."""

    message_key: str
    profile_id: str
    sent_at: datetime | None
    step: str = "s1"
    channel: str = "email"
    format: str = "email"
    state: str = "sent"
    cost: float = 0.5
    links: list[str] = field(default_factory=list)
    provider_id: str | None = None
    kind: str = "advertising"


def add_outbox(store: Store, campaign_id: str, rows: Sequence[Row], planned_at: datetime) -> None:
    table = pa.table(
        {
            "message_key": [r.message_key for r in rows],
            "profile_id": [r.profile_id for r in rows],
            "sent_at": pa.array([r.sent_at for r in rows], pa.timestamp("us", tz="UTC")),
            "step": [r.step for r in rows],
            "channel": [r.channel for r in rows],
            "format": [r.format for r in rows],
            "state": [r.state for r in rows],
            "cost": pa.array([r.cost for r in rows], pa.float64()),
            "links": [json.dumps(r.links) for r in rows],
            "provider_id": pa.array([r.provider_id for r in rows], pa.string()),
            "kind": [r.kind for r in rows],
        }
    )
    with store.staged("_test_outbox", table) as src:
        store.sql(
            f"""INSERT INTO outbox (message_key, campaign_id, step, profile_id, channel, format, kind, state,
                due_at, planned_at, attempts, body_text, links, cost, provider_id, created_at, updated_at, sent_at)
            SELECT message_key, ?, step, profile_id, channel, format, kind, state,
                ?, ?, 1, '(광고) 안녕하세요', links, cost, provider_id, ?, ?, sent_at
            FROM {src}""",
            [campaign_id, planned_at, planned_at, planned_at, planned_at],
        )


def add_orders(
    store: Store,
    orders: Sequence[tuple[str, str, datetime, float]],
    *,
    is_return: bool = False,
    verified: bool = True,
) -> None:
    """``orders``: (order id, member id (``user:<id>`` is the customer), placed at, amount)."""
    table = pa.table(
        {
            "order_id": [o[0] for o in orders],
            "customer_id": [o[1] for o in orders],
            "ordered_at": pa.array([o[2] for o in orders], pa.timestamp("us", tz="UTC")),
            "amount": pa.array([o[3] for o in orders], pa.float64()),
        }
    )
    with store.staged("_test_orders", table) as src:
        store.sql(
            f"""INSERT INTO orders (order_id, ordered_at, customer_id, currency, is_return, source, verified)
            SELECT order_id, ordered_at, customer_id, 'KRW', ?, 'test', ? FROM {src}""",
            [is_return, verified],
        )
        store.sql(
            f"""INSERT INTO order_lines (line_key, order_id, line_no, product_id, quantity, unit_price, is_return)
            SELECT order_id || ':1', order_id, 1, 'p1', 1, amount, ? FROM {src}""",
            [is_return],
        )


def email_ad(who: str, due: datetime, *, subject: str | None = None) -> OutboxRow:
    """An advertising e-mail of campaign c1, step s1, to ``user:WHO``, keyed ``c1:user:WHO:s1``."""
    return OutboxRow(
        f"c1:user:{who}:s1",
        "c1",
        "s1",
        f"user:{who}",
        "email",
        "email",
        "advertising",
        due,
        f"(광고) {who}님, 다시 만나요",
        subject=subject,
    )

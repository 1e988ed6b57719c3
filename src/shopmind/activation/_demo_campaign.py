"""The demo shop's win-back campaign, end to end and offline (``shopmind demo-campaign``, run by
``make demo``): on a workspace holding the demo shop and its customer-intelligence runs, it

1. creates the win-back campaign (the RFM segment ``dormant_vip`` of the latest run: the former
   VIPs who stopped buying; a coupon message on the cheapest consented channel of Kakao, SMS and
   e-mail; each customer's best hour; a 10 % holdout) and schedules it at the run's ``as_of``;
2. creates a send-time test beside it: the same message to the shop's other buyers (the RFM
   segments of customers with orders), split 50/50 by a keyed draw into two campaigns, one sent
   at each customer's best hour and one at 10:00;
3. sends the outbox (whatever is due in it up to the campaigns' last send: in the demo's
   workspace, these campaigns) into the workspace's channels (``outbox/<channel>.jsonl`` unless a
   ``channels.toml`` says otherwise) with a clock stepping through the planned send moments, to
   the demo members' synthetic addresses (:class:`DemoContacts`: never a real one);
4. lets the demo shop answer (``demo.simulate_responses``: opens, clicks and orders with the planted
   effects) and stores the answers (message events, orders);
5. measures each campaign (``campaign_results``) a week and a half later.

Idempotent: the campaigns are found by name, so a second run schedules and sends nothing again
(the outbox keys are per campaign × customer × step anyway) and the answers, whose ids are
derived from the seed and the message, are stored once.

The demo shop's planted truths come from generating the shop again from its parameters (the seed
above all); they are checked against the stored orders, so a workspace loaded with other
parameters is refused rather than answered with another shop's customers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from shopmind.activation._campaign import campaign_json, parse_campaign
from shopmind.activation._channel_config import ChannelConfig, Channels, load_channel_config
from shopmind.activation._contacts import DemoContacts
from shopmind.activation._context import shop_recommender
from shopmind.activation._holdout import holdout_draw, holdout_key
from shopmind.activation._results import (
    Arm,
    CampaignResults,
    Interval,
    Uplift,
    campaign_results,
    uplift,
    wilson_interval,
)
from shopmind.activation._schedule import campaign_contexts, finish_campaign, mark_running, schedule_campaign
from shopmind.activation._tracking import MessageLinks, workspace_link_key
from shopmind.activation._worker import OutboxSender
from shopmind.core import DEFAULT_SHOP_TZ, FieldError, FixedClock, InvalidInputError
from shopmind.store import (
    HASH_KEY_FILE,
    MessageEvent,
    Store,
    StoredCampaign,
    Workspace,
    arm_totals,
    create_campaign,
    find_campaign,
    record_message_events,
)

if TYPE_CHECKING:  # the demo shop is imported where used: importing activation stays quick
    from shopmind.demo import Recipients, SentMessage

WINBACK_NAME = "휴면 VIP 복귀 쿠폰 (데모)"
BEST_HOUR_NAME = "발송 시각 시험 A: 고객별 최적 시각 (데모)"
TEN_NAME = "발송 시각 시험 B: 오전 10시 고정 (데모)"
#: the RFM segments of customers who bought (the send-time test's audience, less the win-back's)
BUYER_SEGMENTS = (
    "vip",
    "loyal",
    "promising",
    "new",
    "potential_vip",
    "needs_attention",
    "about_to_churn",
    "hibernating",
    "lost",
)
#: the demo shop's page on ``shopmind serve --demo`` (``make serve``): where the coupon link leads
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
#: the seed of the demo customers' answers (any fixed number: the same workspace answers the same)
RESPONSE_SEED = 19
#: measured this long after the campaign's start: every send (within a day) and its 7-day window
MEASURED_AFTER = timedelta(days=10)
SPLIT = "send-time split"
#: fixed ids: the holdout draws, coupons and answers depend on the workspace's key alone, so a
#: workspace with the same key gets the same campaign every time
CAMPAIGN_IDS = {WINBACK_NAME: "c_demo_winback", BEST_HOUR_NAME: "c_demo_best_hour", TEN_NAME: "c_demo_ten_am"}

_TEXT = (
    "{{ name_or_customer }}님, 요즘 뜸하셨네요. 다시 오시면 15% 할인해 드릴게요.\n"
    "쿠폰 번호: {{ coupon }} (7일 동안 쓸 수 있어요)\n"
    "{% if recommended %}{{ name_or_customer }}님께 어울릴 상품:\n"
    "{% for item in recommended %}- {{ item.name }} {{ item.price | won }} ({{ item.reason }})\n"
    "{% endfor %}{% endif %}"
    "쿠폰 쓰러 가기: {{ link('SHOP_URL') }}"
)
_SHORT = "{{ name_or_customer }}님 15% 쿠폰 {{ coupon }}: {{ link('SHOP_URL') }}"


def _message(shop_url: str) -> dict[str, Any]:
    """The coupon step: one message per channel (the planner picks the cheapest consented)."""
    return {
        "id": "s1",
        "coupon": "BACK-{code}",
        "messages": {
            "email": {
                "subject": "{{ name_or_customer }}님, 15% 할인 쿠폰을 드려요",
                "text": _TEXT.replace("SHOP_URL", shop_url),
            },
            "sms": {"text": _SHORT.replace("SHOP_URL", shop_url)},
            "kakao": {"text": _TEXT.replace("SHOP_URL", shop_url)},
        },
    }


def demo_definitions(as_of: datetime, shop_url: str) -> dict[str, dict[str, Any]]:
    """The three campaigns (by name): the win-back and the send-time test's two halves."""
    common: dict[str, Any] = {
        "steps": [_message(shop_url)],
        "channel": {"mode": "cheapest", "channels": ["kakao", "sms", "email"]},
        "holdout": 0.1,
        "start_at": as_of.isoformat(),
        "attribution_days": 7,
    }
    buyers = {"kind": "rfm", "segments": list(BUYER_SEGMENTS)}
    return {
        WINBACK_NAME: {
            "name": WINBACK_NAME,
            "audience": {"kind": "rfm", "segments": ["dormant_vip"]},
            "send_time": {"mode": "best_hour", "hour": 10},
            **common,
        },
        BEST_HOUR_NAME: {
            "name": BEST_HOUR_NAME,
            "audience": buyers,
            "send_time": {"mode": "best_hour", "hour": 10},
            **common,
        },
        TEN_NAME: {
            "name": TEN_NAME,
            "audience": buyers,
            "send_time": {"mode": "fixed", "hour": 10},
            **common,
        },
    }


@dataclass(frozen=True)
class Planted:
    """What the demo shop planted for a campaign's audience (its members by planted group): the
    no-message purchase rate averaged over the members (what the holdout's conversion estimates),
    and the coupon's uplift averaged over the treated members who were sent the message
    (``per_messaged``: what ``Uplift.per_messaged()`` estimates) and over all treated members, the
    unreached counting 0 (``per_treated``: what the arm difference, ``Uplift.conversion``,
    estimates). A guest is not simulated: they buy nothing in the window."""

    groups: Mapping[str, int]
    no_message: float
    per_messaged: float
    per_treated: float


@dataclass(frozen=True)
class OpenRates:
    """One half of the send-time test: its messages on channels that report opens (e-mail), how
    many were opened, and the same for the planted evening readers among them."""

    name: str
    campaign_id: str
    mode: str  # best_hour | fixed
    tracked: int
    opened: int
    readers_tracked: int
    readers_opened: int

    @property
    def rate(self) -> Interval:
        return wilson_interval(self.opened, self.tracked)

    @property
    def readers_rate(self) -> Interval:
        return wilson_interval(self.readers_opened, self.readers_tracked)


@dataclass(frozen=True)
class DemoCampaignRun:
    """What ``run_demo_campaign`` did and measured."""

    created: tuple[str, ...]  # names of the campaigns made now (empty: all existed, reused)
    reused: tuple[str, ...]
    as_of: datetime  # the campaigns' start (the latest customer-intelligence run's as_of)
    measured_at: datetime
    sent: int  # messages handed over by this run
    outbox_files: Mapping[str, int]  # outbox file → messages in it
    new_orders: int  # the simulated answers stored by this run
    new_events: int
    winback: CampaignResults
    winback_planted: Planted
    #: the win-back measured among the planted dormant VIPs only (the +8 points' own group)
    dormant_vips: Uplift
    timing: tuple[OpenRates, OpenRates]


def demo_recipients(
    store: Store, *, customers: int, days: int, seed: int, start: date | None = None
) -> Recipients:
    """The demo shop's members with their planted groups, from generating the shop again; refused
    when the store does not hold that shop (other parameters of ``shopmind demo``)."""
    from shopmind.demo import generate_shop, shop_recipients

    shop = generate_shop(customers=customers, days=days, seed=seed, start=start)
    ids = shop.orders.column("order_id")
    with store.staged("_demo_orders", pa.table({"order_id": ids})) as src:
        (found,) = store.sql(f"SELECT count(*) FROM {src} JOIN orders USING (order_id)")[0]
    if found != len(ids) or not len(ids):
        raise InvalidInputError(
            [
                FieldError(
                    "seed",
                    f"the workspace does not hold the demo shop made with --customers {customers} "
                    f"--days {days} --seed {seed} ({found:,} of its {len(ids):,} orders stored): "
                    "give the options 'shopmind demo' was run with",
                )
            ]
        )
    return shop_recipients(shop)


def run_demo_campaign(
    store: Store,
    workspace: Workspace,
    *,
    customers: int = 5000,
    days: int = 90,
    seed: int = 42,
    start: date | None = None,
    public_url: str = DEFAULT_PUBLIC_URL,
    created_by: str = "demo",
    progress: Callable[[str], None] | None = None,
) -> DemoCampaignRun:
    """Run the demo's win-back campaign and send-time test (see the module) and measure them."""
    from shopmind.demo import simulate_responses

    say = progress or (lambda _: None)
    latest = store.latest_run("customer_intelligence")
    if latest is None:
        raise InvalidInputError(
            [FieldError("workspace", "no customer-intelligence run yet: run 'shopmind run' first")]
        )
    as_of = latest[1]
    say("demo shop")
    people = demo_recipients(store, customers=customers, days=days, seed=seed, start=start)
    secret = bytes.fromhex((workspace.path / HASH_KEY_FILE).read_text().strip())
    key = holdout_key(secret)
    link_key = workspace_link_key(workspace)
    config = load_channel_config(workspace.path)
    shop_url = f"{public_url.rstrip('/')}/demo/"
    definitions = demo_definitions(as_of, shop_url)

    found = {name: find_campaign(store, name) for name in definitions}
    created = tuple(name for name, c in found.items() if c is None)
    reused = tuple(name for name, c in found.items() if c is not None)
    campaigns: dict[str, StoredCampaign] = {
        name: c
        if c is not None
        else create_campaign(
            store,
            name,
            campaign_json(parse_campaign(definitions[name])),
            created_by=created_by,
            now=as_of,
            campaign_id=CAMPAIGN_IDS[name],
        )
        for name, c in found.items()
    }

    def unsubscribe(message_key: str) -> str:
        return MessageLinks(public_url, link_key, message_key).unsubscribe()

    def tracked(message_key: str, i: int, target: str) -> str:
        return MessageLinks(public_url, link_key, message_key).click(i)

    recommender = shop_recommender(store)

    def schedule(name: str, audience: Sequence[str] | None = None) -> None:
        campaign = campaigns[name]
        if campaign.state != "draft":
            return
        say(f"schedule {name}")
        campaigns[name] = schedule_campaign(
            store,
            campaign.campaign_id,
            now=as_of,
            key=key,
            sender=config.sender,
            contexts=campaign_contexts(
                store,
                parse_campaign(campaign.definition),
                "s1",
                campaign.campaign_id,
                key,
                as_of,
                recommender,
                shop=config.sender.name,
            ),
            unsubscribe_url=unsubscribe,
            tracked=tracked,
            costs=config.costs,
            audience=audience,
        ).campaign

    schedule(WINBACK_NAME)
    if campaigns[BEST_HOUR_NAME].state == "draft" or campaigns[TEN_NAME].state == "draft":
        halves = _split(store, key, definitions[BEST_HOUR_NAME], exclude=campaigns[WINBACK_NAME].campaign_id)
        schedule(BEST_HOUR_NAME, halves[0])
        schedule(TEN_NAME, halves[1])

    ids = [c.campaign_id for c in campaigns.values()]
    say("send")
    sent = _drain(store, workspace, ids, unsubscribe)
    for name, campaign in campaigns.items():
        if campaign.state == "scheduled":
            campaigns[name] = mark_running(store, campaign.campaign_id, now=as_of)

    say("answers")
    messages = _sent_messages(store, ids, people)
    answers = simulate_responses(messages, people, RESPONSE_SEED)
    orders, _ = store.write_orders(answers.orders, answers.order_lines)
    events = record_message_events(
        store,
        [
            MessageEvent(
                kind=e["kind"],
                occurred_at=e["occurred_at"],
                message_key=e["message_key"],
                event_id=e["event_id"],
                detail={"link": 0} if e["kind"] == "clicked" else {},
            )
            for e in answers.message_events.to_pylist()
        ],
    )
    measured_at = as_of + MEASURED_AFTER
    for name, campaign in campaigns.items():
        if campaign.state == "running":
            campaigns[name] = finish_campaign(store, campaign.campaign_id, now=measured_at)

    say("results")
    winback_id = campaigns[WINBACK_NAME].campaign_id
    results = campaign_results(store, winback_id, as_of=measured_at)
    members = _members(store, winback_id)
    winback_messages = [m for m in messages if m.campaign_id == winback_id]
    planted = _planted(members, winback_messages, people)
    planted = replace(
        planted, per_treated=planted.per_messaged * results.uplift.messaged / max(results.uplift.treated.n, 1)
    )
    dormant = [p for p in members if people.groups.get(p) == "dormant_vip"]
    arms = arm_totals(store, winback_id, 7, measured_at, as_of, only=dormant)
    dormant_uplift = uplift(
        _arm(arms.get("treated")),
        _arm(arms.get("holdout")),
        messaged=arms["treated"].messaged if "treated" in arms else 0,
        cost=0.0,
    )
    timing = (
        _open_rates(store, campaigns[BEST_HOUR_NAME], "best_hour", people),
        _open_rates(store, campaigns[TEN_NAME], "fixed", people),
    )
    return DemoCampaignRun(
        created=created,
        reused=reused,
        as_of=as_of,
        measured_at=measured_at,
        sent=sent,
        outbox_files=_outbox_files(workspace.path, config),
        new_orders=orders.inserted,
        new_events=events.inserted,
        winback=results,
        winback_planted=planted,
        dormant_vips=dormant_uplift,
        timing=timing,
    )


def _arm(totals: Any) -> Arm:
    if totals is None:
        return Arm(0, 0, 0.0, 0.0)
    return Arm(totals.n, totals.conversions, totals.revenue, totals.revenue_squares)


def _split(
    store: Store, key: str, definition: Mapping[str, Any], exclude: str
) -> tuple[list[str], list[str]]:
    """The send-time test's audience (the buyers' RFM segments, less the win-back's members) in two
    halves by a keyed draw: the same customers land in the same half on every run."""
    from shopmind.activation._plan import audience_ids

    everyone = audience_ids(store, parse_campaign(dict(definition))).to_pylist()
    taken = set(_members(store, exclude))
    halves: tuple[list[str], list[str]] = ([], [])
    for profile_id in sorted(set(everyone) - taken):
        halves[holdout_draw(key, SPLIT, profile_id) >= 0.5].append(profile_id)
    return halves


def _members(store: Store, campaign_id: str) -> list[str]:
    return [
        p
        for (p,) in store.sql("SELECT profile_id FROM campaign_members WHERE campaign_id = ?", [campaign_id])
    ]


def _drain(
    store: Store, workspace: Workspace, campaign_ids: Sequence[str], unsubscribe: Callable[[str], str]
) -> int:
    """Send the campaigns' queued messages, the clock stepping to each planned send moment in turn
    (so each message is sent at its hour, as a worker running through that day would)."""
    first = _next_due(store, campaign_ids)
    if first is None:
        return 0
    clock = FixedClock(first)
    sender = OutboxSender(
        store,
        Channels(load_channel_config(workspace.path), workspace.path, clock=clock),
        DemoContacts(),
        clock=clock,
        zone=DEFAULT_SHOP_TZ,
        batch=500,
        unsubscribe_url=unsubscribe,
        hasher=workspace.hasher(),
    )
    try:
        sender.recover()
        for _ in range(500):  # each round moves the clock to the next due moment; a day has 24 hours
            sender.drain()
            due = _next_due(store, campaign_ids)
            if due is None:
                break
            clock.advance(max(due - clock.now(), timedelta(0)))
    finally:
        sender.close()
    return sender.stats.sent


def _next_due(store: Store, campaign_ids: Sequence[str]) -> datetime | None:
    """When the campaigns' next message may be claimed (None: nothing left to send)."""
    found: datetime | None = store.sql(
        """SELECT min(greatest(due_at, coalesce(next_attempt_at, due_at))) FROM outbox
        WHERE state IN ('queued', 'unknown') AND list_contains(?, campaign_id)""",
        [list(campaign_ids)],
    )[0][0]
    return found


def _sent_messages(store: Store, campaign_ids: Sequence[str], people: Recipients) -> list[SentMessage]:
    """Each member of the campaigns as the demo shop sees them: treated with the message they were
    sent (its moment and channel), or — held out, or sent nothing — when they would have been."""
    from shopmind.demo import SentMessage

    rows = store.sql(
        """SELECT m.campaign_id, m.profile_id, m.arm, m.entered_at, o.message_key, o.step, o.channel, o.sent_at
        FROM campaign_members m LEFT JOIN outbox o
          ON o.campaign_id = m.campaign_id AND o.profile_id = m.profile_id AND o.state = 'sent'
        WHERE list_contains(?, m.campaign_id)
        ORDER BY 1, 2""",
        [list(campaign_ids)],
    )
    out = []
    for campaign_id, profile_id, arm, entered_at, message_key, step, channel, sent_at in rows:
        if profile_id not in people.groups:  # a guest: the demo shop simulates its members only
            continue
        if arm == "treated" and sent_at is not None:
            out.append(
                SentMessage(campaign_id, step, profile_id, "treated", sent_at, channel, True, message_key)
            )
        else:
            out.append(SentMessage(campaign_id, "s1", profile_id, "holdout", entered_at))
    return out


def _planted(members: Sequence[str], messages: Sequence[SentMessage], people: Recipients) -> Planted:
    from shopmind.demo import MESSAGE_RESPONSES

    groups = Counter(people.groups.get(p, "guest") for p in members)
    rates = [MESSAGE_RESPONSES[people.groups[p]].no_message if p in people.groups else 0.0 for p in members]
    # members of the treated arm: messaged ones come back as "treated" rows, the others as "holdout" rows
    messaged = [
        MESSAGE_RESPONSES[people.groups[m.profile_id]].coupon_uplift for m in messages if m.arm == "treated"
    ]
    return Planted(
        groups=dict(sorted(groups.items(), key=lambda kv: -kv[1])),
        no_message=sum(rates) / len(rates) if rates else 0.0,
        per_messaged=sum(messaged) / len(messaged) if messaged else 0.0,
        per_treated=0.0,  # filled by the caller, who knows the treated arm's size
    )


def _open_rates(store: Store, campaign: StoredCampaign, mode: str, people: Recipients) -> OpenRates:
    from shopmind.demo import OPEN_TRACKED

    readers = sorted(p for p, g in people.groups.items() if g == "evening_reader")
    tracked, opened, readers_tracked, readers_opened = store.sql(
        """SELECT count(*), count(e.event_id),
                  count(*) FILTER (WHERE list_contains(?, o.profile_id)),
                  count(e.event_id) FILTER (WHERE list_contains(?, o.profile_id))
        FROM outbox o LEFT JOIN message_events e ON e.message_key = o.message_key AND e.kind = 'opened'
        WHERE o.campaign_id = ? AND o.state = 'sent' AND list_contains(?, o.channel)""",
        [readers, readers, campaign.campaign_id, sorted(OPEN_TRACKED)],
    )[0]
    return OpenRates(
        campaign.name, campaign.campaign_id, mode, tracked, opened, readers_tracked, readers_opened
    )


def _outbox_files(folder: Path, config: ChannelConfig) -> dict[str, int]:
    """Each outbox file the channels wrote (``file:`` URLs) and its messages (lines)."""
    out: dict[str, int] = {}
    for settings in config.channels.values():
        url = settings.url
        if not url.startswith("file:"):
            continue
        path = Path(url.removeprefix("file://") if url.startswith("file://") else url.removeprefix("file:"))
        path = path if path.is_absolute() else folder / path
        if path.exists():
            with path.open("rb") as fh:
                out[str(path)] = sum(1 for _ in fh)
    return out


__all__ = [
    "BEST_HOUR_NAME",
    "BUYER_SEGMENTS",
    "TEN_NAME",
    "WINBACK_NAME",
    "DemoCampaignRun",
    "OpenRates",
    "Planted",
    "demo_definitions",
    "demo_recipients",
    "run_demo_campaign",
]

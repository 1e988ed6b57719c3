"""A campaign, declared (msgspec): who (an audience), what (one or more steps, each a message per
channel), how (the channel policy), when (a trigger, the schedule, the send hour), how often (caps)
and against what (the holdout). A one-step campaign is a broadcast; more steps make a journey:
each step waits after the previous one and may go only to those who answered it in a given way
(clicked but did not buy within two days → step 2); a purchase ends the journey.

Written as JSON or YAML (the CLI, the API and the dashboard all send this shape)::

    name: 휴면 VIP 복귀
    audience: {kind: moved, from: [vip, loyal], to: [dormant_vip], within_days: 30}
    steps:
      - id: s1
        messages:
          email: {subject: "{{ name_or_customer }}님, 다시 만나요", text: "..."}
          sms: {text: "{{ recommended[0].name }} 10% 할인 쿠폰: {{ coupon }}"}
      - id: s2
        after: s1
        wait_hours: 48
        when: clicked_not_bought
        messages: {kakao: {text: "..."}}
    channel: {mode: cheapest, channels: [kakao, sms, email]}
    send_time: {mode: best_hour}
    caps: {per_day: 1, per_week: 3}
    holdout: 0.1
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import msgspec

from shopmind.activation._message import CHANNELS, KINDS
from shopmind.core import FieldError, decode_declared

MAX_CAMPAIGN_BYTES = 256 * 1024
MAX_STEPS = 10
#: bounds of the numbers a campaign holds (beyond them a number is a mistake, and the engine's
#: integers and dates would overflow)
MAX_CAP = 1_000
MAX_DAYS = 3_650
MAX_WAIT_HOURS = 24 * 366


class SegmentAudience(msgspec.Struct, tag_field="kind", tag="segment", forbid_unknown_fields=True):
    """The current members of a saved segment (by id or name)."""

    segment: str


class BandAudience(msgspec.Struct, tag_field="kind", tag="band", forbid_unknown_fields=True):
    """The customers whose latest ``score`` lies in [low, high] (e.g. churn_risk 0.6–1)."""

    score: str
    low: float
    high: float


class RfmAudience(msgspec.Struct, tag_field="kind", tag="rfm", forbid_unknown_fields=True):
    """The customers in any of these RFM segments at the latest run (e.g. dormant_vip)."""

    segments: list[str]


class MovedAudience(
    msgspec.Struct, tag_field="kind", tag="moved", forbid_unknown_fields=True, rename={"from_": "from"}
):
    """The customers who moved from one of ``from`` to one of ``to`` within ``within_days``."""

    from_: list[str]
    to: list[str]
    within_days: int = 30


Audience = SegmentAudience | BandAudience | RfmAudience | MovedAudience


class Content(msgspec.Struct, forbid_unknown_fields=True):
    """One step's message on one channel: Jinja2 text (and subject/HTML for e-mail)."""

    text: str
    subject: str | None = None
    html: str | None = None
    template_code: str | None = None  # Kakao 알림톡: the registered template (informational only)
    image_url: str | None = None


Response = Literal[
    "always", "opened", "not_opened", "clicked", "not_clicked", "clicked_not_bought", "not_bought"
]


class Step(msgspec.Struct, forbid_unknown_fields=True):
    """One message of a journey. ``after``: the step this one follows (the previous one when
    omitted; the first step follows the trigger); ``wait_hours`` after it was sent; ``when``:
    only to those who answered it so (``always``: everyone still in the journey)."""

    id: str
    messages: dict[str, Content]  # channel → content; the channel policy picks one per customer
    kind: Literal["advertising", "informational"] = "advertising"
    after: str | None = None
    wait_hours: float = 0.0
    when: Response = "always"
    coupon: str | None = None  # a code, or a pattern with {code} filled per customer


class ChannelPolicy(msgspec.Struct, forbid_unknown_fields=True):
    """``cheapest``: per customer, the cheapest channel of ``channels`` they are reachable on, have
    consent for and respond on; ``fixed``: always ``channels[0]``."""

    mode: Literal["cheapest", "fixed"] = "cheapest"
    channels: list[str] = msgspec.field(
        default_factory=lambda: ["kakao", "sms", "email", "app_push", "web_push"]
    )


class SendTime(msgspec.Struct, forbid_unknown_fields=True):
    """``best_hour``: each customer's best send hour (habits), else the shop's; ``fixed``: ``hour``."""

    mode: Literal["best_hour", "fixed"] = "best_hour"
    hour: int = 10  # the fixed hour, and the shop's hour for customers without habits


class Caps(msgspec.Struct, forbid_unknown_fields=True):
    """Advertising messages per customer across all campaigns, per channel and overall."""

    per_day: int = 1
    per_week: int = 3


class Trigger(msgspec.Struct, forbid_unknown_fields=True):
    """``now``: the audience as it is when scheduled; ``segment_entry``: each customer when they
    enter ``segment``; ``event``: each customer after an ``event`` not followed by ``unless``
    within ``after_hours`` (add_to_cart, unless order_completed, 1 h: the abandoned cart)."""

    kind: Literal["now", "segment_entry", "event"] = "now"
    segment: str | None = None
    event: str | None = None
    unless: str | None = None
    after_hours: float = 0.0


class Campaign(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    audience: Audience
    steps: list[Step]
    channel: ChannelPolicy = msgspec.field(default_factory=ChannelPolicy)
    send_time: SendTime = msgspec.field(default_factory=SendTime)
    caps: Caps = msgspec.field(default_factory=Caps)
    trigger: Trigger = msgspec.field(default_factory=Trigger)
    holdout: float = 0.1
    start_at: datetime | None = None
    end_at: datetime | None = None
    attribution_days: int = 7
    exit_on_purchase: bool = True
    locale: Literal["ko", "en"] = "ko"

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def check_campaign(campaign: Campaign) -> list[FieldError]:
    """What the schema cannot say: ranges, references between steps, channels."""
    errors: list[FieldError] = []
    if not campaign.name.strip():
        errors.append(FieldError("name", "must not be empty"))
    if not 0.0 <= campaign.holdout < 1.0:
        errors.append(FieldError("holdout", "a share from 0 (no holdout) to below 1, e.g. 0.1"))
    if not campaign.steps:
        errors.append(FieldError("steps", "name at least one step"))
    if len(campaign.steps) > MAX_STEPS:
        errors.append(FieldError("steps", f"at most {MAX_STEPS} steps"))
    ids = [s.id for s in campaign.steps]
    for i, step in enumerate(campaign.steps):
        where = f"steps[{i}]"
        if ids.count(step.id) > 1:
            errors.append(FieldError(f"{where}.id", f"{step.id!r} is used by more than one step"))
        if not step.messages:
            errors.append(FieldError(f"{where}.messages", "give the message for at least one channel"))
        for channel in step.messages:
            if channel not in CHANNELS:
                errors.append(
                    FieldError(f"{where}.messages.{channel}", f"expected one of {', '.join(CHANNELS)}")
                )
        if step.kind not in KINDS:
            errors.append(FieldError(f"{where}.kind", f"expected one of {', '.join(KINDS)}"))
        if step.after is not None and step.after not in ids[:i]:
            errors.append(FieldError(f"{where}.after", f"{step.after!r} is not an earlier step"))
        if not 0 <= step.wait_hours <= MAX_WAIT_HOURS:
            errors.append(FieldError(f"{where}.wait_hours", f"hours from 0 to {MAX_WAIT_HOURS:,}"))
        if i == 0 and step.when != "always":
            errors.append(
                FieldError(f"{where}.when", "the first step answers no earlier message: use always")
            )
    for i, channel in enumerate(campaign.channel.channels):
        if channel not in CHANNELS:
            errors.append(FieldError(f"channel.channels[{i}]", f"expected one of {', '.join(CHANNELS)}"))
    if not campaign.channel.channels:
        errors.append(FieldError("channel.channels", "name at least one channel"))
    if not 0 <= campaign.send_time.hour <= 23:
        errors.append(FieldError("send_time.hour", "an hour from 0 to 23"))
    if campaign.caps.per_day < 1 or campaign.caps.per_week < campaign.caps.per_day:
        errors.append(FieldError("caps", "per_day at least 1 and per_week at least per_day"))
    for name in ("per_day", "per_week"):
        if getattr(campaign.caps, name) > MAX_CAP:
            errors.append(FieldError(f"caps.{name}", f"at most {MAX_CAP:,} messages"))
    if not 1 <= campaign.attribution_days <= MAX_DAYS:
        errors.append(FieldError("attribution_days", f"days from 1 to {MAX_DAYS:,}"))
    audience = campaign.audience
    if isinstance(audience, MovedAudience) and not 1 <= audience.within_days <= MAX_DAYS:
        errors.append(FieldError("audience.within_days", f"days from 1 to {MAX_DAYS:,}"))
    if isinstance(audience, BandAudience) and not (
        math.isfinite(audience.low) and math.isfinite(audience.high) and audience.low <= audience.high
    ):
        errors.append(FieldError("audience.low", "finite numbers with low at most high"))
    for name in ("start_at", "end_at"):
        moment = getattr(campaign, name)
        if moment is not None and moment.tzinfo is None:
            errors.append(FieldError(name, "expected a time with its offset, e.g. 2026-12-06T10:00:00+09:00"))
    trigger = campaign.trigger
    if trigger.kind == "segment_entry" and not trigger.segment:
        errors.append(FieldError("trigger.segment", "required for a segment_entry trigger"))
    if trigger.kind == "event" and not trigger.event:
        errors.append(FieldError("trigger.event", "required for an event trigger"))
    if not 0 <= trigger.after_hours <= MAX_WAIT_HOURS:
        errors.append(FieldError("trigger.after_hours", f"hours from 0 to {MAX_WAIT_HOURS:,}"))
    aware = all(m is None or m.tzinfo is not None for m in (campaign.start_at, campaign.end_at))
    if aware and campaign.start_at and campaign.end_at and campaign.end_at <= campaign.start_at:
        errors.append(FieldError("end_at", "must be after start_at"))
    return errors


def parse_campaign(data: bytes | str | Mapping[str, Any] | Campaign) -> Campaign:
    """A checked campaign from JSON, a mapping (parsed JSON or YAML) or a campaign; raises
    ``InvalidInputError`` naming each bad field and why."""
    return decode_declared(
        data, Campaign, root="campaign", max_bytes=MAX_CAMPAIGN_BYTES, check=check_campaign
    )


def campaign_json(campaign: Campaign) -> str:
    """The campaign as the JSON the store keeps."""
    return msgspec.json.encode(campaign).decode()

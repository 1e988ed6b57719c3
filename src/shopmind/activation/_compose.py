"""From a plan to outbox rows: each planned message rendered for its customer (``render``) and
finished for the law (advertising: "(광고)" first, the sender's name and contact, a free opt-out).

Each message's idempotency key is derived from campaign, step and customer (:func:`message_key`),
so composing the same plan twice gives the same keys and the outbox's enqueue adds nothing twice.

``finish_minimal`` below is a STAND-IN: the rules helper's ``activation._compliance.finish`` (the
law as a table per channel) replaces it once merged; until then it adds only the three things every
advertising message must carry, in the plainest form.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from shopmind.activation._campaign import Campaign, Step
from shopmind.activation._message import FORMATS, Kind, Sender
from shopmind.activation._template import Draft, Template, format_for, render

if TYPE_CHECKING:
    from shopmind.activation._plan import Plan

AD_PREFIX = "(광고)"
#: what each message format costs (KRW), until the workspace's channel configuration gives its own
DEFAULT_COSTS: dict[str, float] = {
    "sms": 9.9,
    "lms": 30.0,
    "mms": 100.0,
    "alimtalk": 7.5,
    "brand": 15.0,
    "email": 0.5,
    "app_push": 0.0,
    "web_push": 0.0,
}
#: contexts for customers: profile ids → each one's template context
ContextSource = Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]
OUTBOX_SCHEMA = pa.schema(
    [
        ("message_key", pa.string()),
        ("campaign_id", pa.string()),
        ("step", pa.string()),
        ("profile_id", pa.string()),
        ("channel", pa.string()),
        ("format", pa.string()),
        ("kind", pa.string()),
        ("state", pa.string()),
        ("due_at", pa.timestamp("us", tz="UTC")),
        ("planned_at", pa.timestamp("us", tz="UTC")),
        ("subject", pa.string()),
        ("body_text", pa.string()),
        ("body_html", pa.string()),
        ("template_code", pa.string()),
        ("image_url", pa.string()),
        ("links", pa.string()),
        ("cost", pa.float64()),
        ("reason", pa.string()),
    ]
)
_PLACEHOLDER_SENDER = Sender(name="상점", contact="000-0000-0000", opt_out_phone="080-000-0000")


def message_key(campaign_id: str, step: str, profile_id: str) -> str:
    """The idempotency key of ``step`` of a campaign to a customer (hex, safe in a Message-ID)."""
    return hashlib.sha256(f"{campaign_id}\x1f{step}\x1f{profile_id}".encode()).hexdigest()[:32]


def finish_minimal(
    draft: Draft, kind: Kind, channel: str, sender: Sender, unsubscribe_url: str | None = None
) -> Draft:
    """STAND-IN for the rules helper's ``finish``: an advertising draft gets "(광고)" first (and in
    an e-mail's subject), the sender's name and contact, and the opt-out of its channel (the 080
    number for text messages, the unsubscribe link for e-mail, 채널 차단 for Kakao, the app's
    settings for push). Informational drafts are left as they are."""
    if kind != "advertising":
        return draft
    text = draft.text if draft.text.startswith(AD_PREFIX) else f"{AD_PREFIX} {draft.text}"
    if channel == "sms":
        opt_out = (
            f"무료수신거부 {sender.opt_out_phone}"
            if sender.opt_out_phone
            else "수신거부: 답장으로 알려주세요"
        )
    elif channel == "email":
        opt_out = f"수신거부: {unsubscribe_url}" if unsubscribe_url else "수신거부: 이 메일에 답장해 주세요"
    elif channel == "kakao":
        opt_out = "수신거부: 채널 차단"
    else:
        opt_out = "수신거부: 앱 설정 > 알림"
    footer = f"{sender.name} {sender.contact}\n{opt_out}"
    subject = draft.subject
    if subject is not None and not subject.startswith(AD_PREFIX):
        subject = f"{AD_PREFIX} {subject}"
    html = draft.html
    if html is not None:
        html = f"{html}\n<p>{footer.replace(chr(10), '<br>')}</p>"
    finished = replace(draft, text=f"{text}\n\n{footer}", subject=subject, html=html)
    # the additions may make a short text long: the format follows the finished text
    return replace(finished, format=format_for(channel, kind, finished.text, draft.image_url))


def template_for(campaign: Campaign, step: Step, channel: str) -> Template:
    content = step.messages[channel]
    return Template(
        text=content.text,
        subject=content.subject,
        html=content.html,
        template_code=content.template_code,
        image_url=content.image_url,
        locale=campaign.locale,
    )


def estimated_format(step: Step, channel: str, sender: Sender | None = None) -> str:
    """The format ``step``'s message will likely take on ``channel``, judged from its template's
    text finished for the law (the rendered text may be longer or shorter: compose decides)."""
    content = step.messages[channel]
    draft = Draft(format=channel, text=content.text, subject=content.subject, image_url=content.image_url)
    finished = finish_minimal(draft, step.kind, channel, sender or _PLACEHOLDER_SENDER, "https://u.example/x")
    return format_for(channel, step.kind, finished.text, content.image_url)


def compose(
    plan: Plan,
    campaign: Campaign,
    *,
    sender: Sender,
    contexts: ContextSource | None = None,
    unsubscribe_url: Callable[[str], str] | None = None,
    costs: Mapping[str, float] | None = None,
) -> pa.Table:
    """The planned messages of ``plan`` as outbox rows (``OUTBOX_SCHEMA``, state ``queued``):
    rendered with each customer's context (``contexts``; default: just their ``profile_id``),
    finished for the law, priced by their final format. ``unsubscribe_url(message_key)`` gives an
    e-mail's one-click unsubscribe link."""
    price = {**DEFAULT_COSTS, **(costs or {})}
    step = campaign.step(plan.step)
    planned = plan.planned()
    ids = planned.column("profile_id").to_pylist()
    found = contexts(ids) if contexts is not None else {}
    templates = {c: template_for(campaign, step, c) for c in plan.formats}
    rows: dict[str, list[Any]] = {name: [] for name in OUTBOX_SCHEMA.names}
    for profile_id, channel, due_at, planned_at, reason in zip(
        ids,
        planned.column("channel").to_pylist(),
        planned.column("due_at").to_pylist(),
        planned.column("planned_at").to_pylist(),
        planned.column("reason").to_pylist(),
        strict=True,
    ):
        key = message_key(plan.campaign_id, plan.step, profile_id)
        context = {"profile_id": profile_id, **found.get(profile_id, {})}
        draft = render(templates[channel], context, channel, step.kind)
        link = unsubscribe_url(key) if unsubscribe_url is not None else None
        draft = finish_minimal(draft, step.kind, channel, sender, link)
        assert FORMATS[draft.format] == channel
        for name, value in (
            ("message_key", key),
            ("campaign_id", plan.campaign_id),
            ("step", plan.step),
            ("profile_id", profile_id),
            ("channel", channel),
            ("format", draft.format),
            ("kind", step.kind),
            ("state", "queued"),
            ("due_at", due_at),
            ("planned_at", planned_at),
            ("subject", draft.subject),
            ("body_text", draft.text),
            ("body_html", draft.html),
            ("template_code", draft.template_code),
            ("image_url", draft.image_url),
            ("links", orjson.dumps(list(draft.links)).decode()),
            ("cost", float(price.get(draft.format, 0.0))),
            ("reason", reason),
        ):
            rows[name].append(value)
    return pa.table(rows, schema=OUTBOX_SCHEMA)

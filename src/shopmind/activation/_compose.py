"""From a plan to outbox rows: each planned message rendered for its customer (``render``, with
tracked links) and finished for the law by the compliance engine (``finish``: "(광고)" first, the
sender's name and contact, the free opt-out of its channel), then checked once more
(``violations``): a message the rules would refuse is never queued.

Each message's idempotency key is derived from campaign, step and customer (:func:`message_key`),
so composing the same plan twice gives the same keys and the outbox's enqueue adds nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shopmind.activation._campaign import Campaign, Step
from shopmind.activation._campaign_experiments import CampaignExperiment, variant_template
from shopmind.activation._channel_config import DEFAULT_COSTS
from shopmind.activation._compliance import finish, violations
from shopmind.activation._message import FORMATS, Sender
from shopmind.activation._template import Draft, Template, check_template, format_for, render
from shopmind.core import FieldError, InvalidInputError
from shopmind.store import OutboxRow

if TYPE_CHECKING:
    from shopmind.activation._plan import Plan

#: contexts for customers: profile ids → each one's template context
ContextSource = Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]
# to estimate a format before the real sender and links are known: typical lengths
_PLACEHOLDER_SENDER = Sender(name="상점", contact="02-000-0000", opt_out_phone="080-000-0000")
_PLACEHOLDER_URL = "https://shop.example/m/u/0000000000000000000000000000000000000000"


def message_key(campaign_id: str, step: str, profile_id: str) -> str:
    """The idempotency key of ``step`` of a campaign to a customer (hex, safe in a Message-ID)."""
    return hashlib.sha256(f"{campaign_id}\x1f{step}\x1f{profile_id}".encode()).hexdigest()[:32]


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


def check_templates(campaign: Campaign) -> None:
    """Refuse a campaign whose templates cannot be used (syntax, unknown fields or filters, an
    e-mail without a subject, an 알림톡 with advertising words): InvalidInputError naming each
    field (``steps[0].messages.email.subject``) before anything is stored or planned."""
    errors = []
    for i, step in enumerate(campaign.steps):
        for channel in step.messages:
            where = f"steps[{i}].messages.{channel}"
            errors.extend(check_template(template_for(campaign, step, channel), channel, step.kind, where))
    if errors:
        raise InvalidInputError(errors)


def estimated_format(step: Step, channel: str, sender: Sender | None = None) -> str:
    """The format ``step``'s message will likely take on ``channel``, judged from its template's
    text finished for the law (the rendered text may be longer or shorter: compose decides)."""
    content = step.messages[channel]
    fmt = format_for(channel, step.kind, content.text, content.image_url)
    draft = Draft(format=fmt, text=content.text, subject=content.subject, image_url=content.image_url)
    if step.kind == "informational":
        return fmt
    for who in (sender, _PLACEHOLDER_SENDER):
        if who is None:
            continue
        try:
            return finish(draft, step.kind, channel, who, _PLACEHOLDER_URL).format
        except InvalidInputError:  # a sender or message lacking what the law wants: compose says so
            continue
    return fmt


def compose(
    plan: Plan,
    campaign: Campaign,
    *,
    sender: Sender,
    contexts: ContextSource | None = None,
    unsubscribe_url: Callable[[str], str] | None = None,
    tracked: Callable[[str, int, str], str] | None = None,
    costs: Mapping[str, float] | None = None,
    experiments: Sequence[CampaignExperiment] = (),
) -> list[OutboxRow]:
    """The planned messages of ``plan`` as outbox rows (state ``queued``), for ``store.enqueue``:
    rendered with each customer's context (``contexts``; default: just their ``profile_id``),
    finished for the law, priced by their final format. ``unsubscribe_url(message_key)`` gives the
    one-click unsubscribe link (required for advertising e-mail); ``tracked(message_key, i,
    target)`` the URL written for a template's ``i``-th tracked link (a signed click redirect).
    InvalidInputError names what is missing (the sender's 080 number …) or a rule a message breaks.
    ``experiments``: the plan's (``plan_campaign``); a member of a message experiment
    (``plan.assignments``) gets the variant's subject and text."""
    price = {**DEFAULT_COSTS, **(costs or {})}
    step = campaign.step(plan.step)
    planned = plan.planned()
    ids = planned.column("profile_id").to_pylist()
    found = contexts(ids) if contexts is not None else {}
    templates = {c: template_for(campaign, step, c) for c in plan.formats}
    variant_of, variant_templates = _message_variants(plan, campaign, step, experiments)
    rows: list[OutboxRow] = []
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
        where = f"steps.{step.id}.messages.{channel}"
        link = _link_maker(tracked, key)
        variant = variant_of.get(profile_id)
        template = variant_templates[variant, channel] if variant is not None else templates[channel]
        draft = render(template, context, channel, step.kind, tracked=link, where=where)
        opt_out = unsubscribe_url(key) if unsubscribe_url is not None else None
        draft = finish(draft, step.kind, channel, sender, opt_out)
        broken = violations(draft, step.kind, channel, sender, opt_out)
        if broken:
            raise InvalidInputError([FieldError(f"{where}.{v.field}", v.reason) for v in broken])
        assert FORMATS[draft.format] == channel
        rows.append(
            OutboxRow(
                message_key=key,
                campaign_id=plan.campaign_id,
                step=plan.step,
                profile_id=profile_id,
                channel=channel,
                format=draft.format,
                kind=step.kind,
                due_at=due_at,
                planned_at=planned_at,
                body_text=draft.text,
                subject=draft.subject,
                body_html=draft.html,
                template_code=draft.template_code,
                image_url=draft.image_url,
                links=draft.links,
                cost=float(price.get(draft.format, 0.0)),
                reason=reason,
            )
        )
    return rows


def _message_variants(
    plan: Plan, campaign: Campaign, step: Step, experiments: Sequence[CampaignExperiment]
) -> tuple[dict[str, tuple[str, str]], dict[tuple[tuple[str, str], str], Template]]:
    """Who gets a message variant (profile id → (experiment id, variant)) and each variant's
    template per channel."""
    message = {e.id: e.experiment for e in experiments if e.kind == "campaign_message"}
    if not message or plan.assignments.num_rows == 0:
        return {}, {}
    a = plan.assignments
    variant_of = {
        p: (e, v)
        for p, e, v in zip(
            a.column("profile_id").to_pylist(),
            a.column("experiment_id").to_pylist(),
            a.column("variant").to_pylist(),
            strict=True,
        )
        if e in message
    }
    variant_templates = {
        ((experiment.id, v.name), c): variant_template(campaign, step, c, v)
        for experiment in message.values()
        for v in experiment.variants
        for c in plan.formats
    }
    return variant_of, variant_templates


def _link_maker(tracked: Callable[[str, int, str], str] | None, key: str) -> Callable[[int, str], str] | None:
    if tracked is None:
        return None
    return lambda index, target: tracked(key, index, target)

"""A campaign before it is sent: its first step planned for the whole audience as of now (counts:
planned, held out, excluded by reason, moved out of the night, per channel, cost; when the
messages would go) and the finished message of a few sample customers on the channel the plan
chose for each (format, bytes as the carriers count them, what would stop it). Nothing is
written. ``campaigns preview`` and ``POST /v1/campaigns/preview`` answer with it; the excluded
customers' summary adds what the sender has suppressed since a campaign was scheduled.

With the workspace's experiment key, the running experiments on the step's message or the
campaign's send time are planned as scheduling would (``campaign_experiments``): each sample
customer's message is their variant's, and ``variants`` lists each variant with its share
(declared; a Thompson-sampling experiment's: its chance now), the planned members it gets, and
a sample message of one of them (message variants) or its send time."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shopmind.activation._campaign import Campaign
from shopmind.activation._campaign_experiments import (
    CampaignExperiment,
    campaign_experiments,
    variant_template,
)
from shopmind.activation._campaign_settings import CampaignSettings, recommender_for
from shopmind.activation._campaign_waves import current_policies
from shopmind.activation._compose import check_templates, template_for
from shopmind.activation._context import coupon_key
from shopmind.activation._plan import Exclusion, Plan, PlanCounts, candidate_channels, plan_campaign
from shopmind.activation._preview import Preview, preview
from shopmind.experiments import TrafficPolicy
from shopmind.store import Store

#: the campaign id a definition not yet stored is planned under (its holdout draws are its own)
UNSAVED = "preview"
MAX_SAMPLES = 20


@dataclass(frozen=True)
class PreviewSample:
    """A sample customer's message; ``status``/``reason``: what the plan decided for them
    (a customer asked for by id may be excluded or held out: their message is shown anyway)."""

    channel: str
    status: str
    reason: str | None
    message: Preview

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "status": self.status,
            "reason": self.reason,
            **self.message.to_dict(),
        }


@dataclass(frozen=True)
class VariantPreview:
    """One variant of an experiment on the previewed step: its ``share`` of the experiment's
    members (the declared share; a bandit's chance now: it sends in waves, the first a fifth of
    its members), how many planned members the plan gives it, its ``send_time`` (a send-time
    variant) or a sample member's message in its words (a message variant; None when the plan
    gives it no one)."""

    experiment_id: str
    kind: str  # campaign_message or send_time
    policy: str  # fixed or thompson
    variant: str
    share: float
    members: int
    send_time: str | None
    sample: PreviewSample | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "kind": self.kind,
            "policy": self.policy,
            "variant": self.variant,
            "share": self.share,
            "members": self.members,
            "send_time": self.send_time,
            "sample": self.sample.to_dict() if self.sample is not None else None,
        }


@dataclass(frozen=True)
class CampaignPreview:
    name: str
    campaign_id: str | None  # None: a definition not stored
    step: str
    kind: str
    at: datetime
    counts: PlanCounts
    formats: dict[str, str]
    exclusions: tuple[Exclusion, ...]
    due: tuple[tuple[datetime, int], ...]  # when the planned messages go (UTC hour → messages)
    samples: tuple[PreviewSample, ...]
    variants: tuple[VariantPreview, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "campaign_id": self.campaign_id,
            "step": self.step,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "counts": self.counts.to_dict(),
            "formats": dict(self.formats),
            "excluded": [e.to_dict() for e in self.exclusions],
            "due": [{"at": at.isoformat(), "messages": n} for at, n in self.due],
            "samples": [s.to_dict() for s in self.samples],
            "variants": [v.to_dict() for v in self.variants],
        }


def due_hours(plan: Plan) -> tuple[tuple[datetime, int], ...]:
    """How many planned messages go at each moment (they go on the hour), earliest first."""
    due = plan.planned().column("due_at")
    counted = pc.value_counts(due).to_pylist()
    return tuple(sorted((c["values"], int(c["counts"])) for c in counted if c["values"] is not None))


def _spread(ids: Sequence[str], n: int) -> list[str]:
    """``n`` of ``ids`` spread evenly over them (the same ones every time)."""
    if len(ids) <= n:
        return list(ids)
    return [ids[(i * len(ids)) // n] for i in range(n)]


def preview_campaign(
    store: Store,
    settings: CampaignSettings,
    campaign: Campaign,
    *,
    at: datetime,
    campaign_id: str | None = None,
    customers: int = 3,
    profile_ids: Sequence[str] = (),
    step: str | None = None,
) -> CampaignPreview:
    """Plan ``step`` (default: the first) of ``campaign`` as of ``at`` and show the message of
    ``customers`` planned customers spread over the audience, or of ``profile_ids``."""
    check_templates(campaign)
    cid = campaign_id or UNSAVED
    experiments = (
        campaign_experiments(store, cid, campaign, step) if settings.experiment_key is not None else []
    )
    experiment_key = settings.experiment_key or ""
    policies = current_policies(store, experiments, experiment_key)
    plan = plan_campaign(
        store,
        campaign,
        cid,
        at=at,
        key=settings.holdout_key,
        step=step,
        costs=settings.config.costs,
        sender=settings.sender,
        zone=settings.zone,
        experiments=experiments,
        experiment_key=experiment_key,
        policies=policies,
    )
    chosen = campaign.step(plan.step)
    rows = {r["profile_id"]: r for r in _rows(plan.table, profile_ids)}
    if profile_ids:
        wanted = list(dict.fromkeys(profile_ids))
    else:
        planned = plan.planned().column("profile_id").to_pylist()
        wanted = _spread(planned, min(customers, MAX_SAMPLES))
        rows.update({r["profile_id"]: r for r in _rows(plan.table, wanted)})
    # each member's message variant (experiment id, variant), as compose would write it
    messages = {e.id: e.experiment for e in experiments if e.kind == "campaign_message"}
    a = plan.assignments
    variant_of = {
        p: (x, v)
        for p, x, v in zip(
            a.column("profile_id").to_pylist(),
            a.column("experiment_id").to_pylist(),
            a.column("variant").to_pylist(),
            strict=True,
        )
        if x in messages and v is not None
    }
    first = candidate_channels(campaign, chosen)[0]
    secret = coupon_key(settings.holdout_key)
    recommender = recommender_for(store, campaign) if wanted or experiments else None

    def show(ids: Sequence[str], variant: tuple[str, str] | None) -> dict[str, PreviewSample]:
        by_channel: dict[str, list[str]] = {}
        for pid in ids:
            by_channel.setdefault((rows.get(pid) or {}).get("channel") or first, []).append(pid)
        shown: dict[str, PreviewSample] = {}
        for channel, members in by_channel.items():
            template = (
                template_for(campaign, chosen, channel)
                if variant is None
                else variant_template(campaign, chosen, channel, messages[variant[0]].variant(variant[1]))
            )
            for message in preview(
                store,
                template,
                members,
                channel,
                chosen.kind,
                settings.sender,
                as_of=at,
                recommender=recommender,
                coupon=chosen.coupon,
                coupon_secret=secret,
                where=f"steps.{chosen.id}.messages.{channel}",
            ):
                row = rows.get(message.profile_id) or {}
                status = row.get("status") or "not_in_audience"
                shown[message.profile_id] = PreviewSample(channel, status, row.get("reason"), message)
        return shown

    shown: dict[str, PreviewSample] = {}
    for variant in dict.fromkeys(variant_of.get(p) for p in wanted):
        shown.update(show([p for p in wanted if variant_of.get(p) == variant], variant))
    return CampaignPreview(
        name=campaign.name,
        campaign_id=campaign_id,
        step=plan.step,
        kind=plan.kind,
        at=at,
        counts=plan.counts,
        formats=dict(plan.formats),
        exclusions=tuple(plan.why_excluded()),
        due=due_hours(plan),
        samples=tuple(shown[p] for p in wanted if p in shown),
        variants=tuple(_variants(plan, experiments, policies, show, rows)),
    )


def _variants(
    plan: Plan,
    experiments: Sequence[CampaignExperiment],
    policies: Mapping[str, TrafficPolicy],
    show: Callable[[Sequence[str], tuple[str, str] | None], dict[str, PreviewSample]],
    rows: dict[str, dict[str, Any]],
) -> list[VariantPreview]:
    """Each experiment's variants: share, planned members, a sample message or the send time."""
    planned = plan.planned()
    a = plan.assignments.filter(
        pc.is_in(
            plan.assignments.column("profile_id"), value_set=planned.column("profile_id").combine_chunks()
        )
    )
    members: dict[tuple[str, str], list[str]] = {}
    for p, x, v in zip(
        a.column("profile_id").to_pylist(),
        a.column("experiment_id").to_pylist(),
        a.column("variant").to_pylist(),
        strict=True,
    ):
        if v is not None:
            members.setdefault((x, v), []).append(p)
    channel_of = dict(
        zip(planned.column("profile_id").to_pylist(), planned.column("channel").to_pylist(), strict=True)
    )
    out = []
    for e in experiments:
        experiment = e.experiment
        shares = (
            policies[e.id].probabilities()
            if e.id in policies
            else dict(zip(experiment.variant_names, experiment.shares(), strict=True))
        )
        for v in experiment.variants:
            ids = sorted(members.get((e.id, v.name), []))
            sample = None
            if e.kind == "campaign_message" and ids:
                rows.setdefault(ids[0], {"status": "planned", "reason": None, "channel": channel_of[ids[0]]})
                sample = show(ids[:1], (e.id, v.name)).get(ids[0])
            out.append(
                VariantPreview(
                    e.id,
                    e.kind,
                    experiment.policy.kind,
                    v.name,
                    float(shares[v.name]),
                    len(ids),
                    v.send_time if e.kind == "send_time" else None,
                    sample,
                )
            )
    return out


def _rows(table: pa.Table, ids: Sequence[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    found = table.filter(pc.is_in(table.column("profile_id"), pa.array(list(ids), pa.string())))
    return found.select(["profile_id", "status", "reason", "channel"]).to_pylist()


def suppressed_counts(store: Store, campaign_id: str) -> dict[str, int]:
    """The campaign's messages the sender did not send on purpose, by reason (an opt-out since the
    plan, no address, no consent at hand-over)."""
    rows = store.sql(
        "SELECT coalesce(reason, 'unknown'), count(*) FROM outbox "
        "WHERE campaign_id = ? AND state = 'suppressed' GROUP BY 1 ORDER BY 2 DESC, 1",
        [campaign_id],
    )
    return {str(reason): int(n) for reason, n in rows}

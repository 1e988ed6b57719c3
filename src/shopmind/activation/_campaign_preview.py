"""A campaign before it is sent: its first step planned for the whole audience as of now (counts:
planned, held out, excluded by reason, moved out of the night, per channel, cost; when the
messages would go) and the finished message of a few sample customers on the channel the plan
chose for each (format, bytes as the carriers count them, what would stop it). Nothing is
written. ``campaigns preview`` and ``POST /v1/campaigns/preview`` answer with it; the excluded
customers' summary adds what the sender has suppressed since a campaign was scheduled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shopmind.activation._campaign import Campaign
from shopmind.activation._campaign_settings import CampaignSettings, recommender_for
from shopmind.activation._compose import check_templates, template_for
from shopmind.activation._context import coupon_key
from shopmind.activation._plan import Exclusion, Plan, PlanCounts, candidate_channels, plan_campaign
from shopmind.activation._preview import Preview, preview
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
    plan = plan_campaign(
        store,
        campaign,
        campaign_id or UNSAVED,
        at=at,
        key=settings.holdout_key,
        step=step,
        costs=settings.config.costs,
        sender=settings.sender,
        zone=settings.zone,
    )
    chosen = campaign.step(plan.step)
    rows = {r["profile_id"]: r for r in _rows(plan.table, profile_ids)}
    if profile_ids:
        wanted = list(dict.fromkeys(profile_ids))
    else:
        planned = plan.planned().column("profile_id").to_pylist()
        wanted = _spread(planned, min(customers, MAX_SAMPLES))
        rows.update({r["profile_id"]: r for r in _rows(plan.table, wanted)})
    first = candidate_channels(campaign, chosen)[0]
    by_channel: dict[str, list[str]] = {}
    for pid in wanted:
        by_channel.setdefault((rows.get(pid) or {}).get("channel") or first, []).append(pid)
    secret = coupon_key(settings.holdout_key)
    recommender = recommender_for(store, campaign) if wanted else None
    shown: dict[str, PreviewSample] = {}
    for channel, ids in by_channel.items():
        for message in preview(
            store,
            template_for(campaign, chosen, channel),
            ids,
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
    )


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

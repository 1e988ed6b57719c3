"""What the campaign pages show, read from the store on the dashboard's reader thread: the list,
the live preview of a form and the review of a campaign (its plan, or for a scheduled one its
outbox); the results are ``_campaign_results``. Functions of a store; the routes are ``_campaigns``."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import msgspec

from shopmind.activation import (
    EXCLUSIONS,
    Audience,
    BandAudience,
    Campaign,
    ChannelConfig,
    MovedAudience,
    RfmAudience,
    SegmentAudience,
    Template,
    audience_ids,
    campaign_results,
    check_template,
    plan_campaign,
    preview,
    stored_definition,
)
from shopmind.core import DEFAULT_SHOP_TZ, InvalidInputError, label, resolve_particles, resolve_plurals
from shopmind.segments import UnknownSegmentError, saved_segments, segment_name
from shopmind.store import Store, StoredCampaign, list_campaigns, outbox_counts
from shopmind.web import _charts
from shopmind.web._campaign_form import Problem, library_problem
from shopmind.web._frame import PREFIX
from shopmind.web._i18n import message

SAMPLES = 12  # sample customers the preview offers
EXAMPLES = 5  # example customers per reason on the review


def words(key: str, lang: str, **values: Any) -> str:
    text = message(key, lang)
    if values:
        text = text.format(**values)
    return resolve_particles(text) if lang == "ko" else resolve_plurals(text)


def won(value: float | None, lang: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    # message costs are often fractions of a won (an e-mail 0.5): one decimal below 1,000
    digits = 1 if abs(value) < 1000 and round(value, 1) != round(value) else 0
    return f"{value:,.{digits}f}원" if lang == "ko" else f"₩{value:,.{digits}f}".replace("₩-", "-₩")


def capital(word: str, lang: str) -> str:
    return word[:1].upper() + word[1:] if lang == "en" else word


def named(kind: str, code: str, lang: str) -> str:
    """A code's word as a table cell or a heading shows it: capitalised in English."""
    return capital(label(kind, code, lang), lang)


def shown_id(profile_id: str) -> str:
    return profile_id.removeprefix("user:")


def customer_link(profile_id: str) -> dict[str, str]:
    return {
        "id": profile_id,
        "shown": shown_id(profile_id),
        "href": f"{PREFIX}/customer?id={quote(profile_id, safe='')}",
    }


# -- the audience in words ------------------------------------------------------------------------
def _saved_names(store: Store, lang: str) -> dict[str, str]:
    return {
        s.segment_id: ((s.name_en or s.name_ko) if lang == "en" else (s.name_ko or s.name_en))
        for s in saved_segments(store)
    }


def audience_words(audience: Audience, lang: str, saved: Mapping[str, str]) -> str:
    sep = ", "
    if isinstance(audience, SegmentAudience):
        return words("cp.aw.segment", lang, name=saved.get(audience.segment, audience.segment))
    if isinstance(audience, RfmAudience):
        return words("cp.aw.rfm", lang, names=sep.join(segment_name(s, lang) for s in audience.segments))
    if isinstance(audience, BandAudience):
        return words(
            "cp.aw.band",
            lang,
            score=label("score", audience.score, lang),
            low=f"{audience.low:.0%}",
            high=f"{audience.high:.0%}",
        )
    assert isinstance(audience, MovedAudience)
    return words(
        "cp.aw.moved",
        lang,
        days=audience.within_days,
        **{
            "from": sep.join(segment_name(s, lang) for s in audience.from_),
            "to": sep.join(segment_name(s, lang) for s in audience.to),
        },
    )


# -- the list -------------------------------------------------------------------------------------
def campaign_list(store: Store, now: datetime, lang: str) -> list[dict[str, Any]]:
    saved = _saved_names(store, lang)
    arms: dict[str, dict[str, int]] = defaultdict(dict)
    for cid, arm, n in store.sql("SELECT campaign_id, arm, count(*) FROM campaign_members GROUP BY ALL"):
        arms[cid][arm] = n
    sent = dict(store.sql("SELECT campaign_id, count(*) FROM outbox WHERE state = 'sent' GROUP BY ALL"))
    out = []
    for stored in list_campaigns(store):
        campaign = stored_definition(stored)
        row: dict[str, Any] = {
            "id": stored.campaign_id,
            "name": stored.name,
            "state": stored.state,
            "state_name": named("campaign_state", stored.state, lang),
            "audience": audience_words(campaign.audience, lang, saved),
            "treated": arms[stored.campaign_id].get("treated"),
            "holdout": arms[stored.campaign_id].get("holdout"),
            "sent": sent.get(stored.campaign_id, 0),
            "converted": None,
            "uplift": None,
            "created_at": stored.created_at,
        }
        if stored.state != "draft":
            result = campaign_results(store, stored.campaign_id, as_of=now).uplift
            row["converted"] = result.treated.conversions
            if result.conversion is not None:
                row["uplift"] = f"{100 * result.conversion.estimate:+.1f}%p"
        out.append(row)
    return out


# -- the live preview -----------------------------------------------------------------------------
def _audience_of(data: Mapping[str, Any]) -> Campaign:
    """A campaign holding only the form's audience (enough for ``audience_ids``)."""
    audience: Audience = msgspec.convert(data["audience"], type=Audience)
    return Campaign(name=data.get("name") or "preview", audience=audience, steps=[])


def form_preview(
    store: Store,
    data: Mapping[str, Any],
    sample: str | None,
    config: ChannelConfig,
    recommender: Any,
    now: datetime,
    lang: str,
) -> tuple[dict[str, Any], list[Problem]]:
    """The audience's size, sample customers, and each step's message on each channel written for
    the sample customer as it would go out; or the problems (by field) that stop it."""
    try:
        ids = sorted(audience_ids(store, _audience_of(data)).to_pylist())
    except UnknownSegmentError:
        return {}, [Problem("audience.segment", "cp.err.no_segment")]
    except InvalidInputError as exc:
        return {}, [library_problem("audience.kind", e.reason) for e in exc.errors]
    holdout = float(data.get("holdout", 0.1))
    answer: dict[str, Any] = {
        "count": len(ids),
        "count_text": words("cp.audience_count", lang, n=f"{len(ids):,}"),
        "split_text": words(
            "cp.audience_split",
            lang,
            holdout=f"{round(len(ids) * holdout):,}",
            treated=f"{len(ids) - round(len(ids) * holdout):,}",
        ),
        "samples": [customer_link(p) for p in ids[:SAMPLES]],
        "sample": None,
        "messages": [],
    }
    if not ids:
        return answer, []
    chosen: str = sample if sample is not None and sample in ids else ids[0]
    answer["sample"] = customer_link(chosen)
    found: list[Problem] = []
    for i, step in enumerate(data["steps"]):
        for channel, content in step["messages"].items():
            where = f"steps[{i}].messages.{channel}"
            template = Template(
                text=content["text"],
                subject=content.get("subject"),
                template_code=content.get("template_code"),
                locale=data["locale"],
            )
            errors = check_template(template, channel, step["kind"], where)
            if errors:
                found += [library_problem(e.field, e.reason) for e in errors]
                continue
            try:
                (shown,) = preview(
                    store,
                    template,
                    [chosen],
                    channel,
                    step["kind"],
                    config.sender,
                    as_of=now,
                    recommender=recommender,
                    coupon=step.get("coupon"),
                    where=where,
                )
            except InvalidInputError as exc:  # what the law wants and the sender lacks: on the text
                found += [
                    library_problem(e.field if e.field.startswith(where) else f"{where}.text", e.reason)
                    for e in exc.errors
                ]
                continue
            answer["messages"].append(message_view(i, channel, shown, bool(step.get("coupon")), lang))
    return answer, found


def message_view(step: int, channel: str, shown: Any, coupon: bool, lang: str) -> dict[str, Any]:
    draft = shown.draft
    text_message = channel == "sms"
    return {
        "step": step,
        "channel": channel,
        "channel_name": named("channel", channel, lang),
        "format": shown.format,
        "format_name": named("message_format", shown.format, lang),
        "size": words("cp.bytes", lang, n=f"{shown.carrier_bytes:,}")
        if text_message
        else words("cp.chars", lang, n=f"{len(draft.text):,}"),
        "bytes": shown.carrier_bytes,
        "subject": draft.subject,
        "text": draft.text,
        "unsendable": words("cp.unsendable", lang, chars=" ".join(shown.unsendable))
        if shown.unsendable
        else "",
        "violations": [message(f"cp.rule.{v.rule}", lang) for v in shown.violations],
        "coupon_note": message("cp.coupon_example", lang) if coupon else "",
    }


# -- the review -----------------------------------------------------------------------------------
def _slot(at: datetime, zone: str) -> tuple[str, str]:
    local = at.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d"), local.strftime("%H:00")


def _when_rows(
    rows: Sequence[tuple[datetime, str, str, float, int]], zone: str, lang: str
) -> list[dict[str, Any]]:
    """(due_at, channel, format, cost, n) → one row per shop-local day, hour, channel and format."""
    grouped: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for due_at, channel, fmt, cost, n in rows:
        day, hour = _slot(due_at, zone)
        cell = grouped[(day, hour, channel, fmt)]
        cell[0] += n
        cell[1] += cost
    return [
        {
            "day": day,
            "hour": hour,
            "channel": named("channel", channel, lang),
            "format": named("message_format", fmt, lang),
            "messages": int(v[0]),
            "cost": won(v[1], lang),
        }
        for (day, hour, channel, fmt), v in sorted(grouped.items())
    ]


def review(
    store: Store, stored: StoredCampaign, config: ChannelConfig, key: str, now: datetime, lang: str
) -> dict[str, Any]:
    """A draft's plan as of ``now`` (what scheduling would send, when, and who is left out and
    why); for a scheduled campaign, its members and the messages in its outbox."""
    zone = DEFAULT_SHOP_TZ
    campaign = stored_definition(stored)
    saved = _saved_names(store, lang)
    out: dict[str, Any] = {
        "audience": audience_words(campaign.audience, lang, saved),
        "problem": None,
        "mode": "plan",
        "states": [],
        "by_channel": [],
        "why": [],
        "when": [],
    }
    if stored.state == "draft":
        try:
            plan = plan_campaign(
                store, campaign, stored.campaign_id, at=now, key=key, costs=config.costs, sender=config.sender
            )
        except (InvalidInputError, UnknownSegmentError) as exc:
            errors = getattr(exc, "errors", [])
            reason = errors[0].reason if errors else str(exc)
            out["problem"] = message(library_problem("audience", reason).key, lang)
            return out
        counts = plan.counts
        planned = plan.planned()
        rows = list(
            zip(
                planned.column("due_at").to_pylist(),
                planned.column("channel").to_pylist(),
                planned.column("format").to_pylist(),
                planned.column("cost").to_pylist(),
                [1] * planned.num_rows,
                strict=True,
            )
        )
        deferred = sorted(
            p
            for p, r in zip(
                plan.table.column("profile_id").to_pylist(),
                plan.table.column("reason").to_pylist(),
                strict=True,
            )
            if r == "night_deferred"
        )
        why = [
            {
                "reason": e.reason,
                "name": named("exclusion", e.reason, lang),
                "count": e.count,
                "share": e.share,
                "examples": [customer_link(p) for p in e.examples],
            }
            for e in plan.why_excluded(EXAMPLES)
        ]
        if deferred:
            why.append(
                {
                    "reason": "night_deferred",
                    "name": named("exclusion", "night_deferred", lang),
                    "count": len(deferred),
                    "share": len(deferred) / max(counts.treated, 1),
                    "examples": [customer_link(p) for p in deferred[:EXAMPLES]],
                }
            )
        out.update(
            mode="plan",
            at=plan.at,
            tiles={
                "members": counts.members,
                "treated": counts.treated,
                "holdout": counts.holdout,
                "planned": counts.planned,
                "deferred": counts.deferred,
                "excluded": sum(counts.excluded.values()),
                "cost": won(counts.cost, lang),
            },
            excluded={r: counts.excluded.get(r, 0) for r in EXCLUSIONS},
            by_channel=[
                (named("channel", c, lang), n)
                for c, n in sorted(counts.by_channel.items(), key=lambda x: -x[1])
            ],
            why=why,
        )
    else:
        members = dict(
            store.sql(
                "SELECT arm, count(*) FROM campaign_members WHERE campaign_id = ? GROUP BY ALL",
                [stored.campaign_id],
            )
        )
        rows = store.sql(
            "SELECT due_at, channel, format, sum(cost), count(*) FROM outbox WHERE campaign_id = ? GROUP BY ALL",
            [stored.campaign_id],
        )
        states = outbox_counts(store, stored.campaign_id)
        cost = store.scalar(
            "SELECT coalesce(sum(cost), 0) FROM outbox WHERE campaign_id = ? AND state <> 'suppressed'",
            [stored.campaign_id],
        )
        out.update(
            mode="outbox",
            tiles={
                "members": sum(members.values()),
                "treated": members.get("treated", 0),
                "holdout": members.get("holdout", 0),
                "planned": sum(states.values()),
                "cost": won(float(cost or 0), lang),
            },
            states=[(message(f"cp.ob.{s}", lang), n) for s, n in states.items() if n],
            by_channel=[],
            why=[],
        )
    out["when"] = _when_rows(rows, zone, lang)
    out["chart"] = _charts.sends(out["when"], (message("cp.messages_n", lang),))
    return out

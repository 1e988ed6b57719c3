"""Planning one step of a campaign for its whole audience at once: who gets which message, on which
channel, when, and who gets nothing and why.

Set-based: one DuckDB query over the audience, the consent ledger, the habits, the outbox and the
message events, so a million customers plan in seconds (``bench/bench_campaign_plan.py``). The
steps, per customer of the audience:

1. **arm**: treated or holdout by the keyed hash of ``_holdout`` (the holdout gets nothing);
2. **candidate channels**: the campaign's channels (in its order) that the step has a message for
   (``fixed``: only the first); a channel is *reachable* unless it is ``web_push`` without a live
   subscription in the store, or a ``reachable`` table given by the caller lacks the pair. None
   reachable: ``unreachable``;
3. **eligibility** (advertising steps; an informational step needs none): advertising consent in
   force on the channel (the ledger's latest entry over all the customer's identifiers). No
   reachable channel with consent: ``opted_out`` if one of them was withdrawn, else ``no_consent``;
4. **channel** (``cheapest``): among the reachable, consented channels, the cheapest by the cost
   table of the format the step's message takes there (a short text is an SMS, a long one an LMS;
   Kakao advertising is a 브랜드 메시지), preferring the channels the customer *responds on*: their
   habits' ``send_channel`` or a channel on which they opened or clicked an earlier message. With
   none of those, the cheapest consented one (``channel_basis`` says which). Ties: the campaign's order;
5. **send time**: the customer's best send hour (habits' ``send_hour``, ``best_hour`` mode), else the
   campaign's hour, at its next occurrence from the start (``at``, or the campaign's ``start_at`` if
   later) in the shop's zone; a send-time experiment's variant sets the hour instead (``best_hour``
   or a fixed hour: ``hour_basis`` ``experiment``). An advertising message at night (21:00–08:00) without night-time
   consent on its channel is moved to 08:00 (``night_deferred``: planned, not excluded); e-mail is
   exempt from the night rule (시행령 §61). ``planned_at`` keeps the hour before the move;
6. **caps** (advertising): the advertising messages already in the outbox for the customer (queued,
   sending, sent or unknown; any campaign but this step) on the shop day and the shop week
   (Monday–Sunday) of the send, overall and on the chosen channel, plus this one, must not exceed
   the campaign's ``per_day`` and ``per_week``: else ``cap_day`` or ``cap_week``. (The channel is
   chosen before the caps: a customer capped on their cheapest channel is not moved to a dearer one.)
7. a send after the campaign's ``end_at``: ``after_end``.

The result is a :class:`Plan`: counts and an Arrow table with one row per audience member.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from shopmind.activation._campaign import (
    BandAudience,
    Campaign,
    MovedAudience,
    RfmAudience,
    SegmentAudience,
    Step,
)
from shopmind.activation._campaign_experiments import (
    ASSIGNMENT_SCHEMA,
    CampaignExperiment,
    assign_members,
    treated_assignments,
)
from shopmind.activation._channel_config import DEFAULT_COSTS
from shopmind.activation._compliance import rules_night, send_window
from shopmind.activation._compose import estimated_format
from shopmind.activation._holdout import draw_sql
from shopmind.activation._message import Sender
from shopmind.activation._rules import NIGHT_FROM_HOUR, NIGHT_UNTIL_HOUR
from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.experiments import TrafficPolicy
from shopmind.store import Store

#: why a treated customer gets no message, in the order the plan decides them
EXCLUSIONS = ("unreachable", "opted_out", "no_consent", "after_end", "cap_day", "cap_week")
#: a planned message moved out of the night (not an exclusion)
DEFERRED = "night_deferred"
HABITS_JOB_KIND = "habits"
COUNTED_STATES = ("queued", "sending", "sent", "unknown")
PLAN_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("arm", pa.string()),
        ("status", pa.string()),  # planned, excluded, holdout
        ("reason", pa.string()),  # an exclusion, night_deferred, or null
        ("channel", pa.string()),
        ("format", pa.string()),
        ("cost", pa.float64()),
        ("send_hour", pa.int32()),  # the shop-local hour chosen, before any night move
        ("hour_basis", pa.string()),  # habits, campaign, or experiment (a send-time variant's hour)
        ("channel_basis", pa.string()),  # responsive, consented or fixed
        ("planned_at", pa.timestamp("us", tz="UTC")),
        ("due_at", pa.timestamp("us", tz="UTC")),
    ]
)


def is_night_hour(hour: int) -> bool:
    return hour >= NIGHT_FROM_HOUR or hour < NIGHT_UNTIL_HOUR


@dataclass(frozen=True)
class SendHour:
    """When a message meant for a shop-local ``hour`` goes, from a plan's start: ``planned`` (its
    next occurrence) and ``moved`` (08:00 after it, when the night rule applies; else the same)."""

    hour: int
    night: bool
    planned: datetime
    moved: datetime


def send_hours(start: datetime, zone: str = DEFAULT_SHOP_TZ) -> list[SendHour]:
    """For each shop-local hour 0–23, when a message at that hour goes, from ``start`` on."""
    tz = ZoneInfo(zone)
    local = start.astimezone(tz)
    out = []
    for hour in range(24):
        planned = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if planned < local:
            planned = (planned + timedelta(days=1)).replace(tzinfo=tz)
        night = is_night_hour(hour)
        # the compliance engine's move out of the night (to 08:00), for a channel the rule covers
        moved = send_window(planned, "sms", night_consent=False, zone=zone)
        out.append(
            SendHour(hour, night, planned.astimezone(ZoneInfo("UTC")), moved.astimezone(ZoneInfo("UTC")))
        )
    return out


def shop_day_and_week(moment: datetime, zone: str = DEFAULT_SHOP_TZ) -> tuple[Any, Any]:
    """The shop-local calendar day of ``moment`` and the Monday its week starts on."""
    day = moment.astimezone(ZoneInfo(zone)).date()
    return day, day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class PlanCounts:
    members: int
    treated: int
    holdout: int
    planned: int
    deferred: int  # planned, moved out of the night
    excluded: dict[str, int]  # every reason of EXCLUSIONS, zero included
    by_channel: dict[str, int]
    cost: float  # KRW, the planned messages' estimated cost

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "treated": self.treated,
            "holdout": self.holdout,
            "planned": self.planned,
            "deferred": self.deferred,
            "excluded": dict(self.excluded),
            "by_channel": dict(self.by_channel),
            "cost": self.cost,
        }


@dataclass(frozen=True)
class Exclusion:
    """One reason customers are left out, for the review page: how many, their share of the
    treated, and a few of them to look at."""

    reason: str
    count: int
    share: float
    examples: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "count": self.count,
            "share": self.share,
            "examples": list(self.examples),
        }


@dataclass(frozen=True, eq=False)
class Plan:
    """One step of a campaign planned for its audience (see the module for the rules)."""

    campaign_id: str
    step: str
    kind: str
    at: datetime
    formats: dict[str, str]  # candidate channel → the format its message takes
    counts: PlanCounts
    table: pa.Table = field(repr=False)  # PLAN_SCHEMA, one row per audience member
    #: the treated members in a running experiment on this step (``ASSIGNMENT_SCHEMA``)
    assignments: pa.Table = field(default_factory=ASSIGNMENT_SCHEMA.empty_table, repr=False)

    def planned(self) -> pa.Table:
        """The rows that become messages."""
        return self.table.filter(pc.equal(self.table.column("status"), "planned"))

    def why_excluded(self, examples: int = 5) -> list[Exclusion]:
        """The reasons customers are left out, most frequent first (only reasons that occur)."""
        treated = max(self.counts.treated, 1)
        found = []
        for reason, count in self.counts.excluded.items():
            if not count:
                continue
            rows = self.table.filter(
                pc.and_(
                    pc.equal(self.table.column("status"), "excluded"),
                    pc.equal(self.table.column("reason"), reason),
                )
            )
            ids = sorted(rows.column("profile_id").to_pylist())[:examples]
            found.append(Exclusion(reason, count, count / treated, tuple(ids)))
        return sorted(found, key=lambda e: (-e.count, EXCLUSIONS.index(e.reason)))


def candidate_channels(campaign: Campaign, step: Step) -> list[str]:
    """The channels a customer may get ``step`` on, in the campaign's order."""
    channels = (
        campaign.channel.channels[:1] if campaign.channel.mode == "fixed" else campaign.channel.channels
    )
    return [c for c in dict.fromkeys(channels) if c in step.messages]


def step_formats(campaign: Campaign, step: Step, sender: Sender | None = None) -> dict[str, str]:
    """The format ``step``'s message takes on each candidate channel, from its text as finished
    for the law (an advertising SMS with its "(광고)" and opt-out is often long enough to be an LMS)."""
    return {c: estimated_format(step, c, sender) for c in candidate_channels(campaign, step)}


def audience_ids(store: Store, campaign: Campaign) -> pa.Array:
    """The campaign's audience now: distinct profile ids."""
    # imported here: the audiences package loads the segment catalogue, which only planning needs
    from shopmind.audiences import score_band_audience, segment_audience

    audience = campaign.audience
    if isinstance(audience, SegmentAudience):
        return segment_audience(store, audience.segment).profile_ids
    if isinstance(audience, BandAudience):
        return score_band_audience(store, audience.score, audience.low, audience.high).profile_ids
    if isinstance(audience, RfmAudience | MovedAudience):
        latest = store.latest_run("customer_intelligence")
        if latest is None:
            raise InvalidInputError(
                [FieldError("audience", "no customer-intelligence run yet (run 'shopmind run' first)")]
            )
        run_id, as_of = latest
        if isinstance(audience, RfmAudience):
            query = "SELECT DISTINCT profile_id FROM segment_members WHERE run_id = ? AND list_contains(?, segment)"
            params: list[Any] = [run_id, list(audience.segments)]
        else:
            # in a `to` segment now, and in a `from` segment in an earlier run within the window
            query = """SELECT DISTINCT m.profile_id FROM segment_members m
                WHERE m.run_id = ? AND list_contains(?, m.segment) AND EXISTS (
                    SELECT 1 FROM segment_members e JOIN job_runs r ON r.run_id = e.run_id
                    WHERE e.profile_id = m.profile_id AND r.job = 'customer_intelligence' AND r.status = 'ok'
                      AND r.as_of < ? AND r.as_of >= ? - to_days(?) AND list_contains(?, e.segment))"""
            params = [run_id, list(audience.to), as_of, as_of, audience.within_days, list(audience.from_)]
        return store.query_arrow(query, params).column("profile_id").combine_chunks()
    raise InvalidInputError([FieldError("audience", "unknown audience kind")])


def habits_run(store: Store) -> str | None:
    """The newest successful run that wrote habits."""
    rows = store.sql(
        """SELECT r.run_id FROM job_runs r WHERE r.status = 'ok' AND EXISTS (
            SELECT 1 FROM profile_facts f WHERE f.run_id = r.run_id AND f.kind = ?)
        ORDER BY r.as_of DESC, r.finished_at DESC LIMIT 1""",
        [HABITS_JOB_KIND],
    )
    return rows[0][0] if rows else None


def _step(campaign: Campaign, step: str | None) -> Step:
    if step is None:
        return campaign.steps[0]
    found = [s for s in campaign.steps if s.id == step]
    if not found:
        raise InvalidInputError([FieldError("step", f"{step!r} is not a step of the campaign")])
    return found[0]


#: the ledger's order (when it happened, ties by the order stored) as one number: the time in µs
#: above 64 bits, the sequence below (|seq| < 2**63). A struct key sorts the same, 3x slower.
_LEDGER_ORDER = "(epoch_us(l.occurred_at)::HUGEINT * 18446744073709551616 + l.seq)"
#: the pick's order: responsive channels first, then by cost, then the campaign's order (the last
#: two digits are the channel's rank, read back to find the channel)
_PICK_ORDER = "CAST(CASE WHEN responsive THEN 0 ELSE 1 END * 10000000000000 + round(cost * 1000) * 100 + rank AS BIGINT)"
_RESPONSIVE_BELOW = 10_000_000_000_000

_PLAN_SQL = """
WITH members AS (
    -- each customer numbered (pid): the joins below compare integers, not ids
    SELECT profile_id, row_number() OVER (ORDER BY profile_id) AS pid,
           CASE WHEN {draw} < $share THEN 'holdout' ELSE 'treated' END AS arm
    FROM (SELECT DISTINCT profile_id FROM {audience} WHERE profile_id IS NOT NULL)
), treated AS (
    SELECT profile_id, pid FROM members WHERE arm = 'treated'
), identities AS (
    -- the identifiers whose ledger entries are the treated customers': theirs in the identity
    -- graph, and a profile id that is no identifier of another (a customer the graph never saw)
    SELECT p.identifier, t.pid FROM profiles p JOIN treated t ON t.profile_id = p.profile_id
    UNION ALL
    SELECT t.profile_id, t.pid FROM treated t
    WHERE t.profile_id NOT IN (SELECT identifier FROM profiles)
), consent AS (
    -- the latest entry per customer, channel and purpose (ties: the order they were stored)
    SELECT i.pid, c.rank,
           arg_max(l.granted, {ledger_order}) FILTER (WHERE l.purpose = 'advertising') AS ad_latest,
           arg_max(l.granted, {ledger_order})
               FILTER (WHERE l.purpose = 'night_advertising') AS night_latest
    FROM consent_ledger l JOIN identities i ON i.identifier = l.identifier
    JOIN {channels} c ON c.channel = l.channel
    GROUP BY ALL
), habits AS (
    SELECT t.pid, any_value(TRY_CAST(f.facts->>'send_hour' AS INTEGER)) AS send_hour,
           any_value(f.facts->>'send_channel') AS send_channel
    FROM profile_facts f JOIN treated t ON t.profile_id = f.profile_id
    WHERE f.run_id = $habits_run AND f.kind = 'habits'
    GROUP BY t.pid
), responsive AS (
    -- the channels a customer answers on: their habits' channel, or one they opened or clicked on
    SELECT h.pid, c.rank FROM habits h JOIN {channels} c ON c.channel = h.send_channel
    UNION
    SELECT t.pid, c.rank
    FROM message_events e JOIN outbox o ON o.message_key = e.message_key
    JOIN treated t ON t.profile_id = o.profile_id JOIN {channels} c ON c.channel = o.channel
    WHERE e.kind IN ('opened', 'clicked')
), subscribed AS (
    SELECT DISTINCT t.pid
    FROM push_subscriptions s LEFT JOIN profiles p ON p.identifier = s.identifier
    JOIN treated t ON t.profile_id = coalesce(p.profile_id, s.identifier)
    WHERE s.revoked_at IS NULL
), candidates AS (
    SELECT t.pid, c.rank, c.cost,
           (NOT c.web_push OR s.pid IS NOT NULL) {reachable} AS reachable,
           coalesce(k.ad_latest, false) AS ad, coalesce(NOT k.ad_latest, false) AS withdrawn,
           coalesce(k.night_latest, false) AS night,
           r.pid IS NOT NULL AS responsive
    FROM treated t CROSS JOIN {channels} c
    LEFT JOIN consent k ON k.pid = t.pid AND k.rank = c.rank
    LEFT JOIN responsive r ON r.pid = t.pid AND r.rank = c.rank
    LEFT JOIN subscribed s ON c.web_push AND s.pid = t.pid
    {reachable_join}
), per AS (
    SELECT pid,
           bool_or(reachable) AS any_reachable,
           bool_or(reachable AND ($informational OR ad)) AS any_allowed,
           bool_or(reachable AND withdrawn) AS any_withdrawn,
           min({pick_order}) FILTER (WHERE reachable AND ($informational OR ad)) AS best,
           arg_min(night, {pick_order}) FILTER (WHERE reachable AND ($informational OR ad)) AS best_night
    FROM candidates GROUP BY pid
), picked AS (
    SELECT per.*, {{'channel': c.channel, 'format': c.format, 'cost': c.cost, 'night': per.best_night,
                    'responsive': per.best < {responsive_below}}} AS pick
    FROM per LEFT JOIN {channels} c ON c.rank = per.best % 100
), timing AS (
    -- a send-time experiment's variant: the customer's own hour (best_hour) or a fixed hour
    SELECT t.pid, v.best_hour AS v_best, v.hour AS v_hour
    FROM {timing} v JOIN treated t ON t.profile_id = v.profile_id
    WHERE v.best_hour IS NOT NULL
), timed AS (
    SELECT per.*, hr.*,
           coalesce(coalesce(v.v_best, $best_hour) AND h.send_hour BETWEEN 0 AND 23, false) AS own_hour,
           v.v_hour IS NOT NULL AS variant_hour,
           NOT $informational AND hr.night AND pick.channel IS NOT NULL
               AND NOT list_contains($night_exempt, pick.channel) AND NOT pick.night AS moved
    FROM picked per LEFT JOIN habits h USING (pid) LEFT JOIN timing v USING (pid)
    JOIN {hours} hr ON hr.hour = CASE WHEN coalesce(v.v_best, $best_hour) AND h.send_hour BETWEEN 0 AND 23
                                      THEN h.send_hour ELSE coalesce(v.v_hour, $default_hour) END
), dated AS (
    SELECT *,
           CASE WHEN moved THEN moved_at ELSE planned_at END AS due_at,
           CASE WHEN moved THEN moved_day ELSE planned_day END AS due_day,
           CASE WHEN moved THEN moved_week ELSE planned_week END AS due_week
    FROM timed
), sent AS (
    SELECT t.pid, o.channel,
           CAST(timezone($zone, coalesce(o.sent_at, o.due_at)) AS DATE) AS day,
           CAST(date_trunc('week', timezone($zone, coalesce(o.sent_at, o.due_at))) AS DATE) AS week
    FROM outbox o JOIN treated t ON t.profile_id = o.profile_id
    WHERE o.kind = 'advertising' AND list_contains($counted, o.state)
      AND NOT (o.campaign_id = $campaign AND o.step = $step)
), caps AS (
    SELECT d.pid,
           count(*) FILTER (WHERE s.day = d.due_day) AS day_all,
           count(*) FILTER (WHERE s.day = d.due_day AND s.channel = d.pick.channel) AS day_channel,
           count(*) FILTER (WHERE s.week = d.due_week) AS week_all,
           count(*) FILTER (WHERE s.week = d.due_week AND s.channel = d.pick.channel) AS week_channel
    FROM dated d JOIN sent s ON s.pid = d.pid
    WHERE d.pick.channel IS NOT NULL
    GROUP BY d.pid
), decided AS (
    SELECT d.*,
           CASE WHEN NOT d.any_reachable THEN 'unreachable'
                WHEN NOT d.any_allowed AND d.any_withdrawn THEN 'opted_out'
                WHEN NOT d.any_allowed THEN 'no_consent'
                WHEN $end_at IS NOT NULL AND d.due_at > $end_at THEN 'after_end'
                WHEN NOT $informational AND (coalesce(c.day_all, 0) + 1 > $per_day
                     OR coalesce(c.day_channel, 0) + 1 > $per_day) THEN 'cap_day'
                WHEN NOT $informational AND (coalesce(c.week_all, 0) + 1 > $per_week
                     OR coalesce(c.week_channel, 0) + 1 > $per_week) THEN 'cap_week'
           END AS excluded
    FROM dated d LEFT JOIN caps c USING (pid)
)
SELECT m.profile_id, m.arm,
       CASE WHEN m.arm = 'holdout' THEN 'holdout' WHEN x.excluded IS NULL THEN 'planned' ELSE 'excluded' END AS status,
       CASE WHEN x.excluded IS NOT NULL THEN x.excluded WHEN x.moved THEN 'night_deferred' END AS reason,
       CASE WHEN x.excluded IS NULL THEN x.pick.channel END AS channel,
       CASE WHEN x.excluded IS NULL THEN x.pick.format END AS format,
       CASE WHEN x.excluded IS NULL THEN x.pick.cost END AS cost,
       CAST(x.hour AS INTEGER) AS send_hour,
       CASE WHEN m.arm = 'treated' THEN CASE WHEN x.own_hour THEN 'habits' WHEN x.variant_hour THEN 'experiment' ELSE 'campaign' END END AS hour_basis,
       CASE WHEN m.arm = 'treated' AND x.excluded IS NULL THEN
           CASE WHEN $fixed THEN 'fixed' WHEN x.pick.responsive THEN 'responsive' ELSE 'consented' END
       END AS channel_basis,
       CASE WHEN x.excluded IS NULL OR x.excluded IN ('after_end', 'cap_day', 'cap_week') THEN x.planned_at END AS planned_at,
       CASE WHEN x.excluded IS NULL OR x.excluded IN ('after_end', 'cap_day', 'cap_week') THEN x.due_at END AS due_at
FROM members m LEFT JOIN decided x USING (pid)
ORDER BY m.pid
"""


def plan_campaign(
    store: Store,
    campaign: Campaign,
    campaign_id: str,
    *,
    at: datetime,
    key: str,
    step: str | None = None,
    audience: pa.Array | pa.ChunkedArray | Sequence[str] | None = None,
    costs: Mapping[str, float] | None = None,
    sender: Sender | None = None,
    reachable: pa.Table | None = None,
    zone: str = DEFAULT_SHOP_TZ,
    experiments: Sequence[CampaignExperiment] = (),
    experiment_key: str = "",
    policies: Mapping[str, TrafficPolicy] | None = None,
) -> Plan:
    """Plan ``step`` (default: the first) of ``campaign`` for its audience (or ``audience``, the
    profile ids to plan for, e.g. the customers a journey's trigger let in), from ``at`` on.
    ``key``: the holdout key (``holdout_key``); ``costs``: KRW per format (``DEFAULT_COSTS``);
    ``reachable``: optionally the (profile_id, channel) pairs the shop has an address for (a
    channel absent from it is taken as reachable); ``experiments``: the running experiments on
    this step (``campaign_experiments``), assigned under ``experiment_key``: the treated
    members' variants (``Plan.assignments``), a send-time variant's hour planned; a bandit's
    members draw from its policy in ``policies`` (experiment id → policy now), or are held
    (variant null) for the campaign's waves when it is absent. Nothing is written."""
    if at.tzinfo is None:
        raise InvalidInputError([FieldError("at", "expected a date and time with its time zone")])
    chosen = _step(campaign, step)
    channels = candidate_channels(campaign, chosen)
    if not channels:
        raise InvalidInputError(
            [
                FieldError(
                    f"steps.{chosen.id}.messages",
                    "no message for any of the campaign's channels: "
                    + ", ".join(
                        campaign.channel.channels[:1]
                        if campaign.channel.mode == "fixed"
                        else campaign.channel.channels
                    ),
                )
            ]
        )
    price = {**DEFAULT_COSTS, **(costs or {})}
    formats = step_formats(campaign, chosen, sender)
    channel_table = pa.table(
        {
            "channel": channels,
            "format": [formats[c] for c in channels],
            "cost": [float(price.get(formats[c], 0.0)) for c in channels],
            "rank": list(range(len(channels))),
            "web_push": [c == "web_push" for c in channels],
        }
    )
    start = max(at, campaign.start_at) if campaign.start_at else at
    hours = send_hours(start, zone)
    moments = [(shop_day_and_week(h.planned, zone), shop_day_and_week(h.moved, zone)) for h in hours]
    hour_table = pa.table(
        {
            "hour": [h.hour for h in hours],
            "night": [h.night for h in hours],
            "planned_at": pa.array([h.planned for h in hours], pa.timestamp("us", tz="UTC")),
            "moved_at": pa.array([h.moved for h in hours], pa.timestamp("us", tz="UTC")),
            "planned_day": [m[0][0] for m in moments],
            "planned_week": [m[0][1] for m in moments],
            "moved_day": [m[1][0] for m in moments],
            "moved_week": [m[1][1] for m in moments],
        }
    )
    if audience is None:
        ids: pa.Array | pa.ChunkedArray = audience_ids(store, campaign)
    elif isinstance(audience, pa.Array | pa.ChunkedArray):
        ids = audience
    else:
        ids = pa.array([str(a) for a in audience], pa.string())
    audience_table = pa.table({"profile_id": ids.cast(pa.string())})
    # every member is assigned (about a microsecond each); the holdout's are dropped after the plan
    assignments = (
        assign_members(experiments, experiment_key, audience_table.column("profile_id").to_pylist(), policies)
        if experiments
        else ASSIGNMENT_SCHEMA.empty_table()
    )
    params: dict[str, Any] = {
        "key": key,
        "campaign": campaign_id,
        "share": float(campaign.holdout),
        "channels": channels,
        "habits_run": habits_run(store),
        "informational": chosen.kind == "informational",
        "best_hour": campaign.send_time.mode == "best_hour",
        "default_hour": int(campaign.send_time.hour),
        "night_exempt": sorted(c for c in channels if not rules_night(c)),
        "zone": zone,
        "counted": list(COUNTED_STATES),
        "step": chosen.id,
        "end_at": campaign.end_at,
        "per_day": int(campaign.caps.per_day),
        "per_week": int(campaign.caps.per_week),
        "fixed": campaign.channel.mode == "fixed",
    }
    with (
        store.staged("_plan_audience", audience_table) as audience_src,
        store.staged("_plan_channels", channel_table) as channels_src,
        store.staged("_plan_hours", hour_table) as hours_src,
        store.staged("_plan_timing", assignments) as timing_src,
    ):
        reachable_sql, reachable_join = "", ""
        if reachable is not None:
            reachable_sql = "AND (NOT list_contains($listed, c.channel) OR a.profile_id IS NOT NULL)"
            reachable_join = (
                "LEFT JOIN _plan_reachable a ON a.profile_id = t.profile_id AND a.channel = c.channel"
            )
            params["listed"] = sorted(set(reachable.column("channel").to_pylist()))
        query = _PLAN_SQL.format(
            draw=draw_sql("$key", "$campaign", "profile_id"),
            audience=audience_src,
            channels=channels_src,
            hours=hours_src,
            timing=timing_src,
            reachable=reachable_sql,
            reachable_join=reachable_join,
            ledger_order=_LEDGER_ORDER,
            pick_order=_PICK_ORDER,
            responsive_below=_RESPONSIVE_BELOW,
        )
        if reachable is not None:
            with store.staged("_plan_reachable", reachable.select(["profile_id", "channel"])):
                table = _run(store, query, params)
        else:
            table = _run(store, query, params)
    return Plan(
        campaign_id,
        chosen.id,
        chosen.kind,
        at,
        formats,
        _counts(table),
        table,
        treated_assignments(assignments, table),
    )


_NAMED = re.compile(r"\$([a-z_]+)")


def _run(store: Store, query: str, params: dict[str, Any]) -> pa.Table:
    # the query names its parameters ($share); DuckDB is handed them numbered ($1), in first-use order
    order: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found.group(1) not in order:
            order.append(found.group(1))
        return f"${order.index(found.group(1)) + 1}"

    numbered = _NAMED.sub(number, query)
    return store.query_arrow(numbered, [params[name] for name in order]).cast(PLAN_SCHEMA)


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    counted = pc.value_counts(column).to_pylist()
    return {c["values"]: int(c["counts"]) for c in counted if c["values"] is not None}


def _counts(table: pa.Table) -> PlanCounts:
    status = table.column("status")
    planned = table.filter(pc.equal(status, "planned"))
    excluded = table.filter(pc.equal(status, "excluded"))
    reasons = dict.fromkeys(EXCLUSIONS, 0)
    reasons.update(_value_counts(excluded.column("reason")))
    by_channel = _value_counts(planned.column("channel"))
    holdout = int(pc.sum(pc.equal(status, "holdout")).as_py() or 0)
    return PlanCounts(
        members=table.num_rows,
        treated=table.num_rows - holdout,
        holdout=holdout,
        planned=planned.num_rows,
        deferred=int(pc.sum(pc.equal(planned.column("reason"), DEFERRED)).as_py() or 0),
        excluded=reasons,
        by_channel=dict(sorted(by_channel.items())),
        cost=float(pc.sum(planned.column("cost")).as_py() or 0.0),
    )

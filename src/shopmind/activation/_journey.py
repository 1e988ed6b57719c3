"""Journeys: who enters a campaign by its trigger, whose next step is due, who leaves.

``advance(store, campaign_id, now)`` looks at a running (or scheduled) campaign's treated members
in ``campaign_members`` and answers, set-based in the store's engine:

- **entrants**: customers the trigger brings in who are not members yet (each customer enters a
  campaign once). ``segment_entry``: they entered the trigger's segment (a saved segment's stays
  in ``segment_history``, or an RFM segment key: present in a customer-intelligence run and absent
  from the run before) at or after the campaign's start. ``event``: an ``event`` of theirs at or
  after the start with no ``unless`` event of theirs within ``after_hours`` after it (add_to_cart
  unless order_completed within 1 h: the abandoned cart); they enter ``after_hours`` after it. The
  caller assigns each an arm (the holdout) and writes them with ``enter_members``; ``now``
  campaigns get their members from the plan, not from here.
- **due**: for each member, the step that follows the one they are at (``step``; the first step
  for a member at none) whose time has come: ``wait_hours`` after that step's moment (``step_at``;
  the entry for the first step) and whose ``when`` holds for their answer to the step they are at,
  counted up to the due time: opened (a click counts as an open: texts report no opens), clicked,
  bought (an order of theirs since the step's moment). Of several steps following the same one
  (branches), the first in the campaign's order whose condition holds wins. The caller enqueues
  them and records the step with ``record_steps``.
- **exits** (written here): with ``exit_on_purchase``, a member who ordered since entering leaves
  (``purchased``, at the order's moment) before anything more is due; a member at a step nothing
  follows, or whose every following step's time has come without its condition holding, is done
  (``finished``).

Only treated members move through steps: the holdout is sent nothing, so there is nothing to
answer; its purchases are measured from the campaign's start. Running experiments on a step's
message or on the campaign's send time split the members as scheduling does (``run_journey``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from shopmind.activation._campaign import Campaign, Step, parse_campaign
from shopmind.activation._campaign_experiments import campaign_experiments, record_campaign_exposures
from shopmind.activation._campaign_waves import current_policies, held_members
from shopmind.activation._compose import ContextSource, compose, message_key
from shopmind.activation._context import Recommends
from shopmind.activation._holdout import assign_arms
from shopmind.activation._message import Sender
from shopmind.activation._plan import Plan, plan_campaign
from shopmind.activation._schedule import campaign_contexts
from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.store import PLACED_ORDERS_SQL, Store, enqueue

#: Campaign states in which journeys move (a draft, a paused or a finished campaign stands still).
MOVING = ("scheduled", "running")
ARMS = ("treated", "holdout")

#: Orders that count as purchases, with the buyer's profile: the very orders campaign results count
#: as conversions (placed, verified, no returns; a guest's by hashed e-mail, phone or device), so a
#: journey's "bought" and its purchase exit agree with what the results measure.
_PURCHASES = PLACED_ORDERS_SQL
#: Events with the profile of whoever made them (member id first, else the device's).
_EVENTS = """
    SELECT coalesce(p.profile_id, e.ident) AS profile_id, e.type, e.event_time
    FROM (
        SELECT type, event_time, coalesce('user:' || user_id, 'anon:' || anonymous_id) AS ident
        FROM events WHERE type IN (?, ?)
    ) e LEFT JOIN profiles p ON p.identifier = e.ident
"""


@dataclass(frozen=True)
class DueStep:
    """Step ``step`` of the journey is due to ``profile_id`` at ``due_at``."""

    profile_id: str
    step: str
    due_at: datetime


@dataclass(frozen=True)
class Entrant:
    """A customer the trigger brings into the campaign at ``entered_at``."""

    profile_id: str
    entered_at: datetime


@dataclass(frozen=True)
class JourneyExit:
    """A member who left the journey at ``at``: ``purchased`` or ``finished``."""

    profile_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class JourneyAdvance:
    """What ``advance`` found: steps due, new entrants (not yet members), exits (written)."""

    due: tuple[DueStep, ...]
    entrants: tuple[Entrant, ...]
    exits: tuple[JourneyExit, ...]


def _campaign(store: Store, campaign_id: str) -> tuple[Campaign, str, datetime]:
    rows = store.sql(
        "SELECT definition, state, created_at FROM campaigns WHERE campaign_id = ?", [campaign_id]
    )
    if not rows:
        raise InvalidInputError([FieldError("campaign_id", f"no campaign {campaign_id!r}")])
    definition, state, created_at = rows[0]
    campaign = parse_campaign(definition)
    return campaign, state, campaign.start_at or created_at


def _follows(campaign: Campaign) -> dict[str | None, list[Step]]:
    """Step id (None: the trigger) → the steps that follow it, in the campaign's order."""
    out: dict[str | None, list[Step]] = {}
    for i, step in enumerate(campaign.steps):
        after = step.after if step.after is not None else (campaign.steps[i - 1].id if i else None)
        out.setdefault(after, []).append(step)
    return out


def _micros(hours: float) -> int:
    return round(hours * 3_600_000_000)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise InvalidInputError([FieldError("now", "give a time-zone aware moment")])
    return now


#: Per condition: the SQL that holds for a member (columns opened, clicked, bought).
_WHEN = {
    "always": "true",
    "opened": "(opened OR clicked)",
    "not_opened": "NOT (opened OR clicked)",
    "clicked": "clicked",
    "not_clicked": "NOT clicked",
    "clicked_not_bought": "(clicked AND NOT bought)",
    "not_bought": "NOT bought",
}


def advance(store: Store, campaign_id: str, now: datetime) -> JourneyAdvance:
    """The journey of ``campaign_id`` at ``now``: entrants, steps due, and exits (written)."""
    now = _aware(now)
    campaign, state, start = _campaign(store, campaign_id)
    if state not in MOVING:
        return JourneyAdvance((), (), ())
    with store.atomically():
        exits = _purchased(store, campaign_id, now) if campaign.exit_on_purchase else []
        due, finished = _due(store, campaign_id, campaign, now)
        _write_exits(store, campaign_id, finished)
    entrants = _entrants(store, campaign_id, campaign, start, now)
    return JourneyAdvance(tuple(due), tuple(entrants), tuple(exits + finished))


def _purchased(store: Store, campaign_id: str, now: datetime) -> list[JourneyExit]:
    rows = store.sql(
        f"""
        SELECT m.profile_id, min(b.ordered_at)
        FROM campaign_members m JOIN ({_PURCHASES}) b ON b.profile_id = m.profile_id
        WHERE m.campaign_id = ? AND m.arm = 'treated' AND m.exited_at IS NULL
          AND b.ordered_at >= m.entered_at AND b.ordered_at <= ?
        GROUP BY m.profile_id ORDER BY m.profile_id
        """,
        [campaign_id, now],
    )
    exits = [JourneyExit(p, "purchased", at) for p, at in rows]
    _write_exits(store, campaign_id, exits)
    return exits


def _write_exits(store: Store, campaign_id: str, exits: list[JourneyExit]) -> None:
    if not exits:
        return
    store.sql(
        """
        UPDATE campaign_members SET exited_at = x.at, exit_reason = x.reason
        FROM (SELECT unnest(?::VARCHAR[]) AS profile_id, unnest(?::VARCHAR[]) AS reason,
                     unnest(?::TIMESTAMPTZ[]) AS at) x
        WHERE campaign_members.campaign_id = ? AND campaign_members.profile_id = x.profile_id
        """,
        [[e.profile_id for e in exits], [e.reason for e in exits], [e.at for e in exits], campaign_id],
    )


def _due(
    store: Store, campaign_id: str, campaign: Campaign, now: datetime
) -> tuple[list[DueStep], list[JourneyExit]]:
    follows = _follows(campaign)
    due: list[DueStep] = []
    finished: list[JourneyExit] = []
    at_steps = [None, *(s.id for s in campaign.steps)]
    for at_step in at_steps:
        nexts = follows.get(at_step, [])
        where = "m.step IS NULL" if at_step is None else "m.step = ?"
        members_params: list[object] = [campaign_id] if at_step is None else [campaign_id, at_step]
        if not nexts:  # the end of the journey: done as soon as they got this step
            if at_step is not None:
                rows = store.sql(
                    f"""SELECT m.profile_id, m.step_at FROM campaign_members m
                        WHERE m.campaign_id = ? AND {where} AND m.arm = 'treated'
                          AND m.exited_at IS NULL AND m.step_at <= ? ORDER BY m.profile_id""",
                    [*members_params, now],
                )
                finished.extend(JourneyExit(p, "finished", at) for p, at in rows)
            continue
        taken: set[str] = set()
        longest = max(nexts, key=lambda s: s.wait_hours)
        decided: list[tuple[str, datetime]] = []  # every following step's time has come
        for step in nexts:
            for profile, due_at, holds in _candidates(store, at_step, where, members_params, step, now):
                if holds and profile not in taken:
                    taken.add(profile)
                    due.append(DueStep(profile, step.id, due_at))
                if step is longest:
                    decided.append((profile, due_at))
        if at_step is not None:  # no following step applies to them: the journey is over
            finished.extend(JourneyExit(p, "finished", at) for p, at in decided if p not in taken)
    due.sort(key=lambda d: (d.due_at, d.profile_id))
    return due, finished


def _candidates(
    store: Store, at_step: str | None, where: str, members_params: list[object], step: Step, now: datetime
) -> list[tuple[str, datetime, bool]]:
    """Members at ``at_step`` for whom ``step`` has fallen due by ``now``: when, and whether its
    ``when`` held by then."""
    wait = _micros(step.wait_hours)
    base = "m.entered_at" if at_step is None else "m.step_at"
    answers = (
        "false AS opened, false AS clicked, false AS bought"
        if at_step is None
        else f"""
        EXISTS (SELECT 1 FROM message_events e WHERE e.campaign_id = m.campaign_id AND e.step = m.step
                AND e.profile_id = m.profile_id AND e.kind = 'opened' AND e.occurred_at < m.due_at) AS opened,
        EXISTS (SELECT 1 FROM message_events e WHERE e.campaign_id = m.campaign_id AND e.step = m.step
                AND e.profile_id = m.profile_id AND e.kind = 'clicked' AND e.occurred_at < m.due_at) AS clicked,
        EXISTS (SELECT 1 FROM ({_PURCHASES}) b WHERE b.profile_id = m.profile_id
                AND b.ordered_at >= m.step_at AND b.ordered_at < m.due_at) AS bought"""
    )
    rows = store.sql(
        f"""
        WITH m AS (
            SELECT *, {base} + to_microseconds(?::BIGINT) AS due_at FROM campaign_members m
            WHERE m.campaign_id = ? AND {where} AND m.arm = 'treated'
              AND m.exited_at IS NULL AND {base} + to_microseconds(?::BIGINT) <= ?
        ), a AS (SELECT m.profile_id, m.due_at, {answers} FROM m)
        SELECT profile_id, due_at, {_WHEN[step.when]} FROM a ORDER BY profile_id
        """,
        [wait, *members_params, wait, now],
    )
    return [(p, d, bool(h)) for p, d, h in rows]


def _entrants(
    store: Store, campaign_id: str, campaign: Campaign, start: datetime, now: datetime
) -> list[Entrant]:
    trigger = campaign.trigger
    end = min(now, campaign.end_at) if campaign.end_at else now
    if trigger.kind == "segment_entry" and trigger.segment:
        if store.sql("SELECT 1 FROM segments WHERE segment_id = ?", [trigger.segment]):
            query = """
                SELECT profile_id, min(entered_at) FROM segment_history
                WHERE segment_id = ? AND entered_at >= ? AND entered_at <= ? GROUP BY profile_id"""
            params: list[object] = [trigger.segment, start, end]
        else:  # an RFM segment key: in a run, and not in the run before it
            query = """
                WITH runs AS (
                    SELECT run_id, as_of, lag(run_id) OVER (ORDER BY as_of, run_id) AS before
                    FROM job_runs WHERE run_id IN (SELECT DISTINCT run_id FROM segment_members WHERE segment = ?)
                )
                SELECT s.profile_id, min(r.as_of) FROM segment_members s JOIN runs r USING (run_id)
                WHERE s.segment = ? AND r.as_of >= ? AND r.as_of <= ?
                  AND NOT EXISTS (SELECT 1 FROM segment_members b WHERE b.run_id = r.before
                                  AND b.segment = s.segment AND b.profile_id = s.profile_id)
                GROUP BY s.profile_id"""
            params = [trigger.segment, trigger.segment, start, end]
    elif trigger.kind == "event" and trigger.event:
        after = _micros(trigger.after_hours)
        query = f"""
            WITH e AS ({_EVENTS})
            SELECT t.profile_id, min(t.event_time) + to_microseconds(?::BIGINT) FROM e t
            WHERE t.type = ? AND t.event_time >= ? AND t.event_time + to_microseconds(?::BIGINT) <= ?
              AND NOT EXISTS (SELECT 1 FROM e u WHERE u.type = ? AND u.profile_id = t.profile_id
                              AND u.event_time > t.event_time
                              AND u.event_time <= t.event_time + to_microseconds(?::BIGINT))
            GROUP BY t.profile_id"""
        unless = trigger.unless or ""
        params = [trigger.event, unless, after, trigger.event, start, after, end, unless, after]
    else:
        return []
    rows = store.sql(
        f"""SELECT q.* FROM ({query}) q
            WHERE q.profile_id NOT IN (SELECT profile_id FROM campaign_members WHERE campaign_id = ?)
            ORDER BY 2, 1""",
        [*params, campaign_id],
    )
    return [Entrant(p, at) for p, at in rows]


def enter_members(
    store: Store, campaign_id: str, entrants: Iterable[Entrant], arms: Mapping[str, str]
) -> int:
    """Write ``entrants`` as members of ``campaign_id`` in their arm (``arms[profile_id]``:
    treated or holdout, from the holdout assignment); members already there stay as they are.
    Returns how many were added."""
    rows = [(e.profile_id, arms.get(e.profile_id), e.entered_at) for e in entrants]
    bad = sorted({p for p, arm, _ in rows if arm not in ARMS})
    if bad:
        raise InvalidInputError([FieldError("arms", f"no treated/holdout arm for {', '.join(bad[:5])}")])
    if not rows:
        return 0
    before = store.scalar("SELECT count(*) FROM campaign_members WHERE campaign_id = ?", [campaign_id])
    store.sql(
        """
        INSERT INTO campaign_members (campaign_id, profile_id, arm, entered_at)
        SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::TIMESTAMPTZ[])
        ON CONFLICT DO NOTHING
        """,
        [campaign_id, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
    )
    after = store.scalar("SELECT count(*) FROM campaign_members WHERE campaign_id = ?", [campaign_id])
    return int(after) - int(before)


def record_steps(store: Store, campaign_id: str, sent: Iterable[DueStep]) -> None:
    """Members got (their messages of) these steps: each is now at ``step`` since ``due_at`` (pass
    the moment the message was planned for, when the plan moved it, e.g. out of the night)."""
    rows = list(sent)
    if not rows:
        return
    store.sql(
        """
        UPDATE campaign_members SET step = x.step, step_at = x.at
        FROM (SELECT unnest(?::VARCHAR[]) AS profile_id, unnest(?::VARCHAR[]) AS step,
                     unnest(?::TIMESTAMPTZ[]) AS at) x
        WHERE campaign_members.campaign_id = ? AND campaign_members.profile_id = x.profile_id
        """,
        [[d.profile_id for d in rows], [d.step for d in rows], [d.due_at for d in rows], campaign_id],
    )


@dataclass(frozen=True)
class JourneyRun:
    """One turn of a journey: what ``advance`` found, how many entrants became members, the plans
    of the due steps, the messages newly queued, and the members the plan left out for good."""

    advanced: JourneyAdvance
    entered: int
    plans: tuple[Plan, ...]
    queued: int
    excluded: tuple[JourneyExit, ...]


#: a due member the plan leaves out for these reasons leaves the journey (the reason is the exit's);
#: one left out by a cap stays, and the next turn plans them again (another day, another week)
FINAL_EXCLUSIONS = ("unreachable", "opted_out", "no_consent", "after_end")


def run_journey(
    store: Store,
    campaign_id: str,
    *,
    now: datetime,
    key: str,
    sender: Sender,
    contexts: ContextSource | None = None,
    unsubscribe_url: Callable[[str], str] | None = None,
    tracked: Callable[[str, int, str], str] | None = None,
    costs: Mapping[str, float] | None = None,
    reachable: pa.Table | None = None,
    zone: str = DEFAULT_SHOP_TZ,
    recommender: Recommends | None = None,
    experiment_key: str | None = None,
) -> JourneyRun:
    """Advance the journey of ``campaign_id`` at ``now`` and queue what is due: entrants join in
    their arm (the keyed holdout, ``key``), each due step is planned for its members (consent,
    channel, best hour, caps: ``plan_campaign``), composed and queued (``store.enqueue``), and the
    members who got it move to that step at the moment it was queued for. ``recommender``: the
    products a template's ``recommended`` reads (as scheduling passes them).

    ``experiment_key`` (``experiment_key``): the running experiments on each due step's message
    or on the campaign's send time split its members as scheduling does (the same keyed hash;
    the message carries the variant; a member's first message is its exposure, once per
    experiment). A Thompson-sampling experiment draws each member's variant from its policy as
    it is now, except the first step of a campaign triggered ``now``, whose bandit members its
    waves send (``activation._campaign_waves``)."""
    found = advance(store, campaign_id, now)
    campaign, _, _ = _campaign(store, campaign_id)
    entered = 0
    due = found.due
    if found.entrants:
        ids = pa.array([e.profile_id for e in found.entrants], pa.string())
        arms = assign_arms(store, key, campaign_id, ids, campaign.holdout)
        entered = enter_members(
            store,
            campaign_id,
            found.entrants,
            dict(zip(arms.column("profile_id").to_pylist(), arms.column("arm").to_pylist(), strict=True)),
        )
        due = advance(store, campaign_id, now).due  # an entrant's first step may be due at once
    plans: list[Plan] = []
    queued = 0
    excluded: list[JourneyExit] = []
    for step_id in dict.fromkeys(d.step for d in due):
        members = [d.profile_id for d in due if d.step == step_id]
        experiments = (
            campaign_experiments(store, campaign_id, campaign, step_id) if experiment_key is not None else []
        )
        policies = None
        if any(e.bandit for e in experiments):
            if campaign.trigger.kind == "now" and step_id == campaign.steps[0].id:
                held = held_members(experiments, experiment_key or "", members)
                members = [p for p in members if p not in held]
                if not members:
                    continue
            else:
                policies = current_policies(store, experiments, experiment_key or "")
        plan = plan_campaign(
            store,
            campaign,
            campaign_id,
            at=now,
            key=key,
            step=step_id,
            audience=members,
            costs=costs,
            sender=sender,
            reachable=reachable,
            zone=zone,
            experiments=experiments,
            experiment_key=experiment_key or "",
            policies=policies,
        )
        step_contexts = contexts or campaign_contexts(
            store, campaign, step_id, campaign_id, key, now, recommender, shop=sender.name
        )
        rows = compose(
            plan,
            campaign,
            sender=sender,
            contexts=step_contexts,
            unsubscribe_url=unsubscribe_url,
            tracked=tracked,
            costs=costs,
            experiments=experiments,
        )
        table = plan.table.to_pylist()
        gone = [
            JourneyExit(r["profile_id"], r["reason"], now)
            for r in table
            if r["status"] == "excluded" and r["reason"] in FINAL_EXCLUSIONS
        ]
        sent_to = [r["profile_id"] for r in table if r["status"] == "planned"]
        with store.atomically():
            queued += enqueue(store, rows, at=now)
            record_campaign_exposures(store, campaign_id, step_id, rows, plan.assignments)
            _record_queued(store, campaign_id, step_id, sent_to)
            _write_exits(store, campaign_id, gone)
        plans.append(plan)
        excluded.extend(gone)
    return JourneyRun(found, entered, tuple(plans), queued, tuple(excluded))


def _record_queued(store: Store, campaign_id: str, step_id: str, profiles: list[str]) -> None:
    """The members move to ``step_id`` at the moment its message is queued for (the outbox row's,
    which a re-plan does not move)."""
    if not profiles:
        return
    keys = pa.table(
        {
            "profile_id": profiles,
            "message_key": [message_key(campaign_id, step_id, p) for p in profiles],
        }
    )
    with store.staged("_journey_queued", keys) as src:
        store.sql(
            f"""UPDATE campaign_members SET step = ?, step_at = o.due_at
                FROM {src} k JOIN outbox o USING (message_key)
                WHERE campaign_members.campaign_id = ? AND campaign_members.profile_id = k.profile_id""",
            [step_id, campaign_id],
        )


__all__ = [
    "FINAL_EXCLUSIONS",
    "DueStep",
    "Entrant",
    "JourneyAdvance",
    "JourneyExit",
    "JourneyRun",
    "advance",
    "enter_members",
    "record_steps",
    "run_journey",
]

"""Thompson sampling over a campaign's message variants, sent in waves.

A running ``campaign_message`` experiment declaring ``policy: {kind: thompson, reward: clicked |
converted}`` does not split the campaign's treated members by a hash. Its members (target, layer
and traffic as for fixed shares) are sent in waves:

1. **the first wave**, when the campaign is scheduled: :data:`WAVE_SHARE` of the experiment's
   planned members (a fixed random order: a keyed hash of each member), each drawing its
   variant from the policy's chances (equal at the start; :class:`BanditDraw`), the propensity
   kept with the exposure. The others are *held*: members of the campaign without a message for
   the step yet.
2. **an update**, on each turn of the sender's journey runner (:func:`run_waves`): the exposures
   whose message was due at least ``batch_minutes`` ago and not yet learned from are rewarded
   (``clicked``: a ``clicked`` message event of that message; ``converted``: a ``converted`` event
   of it, or an order of the member since the message was due), the policy learns them in one
   batch (``policy.update``), and its state is saved (``store.save_bandit_state``) with the
   waves' own bookkeeping under ``state["campaign"]``: up to when exposures were learned
   (``rewarded_until``), the waves sent and the wave size.
3. **the next wave**, once every message sent so far has been learned from: the next
   :data:`WAVE_SHARE` of the held members are planned again (consent, caps and the hour as of
   then; a member the plan now excludes for good leaves the campaign, as a journey's would) and
   drawn with the new chances. When the policy has switched to a winner (``switch_at``), all
   the held members go to it in that wave, and the experiment records the winner
   (``store.set_experiment_winner``).

A bandit **stopped** while members are still held does not strand them: on the campaign's next
turn they are planned and sent the variant the experiment kept (its ``winner``), or the control
when it was stopped without one (:func:`settle_stopped`). They are no exposures of the
experiment (their variant was not drawn: the experiment's results keep its waves only), and
their outbox rows carry no experiment.

Everything is in the store (the members without a message, the exposures, the saved states), so
a restarted sender continues where it stopped, with the same policy (``policy_from_state``). In a
triggered campaign or a journey's later step the members come one by one: each draws from the
policy as it is (``current_policies``), and the same updates teach it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.activation._campaign import Campaign
from shopmind.activation._campaign_experiments import (
    BanditDraw,
    CampaignExperiment,
    assign_members,
    campaign_experiments,
    chosen_assignments,
    names_campaign,
    record_campaign_exposures,
    target_members,
)
from shopmind.activation._compose import ContextSource, compose
from shopmind.activation._context import Recommends
from shopmind.activation._message import Sender
from shopmind.activation._plan import Plan, plan_campaign
from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.experiments import (
    CampaignMessagePoint,
    Experiment,
    Policy,
    Reward,
    SendTimePoint,
    TrafficPolicy,
    parse_experiment,
    policy_for,
    policy_from_state,
    unit_point,
)
from shopmind.store import (
    PLACED_ORDERS_SQL,
    Store,
    bandit_states,
    enqueue,
    get_campaign,
    get_experiment,
    list_experiments,
    save_bandit_state,
    set_experiment_winner,
)

#: each wave's part of the bandit's members planned when the campaign is scheduled
WAVE_SHARE = 0.2
#: a held member the plan excludes for these reasons leaves the campaign (as in a journey)
FINAL_EXCLUSIONS = ("unreachable", "opted_out", "no_consent", "after_end")
#: the states whose campaigns send
_SENDING = ("scheduled", "running")


@dataclass
class Bandit:
    """A campaign bandit as stored: its policy and the waves' bookkeeping."""

    experiment: Experiment
    policy: TrafficPolicy
    rewarded_until: datetime | None = None  # exposures due up to here have been learned from
    waves: int = 0
    wave_size: int | None = None  # members per wave (set by the first)

    @property
    def winner(self) -> str | None:
        winner = self.policy.state().get("winner")
        return None if winner is None else str(winner)

    def state(self) -> dict[str, Any]:
        state = self.policy.state()
        state["campaign"] = {
            "rewarded_until": None if self.rewarded_until is None else self.rewarded_until.isoformat(),
            "waves": self.waves,
            "wave_size": self.wave_size,
        }
        return state


def bandit_seed(key: str, experiment_id: str) -> int:
    """The policy's seed, from the experiments' key: a bandit never saved rebuilds the same."""
    digest = hashlib.blake2b(f"{key}|{experiment_id}|campaign-bandit".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def load_bandit(store: Store, experiment: Experiment, key: str) -> Bandit:
    """The experiment's bandit as last saved, or a new one (equal chances) if never saved."""
    states = bandit_states(store, experiment.id)
    if not states:
        return Bandit(experiment, policy_for(experiment, seed=bandit_seed(key, experiment.id)))
    state = json.loads(states[-1][1])
    meta = state.get("campaign") or {}
    until = meta.get("rewarded_until")
    return Bandit(
        experiment,
        policy_from_state(experiment, state),
        None if until is None else datetime.fromisoformat(until),
        int(meta.get("waves") or 0),
        None if meta.get("wave_size") is None else int(meta["wave_size"]),
    )


def save_bandit(store: Store, bandit: Bandit, at: datetime) -> None:
    save_bandit_state(store, bandit.experiment.id, at, json.dumps(bandit.state()))


def current_policies(
    store: Store, experiments: Sequence[CampaignExperiment], key: str
) -> dict[str, TrafficPolicy]:
    """The bandits' policies as of now (experiment id → policy), for members drawn one by one."""
    return {e.id: load_bandit(store, e.experiment, key).policy for e in experiments if e.bandit}


def held_members(experiments: Sequence[CampaignExperiment], key: str, profile_ids: Sequence[str]) -> set[str]:
    """The members a bandit takes without a variant yet: the waves send them."""
    table = assign_members(experiments, key, profile_ids)
    held = table.filter(pc.is_null(table.column("variant")))
    return set(held.column("profile_id").to_pylist())


@dataclass(frozen=True)
class Wave:
    """A plan split for a wave: ``plan`` holds the messages to queue now (the held members left
    out, each wave member's variant drawn), ``assignments`` every treated member's (the held with
    no variant), ``waiting`` how many planned members the bandits hold for later waves."""

    plan: Plan
    assignments: pa.Table
    waiting: int


def split_wave(
    plan: Plan, experiments: Sequence[CampaignExperiment], key: str, bandits: Mapping[str, Bandit]
) -> Wave:
    """Take the next wave of each bandit's held, planned members (all of them once it has a
    winner) and draw their variants from the bandit's policy; the rest wait."""
    a = plan.assignments
    planned = set(plan.planned().column("profile_id").to_pylist())
    variants = a.column("variant").to_pylist()
    ids = a.column("profile_id").to_pylist()
    experiment_ids = a.column("experiment_id").to_pylist()
    drawn: dict[str, tuple[str, float]] = {}
    waiting: set[str] = set()
    for e in experiments:
        bandit = bandits.get(e.id)
        if bandit is None:
            continue
        held = [p for p, x, v in zip(ids, experiment_ids, variants, strict=True) if x == e.id and v is None]
        held = [p for p in held if p in planned]
        salt = f"{e.experiment.salt or e.id}:wave"
        held.sort(key=lambda p: (unit_point(key, salt, p), p))
        if bandit.wave_size is None:
            bandit.wave_size = max(1, math.ceil(WAVE_SHARE * len(held)))
        size = len(held) if bandit.winner is not None else bandit.wave_size
        draw = BanditDraw(e.experiment, bandit.policy, key)
        for p in held[:size]:
            drawn[p] = draw(p)
        waiting.update(held[size:])
        if held[:size]:
            bandit.waves += 1
    names = [drawn[p][0] if p in drawn else v for p, v in zip(ids, variants, strict=True)]
    chances = [
        drawn[p][1] if p in drawn else w for p, w in zip(ids, a.column("propensity").to_pylist(), strict=True)
    ]
    assignments = a.set_column(
        a.schema.get_field_index("variant"), "variant", pa.array(names, pa.string())
    ).set_column(a.schema.get_field_index("propensity"), "propensity", pa.array(chances, pa.float64()))
    table = plan.table
    if waiting:
        keep = pc.invert(pc.is_in(table.column("profile_id"), pa.array(sorted(waiting), pa.string())))
        table = table.filter(keep)
    wave_plan = replace(plan, table=table, assignments=chosen_assignments(assignments))
    return Wave(wave_plan, assignments, len(waiting))


def _rewards(store: Store, bandit: Bandit, cutoff: datetime, now: datetime) -> list[Reward]:
    """The rewards of the bandit's exposures due after ``rewarded_until`` and by ``cutoff``, as
    known at ``now``."""
    converted = bandit.experiment.policy.reward == "converted"
    ordered = (
        f"""OR EXISTS (SELECT 1 FROM ({PLACED_ORDERS_SQL}) b WHERE b.profile_id = x.unit_id
                AND b.ordered_at >= x.exposed_at AND b.ordered_at <= ?)"""
        if converted
        else ""
    )
    params: list[object] = ["converted" if converted else "clicked", now]
    if converted:
        params.append(now)
    rows = store.sql(
        f"""SELECT x.variant,
                   EXISTS (SELECT 1 FROM message_events e WHERE e.message_key = x.source AND e.kind = ?
                           AND e.occurred_at <= ?) {ordered} AS won
            FROM exposures x
            WHERE x.experiment_id = ? AND x.exposed_at <= ? AND (? IS NULL OR x.exposed_at > ?)
            ORDER BY x.exposed_at, x.unit_id""",
        [*params, bandit.experiment.id, cutoff, bandit.rewarded_until, bandit.rewarded_until],
    )
    return [Reward(variant, 1.0 if won else 0.0) for variant, won in rows]


def learn(store: Store, bandit: Bandit, now: datetime) -> int:
    """Feed the bandit the rewards of its messages due at least ``batch_minutes`` before ``now``
    (one batch); how many it learned."""
    cutoff = now - timedelta(minutes=bandit.experiment.policy.batch_minutes)
    rewards = _rewards(store, bandit, cutoff, now)
    if not rewards:
        return 0
    bandit.policy.update(rewards)
    bandit.rewarded_until = cutoff
    return len(rewards)


def record_winner(store: Store, bandit: Bandit, now: datetime) -> None:
    """Record the variant the policy switched to on the experiment (once)."""
    winner = bandit.winner
    if winner is not None and get_experiment(store, bandit.experiment.id).winner != winner:
        set_experiment_winner(store, bandit.experiment.id, winner, now)


def _unlearned(store: Store, bandit: Bandit) -> int:
    """The bandit's exposures not learned from yet (their rewards are still to come)."""
    return int(
        store.scalar(
            "SELECT count(*) FROM exposures WHERE experiment_id = ? AND (? IS NULL OR exposed_at > ?)",
            [bandit.experiment.id, bandit.rewarded_until, bandit.rewarded_until],
        )
        or 0
    )


@dataclass(frozen=True)
class WavesRun:
    """One turn of a campaign's bandits: rewards learned, messages queued in a new wave, members
    still held for a later wave, members who left (excluded for good), and each bandit's winner
    (None: none)."""

    learned: int = 0
    queued: int = 0
    waiting: int = 0
    left: int = 0
    winners: tuple[tuple[str, str | None], ...] = ()


def campaign_bandits(store: Store, campaign_id: str, campaign: Campaign) -> list[CampaignExperiment]:
    """The running bandit experiments on any step of the campaign."""
    found: dict[str, CampaignExperiment] = {}
    for step in campaign.steps:
        for e in campaign_experiments(store, campaign_id, campaign, step.id):
            if e.bandit:
                found.setdefault(e.id, e)
    return list(found.values())


def run_waves(
    store: Store,
    campaign_id: str,
    *,
    now: datetime,
    key: str,
    experiment_key: str,
    sender: Sender,
    contexts: ContextSource | None = None,
    unsubscribe_url: Callable[[str], str] | None = None,
    tracked: Callable[[str, int, str], str] | None = None,
    costs: Mapping[str, float] | None = None,
    zone: str = DEFAULT_SHOP_TZ,
    recommender: Recommends | None = None,
) -> WavesRun:
    """One turn of the campaign's bandits at ``now`` (see the module): learn from what came of
    the sent messages, and send the next wave once every sent message has been learned from.
    ``key`` is the holdout key; the rest as ``schedule_campaign`` takes them."""
    # imported here: scheduling imports this module for the first wave
    from shopmind.activation._schedule import at_first_step, campaign_contexts, stored_definition

    stored = get_campaign(store, campaign_id)
    if stored.state not in _SENDING:
        return WavesRun()
    campaign = stored_definition(stored)
    bandits = campaign_bandits(store, stored.campaign_id, campaign)
    learned = queued = waiting = left = 0
    winners: list[tuple[str, str | None]] = []
    first = campaign.steps[0].id
    for e in bandits:
        bandit = load_bandit(store, e.experiment, experiment_key)
        taught = learn(store, bandit, now)
        record_winner(store, bandit, now)
        learned += taught
        sent, saved = 0, False
        point_step = getattr(e.experiment.point, "step", None) or first
        waves_here = campaign.trigger.kind == "now" and point_step == first
        if waves_here and _unlearned(store, bandit):  # the last wave's rewards are still to come
            waiting += len(held_ids(store, stored.campaign_id, campaign, first, bandit, experiment_key)[0])
        elif waves_here:
            found = _next_wave(store, stored.campaign_id, campaign, first, bandit, now, experiment_key, key)
            if found is not None:
                wave, experiments, out = found
                step_contexts = contexts or campaign_contexts(
                    store, campaign, first, stored.campaign_id, key, now, recommender, shop=sender.name
                )
                rows = compose(
                    wave.plan,
                    campaign,
                    sender=sender,
                    contexts=step_contexts,
                    unsubscribe_url=unsubscribe_url,
                    tracked=tracked,
                    costs=costs,
                    experiments=experiments,
                )
                # the wave and the state it was drawn from are kept together: a sender killed in
                # between finds either both or neither
                with store.atomically():
                    sent = enqueue(store, rows, at=now)
                    record_campaign_exposures(store, stored.campaign_id, first, rows, wave.plan.assignments)
                    at_first_step(store, stored.campaign_id, first)
                    _leave(store, stored.campaign_id, out, now)
                    save_bandit(store, bandit, now)
                saved = True
                queued += sent
                left += len(out)
                waiting += wave.waiting
        if taught and not saved:
            save_bandit(store, bandit, now)
        winners.append((e.id, bandit.winner))
    if campaign.trigger.kind == "now":
        for stopped in stopped_bandits(store, stored.campaign_id, campaign):
            step_contexts = contexts or campaign_contexts(
                store, campaign, first, stored.campaign_id, key, now, recommender, shop=sender.name
            )
            sent, gone = settle_stopped(
                store,
                stored.campaign_id,
                campaign,
                stopped,
                now=now,
                key=key,
                experiment_key=experiment_key,
                sender=sender,
                contexts=step_contexts,
                unsubscribe_url=unsubscribe_url,
                tracked=tracked,
                costs=costs,
                zone=zone,
            )
            queued += sent
            left += gone
    return WavesRun(learned, queued, waiting, left, tuple(winners))


def held_ids(
    store: Store, campaign_id: str, campaign: Campaign, step: str, bandit: Bandit, experiment_key: str
) -> tuple[list[str], list[CampaignExperiment]]:
    """The bandit's held members (treated, in the campaign, no message for the step, not left),
    and the step's experiments they were assigned among."""
    rows = store.sql(
        """SELECT m.profile_id FROM campaign_members m
           WHERE m.campaign_id = ? AND m.arm = 'treated' AND m.exited_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.campaign_id = m.campaign_id AND o.step = ?
                             AND o.profile_id = m.profile_id)
           ORDER BY m.profile_id""",
        [campaign_id, step],
    )
    if not rows:
        return [], []
    experiments = campaign_experiments(store, campaign_id, campaign, step)
    table = assign_members(experiments, experiment_key, [r[0] for r in rows])
    mine = table.filter(
        pc.and_(
            pc.equal(table.column("experiment_id"), bandit.experiment.id),
            pc.is_null(table.column("variant")),
        )
    )
    return mine.column("profile_id").to_pylist(), experiments


def _next_wave(
    store: Store,
    campaign_id: str,
    campaign: Campaign,
    step: str,
    bandit: Bandit,
    now: datetime,
    experiment_key: str,
    key: str,
) -> tuple[Wave, list[CampaignExperiment], list[tuple[str, str]]] | None:
    """The next wave's plan of the bandit's held members (None: none are held), the step's
    experiments, and the held members the plan now excludes for good (profile, reason)."""
    held, experiments = held_ids(store, campaign_id, campaign, step, bandit, experiment_key)
    if not held:
        return None
    plan = plan_campaign(
        store,
        campaign,
        campaign_id,
        at=now,
        key=key,
        step=step,
        audience=held,
        experiments=experiments,
        experiment_key=experiment_key,
    )
    out = [
        (r["profile_id"], r["reason"])
        for r in plan.table.select(["profile_id", "status", "reason"]).to_pylist()
        if r["status"] == "excluded" and r["reason"] in FINAL_EXCLUSIONS
    ]
    wave = split_wave(plan, experiments, experiment_key, {bandit.experiment.id: bandit})
    return wave, experiments, out


def _leave(store: Store, campaign_id: str, out: Sequence[tuple[str, str]], now: datetime) -> None:
    if not out:
        return
    store.sql(
        """UPDATE campaign_members SET exited_at = ?, exit_reason = x.reason
           FROM (SELECT unnest(?::VARCHAR[]) AS profile_id, unnest(?::VARCHAR[]) AS reason) x
           WHERE campaign_members.campaign_id = ? AND campaign_members.profile_id = x.profile_id""",
        [now, [p for p, _ in out], [r for _, r in out], campaign_id],
    )


@dataclass(frozen=True)
class StoppedBandit:
    """A stopped Thompson-sampling experiment on a campaign's first step, and the variant its
    held members get: the winner it kept, else the control."""

    experiment: CampaignExperiment
    kept: str


def stopped_bandits(store: Store, campaign_id: str, campaign: Campaign) -> list[StoppedBandit]:
    """The stopped bandit experiments that held members of the campaign's first step (a message
    experiment on that step, or a send-time experiment), the one started first first."""
    first = campaign.steps[0].id
    found = []
    for stored in list_experiments(store, "stopped"):
        experiment = parse_experiment(stored.definition)
        point = experiment.point
        if experiment.policy.kind != "thompson" or not names_campaign(point, campaign_id, campaign.name):
            continue
        if isinstance(point, CampaignMessagePoint) and (point.step or first) != first:
            continue
        if not isinstance(point, CampaignMessagePoint | SendTimePoint):
            continue
        kept = stored.winner if stored.winner in experiment.variant_names else experiment.control.name
        found.append(
            StoppedBandit(
                CampaignExperiment(experiment, stored.started_at, target_members(store, experiment)),
                str(kept),
            )
        )
    return sorted(
        found,
        key=lambda b: (
            b.experiment.started_at is None,
            b.experiment.started_at or datetime.min,
            b.experiment.id,
        ),
    )


def _settled(stopped: StoppedBandit) -> CampaignExperiment:
    """The stopped experiment as one fixed variant for everyone it held: the kept one."""
    experiment = stopped.experiment.experiment
    kept = msgspec.structs.replace(experiment.variant(stopped.kept), share=1.0)
    settled = msgspec.structs.replace(
        experiment, variants=[kept], traffic=1.0, layer=None, target=None, policy=Policy(kind="fixed")
    )
    return CampaignExperiment(settled, stopped.experiment.started_at, None)


def settle_stopped(
    store: Store,
    campaign_id: str,
    campaign: Campaign,
    stopped: StoppedBandit,
    *,
    now: datetime,
    key: str,
    experiment_key: str,
    sender: Sender,
    contexts: ContextSource | None = None,
    unsubscribe_url: Callable[[str], str] | None = None,
    tracked: Callable[[str, int, str], str] | None = None,
    costs: Mapping[str, float] | None = None,
    zone: str = DEFAULT_SHOP_TZ,
) -> tuple[int, int]:
    """Send the members a stopped bandit still held the variant it kept (see the module): the
    messages queued and the members who left (the plan now excludes them for good)."""
    first = campaign.steps[0].id
    rows = store.sql(
        """SELECT m.profile_id FROM campaign_members m
           WHERE m.campaign_id = ? AND m.arm = 'treated' AND m.exited_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.campaign_id = m.campaign_id AND o.step = ?
                             AND o.profile_id = m.profile_id)
           ORDER BY m.profile_id""",
        [campaign_id, first],
    )
    if not rows:
        return 0, 0
    # the members it held: those it took (target, layer, traffic) before any running experiment
    running = campaign_experiments(store, campaign_id, campaign, first)
    taken = assign_members([stopped.experiment, *running], experiment_key, [r[0] for r in rows])
    held = taken.filter(pc.equal(taken.column("experiment_id"), stopped.experiment.id))
    held_ids = held.column("profile_id").to_pylist()
    if not held_ids:
        return 0, 0
    settled = _settled(stopped)
    plan = plan_campaign(
        store,
        campaign,
        campaign_id,
        at=now,
        key=key,
        step=first,
        audience=held_ids,
        costs=costs,
        sender=sender,
        zone=zone,
        experiments=[settled],
        experiment_key=experiment_key,
    )
    out = [
        (r["profile_id"], r["reason"])
        for r in plan.table.select(["profile_id", "status", "reason"]).to_pylist()
        if r["status"] == "excluded" and r["reason"] in FINAL_EXCLUSIONS
    ]
    messages = compose(
        plan,
        campaign,
        sender=sender,
        contexts=contexts,
        unsubscribe_url=unsubscribe_url,
        tracked=tracked,
        costs=costs,
        experiments=[settled],
    )
    # imported here: scheduling imports this module for the first wave
    from shopmind.activation._schedule import at_first_step

    with store.atomically():
        sent = enqueue(store, messages, at=now)
        at_first_step(store, campaign_id, first)
        _leave(store, campaign_id, out, now)
    return sent, len(out)

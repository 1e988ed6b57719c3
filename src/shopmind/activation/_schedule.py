"""A campaign's life: created as a draft, scheduled (planned and its messages queued in the
outbox), running, paused and resumed, finished. The states and their edges are the store's
(``store.CAMPAIGN_TRANSITIONS``); this module does the work each edge means.

Scheduling a campaign whose trigger is ``now`` plans its first step for the audience as it is,
records every member (treated and holdout: the holdout is measured too), and queues the treated
customers' messages, in one transaction: a failure leaves the campaign a draft with nothing queued.
Running experiments on its message or send time split the treated customers and record each
queued message as an exposure in the same transaction (``activation._campaign_experiments``); a
Thompson-sampling experiment's members are sent in waves: the first now, the others held for the
sender's turns (``activation._campaign_waves``).
A campaign triggered by segment entry or an event is only marked scheduled: its journeys enqueue
each customer's steps as they come (``activation._journey``).

Pausing does not touch the queued messages: the sender claims no message of a paused campaign
(``store.claim_due``). :data:`SENDING_STATES` are the states whose messages may go; a finished
campaign's queued messages are not withdrawn here (the sender's claim should skip them too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pyarrow as pa

from shopmind.activation._campaign import Campaign, campaign_json, parse_campaign
from shopmind.activation._campaign_experiments import campaign_experiments, record_campaign_exposures
from shopmind.activation._campaign_waves import load_bandit, save_bandit, split_wave
from shopmind.activation._compose import ContextSource, check_templates, compose
from shopmind.activation._context import Recommends, coupon_key, customer_contexts
from shopmind.activation._message import Sender
from shopmind.activation._plan import Plan, plan_campaign
from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.store import (
    CampaignStateError,
    Store,
    StoredCampaign,
    create_campaign,
    enqueue,
    get_campaign,
    record_campaign_members,
    set_campaign_state,
)

#: the states whose queued messages may be sent
SENDING_STATES = ("scheduled", "running")
#: planned messages composed at a time (each part's contexts are built at once: memory stays flat)
COMPOSE_PART = 20_000
#: where scheduling reports how far it is: (phase, done, total), phases plan, compose, queue
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Scheduled:
    """What scheduling did: the campaign now, its plan (None for a triggered journey), how many
    members were recorded and messages queued (new ones: a second call adds none)."""

    campaign: StoredCampaign
    plan: Plan | None
    members: int
    queued: int
    #: planned members a Thompson-sampling experiment holds for its later waves (not queued yet)
    waiting: int = 0


def new_campaign(store: Store, definition: object, *, created_by: str, now: datetime) -> StoredCampaign:
    """Check ``definition`` (JSON, a mapping or a :class:`Campaign`) and its templates, and keep it
    as a draft."""
    campaign = parse_campaign(definition)  # type: ignore[arg-type]
    check_templates(campaign)
    return create_campaign(store, campaign.name, campaign_json(campaign), created_by=created_by, now=now)


def stored_definition(stored: StoredCampaign) -> Campaign:
    return parse_campaign(stored.definition)


def schedule_campaign(
    store: Store,
    id_or_name: str,
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
    progress: Progress | None = None,
    audience: pa.Array | Sequence[str] | None = None,
    experiment_key: str | None = None,
) -> Scheduled:
    """Schedule a draft campaign (see the module); ``key`` is the holdout key. ``audience``: these
    customers instead of the campaign's audience now (a split test's half); ``contexts``:
    the template context per customer (default: ``customer_contexts`` as of ``now``, in the
    campaign's language, with the step's coupon, and products from ``recommender`` if given);
    ``unsubscribe_url`` and ``tracked``: the signed links (see ``compose``); ``progress``: told
    how far planning, composing and queuing are; ``experiment_key`` (``experiment_key``): the
    running experiments on the campaign's message or send time split its treated members, their
    messages carry the variant and are recorded as exposures (None: no experiment applies)."""
    report = progress or _silent
    stored = get_campaign(store, id_or_name)
    campaign = stored_definition(stored)
    if stored.state != "draft":
        raise CampaignStateError(
            f"campaign {stored.name!r} is {stored.state}: only a draft can be scheduled"
            + (" (resume it instead)" if stored.state == "paused" else "")
        )
    if campaign.trigger.kind != "now":
        return Scheduled(set_campaign_state(store, stored.campaign_id, "scheduled", now), None, 0, 0)
    experiments = (
        campaign_experiments(store, stored.campaign_id, campaign) if experiment_key is not None else []
    )
    report("plan", 0, 1)
    plan = plan_campaign(
        store,
        campaign,
        stored.campaign_id,
        at=now,
        key=key,
        costs=costs,
        sender=sender,
        reachable=reachable,
        zone=zone,
        audience=audience,
        experiments=experiments,
        experiment_key=experiment_key or "",
    )
    report("plan", 1, 1)
    full, waiting = plan, 0
    bandits = {e.id: load_bandit(store, e.experiment, experiment_key or "") for e in experiments if e.bandit}
    if bandits:  # the first wave goes now; the bandit's other members wait for the next waves
        wave = split_wave(plan, experiments, experiment_key or "", bandits)
        plan, waiting = wave.plan, wave.waiting
        full = replace(full, assignments=wave.assignments)
    if contexts is None:
        contexts = campaign_contexts(
            store, campaign, plan.step, stored.campaign_id, key, now, recommender, shop=sender.name
        )
    planned = plan.planned()
    total = planned.num_rows
    rows = []
    report("compose", 0, total)
    for start in range(0, total, COMPOSE_PART):
        part = replace(plan, table=planned.slice(start, COMPOSE_PART))
        rows.extend(
            compose(
                part,
                campaign,
                sender=sender,
                contexts=contexts,
                unsubscribe_url=unsubscribe_url,
                tracked=tracked,
                costs=costs,
                experiments=experiments,
            )
        )
        report("compose", min(start + COMPOSE_PART, total), total)
    report("queue", 0, len(rows))
    with store.atomically():
        members = record_campaign_members(
            store, stored.campaign_id, full.table.select(["profile_id", "arm"]), now
        )
        queued = enqueue(store, rows, at=now)
        record_campaign_exposures(store, stored.campaign_id, plan.step, rows, plan.assignments)
        at_first_step(store, stored.campaign_id, plan.step)
        for bandit in bandits.values():  # the starting chances and the wave size, for a restart
            save_bandit(store, bandit, now)
        after = set_campaign_state(store, stored.campaign_id, "scheduled", now)
    report("queue", len(rows), len(rows))
    return Scheduled(after, full, members, queued, waiting)


def at_first_step(store: Store, campaign_id: str, step: str) -> None:
    """The members whose message of the first step was queued are at that step since the moment
    it was queued for: the journey's next step counts its wait from there (without this, the
    sender's journey turn would find the first step due again)."""
    store.sql(
        """UPDATE campaign_members SET step = o.step, step_at = o.due_at
            FROM outbox o
            WHERE o.campaign_id = ? AND o.step = ? AND campaign_members.campaign_id = o.campaign_id
              AND campaign_members.profile_id = o.profile_id AND campaign_members.step IS NULL""",
        [campaign_id, step],
    )


def _silent(phase: str, done: int, total: int) -> None:
    return None


def campaign_contexts(
    store: Store,
    campaign: Campaign,
    step: str,
    campaign_id: str,
    key: str,
    now: datetime,
    recommender: Recommends | None = None,
    *,
    shop: str = "",
) -> ContextSource:
    """Each customer's template context as of ``now`` in the campaign's language, with the step's
    coupon (codes keyed by the secret holdout key, kept apart from it: no one can work them out),
    products from ``recommender`` if given, and the shop's name."""
    coupon = campaign.step(step).coupon
    secret = coupon_key(key)

    def contexts(ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        return customer_contexts(
            store,
            ids,
            as_of=now,
            locale=campaign.locale,
            recommender=recommender,
            coupon=coupon,
            coupon_secret=secret,
            coupon_seed=campaign_id,
            shop=shop,
        )

    return contexts


def pause_campaign(store: Store, id_or_name: str, *, now: datetime) -> StoredCampaign:
    """Stop sending: its queued messages wait until it is resumed."""
    return set_campaign_state(store, get_campaign(store, id_or_name).campaign_id, "paused", now)


def resume_campaign(store: Store, id_or_name: str, *, now: datetime) -> StoredCampaign:
    """Send again what a pause held back."""
    return set_campaign_state(store, get_campaign(store, id_or_name).campaign_id, "scheduled", now)


def mark_running(store: Store, id_or_name: str, *, now: datetime) -> StoredCampaign:
    """The first message has gone (the worker says so)."""
    return set_campaign_state(store, get_campaign(store, id_or_name).campaign_id, "running", now)


def finish_campaign(store: Store, id_or_name: str, *, now: datetime) -> StoredCampaign:
    """End the campaign (its state: the sender should send nothing more of it)."""
    return set_campaign_state(store, get_campaign(store, id_or_name).campaign_id, "finished", now)

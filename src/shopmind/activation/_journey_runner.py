"""Who runs the journeys: the sender (``shopmind worker``, ``shopmind serve --send``) calls
:func:`run_journeys` every ``journey_interval`` seconds. Each campaign in a sending state whose
messages do not all go at once (more than one step, or a trigger other than ``now``) is advanced
with :func:`run_journey`, with the workspace's holdout key, sender, costs, tracked links and
unsubscribe links (:class:`CampaignSettings`, as scheduling uses them), at the sender's clock.
Before a campaign's journey moves, its Thompson-sampling experiments learn from the
messages' rewards and send their next wave (:func:`run_waves`). A campaign whose turn fails is logged and counted; the others still run, and the next turn tries
it again (a turn is idempotent: what was queued is not queued twice)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from shopmind.activation._campaign import Campaign
from shopmind.activation._campaign_settings import CampaignSettings, recommender_for
from shopmind.activation._campaign_waves import run_waves
from shopmind.activation._journey import run_journey
from shopmind.activation._schedule import SENDING_STATES, stored_definition
from shopmind.store import Store, list_campaigns

_log = logging.getLogger("shopmind.activation")


def is_journey(campaign: Campaign) -> bool:
    """Whether a campaign needs turns after it is scheduled: a later step, or a trigger that
    brings customers in over time."""
    return len(campaign.steps) > 1 or campaign.trigger.kind != "now"


@dataclass(frozen=True)
class JourneysTurn:
    """One turn over the running journeys: how many were advanced, the customers who entered,
    the messages queued, and the campaigns whose turn failed (logged)."""

    campaigns: int = 0
    entered: int = 0
    queued: int = 0
    errors: int = 0
    wave_messages: int = 0  # queued in the waves of campaigns' Thompson-sampling experiments


def run_journeys(store: Store, settings: CampaignSettings, *, now: datetime) -> JourneysTurn:
    """Advance every scheduled or running journey of ``store`` at ``now``."""
    campaigns = entered = queued = errors = wave_messages = 0
    for stored in [c for state in SENDING_STATES for c in list_campaigns(store, state)]:
        try:
            campaign = stored_definition(stored)
            if settings.experiment_key is not None:
                waves = run_waves(
                    store,
                    stored.campaign_id,
                    now=now,
                    key=settings.holdout_key,
                    experiment_key=settings.experiment_key,
                    sender=settings.sender,
                    unsubscribe_url=settings.unsubscribe_url,
                    tracked=settings.tracked,
                    costs=settings.config.costs,
                    zone=settings.zone,
                    recommender=recommender_for(store, campaign),
                )
                wave_messages += waves.queued
                if waves.learned or waves.queued:
                    _log.info(
                        "campaign %s bandits: learned from %d message(s), %d queued in a wave, %d waiting",
                        stored.campaign_id,
                        waves.learned,
                        waves.queued,
                        waves.waiting,
                    )
            if not is_journey(campaign):
                continue
            campaigns += 1
            run = run_journey(
                store,
                stored.campaign_id,
                now=now,
                key=settings.holdout_key,
                sender=settings.sender,
                unsubscribe_url=settings.unsubscribe_url,
                tracked=settings.tracked,
                costs=settings.config.costs,
                zone=settings.zone,
                recommender=recommender_for(store, campaign),
                experiment_key=settings.experiment_key,
            )
        except Exception:  # one campaign's fault must not stop the others, nor the sending
            errors += 1
            _log.exception("the journey of campaign %s failed at %s", stored.campaign_id, now.isoformat())
            continue
        entered += run.entered
        queued += run.queued
        if run.entered or run.queued:
            _log.info(
                "journey %s: %d entered, %d message(s) queued", stored.campaign_id, run.entered, run.queued
            )
    return JourneysTurn(campaigns, entered, queued, errors, wave_messages)


__all__ = ["JourneysTurn", "is_journey", "run_journeys"]

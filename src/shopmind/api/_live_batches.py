"""A running bandit's batches (the on-site experiments' learning half; routing is in
``api._live_experiments``): which bandits are due, the rewards of a batch read from the store
(one per unit, verified orders for ``converted``: ``store.decision_rewards``), feeding them to the
policy, and keeping its state (recording a switch to a winner, which only a bandit rewarded by
verified conversions makes by itself: docs/bandits.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from shopmind.api._live_experiments import LiveExperiments, Running
from shopmind.experiments import Reward
from shopmind.store import Store, decision_rewards, save_bandit_state, set_experiment_winner


def bandits_due(live: LiveExperiments, now: datetime) -> list[Running]:
    """The bandits whose batch is due: ``batch_minutes`` since their last update, or none yet."""
    due = []
    for run in live.running.values():
        if run.policy is None:
            continue
        every = timedelta(minutes=run.experiment.policy.batch_minutes)
        # the first turn of a server saves the state it starts from (the traffic chart's start)
        if run.updated_at is None or now - run.updated_at >= every:
            due.append(run)
    return due


def batch_rewards(store: Store, run: Running, now: datetime) -> tuple[list[Reward], datetime]:
    """A batch (on the store's thread): the rewards of the decisions made since the last batch
    up to ``batch_minutes`` ago (each has had that long for its click or its verified order)."""
    policy = run.experiment.policy
    window = timedelta(minutes=policy.batch_minutes)
    until = now - window
    if run.through is not None and until <= run.through:
        return [], until
    rows = decision_rewards(store, run.id, run.through, until, policy.reward, window)
    return [
        Reward(variant, reward, orjson.loads(context) if context else None)
        for variant, reward, context in rows
    ], until


def learn(run: Running, rewards: Sequence[Reward], until: datetime, now: datetime) -> dict[str, Any]:
    """Feed a batch to the policy (on the event loop, where it chooses); its state to save."""
    assert run.policy is not None
    if rewards:
        run.policy.update(rewards)
    if run.through is None or until > run.through:
        run.through = until
    run.updated_at = now
    return {**run.policy.state(), "through": run.through.isoformat()}


def save_bandit(
    store: Store, experiment_id: str, state: Mapping[str, Any], now: datetime, known_winner: str | None
) -> None:
    """Keep a bandit's state after a batch and record its switch to a winner (the store's thread)."""
    save_bandit_state(store, experiment_id, now, orjson.dumps(state).decode())
    winner = state.get("winner")
    if winner and winner != known_winner:
        set_experiment_winner(store, experiment_id, str(winner), now)

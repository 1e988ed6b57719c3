"""What the server's on-site experiments read back from the store: the units exposed so far (so a
unit keeps its variant after a restart and across identity merges), the shown and held-out units
of each trigger with their conversions (a trigger's uplift), and the rewards of a bandit's
decisions (its batched updates).

A trigger's default holdout is logged as an experiment of its own, ``trigger:<id>``, with the
variants ``shown`` and ``holdout``; a decision's unit is its profile id when the server knew it,
else ``anon:<visitor>``, as the server hashed it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shopmind.store._store import Store

TRIGGER_EXPERIMENT = "trigger:"
#: a held-out visitor's decision: the trigger qualified, nothing was shown
NO_ACTION = "none"


def exposures_of(store: Store, experiment_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(experiment, unit, variant) of every unit exposed to these experiments or to any trigger's
    holdout comparison, the earliest first."""
    return [
        (e, u, v)
        for e, u, v in store.sql(
            """SELECT experiment_id, unit_id, variant FROM exposures
            WHERE list_contains(?, experiment_id) OR starts_with(experiment_id, ?)
            ORDER BY exposed_at, experiment_id, unit_id""",
            [list(experiment_ids), TRIGGER_EXPERIMENT],
        )
    ]


@dataclass(frozen=True)
class ArmCount:
    """One arm of a trigger's comparison: the units in it and how many of them converted."""

    trigger_id: str
    variant: str  # shown or holdout
    units: int
    converted: int


def trigger_arms(store: Store, since: datetime | None = None) -> list[ArmCount]:
    """Per trigger and arm (``shown``, ``holdout``): the units that qualified (each in the arm of
    its first decision) and those of them with a converted decision of that trigger."""
    rows = store.sql(
        """WITH d AS (
            SELECT substr(experiment_id, ?) AS trigger_id,
                   coalesce(profile_id, 'anon:' || visitor) AS unit, variant, decided_at, decision_id
            FROM decisions
            WHERE starts_with(experiment_id, ?) AND variant IS NOT NULL
              AND (?::TIMESTAMPTZ IS NULL OR decided_at >= ?::TIMESTAMPTZ)
        ), u AS (
            SELECT trigger_id, unit, arg_min(variant, decided_at) AS variant,
                   bool_or(c.decision_id IS NOT NULL) AS converted
            FROM d LEFT JOIN (
                SELECT DISTINCT decision_id FROM decision_outcomes WHERE outcome = 'converted'
            ) c USING (decision_id)
            GROUP BY trigger_id, unit
        )
        SELECT trigger_id, variant, count(*), count(*) FILTER (WHERE converted)
        FROM u GROUP BY trigger_id, variant ORDER BY trigger_id, variant""",
        [len(TRIGGER_EXPERIMENT) + 1, TRIGGER_EXPERIMENT, since, since],
    )
    return [ArmCount(t, v, int(n), int(c)) for t, v, n, c in rows]


def decision_rewards(
    store: Store, experiment_id: str, since: datetime | None, until: datetime, outcome: str
) -> list[tuple[str, float, str | None]]:
    """(variant, reward, context JSON) of the experiment's decisions made in [since, until): the
    reward is 1 when the decision has the ``outcome`` (clicked or converted) stored, else 0."""
    return [
        (variant, float(reward), context)
        for variant, reward, context in store.sql(
            """SELECT d.variant, (o.decision_id IS NOT NULL)::INTEGER, d.context
            FROM decisions d LEFT JOIN (
                SELECT DISTINCT decision_id FROM decision_outcomes WHERE outcome = ?
            ) o USING (decision_id)
            WHERE d.experiment_id = ? AND d.variant IS NOT NULL
              AND (?::TIMESTAMPTZ IS NULL OR d.decided_at >= ?::TIMESTAMPTZ) AND d.decided_at < ?
            ORDER BY d.decided_at, d.decision_id""",
            [outcome, experiment_id, since, since, until],
        )
    ]

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
from datetime import datetime, timedelta

from shopmind.core import FieldError, InvalidInputError
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


def exposed_variants(
    store: Store, experiment_ids: Sequence[str], identifiers: Sequence[str]
) -> dict[str, str]:
    """experiment → the variant of the earliest exposure of any of ``identifiers`` or of any
    other identifier of their profiles (a merge keeps a customer in their variant); experiments
    none of them was exposed to are left out. What the server reads when its memory misses."""
    if not experiment_ids or not identifiers:
        return {}
    rows = store.sql(
        """WITH k AS (SELECT unnest(?::VARCHAR[]) AS ident),
        persons AS (
            SELECT DISTINCT coalesce(p.profile_id, k.ident) AS person
            FROM k LEFT JOIN profiles p ON p.identifier = k.ident
        ), idents AS (
            SELECT ident FROM k
            UNION SELECT person FROM persons
            UNION SELECT identifier FROM profiles WHERE profile_id IN (SELECT person FROM persons)
        )
        SELECT experiment_id, arg_min(variant, exposed_at) FROM exposures
        WHERE list_contains(?, experiment_id) AND unit_id IN (SELECT ident FROM idents)
        GROUP BY experiment_id""",
        [list(identifiers), list(experiment_ids)],
    )
    return {str(e): str(v) for e, v in rows}


def latest_bandit_state(store: Store, experiment_id: str) -> tuple[datetime, str] | None:
    """A bandit's latest stored state (JSON), or None: all a restart needs."""
    rows = store.sql(
        """SELECT updated_at, state FROM bandit_states WHERE experiment_id = ?
        ORDER BY updated_at DESC LIMIT 1""",
        [experiment_id],
    )
    return (rows[0][0], rows[0][1]) if rows else None


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
    store: Store, experiment_id: str, since: datetime | None, until: datetime, outcome: str, window: timedelta
) -> list[tuple[str, float, str | None]]:
    """(variant, reward, context JSON) per unit of the experiment's decisions made in
    [since, until): what a bandit learns from one batch.

    Each unit (the decision's person: its profile, member or visitor, resolved through
    ``profiles`` as the experiment metrics do) counts once per batch, with the variant and
    context of its first decision there: a visitor who is answered fifty times and clicks fifty
    times is one reward, not fifty. Its reward is 1 when, on a decision of that variant,

    - ``clicked``: a click was reported (the browser's word; see docs/bandits.md), or
    - ``converted``: the person placed a *verified* order (``order_totals``: the shop's server
      or an import confirmed it; a browser's ``order_completed`` is a claim anyone can post)
      within ``window`` of the decision.
    """
    if outcome not in ("clicked", "converted"):
        raise InvalidInputError([FieldError("policy.reward", f"clicked or converted, not {outcome!r}")])
    rewarded = (
        """EXISTS (SELECT 1 FROM decision_outcomes o
                   WHERE o.decision_id = d.decision_id AND o.outcome = 'clicked')"""
        if outcome == "clicked"
        else """EXISTS (SELECT 1 FROM bought b WHERE b.person = d.person
                   AND b.ordered_at >= d.decided_at AND b.ordered_at < d.decided_at + ?::INTERVAL)"""
    )
    bought = (
        ""
        if outcome == "clicked"
        else """, bought AS (
            SELECT coalesce(p.profile_id, v.buyer) AS person, v.ordered_at
            FROM (
                SELECT t.ordered_at, coalesce('user:' || o.customer_id, 'email:' || o.email_hash,
                                              'phone:' || o.phone_hash, 'anon:' || o.anonymous_id) AS buyer
                FROM order_totals t JOIN orders o USING (order_id)
                WHERE NOT t.is_return AND t.ordered_at >= ?::TIMESTAMPTZ
            ) v LEFT JOIN profiles p ON p.identifier = v.buyer
            WHERE v.buyer IS NOT NULL
        )"""
    )
    earliest = since if since is not None else datetime(1970, 1, 1, tzinfo=until.tzinfo)
    params: list[object] = [experiment_id, since, since, until]
    if outcome == "converted":
        params += [earliest, f"{int(window.total_seconds())} seconds"]
    rows = store.sql(
        f"""WITH raw AS (
            SELECT decision_id, variant, context, decided_at,
                   coalesce(profile_id, 'user:' || user_id, 'anon:' || visitor) AS ident
            FROM decisions
            WHERE experiment_id = ? AND variant IS NOT NULL
              AND (?::TIMESTAMPTZ IS NULL OR decided_at >= ?::TIMESTAMPTZ) AND decided_at < ?
        ), people AS (
            SELECT r.*, coalesce(p.profile_id, r.ident) AS person
            FROM raw r LEFT JOIN profiles p ON p.identifier = r.ident
        ){bought}, d AS (
            SELECT *, first_value(variant) OVER (
                       PARTITION BY person ORDER BY decided_at, decision_id) AS first_variant
            FROM people
        ), scored AS (
            SELECT d.*, ({rewarded})::INTEGER AS reward FROM d
        )
        SELECT arg_min(variant, (decided_at, decision_id)) AS variant,
               max(reward) FILTER (WHERE variant = first_variant) AS reward,
               arg_min(context, (decided_at, decision_id)) AS context
        FROM scored GROUP BY person ORDER BY min(decided_at), person""",
        params,
    )
    return [(variant, float(reward), context) for variant, reward, context in rows]

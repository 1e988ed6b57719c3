"""An experiment's logged on-site decisions with their rewards, as off-policy evaluation reads
them (``shopmind.measure.policy_value``): the variant shown, the propensity it was shown with,
the visitor's context, and whether the decision earned the reward.

``clicked``: the decision has a ``clicked`` outcome. ``converted``: it has a ``converted`` outcome
whose order is a verified, placed order (``order_totals`` holds verified orders only; returns
left out): a page's claim of an order, which anyone holding the public write key could make,
earns nothing until the shop's server or an import confirms it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shopmind.store._store import Store

REWARD_OUTCOMES = ("clicked", "converted")


@dataclass(frozen=True)
class LoggedDecision:
    decision_id: str
    decided_at: datetime
    variant: str
    propensity: float | None
    context: str | None  # JSON, as the server stored it
    reward: int  # 1 earned, 0 not


def logged_decisions(store: Store, experiment_id: str, reward: str, as_of: datetime) -> list[LoggedDecision]:
    """The experiment's decisions made by ``as_of`` with a variant, oldest first, each with its
    ``reward`` (``clicked`` or ``converted``) as known by ``as_of``."""
    if reward not in REWARD_OUTCOMES:
        raise ValueError(f"reward: one of {', '.join(REWARD_OUTCOMES)}")
    verified = (
        "JOIN order_totals t ON t.order_id = o.order_id AND NOT t.is_return" if reward == "converted" else ""
    )
    rows = store.sql(
        f"""SELECT d.decision_id, d.decided_at, d.variant, d.propensity, d.context,
                   (r.decision_id IS NOT NULL)::INTEGER
        FROM decisions d LEFT JOIN (
            SELECT DISTINCT o.decision_id FROM decision_outcomes o {verified}
            WHERE o.outcome = ? AND o.outcome_at <= ?
        ) r USING (decision_id)
        WHERE d.experiment_id = ? AND d.variant IS NOT NULL AND d.decided_at <= ?
        ORDER BY d.decided_at, d.decision_id""",
        [reward, as_of, experiment_id, as_of],
    )
    return [
        LoggedDecision(i, at, v, None if p is None else float(p), c, int(r)) for i, at, v, p, c, r in rows
    ]

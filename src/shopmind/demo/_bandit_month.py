"""A simulated month of the demo shop's popup served by a traffic policy: visitors drawn as the
shop's (``demo._popup_effects``), each shown the variant the policy chooses, each clicking with the
planted chance; the policy learns from the rewards in batches (every ``batch_minutes``, as the
server does). Regret: for each visitor, the planted click rate of the best variant for their
context minus that of the variant shown, summed.

The same seed gives every policy the same visitors and the same luck (a visitor's uniform draw
decides their click whatever they are shown: common random numbers), so policies are compared on
the same month; the policy's own choices come from a stream of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shopmind.demo._popup_effects import POPUP_VARIANTS, Visitors, click_rates, draw_visitors
from shopmind.experiments import Reward, TrafficPolicy

DAYS = 30
PER_DAY = 3000


@dataclass(frozen=True)
class BanditMonth:
    """What came of a month: per day (``days`` long) the decisions, clicks and regret, and the
    cumulative regret at each day's end; with ``log`` every decision (visitor, variant index,
    propensity, click) for off-policy evaluation and the demo store."""

    decisions: np.ndarray
    clicks: np.ndarray
    regret: np.ndarray
    cumulative_regret: np.ndarray
    chosen: np.ndarray  # decisions per variant over the month
    log: DecisionLog | None = None

    @property
    def total_regret(self) -> float:
        return float(self.cumulative_regret[-1])

    @property
    def click_rate(self) -> float:
        return float(self.clicks.sum() / self.decisions.sum())


@dataclass
class DecisionLog:
    """Every decision of the month, in time order: the visitor, the day (0-based), the variant
    shown (an index into the policy's variants), its propensity, and the click."""

    visitors: list[Visitors] = field(default_factory=list)
    day: list[np.ndarray] = field(default_factory=list)
    arm: list[np.ndarray] = field(default_factory=list)
    propensity: list[np.ndarray] = field(default_factory=list)
    click: list[np.ndarray] = field(default_factory=list)
    truth: list[np.ndarray] = field(default_factory=list)  # planted click rates, (n, K)

    def columns(self) -> dict[str, Any]:
        """The log as whole-month arrays (``visitors`` a list of per-day ``Visitors``)."""
        return {
            "day": np.concatenate(self.day),
            "arm": np.concatenate(self.arm),
            "propensity": np.concatenate(self.propensity),
            "click": np.concatenate(self.click),
            "truth": np.concatenate(self.truth),
        }


def simulate_month(
    policy: TrafficPolicy,
    *,
    days: int = DAYS,
    per_day: int = PER_DAY,
    batch_minutes: int = 60,
    seed: int = 0,
    keep_log: bool = False,
    on_day: Callable[[int], None] | None = None,
) -> BanditMonth:
    """Serve ``days`` × ``per_day`` visitors through ``policy`` (its variants must be the demo's
    ``POPUP_VARIANTS``, in that order), updating it every ``batch_minutes``; ``on_day(day)`` runs
    after each day's last update (the demo store keeps the policy's state then)."""
    if list(policy.variants) != list(POPUP_VARIANTS):
        raise ValueError(f"the policy's variants must be {list(POPUP_VARIANTS)}")
    if not 1 <= batch_minutes <= 24 * 60:
        raise ValueError("batch_minutes: from 1 to 1440")
    visitors_rng = np.random.default_rng([seed, 0])
    choice_rng = np.random.default_rng([seed, 1])
    k = len(POPUP_VARIANTS)
    decisions = np.zeros(days, dtype=np.int64)
    clicks = np.zeros(days, dtype=np.int64)
    regret = np.zeros(days)
    chosen = np.zeros(k, dtype=np.int64)
    log = DecisionLog() if keep_log else None
    for day in range(days):
        visitors = draw_visitors(visitors_rng, per_day)
        luck = visitors_rng.random(per_day)
        truth = click_rates(visitors)
        batch = (visitors.hour * 60 + visitors.minute) // batch_minutes
        for b in np.unique(batch):
            rows = np.flatnonzero(batch == b)
            part = visitors.take(rows)
            contexts = part.contexts()
            probs = _probability_rows(policy, contexts)
            arm = _draw(choice_rng, probs)
            rates = truth[rows]
            shown = rates[np.arange(rows.size), arm]
            click = luck[rows] < shown
            regret[day] += float((rates.max(axis=1) - shown).sum())
            clicks[day] += int(click.sum())
            decisions[day] += rows.size
            chosen += np.bincount(arm, minlength=k)
            policy.update(
                Reward(POPUP_VARIANTS[a], float(c), ctx)
                for a, c, ctx in zip(arm.tolist(), click.tolist(), contexts, strict=True)
            )
            if log is not None:
                log.visitors.append(part)
                log.day.append(np.full(rows.size, day))
                log.arm.append(arm)
                log.propensity.append(probs[np.arange(rows.size), arm])
                log.click.append(click)
                log.truth.append(rates)
        if on_day is not None:
            on_day(day)
    return BanditMonth(decisions, clicks, regret, np.cumsum(regret), chosen, log)


def _probability_rows(policy: TrafficPolicy, contexts: list[dict[str, Any]]) -> np.ndarray:
    """Each context's probabilities: all at once when the policy can (the contextual bandits),
    else context by context (cheap for policies that ignore the context)."""
    matrix = getattr(policy, "probability_matrix", None)
    if matrix is not None:
        return np.asarray(matrix(contexts))
    return np.array([list(policy.probabilities(c).values()) for c in contexts])


def _draw(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One variant index per row of ``probs``."""
    cumulative = probs.cumsum(axis=1)
    u = rng.random(probs.shape[0]) * cumulative[:, -1]
    return np.minimum((cumulative <= u[:, None]).sum(axis=1), probs.shape[1] - 1)

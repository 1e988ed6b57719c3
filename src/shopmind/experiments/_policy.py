"""The port every traffic policy of an experiment serves through: given a unit's context, a
variant and the chance the policy gave it (the propensity, which off-policy evaluation needs);
rewards fed back in batches. Fixed shares, Thompson sampling and the contextual bandits
(``_bandit.py``, ``_contextual.py``) implement it; :func:`policy_for` builds the one an
experiment declares.

A context is a mapping of the visitor's features at decision time, all optional:
``device`` (mobile, desktop, tablet), ``hour`` (0-23, the shop's zone), ``region`` (서울, 부산, ...),
``segment`` (the RFM segment, e.g. vip), ``recent`` (a mapping: ``pages`` seen this session,
``cart_items``, ``orders`` before)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from shopmind.experiments._definition import Experiment

Context = Mapping[str, Any]


@dataclass(frozen=True)
class Reward:
    """What came of one decision: the variant chosen, the context it was chosen in, and the
    reward (1 clicked or converted, 0 not)."""

    variant: str
    reward: float
    context: Context | None = None


@runtime_checkable
class TrafficPolicy(Protocol):
    variants: list[str]

    def probabilities(self, context: Context | None = None) -> dict[str, float]:
        """The chance of each variant for this context now (they add up to 1)."""
        ...

    def choose(self, context: Context | None = None) -> tuple[str, float]:
        """A variant for this context, and its propensity."""
        ...

    def update(self, rewards: Iterable[Reward]) -> None:
        """Learn from a batch of rewards (a fixed policy learns nothing)."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-ready state (posteriors, shares, the winner once switched): stored after each batch,
        and enough to rebuild the policy with :func:`policy_from_state`."""
        ...


class FixedShares:
    """The experiment's shares, whatever the rewards (a randomised A/B/n test served per decision)."""

    def __init__(self, variants: list[str], shares: list[float], seed: int | None = None) -> None:
        self.variants = list(variants)
        self._shares = list(shares)
        self._rng = random.Random(seed)

    def probabilities(self, context: Context | None = None) -> dict[str, float]:
        return dict(zip(self.variants, self._shares, strict=True))

    def choose(self, context: Context | None = None) -> tuple[str, float]:
        i = self._rng.choices(range(len(self.variants)), weights=self._shares)[0]
        return self.variants[i], self._shares[i]

    def update(self, rewards: Iterable[Reward]) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {"kind": "fixed", "variants": self.variants, "shares": self._shares}


def policy_for(experiment: Experiment, seed: int | None = None) -> TrafficPolicy:
    """The traffic policy ``experiment.policy`` declares (fixed shares until the bandits land)."""
    return FixedShares(experiment.variant_names, experiment.shares(), seed)

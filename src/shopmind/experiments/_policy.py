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

import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments._bandit import ThompsonSampling, new_seed, pick
from shopmind.experiments._contextual import LinearThompson, LinUCB
from shopmind.experiments._definition import CampaignMessagePoint, Experiment

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

    kind = "fixed"

    def __init__(self, variants: Sequence[str], shares: Sequence[float], seed: int | None = None) -> None:
        self.variants = list(variants)
        self._shares = [float(s) for s in shares]
        if len(self._shares) != len(self.variants) or any(
            not math.isfinite(s) or s < 0 for s in self._shares
        ):
            raise InvalidInputError([FieldError("variants", "one share of at least 0 per variant")])
        if abs(sum(self._shares) - 1.0) > 1e-9:
            raise InvalidInputError([FieldError("variants", "the shares must add up to 100%")])
        self.seed = new_seed() if seed is None else int(seed)
        self.decisions = 0
        self._rng = random.Random(self.seed)
        self._cumulative = list(itertools.accumulate(self._shares))

    def probabilities(self, context: Context | None = None) -> dict[str, float]:
        return dict(zip(self.variants, self._shares, strict=True))

    def choose(self, context: Context | None = None) -> tuple[str, float]:
        i = pick(self._rng, self._cumulative)
        return self.variants[i], self._shares[i]

    def update(self, rewards: Iterable[Reward]) -> None:
        """Learns nothing; counts the rewards seen (``state()['decisions']``) and, like the
        bandits, restarts its serving draws from (seed, decisions) so a rebuilt policy serves
        the same."""
        self.decisions += sum(1 for _ in rewards)
        self._rng = random.Random(f"{self.seed}:{self.decisions}")

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "variants": list(self.variants),
            "shares": self.probabilities(),
            "winner": None,
            "decisions": self.decisions,
            "seed": self.seed,
        }


def clicks_are_claims(experiment: Experiment) -> bool:
    """Whether the experiment's rewards are clicks a browser reports (an on-site decision's
    outcome, posted with the public write key: anyone's claim). A campaign message's click comes
    through its own signed link, so a bandit over messages may switch on clicks by itself."""
    return experiment.policy.reward == "clicked" and not isinstance(experiment.point, CampaignMessagePoint)


def policy_for(experiment: Experiment, seed: int | None = None) -> TrafficPolicy:
    """The traffic policy ``experiment.policy`` declares, before any reward: fixed shares,
    Thompson sampling, or a contextual bandit (linear Thompson sampling or LinUCB)."""
    p = experiment.policy
    names = experiment.variant_names
    if p.kind == "thompson":
        # a browser's click is anyone's claim: such a bandit only suggests its winner (docs/bandits.md)
        return ThompsonSampling(
            names,
            floor=p.floor,
            switch_at=p.switch_at,
            seed=seed,
            auto_switch=not clicks_are_claims(experiment),
        )
    if p.kind == "contextual" and p.algorithm == "linucb":
        return LinUCB(names, features=p.features, floor=p.floor, seed=seed)
    if p.kind == "contextual":
        return LinearThompson(names, features=p.features, floor=p.floor, seed=seed)
    return FixedShares(names, experiment.shares(), seed)


def policy_from_state(experiment: Experiment, state: Mapping[str, Any]) -> TrafficPolicy:
    """The policy a stored ``state()`` describes (after a restart: same posterior, same chances,
    same winner). The state must be the experiment's: its kind and variants, else
    ``InvalidInputError`` naming the field."""
    if not isinstance(state, Mapping):
        raise InvalidInputError([FieldError("state", "expected a JSON object")])
    kind = state.get("kind")
    if list(state.get("variants") or []) != experiment.variant_names:
        raise InvalidInputError(
            [FieldError("state.variants", f"the state's variants are not {experiment.id}'s")]
        )
    if kind == "fixed" and experiment.policy.kind == "fixed":
        policy = FixedShares(experiment.variant_names, experiment.shares(), _seed_of(state))
        policy.decisions = int(state.get("decisions") or 0)
        policy._rng = random.Random(f"{policy.seed}:{policy.decisions}")
        return policy
    if kind == "thompson" and experiment.policy.kind == "thompson":
        thompson = ThompsonSampling.from_state(state)
        if clicks_are_claims(experiment) and "auto_switch" not in state:
            # a state saved before clicks stopped switching: its winner becomes a suggestion
            thompson.auto_switch, thompson.winner = False, None
            thompson._refresh()
        return thompson
    if kind == "contextual" and experiment.policy.kind == "contextual":
        algorithm = state.get("algorithm")
        if algorithm != experiment.policy.algorithm:
            raise InvalidInputError(
                [
                    FieldError(
                        "state.algorithm", f"a {algorithm!r} state cannot serve {experiment.policy.algorithm}"
                    )
                ]
            )
        return LinUCB.from_state(state) if algorithm == "linucb" else LinearThompson.from_state(state)
    raise InvalidInputError(
        [FieldError("state.kind", f"a {kind!r} state cannot serve a {experiment.policy.kind} policy")]
    )


def _seed_of(state: Mapping[str, Any]) -> int | None:
    seed = state.get("seed")
    return None if seed is None else int(seed)

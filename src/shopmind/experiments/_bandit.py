"""Beta-Bernoulli Thompson sampling over an experiment's variants, served through the traffic
policy port (:class:`~shopmind.experiments.TrafficPolicy`).

Each variant's click (or conversion) rate has a Beta posterior, updated in batches (the server
feeds the rewards of the last ``batch_minutes`` at once). Between batches the posterior does not
move, so the chance that each variant's draw is the largest, P(best), is computed once per batch
from a fixed, seeded number of posterior draws; serving a decision is then one uniform draw
against those probabilities, and the propensity logged with it is exactly the probability the
decision was made with (off-policy evaluation divides by it)::

    p(variant) = floor + (1 - K * floor) * P(best)

so every variant keeps at least ``floor`` of the traffic (exploration never stops, and no
propensity is ever 0). Once one variant's P(best) reaches ``switch_at`` (with at least
``min_per_variant`` rewards seen for every variant, so a lucky first hour cannot decide), all
traffic goes to it: the winner is kept, and ``state()['winner']`` names it.

A bandit rewarded by what a browser claims (``clicked``: anyone holding the public write key can
post it) is built with ``auto_switch=False``: it never switches on its own, since forged clicks
on fresh visitors could otherwise hand one variant all the traffic for good. It records the
variant it would have switched to as ``state()['suggested_winner']``, keeps the floor, and the
operator confirms (``shopmind experiments stop ID --winner V``). See docs/bandits.md.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shopmind.core import FieldError, InvalidInputError

if TYPE_CHECKING:  # the port imports this module to build policies
    from shopmind.experiments._policy import Context, Reward

#: posterior draws behind each batch's P(best): its Monte Carlo error is at most
#: 0.5 / sqrt(draws) = 0.008 per variant, and 20 variants cost a few milliseconds per batch
DEFAULT_DRAWS = 4000
DEFAULT_MIN_PER_VARIANT = 100


def check_policy_arguments(variants: Sequence[str], floor: float) -> list[str]:
    """The variants as a list, or ``InvalidInputError`` naming the field (shared by every bandit)."""
    names = [str(v) for v in variants]
    errors: list[FieldError] = []
    if len(names) < 2:
        errors.append(FieldError("variants", "a bandit needs at least two variants"))
    if len(set(names)) != len(names):
        errors.append(FieldError("variants", "variant names must be distinct"))
    if not (math.isfinite(floor) and floor >= 0.0 and floor * len(names) <= 1.0 + 1e-12):
        errors.append(
            FieldError("policy.floor", "a share from 0 to 1/variants (each variant keeps at least it)")
        )
    if errors:
        raise InvalidInputError(errors)
    return names


def new_seed() -> int:
    """A seed for a policy built without one, kept in its state so a rebuild draws the same."""
    return random.SystemRandom().randrange(2**32)


def reward_indices(
    rewards: Iterable[Reward], index: Mapping[str, int]
) -> tuple[list[int], list[float], list[Context | None]]:
    """The batch as (variant index, reward, context) columns; an unknown variant or a reward
    outside [0, 1] is refused before anything is learned (a batch is applied whole or not at all)."""
    arms: list[int] = []
    values: list[float] = []
    contexts: list[Context | None] = []
    for i, r in enumerate(rewards):
        arm = index.get(r.variant)
        if arm is None:
            raise InvalidInputError(
                [FieldError(f"rewards[{i}].variant", f"{r.variant!r} is not a variant of this policy")]
            )
        value = float(r.reward)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise InvalidInputError(
                [FieldError(f"rewards[{i}].reward", "a reward from 0 to 1 (1 clicked or converted, 0 not)")]
            )
        arms.append(arm)
        values.append(value)
        contexts.append(r.context)
    return arms, values, contexts


def pick(rng: random.Random, cumulative: Sequence[float]) -> int:
    """An index drawn with the probabilities whose running sums are ``cumulative``."""
    u = rng.random() * cumulative[-1]
    return min(bisect.bisect_right(cumulative, u), len(cumulative) - 1)


class ThompsonSampling:
    """Thompson sampling with Beta(``prior``) posteriors on each variant's rate, batched updates,
    a floor of exploration and a switch to the winner (see the module's notes).

    ``seed`` fixes both the posterior draws behind each batch's probabilities and the serving
    draws (both restart from (seed, batch number)): the same seed and the same rewards give the
    same decisions, and so does a policy rebuilt from the state saved after a batch.
    """

    kind = "thompson"

    def __init__(
        self,
        variants: Sequence[str],
        *,
        floor: float = 0.05,
        switch_at: float | None = 0.95,
        prior: tuple[float, float] = (1.0, 1.0),
        draws: int = DEFAULT_DRAWS,
        min_per_variant: int = DEFAULT_MIN_PER_VARIANT,
        seed: int | None = None,
        auto_switch: bool = True,
    ) -> None:
        self.variants = check_policy_arguments(variants, floor)
        errors: list[FieldError] = []
        if switch_at is not None and not 0.5 < switch_at < 1.0:
            errors.append(FieldError("policy.switch_at", "a probability above 0.5 and below 1, e.g. 0.95"))
        if not (prior[0] > 0 and prior[1] > 0):
            errors.append(FieldError("prior", "both Beta parameters must be above 0"))
        if draws < 100:
            errors.append(FieldError("draws", "at least 100 posterior draws"))
        if errors:
            raise InvalidInputError(errors)
        self.floor = float(floor)
        self.switch_at = switch_at
        self.prior = (float(prior[0]), float(prior[1]))
        self.draws = int(draws)
        self.min_per_variant = int(min_per_variant)
        self.seed = new_seed() if seed is None else int(seed)
        k = len(self.variants)
        self._index = {v: i for i, v in enumerate(self.variants)}
        self.successes = np.zeros(k)
        self.failures = np.zeros(k)
        self.batches = 0
        self.auto_switch = bool(auto_switch)
        self.winner: str | None = None
        #: the variant the switch rule picks when it may not switch on its own (see the module)
        self.suggested_winner: str | None = None
        self._refresh()

    # -- the port -------------------------------------------------------------------------------

    def probabilities(self, context: Context | None = None) -> dict[str, float]:
        """Each variant's chance now, the same for every context (a context-free bandit)."""
        return dict(zip(self.variants, self._probs, strict=True))

    def choose(self, context: Context | None = None) -> tuple[str, float]:
        i = pick(self._rng, self._cumulative)
        return self.variants[i], self._probs[i]

    def update(self, rewards: Iterable[Reward]) -> None:
        """One batch: add each reward to its variant's posterior, then recompute the chances."""
        arms, values, _ = reward_indices(rewards, self._index)
        if not arms:
            return
        a = np.asarray(arms)
        r = np.asarray(values)
        self.successes += np.bincount(a, weights=r, minlength=len(self.variants))
        self.failures += np.bincount(a, weights=1.0 - r, minlength=len(self.variants))
        self.batches += 1
        self._refresh()

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "variants": list(self.variants),
            "shares": self.probabilities(),
            "winner": self.winner,
            "suggested_winner": self.suggested_winner,
            "auto_switch": self.auto_switch,
            "decisions": round(float(self.successes.sum() + self.failures.sum())),
            "chance_best": dict(zip(self.variants, self._chance_best, strict=True)),
            "successes": self.successes.tolist(),
            "failures": self.failures.tolist(),
            "batches": self.batches,
            "floor": self.floor,
            "switch_at": self.switch_at,
            "prior": list(self.prior),
            "draws": self.draws,
            "min_per_variant": self.min_per_variant,
            "seed": self.seed,
        }

    # -- beyond the port ------------------------------------------------------------------------

    def chance_best(self) -> dict[str, float]:
        """P(best) of each variant under the current posterior (without the floor)."""
        return dict(zip(self.variants, self._chance_best, strict=True))

    def probability_vector(self) -> np.ndarray:
        """The chances in the order of ``variants`` (a copy; the month simulation draws with it)."""
        return np.array(self._probs)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ThompsonSampling:
        """The policy a stored ``state()`` describes: same posterior, same chances, same winner."""
        try:
            policy = cls(
                list(state["variants"]),
                floor=float(state["floor"]),
                switch_at=None if state.get("switch_at") is None else float(state["switch_at"]),
                prior=(float(state["prior"][0]), float(state["prior"][1])),
                draws=int(state["draws"]),
                min_per_variant=int(state.get("min_per_variant", DEFAULT_MIN_PER_VARIANT)),
                seed=int(state["seed"]),
                auto_switch=bool(state.get("auto_switch", True)),
            )
            successes = np.asarray(state["successes"], dtype=float)
            failures = np.asarray(state["failures"], dtype=float)
            batches = int(state["batches"])
            winner = state.get("winner")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInputError([FieldError("state", f"not a Thompson sampling state ({exc})")]) from None
        k = len(policy.variants)
        if successes.shape != (k,) or failures.shape != (k,) or (successes < 0).any() or (failures < 0).any():
            raise InvalidInputError([FieldError("state", "successes and failures: one count per variant")])
        if winner is not None and winner not in policy._index:
            raise InvalidInputError([FieldError("state.winner", f"{winner!r} is not a variant")])
        policy.successes, policy.failures, policy.batches = successes, failures, batches
        policy.winner = winner
        policy._refresh()
        return policy

    # -- inside ---------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """P(best) from ``draws`` posterior draws seeded by (seed, batch), the switch, the chances."""
        k = len(self.variants)
        rng = np.random.default_rng([self.seed, self.batches])
        a = self.prior[0] + self.successes
        b = self.prior[1] + self.failures
        samples = rng.beta(a, b, size=(self.draws, k))
        best = np.bincount(samples.argmax(axis=1), minlength=k) / self.draws
        self._chance_best = [float(x) for x in best]
        seen = self.successes + self.failures
        if not self.auto_switch:
            self.suggested_winner = None  # recomputed each batch: a suggestion can be withdrawn
        if (
            self.winner is None
            and self.switch_at is not None
            and float(best.max()) >= self.switch_at
            and float(seen.min()) >= self.min_per_variant
        ):
            if self.auto_switch:
                self.winner = self.variants[int(best.argmax())]
            else:  # only a suggestion: the operator confirms it by stopping with a winner
                self.suggested_winner = self.variants[int(best.argmax())]
        if self.winner is not None:
            probs = [1.0 if v == self.winner else 0.0 for v in self.variants]
        else:
            probs = [self.floor + (1.0 - k * self.floor) * p for p in self._chance_best]
        self._probs = probs
        self._cumulative = list(itertools.accumulate(probs))
        # serving draws restart from (seed, batch) too, so a policy rebuilt from the state saved
        # after a batch serves exactly what the original would have
        self._rng = random.Random(f"{self.seed}:{self.batches}")

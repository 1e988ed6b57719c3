"""Off-policy evaluation from the store: what another traffic policy's reward rate would have been
on an on-site experiment's logged decisions, so a marketer can compare policies without running a
new test (``shopmind experiments evaluate``; ``GET /v1/experiments/{id}/policy-value``).

Every decision of an experiment is stored with the variant shown, the probability the logging
policy showed it with (its propensity) and the visitor's context. For a target policy π, each
decision is reweighted by π(shown | context) / propensity (:func:`~shopmind.experiments.ips`,
:func:`~shopmind.experiments.snips`, :func:`~shopmind.experiments.doubly_robust`, the last with a
cross-fitted reward model, :func:`~shopmind.experiments.cross_fitted_rewards`). Targets:

- ``uniform``: every variant equally often;
- ``always:<variant>``: one variant for everyone;
- ``logged``: the logging policy itself, a check: its weights are 1, so its estimates must cover
  its on-policy rate. For fixed shares the whole distribution is known (the shares), so the doubly
  robust estimate uses the reward model for real; a bandit's log holds only the chosen variant's
  probability, so its doubly robust estimate takes the logged variant as the draw from the logging
  policy and reduces to the on-policy rate;
- ``thompson`` / ``contextual``: the experiment's bandit (its algorithm, floor and features; the
  defaults when the experiment is served otherwise: a contextual bandit valued on an A/B/n
  test's log answers "would one have done better?") as it learns from the log, cross-fitted: each decision valued by the policy fed every other part's
  rewards (see ``_learned``), the policy the server holds after 80% of these decisions. The
  stored state itself, valued on the decisions it learned from, would overstate its worth.

The reward is the experiment's policy reward unless given: ``clicked``, or ``converted`` (a
verified order only: see ``store.logged_decisions``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import orjson

from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments import (
    ContextEncoder,
    Experiment,
    Interval,
    Policy,
    Reward,
    TrafficPolicy,
    cross_fitted_rewards,
    doubly_robust,
    ips,
    parse_experiment,
    policy_for,
    snips,
)
from shopmind.store import REWARD_OUTCOMES, Store, get_experiment, logged_decisions

#: fewer logged decisions than this (or no reward at all) is "not enough data"
MIN_DECISIONS = 30
TARGETS = ("uniform", "always:<variant>", "logged", "thompson", "contextual")
#: the parts a bandit target is cross-fitted over (each valued by the policy fed the others' rewards)
POLICY_FOLDS = 5
#: below this share of the decisions, the effective sample size earns a warning
_LOW_ESS = 0.1


@dataclass(frozen=True)
class PolicyEvaluation:
    """A target policy's estimated reward rate on an experiment's logged decisions, beside the
    logging policy's own (``on_policy``). ``shares``: the target's average chance of each variant
    over the logged contexts; ``logged``: per variant, the decisions logged and their rewards."""

    experiment_id: str
    policy: str
    reward: str
    as_of: datetime
    alpha: float
    decisions: int
    rewards: int
    on_policy: Interval
    ips: Interval
    snips: Interval
    doubly_robust: Interval
    effective_sample_size: float
    shares: dict[str, float]
    logged: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        return out


def _experiment(store: Store, experiment: str | Experiment) -> Experiment:
    if isinstance(experiment, Experiment):
        return experiment
    return parse_experiment(get_experiment(store, experiment).definition)


def _not_enough(reason: str) -> InvalidInputError:
    return InvalidInputError([FieldError("decisions", f"not enough data: {reason}")])


def policy_value(
    store: Store,
    experiment_id: str | Experiment,
    target: str,
    *,
    reward: str | None = None,
    as_of: datetime | None = None,
) -> PolicyEvaluation:
    """The ``target`` policy's value (IPS, SNIPS, doubly robust, each with its interval at the
    experiment's alpha) on the experiment's logged decisions up to ``as_of`` (default now).
    ``InvalidInputError`` naming the field: an unknown target, reward or variant, decisions
    without propensities, not enough data (fewer than ``MIN_DECISIONS`` or no reward at all)."""
    experiment = _experiment(store, experiment_id)
    moment = as_of if as_of is not None else datetime.now(UTC)
    outcome = reward or experiment.policy.reward
    if outcome not in REWARD_OUTCOMES:
        raise InvalidInputError([FieldError("reward", f"one of {', '.join(REWARD_OUTCOMES)}")])
    names = experiment.variant_names
    _check_target(experiment, target)
    rows = logged_decisions(store, experiment.id, outcome, moment)
    if len(rows) < MIN_DECISIONS:
        raise _not_enough(
            f"{len(rows)} logged decisions of {experiment.id} by {moment:%Y-%m-%d %H:%M} UTC; "
            f"at least {MIN_DECISIONS} are needed"
        )
    index = {v: i for i, v in enumerate(names)}
    unknown = sorted({r.variant for r in rows if r.variant not in index})
    if unknown:
        raise InvalidInputError(
            [FieldError("decisions.variant", f"logged variants not in {experiment.id}: {', '.join(unknown)}")]
        )
    missing = sum(1 for r in rows if r.propensity is None or not 0 < r.propensity <= 1)
    if missing:
        raise InvalidInputError(
            [
                FieldError(
                    "decisions.propensity",
                    f"{missing:,} of {len(rows):,} decisions have no propensity in (0, 1]: "
                    "off-policy evaluation needs the chance each variant was shown with",
                )
            ]
        )
    arms = np.array([index[r.variant] for r in rows])
    mu = np.array([r.propensity for r in rows], dtype=np.float64)
    r = np.array([r.reward for r in rows], dtype=np.float64)
    if r.sum() == 0:
        raise _not_enough(f"no logged decision of {experiment.id} was {outcome} yet")
    contexts = [_context(row.context) for row in rows]
    n, k = len(rows), len(names)
    at = np.arange(n)
    probs, bandit_logged = _target_probabilities(experiment, target, contexts, mu, arms, r)
    pi = probs[at, arms]
    q = cross_fitted_rewards(ContextEncoder().transform(contexts), arms, r, k)
    q_logged = q[at, arms]
    # the logging policy's full distribution is unknown for a bandit: the logged variant is the draw
    q_target = q_logged if bandit_logged else (probs * q).sum(axis=1)
    alpha = experiment.analysis.alpha
    weights = pi / mu
    ess = float(weights.sum() ** 2 / (weights**2).sum()) if weights.any() else 0.0
    notes = _notes(experiment, target, bandit_logged, ess, n)
    mismatched = int((np.abs(weights - 1.0) > 1e-6).sum()) if target == "logged" else 0
    if mismatched:
        notes.append(
            f"{mismatched:,} decisions were logged with a propensity other than their variant's share: "
            "the logged propensities or the experiment's shares are wrong, and so is this check"
        )
    # decisions logged with certainty (a bandit switched to its winner): the other variants had
    # no chance there, and a target that would show them cannot be read from those decisions
    unreadable = int(((mu >= 1.0 - 1e-12) & (pi < 1.0 - 1e-12)).sum())
    if unreadable:
        notes.append(
            f"{unreadable:,} decisions were logged with certainty (the bandit had switched to its winner), "
            "where this policy would sometimes show another variant: IPS counts them as earning nothing and "
            "reads the policy too low; SNIPS leaves them out, doubly robust fills them in with the reward model"
        )
    ones = np.ones(n)
    try:
        snips_value = snips(r, mu, pi, alpha=alpha)
    except InvalidInputError:
        raise _not_enough(f"the {target} policy never shows a variant the log holds") from None
    return PolicyEvaluation(
        experiment_id=experiment.id,
        policy=target,
        reward=outcome,
        as_of=moment,
        alpha=alpha,
        decisions=n,
        rewards=int(r.sum()),
        on_policy=ips(r, ones, ones, alpha=alpha),
        ips=ips(r, mu, pi, alpha=alpha),
        snips=snips_value,
        doubly_robust=doubly_robust(r, mu, pi, q_logged, q_target, alpha=alpha),
        effective_sample_size=ess,
        shares={
            v: float(s)
            for v, s in zip(
                names,
                (np.bincount(arms, minlength=k) / n if bandit_logged else probs.mean(axis=0)),
                strict=True,
            )
        },
        logged={
            v: {"decisions": int((arms == i).sum()), "rewards": int(r[arms == i].sum())}
            for i, v in enumerate(names)
        },
        notes=notes,
    )


def _check_target(experiment: Experiment, target: str) -> None:
    names = experiment.variant_names
    if target.startswith("always:"):
        variant = target.removeprefix("always:")
        if variant not in names:
            raise InvalidInputError(
                [FieldError("policy", f"{variant!r} is not a variant of {experiment.id}: {', '.join(names)}")]
            )
        return
    if target not in ("uniform", "logged", "thompson", "contextual"):
        raise InvalidInputError([FieldError("policy", f"{target!r}: expected one of {', '.join(TARGETS)}")])


def _target_probabilities(
    experiment: Experiment,
    target: str,
    contexts: list[dict[str, Any] | None],
    mu: np.ndarray,
    arms: np.ndarray,
    rewards: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """``(n, K)`` the target's chance of each variant per logged decision, and whether it is a
    bandit's logging policy (whose full distribution the log does not hold)."""
    names = experiment.variant_names
    n, k = len(contexts), len(names)
    if target == "uniform":
        return np.full((n, k), 1.0 / k), False
    if target.startswith("always:"):
        return np.tile(np.eye(k)[names.index(target.removeprefix("always:"))], (n, 1)), False
    if target == "logged":
        if experiment.policy.kind == "fixed":
            return np.tile(np.array(experiment.shares(), dtype=np.float64), (n, 1)), False
        probs = np.zeros((n, k))
        probs[np.arange(n), arms] = mu  # the chosen variant's chance is all the log holds
        return probs, True
    return _learned(experiment, target, contexts, arms, rewards), False


def _learned(
    experiment: Experiment,
    kind: str,
    contexts: list[dict[str, Any] | None],
    arms: np.ndarray,
    rewards: np.ndarray,
) -> np.ndarray:
    """The experiment's bandit as it learns from the log, cross-fitted: the decisions split into
    ``POLICY_FOLDS`` seeded parts, each part's probabilities from the policy (``policy_for``, the
    experiment's algorithm, floor and features; the defaults of ``kind`` when the experiment is
    served otherwise) fed the rewards of all the other parts. Its
    regression sums and Beta counts do not depend on the order or batching of the rewards, so a
    policy fed a part's rewards at once is the one the server would hold after them. The policy
    as stored, valued on the decisions it learned from, would flatter itself: its chances lean to
    where the noise was kind (on the demo month, 7.0% estimated against 5.3% true)."""
    names = experiment.variant_names
    n = len(contexts)
    if experiment.policy.kind != kind:  # e.g. a contextual bandit valued on an A/B/n test's log
        experiment = msgspec.structs.replace(experiment, policy=Policy(kind=kind))  # type: ignore[arg-type]
    fold = np.random.default_rng([0, 1]).permutation(n) % POLICY_FOLDS
    out = np.zeros((n, len(names)))
    for f in range(POLICY_FOLDS):
        policy = policy_for(experiment, seed=f)
        train = np.flatnonzero(fold != f)
        policy.update(Reward(names[arms[i]], float(rewards[i]), contexts[i]) for i in train)
        test = np.flatnonzero(fold == f)
        out[test] = _probability_rows(policy, [contexts[i] for i in test], names)
    return out


def _probability_rows(
    policy: TrafficPolicy, contexts: list[dict[str, Any] | None], names: list[str]
) -> np.ndarray:
    matrix = getattr(policy, "probability_matrix", None)
    if matrix is not None:
        return np.asarray(matrix(contexts), dtype=np.float64)
    seen: dict[bytes, list[float]] = {}
    rows = []
    for c in contexts:
        key = orjson.dumps(c, option=orjson.OPT_SORT_KEYS)
        if key not in seen:
            chances = policy.probabilities(c)
            seen[key] = [chances[v] for v in names]
        rows.append(seen[key])
    return np.array(rows, dtype=np.float64).reshape(len(contexts), len(names))


def _context(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None  # an unreadable context falls on the intercept, like an unknown visitor
    return value if isinstance(value, dict) else None


def _notes(experiment: Experiment, target: str, bandit_logged: bool, ess: float, n: int) -> list[str]:
    notes = []
    if target == "logged":
        notes.append(
            "the logging policy itself: every weight is 1, so the estimates must agree with the "
            "on-policy rate (a check that the propensities are read right)"
            + (
                "; its doubly robust estimate equals the on-policy rate (a bandit's log holds only the "
                "chosen variant's chance)"
                if bandit_logged
                else ""
            )
        )
    if target in ("thompson", "contextual"):
        notes.append(
            f"the {target} policy fed {POLICY_FOLDS - 1} of {POLICY_FOLDS} parts of the log, valued on the "
            "part it did not learn from (cross-fitted): a policy never valued on its own rewards"
            + (
                ""
                if experiment.policy.kind == target
                else f"; default {target} settings (the experiment is {experiment.policy.kind})"
            )
        )
    if math.isfinite(ess) and ess < _LOW_ESS * n:
        notes.append(
            f"effective sample size {ess:,.0f} of {n:,} decisions: the target rarely shows what was "
            "logged, so the intervals are wide"
        )
    return notes

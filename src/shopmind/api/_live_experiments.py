"""The experiments the server runs on-site, and every trigger's default holdout.

When a trigger qualifies for a visitor, :meth:`LiveExperiments.route` says what is shown instead:

- a running placement experiment on that trigger (``point: {kind: placement, placement, trigger}``)
  whose layer, traffic and targeting admit the visitor: the variant's trigger (nothing for a holdout
  variant). Fixed shares assign by the keyed hash of the unit; a bandit (``thompson``,
  ``contextual``) chooses per decision from the visitor's context, and learns in batches from the
  stored outcomes (:meth:`LiveExperiments.update_bandits`);
- otherwise the trigger's own comparison, the experiment ``trigger:<id>``: a ``holdout`` share of
  the qualifying units (``Trigger.holdout``, 10% by default) is shown nothing, the others
  (``shown``) the trigger, so that its report is an uplift and not a rate without a comparison.
  Once a placement experiment is stopped, the ``shown`` arm sees the trigger of the variant it
  kept: its winner, or the control when it was stopped without one (nothing, when that variant is
  a holdout).
- a recommendations experiment, while it runs, names each unit's recommender (its variant's
  ``strategy``); once stopped, everyone in its placement gets the kept variant's strategy (the
  winner's, else the control's), untagged and without exposures (:meth:`kept_strategy`).

The unit is the visitor's profile id when the store knows it, else ``anon:<anonymous id>``. A
unit keeps its variant: before hashing, every identifier of the visitor (the profile id, the
verified member id, the anonymous id) is looked up among the units exposed so far, so a merge
of identities never moves a customer between variants. The first exposure of each unit is
recorded once, with the decision that exposed it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from shopmind.activation import experiment_key
from shopmind.experiments import (
    Assigner,
    Experiment,
    PlacementPoint,
    RecommendationsPoint,
    Reward,
    TrafficPolicy,
    parse_experiment,
    policy_for,
    policy_from_state,
    unit_point,
)
from shopmind.onsite import Session, Trigger, Visitor
from shopmind.recommend import Context as RecommendContext
from shopmind.recommend import HybridRecommender, Recommendation
from shopmind.segments import SEGMENTS
from shopmind.store import (
    HASH_KEY_FILE,
    TRIGGER_EXPERIMENT,
    Store,
    bandit_states,
    decision_rewards,
    exposures_of,
    list_experiments,
    save_bandit_state,
    set_experiment_winner,
)

_log = logging.getLogger("shopmind.api")
SHOWN, HOLDOUT = "shown", "holdout"
_RFM_ORDER = tuple(SEGMENTS)  # a visitor's segment for a bandit's context: the first they are in


def assignment_key(store: Store) -> str:
    """The key of the assignment hashes: the one campaigns' experiments use
    (``activation.experiment_key``, derived from the workspace's secret), so that a layer shared by
    on-site and campaign experiments splits the same customers the same way (empty for a store in
    memory)."""
    if store.path == ":memory:":
        return ""
    file = Path(store.path).parent / HASH_KEY_FILE
    return experiment_key(bytes.fromhex(file.read_text().strip())) if file.exists() else ""


def unit_of(session: Session, visitor: Visitor) -> str:
    """The unit a decision is about: the profile when the store knows it, else the anonymous id."""
    return visitor.profile_id or f"anon:{session.visitor}"


def identities(session: Session, visitor: Visitor) -> list[str]:
    """Every identifier the visitor is known by now (the unit first)."""
    found = [unit_of(session, visitor)]
    if session.verified_user:
        found.append(f"user:{session.verified_user}")
    found.append(f"anon:{session.visitor}")
    return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class Choice:
    """What the experiments make of a qualifying trigger for one visitor."""

    trigger: Trigger | None  # the trigger whose content is shown; None: nothing (a holdout)
    experiment_id: str | None = None
    variant: str | None = None
    propensity: float | None = None
    context: dict[str, Any] | None = None
    exposure: dict[str, Any] | None = None  # the unit's first exposure, to record with the decision


@dataclass
class _Running:
    experiment: Experiment
    assigner: Assigner
    policy: TrafficPolicy | None = None  # a bandit's; None: fixed shares by the hash
    through: datetime | None = None  # a bandit's rewards are counted up to here
    winner: str | None = None
    updated_at: datetime | None = None
    # read on every decision: computed once (msgspec's shares() costs more than the hash)
    share_of: dict[str, float] = field(default_factory=dict)
    trigger_of: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        e = self.experiment
        self.share_of = dict(zip(e.variant_names, e.shares(), strict=True))
        self.trigger_of = {v.name: v.trigger for v in e.variants}

    @property
    def id(self) -> str:
        return self.experiment.id


@dataclass
class Snapshot:
    """What the store says about the experiments now (read on the store's thread)."""

    key: str
    experiments: list[tuple[Experiment, str | None, datetime | None]]  # with the winner and start
    states: dict[str, tuple[datetime, dict[str, Any]]]  # a bandit's latest state
    exposures: list[tuple[str, str, str]]
    segment_names: dict[str, str] = field(default_factory=dict)  # a saved segment's name → id
    #: stopped placement and recommendations experiments with the variant they kept (the winner,
    #: else the control), the latest stop last: all traffic to it
    winners: list[tuple[Experiment, str]] = field(default_factory=list)


def read_snapshot(store: Store) -> Snapshot:
    """The running experiments of the on-site points, their bandits' latest states and exposures."""
    found: list[tuple[Experiment, str | None, datetime | None]] = []
    states: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for stored in list_experiments(store, "running"):
        try:
            experiment = parse_experiment(stored.definition)
        except Exception:  # a definition that no longer parses runs nowhere; say so once
            _log.exception("experiment %s: its stored definition does not parse", stored.experiment_id)
            continue
        if not isinstance(experiment.point, PlacementPoint | RecommendationsPoint):
            continue
        found.append((experiment, stored.winner, stored.started_at))
        if experiment.policy.kind != "fixed":
            saved = bandit_states(store, experiment.id)
            if saved:
                at, text = saved[-1]
                states[experiment.id] = (at, orjson.loads(text))
    names = {
        str(name): str(sid)
        for sid, ko, en in store.sql("SELECT segment_id, name_ko, name_en FROM segments")
        for name in (ko, en)
        if name
    }
    exposures = exposures_of(store, [e.id for e, _, _ in found])
    winners: list[tuple[datetime, Experiment, str]] = []
    for stopped in list_experiments(store, "stopped"):
        if stopped.stopped_at is None:
            continue
        try:
            experiment = parse_experiment(stopped.definition)
        except Exception:  # as above: it routes nothing
            continue
        if isinstance(experiment.point, PlacementPoint | RecommendationsPoint):
            kept = stopped.winner if stopped.winner in experiment.variant_names else experiment.control.name
            winners.append((stopped.stopped_at, experiment, str(kept)))
    winners.sort(key=lambda w: w[0])
    return Snapshot(assignment_key(store), found, states, exposures, names, [(e, w) for _, e, w in winners])


class LiveExperiments:
    """The on-site experiments of one server (see the module). Not thread-safe: the event loop
    routes; the store is read and written through the caller."""

    def __init__(self, key: str = "", *, zone: ZoneInfo | None = None, seed: int | None = None) -> None:
        self.key = key
        self.zone = zone or ZoneInfo("Asia/Seoul")
        self.seed = seed
        #: experiment → identifier → variant of every unit exposed so far
        self.exposed: dict[str, dict[str, str]] = {}
        self.running: dict[str, _Running] = {}
        self._placements: dict[tuple[str, str], list[_Running]] = {}
        self._recommendations: list[_Running] = []
        self._segment_names: dict[str, str] = {}
        #: (placement, trigger) → the trigger a stopped experiment's winner shows (None: nothing)
        self._winners: dict[tuple[str, str], str | None] = {}
        #: placement (``*``: every one) → the strategy a stopped recommendations experiment kept
        self._strategies: dict[str, str] = {}

    # -- loading -------------------------------------------------------------------------
    def load(self, snapshot: Snapshot, facts: Mapping[str, Visitor]) -> None:
        """Take the store's running experiments and exposures; ``facts`` (identifier → what the
        store knew) maps an exposed unit to its profile, so its other identifiers find it."""
        self.key = snapshot.key
        self._segment_names = snapshot.segment_names
        self._winners = {
            (e.point.placement, e.point.trigger): e.variant(winner).trigger
            for e, winner in snapshot.winners
            if isinstance(e.point, PlacementPoint)
        }
        self._strategies = {
            e.point.placement: e.variant(kept).strategy or "hybrid"
            for e, kept in snapshot.winners
            if isinstance(e.point, RecommendationsPoint)
        }
        exposed: dict[str, dict[str, str]] = {}
        for experiment_id, unit, variant in snapshot.exposures:
            seen = exposed.setdefault(experiment_id, {})
            seen.setdefault(unit, variant)
            known = facts.get(unit)
            if known is not None and known.profile_id:
                seen.setdefault(known.profile_id, variant)
        self.exposed = exposed
        running: dict[str, _Running] = {}
        for experiment, winner, started_at in snapshot.experiments:
            previous = self.running.get(experiment.id)
            run = _Running(experiment, Assigner(experiment, self.key), winner=winner)
            if experiment.policy.kind != "fixed":
                if previous is not None and previous.policy is not None:  # keeps what it learned
                    run.policy, run.through, run.updated_at = (
                        previous.policy,
                        previous.through,
                        previous.updated_at,
                    )
                else:
                    run.policy, run.through = self._policy(experiment, snapshot.states.get(experiment.id))
                    run.through = run.through or started_at
            running[experiment.id] = run
        self.running = running
        self._placements = {}
        self._recommendations = []
        for run in running.values():
            point = run.experiment.point
            if isinstance(point, PlacementPoint):
                self._placements.setdefault((point.placement, point.trigger), []).append(run)
            elif isinstance(point, RecommendationsPoint):
                self._recommendations.append(run)

    def _policy(
        self, experiment: Experiment, saved: tuple[datetime, dict[str, Any]] | None
    ) -> tuple[TrafficPolicy, datetime | None]:
        if saved is not None:  # after a restart: what it had learned, from its latest state
            at, state = saved
            through = state.pop("through", None)
            try:
                return policy_from_state(experiment, state), (
                    datetime.fromisoformat(through) if isinstance(through, str) else at
                )
            except Exception:  # a state of an older form: learn again from the start
                _log.exception("experiment %s: its saved bandit state could not be read", experiment.id)
        return policy_for(experiment, self.seed), None

    # -- routing -------------------------------------------------------------------------
    def route(
        self,
        trigger: Trigger,
        triggers: Mapping[str, Trigger],
        session: Session,
        visitor: Visitor,
        now: datetime,
        decision_id: str,
    ) -> Choice:
        """What is shown for ``trigger``, which qualified (see the module)."""
        unit = unit_of(session, visitor)
        keys = identities(session, visitor)
        for run in self._placements.get((trigger.placement, trigger.id), ()):
            choice = self._placement(run, triggers, session, visitor, unit, keys, now, decision_id)
            if choice is not None:
                return choice
        # a stopped experiment's winner shows its trigger from then on, still against the holdout
        shown: Trigger | None = trigger
        if (trigger.placement, trigger.id) in self._winners:
            winner = self._winners[(trigger.placement, trigger.id)]
            shown = triggers.get(winner, trigger) if winner else None
        if trigger.holdout <= 0:
            return Choice(shown)
        experiment_id = f"{TRIGGER_EXPERIMENT}{trigger.id}"
        variant = self._sticky(experiment_id, keys)
        first = variant is None
        if variant is None:
            point = unit_point(self.key, f"{experiment_id}:holdout", unit)
            variant = HOLDOUT if point < trigger.holdout else SHOWN
        propensity = trigger.holdout if variant == HOLDOUT else 1.0 - trigger.holdout
        exposure = (
            self._expose(experiment_id, keys, unit, variant, propensity, now, decision_id) if first else None
        )
        return Choice(shown if variant == SHOWN else None, experiment_id, variant, propensity, None, exposure)

    def _placement(
        self,
        run: _Running,
        triggers: Mapping[str, Trigger],
        session: Session,
        visitor: Visitor,
        unit: str,
        keys: Sequence[str],
        now: datetime,
        decision_id: str,
    ) -> Choice | None:
        experiment = run.experiment
        sticky = self._sticky(run.id, keys)
        context: dict[str, Any] | None = None
        if sticky is None and experiment.target is not None and not self.targeted(experiment, visitor):
            return None
        if run.policy is None:
            found = sticky or run.assigner(unit)
            if found is None:  # outside its layer range or traffic share
                return None
            variant, propensity = found, run.share_of[found]
        else:  # a bandit chooses every decision, from what it has learned so far
            if sticky is None and not run.assigner.in_experiment(unit):
                return None
            context = self.context(session, visitor, now, experiment.policy.features)
            variant, propensity = run.policy.choose(context)
        shown_id = run.trigger_of[variant]
        shown = triggers.get(shown_id) if shown_id else None
        if shown_id and shown is None:
            _log.warning("experiment %s: variant %s names no trigger %r", run.id, variant, shown_id)
        exposure = (
            self._expose(run.id, keys, unit, variant, propensity, now, decision_id)
            if sticky is None
            else None
        )
        return Choice(shown, run.id, variant, propensity, context, exposure)

    def strategy(
        self, placement: str, unit: str, keys: Sequence[str], visitor: Visitor, now: datetime, source: str
    ) -> Choice | None:
        """A recommendations experiment's variant for this unit (its ``strategy``), or None."""
        for run in self._recommendations:
            point = run.experiment.point
            assert isinstance(point, RecommendationsPoint)
            if point.placement not in ("*", placement):
                continue
            sticky = self._sticky(run.id, keys)
            variant = sticky
            if variant is None:
                if not self.targeted(run.experiment, visitor):
                    continue
                variant = run.assigner(unit)
                if variant is None:
                    continue
            propensity = run.share_of[variant]
            exposure = (
                self._expose(run.id, keys, unit, variant, propensity, now, source) if sticky is None else None
            )
            return Choice(None, run.id, variant, propensity, None, exposure)
        return None

    def kept_strategy(self, placement: str) -> str:
        """The recommender for a unit no running experiment takes in ``placement``: the strategy a
        stopped experiment on it kept (the placement's own before one on every placement), else
        the hybrid."""
        return self._strategies.get(placement) or self._strategies.get("*") or "hybrid"

    def strategy_name(self, choice: Choice) -> str:
        """The recommender a recommendations variant names (``hybrid`` when it names none)."""
        run = self.running.get(choice.experiment_id or "")
        if run is None or choice.variant is None:
            return "hybrid"
        return run.experiment.variant(choice.variant).strategy or "hybrid"

    def targeted(self, experiment: Experiment, visitor: Visitor) -> bool:
        """Whether the experiment's targeting admits the visitor (any of its segments)."""
        target = experiment.target
        if target is None or not (target.segments or target.rfm):
            return True
        if visitor.segments & set(target.rfm):
            return True
        wanted = {self._segment_names.get(s, s) for s in target.segments}
        return bool(visitor.saved_segments & wanted)

    def context(
        self, session: Session, visitor: Visitor, now: datetime, features: Iterable[str]
    ) -> dict[str, Any]:
        """The visitor's context for a bandit: device, the hour in the shop's zone, region, RFM
        segment and recent behaviour (the features the experiment names)."""
        everything: dict[str, Any] = {
            "device": session.device,
            "hour": now.astimezone(self.zone).hour,
            "region": session.region,
            "segment": next((s for s in _RFM_ORDER if s in visitor.segments), None),
            "recent": {
                "pages": session.pages,
                "cart_items": session.cart_items,
                "orders": visitor.orders + session.orders,
            },
        }
        return {k: everything[k] for k in features if k in everything}

    def _sticky(self, experiment_id: str, keys: Sequence[str]) -> str | None:
        seen = self.exposed.get(experiment_id)
        if seen:
            for key in keys:
                variant = seen.get(key)
                if variant is not None:
                    return variant
        return None

    def _expose(
        self,
        experiment_id: str,
        keys: Sequence[str],
        unit: str,
        variant: str,
        propensity: float,
        now: datetime,
        source: str,
    ) -> dict[str, Any]:
        seen = self.exposed.setdefault(experiment_id, {})
        for key in keys:
            seen.setdefault(key, variant)
        return {
            "experiment_id": experiment_id,
            "unit_id": unit,
            "variant": variant,
            "exposed_at": now,
            "propensity": propensity,
            "source": source,
        }

    # -- bandits -------------------------------------------------------------------------
    def bandits_due(self, now: datetime) -> list[_Running]:
        """The bandits whose batch is due: ``batch_minutes`` since their last update, or none yet."""
        due = []
        for run in self.running.values():
            if run.policy is None:
                continue
            every = timedelta(minutes=run.experiment.policy.batch_minutes)
            # the first turn of a server saves the state it starts from (the traffic chart's start)
            if run.updated_at is None or now - run.updated_at >= every:
                due.append(run)
        return due

    def rewards(self, store: Store, run: _Running, now: datetime) -> tuple[list[Reward], datetime]:
        """A batch (on the store's thread): the rewards of the decisions made since the last batch
        up to ``batch_minutes`` ago (each has had that long for its click or order)."""
        policy = run.experiment.policy
        until = now - timedelta(minutes=policy.batch_minutes)
        if run.through is not None and until <= run.through:
            return [], until
        rows = decision_rewards(store, run.id, run.through, until, policy.reward)
        return [
            Reward(variant, reward, orjson.loads(context) if context else None)
            for variant, reward, context in rows
        ], until

    def learn(
        self, run: _Running, rewards: Sequence[Reward], until: datetime, now: datetime
    ) -> dict[str, Any]:
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


def recommend_by(
    model: HybridRecommender, strategy: str, user: str, context: RecommendContext, n: int
) -> tuple[list[Recommendation], str]:
    """Recommendations of ``strategy``: the hybrid, or one of the components it blends
    (``popularity``, ``als``, ``item_cf``, ...), fitted on the same data; the strategy used (the
    hybrid when it has no such component)."""
    if strategy != "hybrid":
        # the hybrid's fitted components (it keeps them to blend): no second fit of the same data
        state = getattr(model, "_state", None)
        for name, component, _ in getattr(state, "components", ()):
            if name == strategy:
                return list(component.recommend(user, context, n)), strategy
        _log.warning("no %s component in the recommender: the hybrid answers", strategy)
    return model.recommend(user, context, n), "hybrid"

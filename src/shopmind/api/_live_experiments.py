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
of identities never moves a customer between variants; a variant found under one identifier is
remembered under all of them (a member seen on a phone keeps it on a laptop). The first exposure
of each unit is recorded once, with the decision that exposed it.

Memory stays bounded however many visitors come: the server remembers the variants of the
latest ``cache_size`` (experiment, identifier) pairs only (an LRU). On a miss the caller looks
the identifiers up in the store's exposures (:meth:`LiveExperiments.misses`, then
:meth:`LiveExperiments.remember`); a unit never exposed is hashed (fixed shares are
deterministic) or chosen by its bandit.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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
    TrafficPolicy,
    parse_experiment,
    policy_for,
    policy_from_state,
    unit_point,
)
from shopmind.onsite import Session, Trigger, Visitor
from shopmind.segments import SEGMENTS
from shopmind.store import (
    HASH_KEY_FILE,
    TRIGGER_EXPERIMENT,
    Store,
    latest_bandit_state,
    list_experiments,
)

_log = logging.getLogger("shopmind.api")
SHOWN, HOLDOUT = "shown", "holdout"
#: (experiment, identifier) → variant pairs kept in memory; older ones are read from the store again
DEFAULT_CACHE_SIZE = 100_000
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
class Running:
    """One running experiment of the server: its assigner, and a bandit's policy and batches."""

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
            saved = latest_bandit_state(store, experiment.id)  # not every state since it started
            if saved is not None:
                at, text = saved
                states[experiment.id] = (at, orjson.loads(text))
    names = {
        str(name): str(sid)
        for sid, ko, en in store.sql("SELECT segment_id, name_ko, name_en FROM segments")
        for name in (ko, en)
        if name
    }
    exposures: list[tuple[str, str, str]] = []  # looked up per visitor on a miss: memory stays bounded
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

    def __init__(
        self,
        key: str = "",
        *,
        zone: ZoneInfo | None = None,
        seed: int | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.key = key
        self.zone = zone or ZoneInfo("Asia/Seoul")
        self.seed = seed
        self.cache_size = cache_size
        #: (experiment, identifier) → its variant, or None: looked up, not exposed (an LRU)
        self.remembered: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self.running: dict[str, Running] = {}
        self._placements: dict[tuple[str, str], list[Running]] = {}
        self._recommendations: list[Running] = []
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
        for experiment_id, unit, variant in snapshot.exposures:  # a snapshot may bring some along
            known = facts.get(unit)
            profile = [known.profile_id] if known is not None and known.profile_id else []
            self.remember(experiment_id, [unit, *profile], variant)
        running: dict[str, Running] = {}
        # the experiment started first routes first: a later one on the same point never steals
        # its units (starting refuses such overlaps; this keeps older data deterministic)
        ordered = sorted(snapshot.experiments, key=lambda e: (e[2] is None, e[2] or datetime.min, e[0].id))
        for experiment, winner, started_at in ordered:
            previous = self.running.get(experiment.id)
            run = Running(experiment, Assigner(experiment, self.key), winner=winner)
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
        run: Running,
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

    # -- the units' variants: a bounded memory in front of the store -------------------------
    def relevant(self, trigger: Trigger) -> list[str]:
        """The experiments a decision on ``trigger`` may route through (to look up on a miss)."""
        ids = [run.id for run in self._placements.get((trigger.placement, trigger.id), ())]
        if trigger.holdout > 0:
            ids.append(f"{TRIGGER_EXPERIMENT}{trigger.id}")
        if trigger.content.items:
            ids.extend(run.id for run in self._recommendations)
        return ids

    def recommendation_ids(self) -> list[str]:
        """The running recommendations experiments (``/v1/recommendations`` looks these up)."""
        return [run.id for run in self._recommendations]

    def misses(self, experiment_ids: Iterable[str], keys: Sequence[str]) -> list[str]:
        """The experiments for which none of ``keys`` is remembered: look them up in the store.

        A visitor known by one identifier only (a new anonymous visitor: most of the traffic)
        is looked up only for bandits: fixed shares and a trigger's holdout hash that one unit
        to the variant it was exposed to, and recording its exposure again changes nothing
        (the first is kept)."""
        found = self.remembered
        wanted = [e for e in experiment_ids if len(keys) > 1 or self._chosen(e)]
        return [e for e in wanted if not any((e, k) in found for k in keys)]

    def _chosen(self, experiment_id: str) -> bool:
        """Whether a unit's variant in the experiment was chosen (a bandit), not hashed."""
        run = self.running.get(experiment_id)
        return run is not None and run.policy is not None

    def remember(self, experiment_id: str, keys: Iterable[str], variant: str | None) -> None:
        """What the store says of these identifiers (None: never exposed). A variant known
        already is never replaced (the first exposure wins); an LRU of ``cache_size`` pairs."""
        found = self.remembered
        for key in keys:
            pair = (experiment_id, key)
            if found.get(pair) is None:
                found[pair] = variant
            found.move_to_end(pair)
        while len(found) > self.cache_size:
            found.popitem(last=False)

    def forget(self, identifiers: Iterable[str]) -> int:
        """Drop everything remembered about these identifiers (an erasure); how many pairs."""
        gone = set(identifiers)
        stale = [pair for pair in self.remembered if pair[1] in gone]
        for pair in stale:
            del self.remembered[pair]
        return len(stale)

    def _sticky(self, experiment_id: str, keys: Sequence[str]) -> str | None:
        found = self.remembered
        for key in keys:
            variant = found.get((experiment_id, key))
            if variant is not None:
                # every identifier the visitor has now keeps it too: a member first seen on a
                # phone is found by their member id on a laptop
                self.remember(experiment_id, keys, variant)
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
        self.remember(experiment_id, keys, variant)
        return {
            "experiment_id": experiment_id,
            "unit_id": unit,
            "variant": variant,
            "exposed_at": now,
            "propensity": propensity,
            "source": source,
        }

"""Keeping experiments, as every surface (CLI, API, dashboard) does it: read a declared experiment
from JSON or YAML text, keep it as a draft, change a draft, start it, stop it (naming a winner
that is one of its variants), and count each variant's exposed units. One place, so that the three
surfaces check the same things and name the same fields."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path

from shopmind.core import FieldError, InvalidInputError, load_yaml_mapping
from shopmind.experiments import (
    CampaignMessagePoint,
    Experiment,
    PlacementPoint,
    RecommendationsPoint,
    SendTimePoint,
    experiment_json,
    parse_experiment,
)
from shopmind.experiments._definition import MAX_EXPERIMENT_BYTES, start_errors
from shopmind.onsite import load_triggers
from shopmind.store import (
    Store,
    StoredExperiment,
    create_experiment,
    get_experiment,
    list_experiments,
    set_experiment_state,
    update_experiment,
)


def read_experiment_text(text: str | bytes) -> Experiment:
    """A checked experiment from JSON or YAML text (JSON when it starts with ``{``); raises
    ``InvalidInputError`` naming each bad field and why."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError([FieldError("experiment", "not UTF-8 text")]) from None
    if not text.strip():
        raise InvalidInputError([FieldError("experiment", "empty: write the experiment as YAML or JSON")])
    if text.lstrip().startswith("{"):
        return parse_experiment(text)
    try:
        data = load_yaml_mapping(
            text,
            root="experiment",
            max_bytes=MAX_EXPERIMENT_BYTES,
            expected="id, name, point, variants, metrics, ...",
        )
    except RecursionError:
        raise InvalidInputError([FieldError("experiment", "nested too deeply")]) from None
    return parse_experiment(data)


def stored_experiment(stored: StoredExperiment) -> Experiment:
    """The declared experiment a stored one keeps."""
    return parse_experiment(stored.definition)


def new_experiment(
    store: Store, experiment: Experiment, *, created_by: str, now: datetime
) -> StoredExperiment:
    """Keep ``experiment`` as a draft (its id must be new: an error names ``id``)."""
    return create_experiment(
        store, experiment.id, experiment.name, experiment_json(experiment), created_by=created_by, now=now
    )


def change_experiment(store: Store, experiment: Experiment, *, now: datetime) -> StoredExperiment:
    """Replace a draft's definition (``ExperimentStateError`` once it has started)."""
    return update_experiment(store, experiment.id, experiment.name, experiment_json(experiment), now)


#: the workspace's trigger file (``api`` reads the same one when the server starts)
TRIGGERS_FILE = "triggers.toml"


def start_experiment(
    store: Store,
    experiment_id: str,
    *,
    now: datetime,
    triggers: Collection[str] | None = None,
    strategies: Collection[str] | None = None,
) -> StoredExperiment:
    """A draft starts: units are assigned and exposed from now on.

    Refused (``InvalidInputError`` naming the field) when it could not work: a variant naming a
    trigger that ``triggers`` lacks (the server's; None: the workspace's ``triggers.toml``, or
    the built-in triggers without one), a strategy ``strategies`` lacks (the server's
    recommender's; None: the hybrid's default components), a clicks bandit with a variant that
    shows nothing; or when it would share units with a running experiment (see
    :func:`overlap_errors`)."""
    stored = get_experiment(store, experiment_id)
    experiment = stored_experiment(stored)  # a definition stored by an older version must still read
    if stored.state == "draft":  # else set_experiment_state says why it cannot start (409)
        if isinstance(experiment.point, PlacementPoint) and triggers is None:
            triggers = _workspace_triggers(store)
        errors = start_errors(experiment, triggers=triggers, strategies=strategies)
        errors += overlap_errors(store, experiment)
        if errors:
            raise InvalidInputError(errors)
    return set_experiment_state(store, experiment_id, "running", now)


def _workspace_triggers(store: Store) -> list[str] | None:
    """The trigger ids of the workspace's ``triggers.toml``; None without one (a workspace on
    the built-in triggers, or a store in memory: not checked here, the server checks what it
    serves when it starts the experiment)."""
    if store.path == ":memory:":
        return None
    file = Path(store.path).parent / TRIGGERS_FILE
    return [t.id for t in load_triggers(file)] if file.exists() else None


def _same_point(a: Experiment, b: Experiment) -> bool:
    """Whether two experiments decide the same thing for the same unit."""
    p, q = a.point, b.point
    if isinstance(p, PlacementPoint) and isinstance(q, PlacementPoint):
        return (p.placement, p.trigger) == (q.placement, q.trigger)
    if isinstance(p, RecommendationsPoint) and isinstance(q, RecommendationsPoint):
        return "*" in (p.placement, q.placement) or p.placement == q.placement
    if isinstance(p, CampaignMessagePoint) and isinstance(q, CampaignMessagePoint):
        return p.campaign == q.campaign and p.step == q.step
    if isinstance(p, SendTimePoint) and isinstance(q, SendTimePoint):
        return p.campaign == q.campaign
    return False


def overlap_errors(store: Store, experiment: Experiment) -> list[FieldError]:
    """Mutual exclusion with the running experiments: two in the same layer must hold disjoint
    [start, end) ranges of it, and two on the same decision point must be in the same layer
    with disjoint ranges (else the one started later would silently get nobody, or the same
    units twice). Each error names the running experiment it collides with."""
    errors: list[FieldError] = []
    mine = experiment.layer
    for running in sorted(
        list_experiments(store, "running"), key=lambda r: (r.started_at is None, r.started_at)
    ):
        if running.experiment_id == experiment.id:
            continue
        try:
            other = stored_experiment(running)
        except InvalidInputError:  # a definition that no longer parses routes nothing
            continue
        theirs = other.layer
        same_layer = disjoint = False
        if mine is not None and theirs is not None and mine.name == theirs.name:
            same_layer = True
            disjoint = mine.end <= theirs.start or theirs.end <= mine.start
        if same_layer and not disjoint:
            assert mine is not None and theirs is not None
            errors.append(
                FieldError(
                    "layer",
                    f"[{mine.start:g}, {mine.end:g}) of layer {mine.name!r} overlaps the running "
                    f"experiment {other.id!r}'s [{theirs.start:g}, {theirs.end:g}): give it a "
                    "disjoint range, or stop that one first",
                )
            )
        elif _same_point(experiment, other) and not disjoint:
            errors.append(
                FieldError(
                    "point",
                    f"the running experiment {other.id!r} decides the same point: put both in one "
                    "layer with disjoint ranges, or stop that one first",
                )
            )
    return errors


def stop_experiment(
    store: Store, experiment_id: str, *, now: datetime, winner: str | None = None
) -> StoredExperiment:
    """Stop an experiment; ``winner`` (one of its variants) is recorded as the one that serves
    everyone from now on."""
    stored = get_experiment(store, experiment_id)
    if winner is not None:
        names = stored_experiment(stored).variant_names
        if winner not in names:
            raise InvalidInputError(
                [
                    FieldError(
                        "winner", f"{winner!r} is not a variant of it: expected one of {', '.join(names)}"
                    )
                ]
            )
    return set_experiment_state(store, experiment_id, "stopped", now, winner)


def exposure_counts(store: Store, experiment: Experiment) -> dict[str, int]:
    """Each variant's exposed units so far, in the experiment's order (0 for none yet)."""
    found = dict(
        store.sql(
            "SELECT variant, count(*) FROM exposures WHERE experiment_id = ? GROUP BY ALL", [experiment.id]
        )
    )
    return {name: int(found.get(name, 0)) for name in experiment.variant_names}


def point_words(experiment: Experiment) -> str:
    """Where it decides, in one plain English line (the CLI's tables)."""
    point = experiment.point
    if isinstance(point, PlacementPoint):
        return f"placement {point.placement} (trigger {point.trigger})"
    kind = type(point).__name__
    detail = getattr(point, "campaign", None) or getattr(point, "placement", None) or ""
    return {
        "RecommendationsPoint": "recommendations",
        "CampaignMessagePoint": "campaign message",
        "SendTimePoint": "send time",
    }[kind] + (f" {detail}" if detail else "")

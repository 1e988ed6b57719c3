"""Keeping experiments, as every surface (CLI, API, dashboard) does it: read a declared experiment
from JSON or YAML text, keep it as a draft, change a draft, start it, stop it (naming a winner
that is one of its variants), and count each variant's exposed units. One place, so that the three
surfaces check the same things and name the same fields."""

from __future__ import annotations

from datetime import datetime

from shopmind.core import FieldError, InvalidInputError, load_yaml_mapping
from shopmind.experiments import (
    Experiment,
    PlacementPoint,
    experiment_json,
    parse_experiment,
)
from shopmind.experiments._definition import MAX_EXPERIMENT_BYTES
from shopmind.store import (
    Store,
    StoredExperiment,
    create_experiment,
    get_experiment,
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


def start_experiment(store: Store, experiment_id: str, *, now: datetime) -> StoredExperiment:
    """A draft starts: units are assigned and exposed from now on."""
    stored = get_experiment(store, experiment_id)
    stored_experiment(stored)  # a definition stored by an older version must still read
    return set_experiment_state(store, experiment_id, "running", now)


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

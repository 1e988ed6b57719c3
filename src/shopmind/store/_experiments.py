"""The ``experiments`` table, each unit's first exposure, and the bandits' states over time.

The store keeps an experiment's definition (JSON, as ``experiments.experiment_json`` writes it)
without reading it. Its state moves draft → running → stopped (and running → stopped only once),
checked and changed in one statement. An exposure is kept once per (experiment, unit): the first,
whose variant the unit keeps; a re-sent exposure changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from shopmind.core import FieldError, InvalidInputError, NotFoundError, ShopmindError
from shopmind.store._store import Store

EXPERIMENT_STATES = ("draft", "running", "stopped")
EXPERIMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"running", "stopped"}),
    "running": frozenset({"stopped"}),
    "stopped": frozenset(),
}
EXPOSURE_SCHEMA = pa.schema(
    [
        ("experiment_id", pa.string()),
        ("unit_id", pa.string()),
        ("variant", pa.string()),
        ("exposed_at", pa.timestamp("us", tz="UTC")),
        ("propensity", pa.float64()),
        ("source", pa.string()),
    ]
)
MAX_NAME = 200


class ExperimentStateError(ShopmindError):
    """An experiment cannot move to the asked state from the one it is in; the message names both."""


class UnknownExperimentError(NotFoundError):
    """No experiment has this id."""


@dataclass(frozen=True)
class StoredExperiment:
    experiment_id: str
    name: str
    definition: str  # JSON
    state: str
    winner: str | None
    created_at: datetime
    created_by: str
    started_at: datetime | None
    stopped_at: datetime | None
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at is not None else None

        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "state": self.state,
            "winner": self.winner,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "started_at": iso(self.started_at),
            "stopped_at": iso(self.stopped_at),
            "updated_at": iso(self.updated_at),
        }


_COLUMNS = "experiment_id, name, definition, state, winner, created_at, created_by, started_at, stopped_at, updated_at"


def create_experiment(
    store: Store, experiment_id: str, name: str, definition: str, *, created_by: str, now: datetime
) -> StoredExperiment:
    """Keep a new experiment as a ``draft``; its id must be new (an error names the field)."""
    name = name.strip()
    if not name:
        raise InvalidInputError([FieldError("name", "must not be empty")])
    if len(name) > MAX_NAME:
        raise InvalidInputError([FieldError("name", f"at most {MAX_NAME} characters")])
    if now.tzinfo is None:
        raise InvalidInputError([FieldError("now", "expected a date and time with its time zone")])
    taken = InvalidInputError(
        [FieldError("id", f"an experiment with the id {experiment_id!r} exists already")]
    )
    if store.scalar("SELECT count(*) FROM experiments WHERE experiment_id = ?", [experiment_id]):
        raise taken
    try:
        store.sql(
            f"INSERT INTO experiments ({_COLUMNS}) VALUES (?, ?, ?, 'draft', NULL, ?, ?, NULL, NULL, ?)",
            [experiment_id, name, definition, now, created_by, now],
        )
    except duckdb.ConstraintException:  # a race with another writer: the same answer as above
        raise taken from None
    return get_experiment(store, experiment_id)


def find_experiment(store: Store, experiment_id: str) -> StoredExperiment | None:
    rows = store.sql(f"SELECT {_COLUMNS} FROM experiments WHERE experiment_id = ?", [experiment_id])
    return StoredExperiment(*rows[0]) if rows else None


def get_experiment(store: Store, experiment_id: str) -> StoredExperiment:
    found = find_experiment(store, experiment_id)
    if found is None:
        raise UnknownExperimentError(
            f"no experiment has the id {experiment_id!r}: `shopmind experiments list` shows them"
        )
    return found


def list_experiments(store: Store, state: str | None = None) -> list[StoredExperiment]:
    """Every experiment (or those in ``state``), newest first."""
    if state is not None and state not in EXPERIMENT_STATES:
        raise InvalidInputError(
            [FieldError("state", f"{state!r}: expected one of {', '.join(EXPERIMENT_STATES)}")]
        )
    rows = store.sql(
        f"SELECT {_COLUMNS} FROM experiments WHERE ? IS NULL OR state = ? "
        "ORDER BY created_at DESC, experiment_id",
        [state, state],
    )
    return [StoredExperiment(*row) for row in rows]


def update_experiment(
    store: Store, experiment_id: str, name: str, definition: str, now: datetime
) -> StoredExperiment:
    """Replace a draft's definition (a running experiment's is fixed: units are assigned by it)."""
    current = get_experiment(store, experiment_id)
    if current.state != "draft":
        raise ExperimentStateError(
            f"experiment {experiment_id!r} is {current.state}: only a draft's definition can change"
        )
    store.sql(
        "UPDATE experiments SET name = ?, definition = ?, updated_at = ? WHERE experiment_id = ? AND state = 'draft'",
        [name.strip(), definition, now, experiment_id],
    )
    return get_experiment(store, experiment_id)


def set_experiment_state(
    store: Store, experiment_id: str, state: str, now: datetime, winner: str | None = None
) -> StoredExperiment:
    """Start (``running``) or stop (``stopped``, optionally naming the ``winner`` that all traffic
    goes to from then on) along ``EXPERIMENT_TRANSITIONS``."""
    if state not in EXPERIMENT_STATES:
        raise InvalidInputError(
            [FieldError("state", f"{state!r}: expected one of {', '.join(EXPERIMENT_STATES)}")]
        )
    current = get_experiment(store, experiment_id)
    if state not in EXPERIMENT_TRANSITIONS[current.state]:
        allowed = ", ".join(sorted(EXPERIMENT_TRANSITIONS[current.state])) or "none: it is over"
        raise ExperimentStateError(
            f"experiment {experiment_id!r} is {current.state} and cannot become {state} (it can become: {allowed})"
        )
    stamp = "started_at" if state == "running" else "stopped_at"
    changed = store.sql(
        f"UPDATE experiments SET state = ?, {stamp} = ?, updated_at = ?, winner = coalesce(?, winner) "
        "WHERE experiment_id = ? AND state = ? RETURNING experiment_id",
        [state, now, now, winner, experiment_id, current.state],
    )
    if not changed:
        raise ExperimentStateError(f"experiment {experiment_id!r} changed state meanwhile; read it again")
    return get_experiment(store, experiment_id)


def set_experiment_winner(store: Store, experiment_id: str, winner: str, now: datetime) -> None:
    """Record the variant a bandit switched all traffic to."""
    store.sql(
        "UPDATE experiments SET winner = ?, updated_at = ? WHERE experiment_id = ?",
        [winner, now, experiment_id],
    )


def record_exposures(store: Store, rows: Sequence[dict[str, Any]]) -> int:
    """Keep each unit's first exposure (``EXPOSURE_SCHEMA`` keys); a unit already exposed keeps its
    first row. Returns how many were new."""
    if not rows:
        return 0
    table = pa.Table.from_pylist(list(rows), EXPOSURE_SCHEMA)
    cols = ", ".join(EXPOSURE_SCHEMA.names)
    with store.atomically(), store.staged("_incoming_exposures", table) as src:
        return int(
            store.sql(
                f"""INSERT INTO exposures ({cols})
                SELECT {cols} FROM (
                    SELECT *, row_number() OVER (PARTITION BY experiment_id, unit_id ORDER BY exposed_at) AS k
                    FROM {src}) WHERE k = 1
                ON CONFLICT (experiment_id, unit_id) DO NOTHING"""
            )[0][0]
        )


def exposed_units(store: Store, experiment_id: str) -> dict[str, str]:
    """unit → variant of every unit exposed so far (the server keeps units in their variant)."""
    return dict(store.sql("SELECT unit_id, variant FROM exposures WHERE experiment_id = ?", [experiment_id]))


#: what an older state keeps once a newer one is saved: enough for the traffic over time (the
#: shares) and the bookkeeping of who learned what when (small), not the model (a contextual
#: bandit's matrices are ~36 KB: saved hourly that was ~26 MB per experiment a month)
LIGHT_STATE_KEYS = ("kind", "variants", "shares", "winner", "decisions", "batches", "through", "campaign")


def light_state(state: dict[str, Any]) -> dict[str, Any]:
    """The part of a bandit's state an older row keeps (``light`` marks it: no policy can be
    rebuilt from it)."""
    return {"light": True, **{k: state[k] for k in LIGHT_STATE_KEYS if k in state}}


def save_bandit_state(store: Store, experiment_id: str, at: datetime, state: str) -> None:
    """Keep a bandit's state after a batch update (JSON); one per instant. Only the latest row of
    an experiment keeps the whole state (``policy_from_state`` rebuilds the policy from it after a
    restart); the older ones are cut to :func:`light_state` in the same transaction."""
    with store.atomically():
        store.sql(
            "INSERT INTO bandit_states (experiment_id, updated_at, state) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [experiment_id, at, state],
        )
        _lighten_older(store, experiment_id)


def _lighten_older(store: Store, experiment_id: str) -> None:
    older = store.sql(
        """SELECT updated_at, state FROM bandit_states
           WHERE experiment_id = ?
             AND updated_at < (SELECT max(updated_at) FROM bandit_states WHERE experiment_id = ?)
             AND json_valid(state) AND json_extract(state, '$.light') IS NULL""",
        [experiment_id, experiment_id],
    )
    for at, text in older:
        full = json.loads(text)
        if not isinstance(full, dict):
            continue  # not a state this store understands: left as it is
        store.sql(
            "UPDATE bandit_states SET state = ? WHERE experiment_id = ? AND updated_at = ?",
            [json.dumps(light_state(full), ensure_ascii=False), experiment_id, at],
        )


def bandit_states(store: Store, experiment_id: str) -> list[tuple[datetime, str]]:
    """Every stored state of the experiment's bandit, oldest first: the latest whole, the older
    ones light (:func:`light_state`: kind, variants, shares, winner, decisions, bookkeeping)."""
    return [
        (at, state)
        for at, state in store.sql(
            "SELECT updated_at, state FROM bandit_states WHERE experiment_id = ? ORDER BY updated_at",
            [experiment_id],
        )
    ]

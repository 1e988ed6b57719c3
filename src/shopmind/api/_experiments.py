"""Experiments over the API (secret key): keep one from its JSON definition (a draft), list and
read them, replace a draft's definition, start and stop one (naming a winner), and read its
results (SRM check, per-variant estimates with intervals, comparisons with the control, traffic).

A definition is read as bytes by the experiment's own parser: its errors name the field path
(``variants[1].share``) in the one error shape, and nothing is stored. After a start or a stop the
server's on-site decisions re-read the running experiments (``OnSite.reload_experiments``)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request

from shopmind.api._auth import requires
from shopmind.api._errors import ApiError, error_responses
from shopmind.api._json import JSON
from shopmind.core import FieldError, InvalidInputError, to_utc
from shopmind.experiments import Experiment, parse_experiment
from shopmind.measure import (
    change_experiment,
    exposure_counts,
    new_experiment,
    start_experiment,
    stop_experiment,
    stored_experiment,
)
from shopmind.store import (
    ExperimentStateError,
    Store,
    StoredExperiment,
    UnknownExperimentError,
    get_experiment,
    list_experiments,
)

router = APIRouter(
    prefix="/v1/experiments",
    tags=["experiments"],
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 404, 429, 503),
)
MAX_BODY_BYTES = 64 * 1024
_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_BODY = {
    "requestBody": {
        "required": True,
        "description": "An experiment (see docs/experiments.md): id, name, point, variants, metrics, ...",
        "content": _OBJECT,
    }
}
AsOf = Annotated[
    datetime | None,
    Query(description="As of this moment (ISO 8601; without an offset, the shop's time zone). Default: now."),
]
Winner = Annotated[
    str | None,
    Query(max_length=64, description="The variant that serves everyone from now on (one of its variants)"),
]


def _now(as_of: datetime | None = None) -> datetime:
    return to_utc(as_of) if as_of is not None else datetime.now(UTC)


async def _body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiError(
            413, "too_large", f"the experiment has {int(length):,} bytes; the limit is {MAX_BODY_BYTES:,}"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the experiment is larger than {MAX_BODY_BYTES:,} bytes")
    return bytes(body)


def _not_found(experiment_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no experiment {experiment_id!r} (GET /v1/experiments lists them)")


async def _on_store(request: Request, experiment_id: str, fn: Any, *args: Any) -> Any:
    """``fn(store, stored experiment, *args)`` on the store's thread: 404 for no such experiment,
    409 for a state it cannot move from."""

    def run(store: Store) -> Any:
        try:
            stored = get_experiment(store, experiment_id)
        except UnknownExperimentError:
            return _not_found(experiment_id)
        try:
            return fn(store, stored, *args)
        except ExperimentStateError as exc:
            return ApiError(409, "conflict", str(exc))

    found = await request.app.state.worker.run(run)
    if isinstance(found, ApiError):
        raise found
    return found


def described(store: Store, stored: StoredExperiment) -> dict[str, Any]:
    experiment = stored_experiment(stored)
    return {
        **stored.to_dict(),
        "exposures": exposure_counts(store, experiment),
        "definition": msgspec.to_builtins(experiment),
    }


async def _reload(request: Request) -> None:
    """The server's on-site decisions re-read the running experiments (when they can)."""
    onsite = getattr(request.app.state, "onsite", None)
    reload = getattr(onsite, "reload_experiments", None)
    if reload is not None:
        done = reload()
        if inspect.isawaitable(done):
            await done


def _ok(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": _OBJECT}}


@router.post(
    "",
    summary="Keep an experiment as a draft (nobody assigned yet); a bad definition is a 400 naming the field",
    openapi_extra=_BODY,
    responses={201: {"description": "Created", "content": _OBJECT}, **error_responses(413)},
    status_code=201,
    response_model=None,
)
async def create(request: Request) -> JSON:
    experiment = parse_experiment(await _body(request))
    now = _now()

    def made(store: Store) -> dict[str, Any]:
        return described(store, new_experiment(store, experiment, created_by="api", now=now))

    return JSON(await request.app.state.worker.run(made), status_code=201)


@router.get(
    "",
    summary="The experiments, newest first, with their state and exposed units per variant",
    response_model=None,
)
async def list_all(
    request: Request,
    state: Annotated[
        str | None, Query(pattern="^(draft|running|stopped)$", description="Only this state")
    ] = None,
) -> dict[str, Any]:
    def listed(store: Store) -> list[dict[str, Any]]:
        return [described(store, s) for s in list_experiments(store, state)]

    return {"experiments": await request.app.state.worker.run(listed)}


@router.get(
    "/{experiment_id}",
    summary="An experiment: its state, winner, definition and exposed units per variant",
    responses=_ok("The experiment"),
    response_model=None,
)
async def show(experiment_id: str, request: Request) -> dict[str, Any]:
    found: dict[str, Any] = await _on_store(request, experiment_id, described)
    return found


@router.put(
    "/{experiment_id}",
    summary="Replace a draft's definition (409 once it has started: its units keep their variants); "
    "the body's id must be the path's",
    openapi_extra=_BODY,
    responses={**_ok("The experiment"), **error_responses(409, 413)},
    response_model=None,
)
async def replace(experiment_id: str, request: Request) -> dict[str, Any]:
    experiment: Experiment = parse_experiment(await _body(request))
    if experiment.id != experiment_id:
        raise InvalidInputError(
            [FieldError("id", f"{experiment.id!r} is not the id in the path ({experiment_id!r})")]
        )
    now = _now()

    def changed(store: Store, stored: StoredExperiment) -> dict[str, Any]:
        return described(store, change_experiment(store, experiment, now=now))

    found: dict[str, Any] = await _on_store(request, experiment_id, changed)
    return found


@router.post(
    "/{experiment_id}/start",
    summary="Start a draft: units are assigned and exposed from now on (409 if it is not a draft)",
    responses={**_ok("The experiment, running"), **error_responses(409)},
    response_model=None,
)
async def start(experiment_id: str, request: Request) -> dict[str, Any]:
    now = _now()

    def started(store: Store, stored: StoredExperiment) -> dict[str, Any]:
        return described(store, start_experiment(store, stored.experiment_id, now=now))

    found: dict[str, Any] = await _on_store(request, experiment_id, started)
    await _reload(request)
    return found


@router.post(
    "/{experiment_id}/stop",
    summary="Stop an experiment, optionally naming the winning variant (409 if it is stopped already)",
    responses={**_ok("The experiment, stopped"), **error_responses(409)},
    response_model=None,
)
async def stop(experiment_id: str, request: Request, winner: Winner = None) -> dict[str, Any]:
    now = _now()

    def stopped(store: Store, stored: StoredExperiment) -> dict[str, Any]:
        return described(store, stop_experiment(store, stored.experiment_id, now=now, winner=winner))

    found: dict[str, Any] = await _on_store(request, experiment_id, stopped)
    await _reload(request)
    return found


@router.get(
    "/{experiment_id}/results",
    summary="The results so far: the SRM check, each metric's per-variant estimates with intervals, each "
    "variant against the control (fixed and sequential intervals, Holm-adjusted p-values, chance to beat "
    "the control), traffic per day; notes instead of numbers when there is not enough data",
    responses=_ok("The results"),
    response_model=None,
)
async def results(experiment_id: str, request: Request, as_of: AsOf = None) -> dict[str, Any]:
    from shopmind.measure import experiment_results

    moment = _now(as_of)

    def found(store: Store, stored: StoredExperiment) -> dict[str, Any]:
        declared = stored_experiment(stored)
        return {
            "name": stored.name,
            "state": stored.state,
            "winner": stored.winner,
            **experiment_results(store, declared, as_of=moment).to_dict(),
        }

    answer: dict[str, Any] = await _on_store(request, experiment_id, found)
    return answer

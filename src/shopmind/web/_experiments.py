"""Experiments: the list; the form (the experiment written as YAML or JSON, each wrong field named
next to the text in the page's language); each experiment's page (what it decides, its variants
and metrics, its actions: start, stop naming the variant to keep) with its results (the SRM check
first: a red banner hides the results when the assignment is broken; per metric each variant's
estimate with its interval, the lift over the control with its fixed and sequential intervals in a
chart, the chance to beat the control and a decision in words; the traffic per day).

Viewers look; saving and the actions need a marketer. Pages read through the dashboard's reader;
saving and the actions run on the server's store thread. Every POST carries the CSRF token."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from shopmind.core import FieldError, InvalidInputError, label
from shopmind.experiments import Experiment, PlacementPoint
from shopmind.measure import (
    change_experiment,
    new_experiment,
    read_experiment_text,
    start_experiment,
    stop_experiment,
    stored_experiment,
)
from shopmind.store import (
    ExperimentStateError,
    Store,
    StoredExperiment,
    UnknownExperimentError,
    find_experiment,
)
from shopmind.web import _experiment_views as views
from shopmind.web._access import Viewer, require, store_write
from shopmind.web._frame import PREFIX, lang_of, page, render
from shopmind.web._i18n import message
from shopmind.web._reading import read

router = page("experiments", "nav.experiments")
HERE = f"{PREFIX}/experiments"
Marketer = Annotated[Viewer, Depends(require("marketer"))]
MAX_TEXT = 64 * 1024
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

EXAMPLE = {
    "ko": """\
id: exit-popup-copy
name: 이탈 팝업 문구 실험
point: {kind: placement, placement: popup, trigger: exit-coupon}
variants:
  - {name: control, trigger: exit-coupon}
  - {name: free-shipping, trigger: exit-free-shipping}
traffic: 1.0
metrics:
  - {name: conversion, kind: conversion, window_days: 7}
  - {name: revenue, kind: revenue, window_days: 7, cap_quantile: 0.99}
policy: {kind: fixed}
""",
    "en": """\
id: exit-popup-copy
name: Exit popup copy
point: {kind: placement, placement: popup, trigger: exit-coupon}
variants:
  - {name: control, trigger: exit-coupon}
  - {name: free-shipping, trigger: exit-free-shipping}
traffic: 1.0
metrics:
  - {name: conversion, kind: conversion, window_days: 7}
  - {name: revenue, kind: revenue, window_days: 7, cap_quantile: 0.99}
policy: {kind: fixed}
""",
}

#: the library's reasons (English) as the Korean form says them; anything else: a general sentence
_KOREAN_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), k)
    for p, k in (
        (r"^the shares add up to (?P<total>\d+%), above 100%", "ex.err.shares_above"),
        (r"^the shares add up to (?P<total>\d+%), below 100%", "ex.err.shares_below"),
        (r"^give every variant a share, or none", "ex.err.shares_some"),
        (r"^each share must be above 0", "ex.err.share_positive"),
        (r"^a share above 0 and at most 1", "ex.err.traffic"),
        (r"^name at least two variants", "ex.err.two_variants"),
        (r"^name at least one metric", "ex.err.one_metric"),
        (r"^lower-case letters, digits", "ex.err.slug"),
        (r"^'.*' is used by more than one", "ex.err.duplicate"),
        (r"^an experiment with the id '.*' exists already", "ex.err.id_taken"),
        (r"^must not be empty", "ex.err.empty"),
        (r"^required", "ex.err.required"),
        (r"^unknown field", "ex.err.unknown_field"),
        (r"^expected one of (?P<choices>.*)", "ex.err.choices"),
        (r"^expected `(?P<type>[^`]+)`", "ex.err.type"),
        (r"^empty: write the experiment", "ex.err.no_text"),
        (r"^not valid YAML", "ex.err.yaml"),
        (r"^not valid JSON", "ex.err.json"),
        (r"^expected a mapping", "ex.err.mapping"),
        (r"^days from 1 to", "ex.err.days"),
        (r"^bandits serve", "ex.err.bandit_point"),
        (r"^a contextual bandit serves", "ex.err.contextual_point"),
        (r"^'.*' is not a variant of it", "ex.err.winner"),
        (r"^'.*' is not the id of the experiment edited", "ex.err.id_changed"),
    )
)


def problem_text(reason: str, lang: str) -> str:
    """A field's problem in the page's language (the library says it in English)."""
    if lang == "en":
        return reason
    for pattern, key in _KOREAN_REASONS:
        found = pattern.match(reason)
        if found:  # the values the marketer may type (choices, types) are shown as code
            values = found.groupdict()
            codes = {k: values.pop(k) for k in ("choices", "type") if k in values}
            return views.code_words(key, lang, plain=values, **codes)
    return message("ex.err.other", lang)


def _problems(exc: InvalidInputError, lang: str) -> list[dict[str, str]]:
    return [
        {"field": e.field, "message": problem_text(e.reason, lang), "reason": e.reason} for e in exc.errors
    ]


# -- trigger names -------------------------------------------------------------------------------
def _trigger_names(request: Request, lang: str) -> dict[str, str]:
    """The server's on-site triggers' names in ``lang``, by id: a placement experiment names the
    triggers it shows by their names (a trigger id is the product's code, not a word of the page)."""
    onsite = getattr(request.app.state, "onsite", None)
    return {t.id: t.name.in_(lang) for t in getattr(onsite, "triggers", ())}


def _shows(trigger: str, names: Mapping[str, str], lang: str) -> str:
    """What a variant showing ``trigger`` does: the trigger by its name, or its id as code when
    the server has no such trigger."""
    if trigger in names:
        return views.words("ex.shows_trigger_named", lang, trigger=names[trigger])
    return views.code_words("ex.shows_trigger", lang, trigger=trigger)


def _point(experiment: Experiment, names: Mapping[str, str], lang: str) -> str | None:
    """A placement experiment's decision point with its trigger's name (None: another point)."""
    point = experiment.point
    if not isinstance(point, PlacementPoint):
        return None
    where = label("placement", point.placement, lang)
    if point.trigger in names:
        return views.words("ex.point.placement_named", lang, placement=where, trigger=names[point.trigger])
    return views.code_words("ex.point.placement", lang, plain={"placement": where}, trigger=point.trigger)


def _list(store: Store, lang: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = views.experiment_list(store, lang)
    for row in rows:
        stored = find_experiment(store, row["id"])
        named = _point(stored_experiment(stored), names, lang) if stored is not None else None
        if named is not None:
            row["point"] = named
    return rows


def _name_triggers(
    stored: StoredExperiment, shown: dict[str, Any], names: Mapping[str, str], lang: str
) -> None:
    experiment = stored_experiment(stored)
    named = _point(experiment, names, lang)
    if named is None:
        return
    summary = shown["summary"]
    summary["point"] = named
    for variant, row in zip(experiment.variants, summary["variants"], strict=True):
        if variant.trigger:
            row["detail"] = _shows(variant.trigger, names, lang)


# -- the list ------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
async def show(request: Request) -> HTMLResponse:
    lang = lang_of(request)
    rows = await read(request, _list, lang, _trigger_names(request, lang))
    viewer: Viewer = request.state.viewer
    return render(
        request, "experiments.html", "nav.experiments", experiments=rows, may_act=viewer.may("marketer")
    )


# -- the form ------------------------------------------------------------------------------------
def _form(
    request: Request,
    text: str | None = None,
    problems: list[dict[str, str]] | None = None,
    editing: str | None = None,
) -> HTMLResponse:
    """The form: a new experiment's (the example to start from), or a draft's (``editing``: its
    id; the text its stored definition)."""
    lang = lang_of(request)
    viewer: Viewer = request.state.viewer
    response = render(
        request,
        "experiments_new.html",
        "ex.edit_form" if editing else "ex.form",
        text=EXAMPLE[lang] if text is None else text,
        problems=problems or [],
        may_save=viewer.may("marketer"),
        action=f"{HERE}/{editing}/edit" if editing else f"{HERE}/new",
        back=f"{HERE}/{editing}" if editing else HERE,
        back_label="ex.back_to_one" if editing else "ex.back",
        save_label="ex.save_edit" if editing else "ex.save",
    )
    if problems:
        response.status_code = 400
    return response


@router.get("/new", response_class=HTMLResponse)
async def new(request: Request) -> HTMLResponse:
    return _form(request)


def _create(store: Store, experiment: Experiment, who: str, now: datetime) -> str:
    return new_experiment(store, experiment, created_by=who, now=now).experiment_id


@router.post("/new", response_model=None)
async def save(
    request: Request, viewer: Marketer, definition: Annotated[str, Form(max_length=MAX_TEXT)] = ""
) -> Response:
    """Keep the form's experiment as a draft and open its page; or the form again, each wrong
    field named."""
    lang = lang_of(request)
    try:
        experiment = read_experiment_text(definition)
        experiment_id = await store_write(
            request, _create, experiment, f"dashboard:{viewer.login}", datetime.now(UTC)
        )
    except InvalidInputError as exc:
        return _form(request, definition, _problems(exc, lang))
    return RedirectResponse(f"{HERE}/{experiment_id}?done=created&lang={lang}", 303)


# -- a draft's form ------------------------------------------------------------------------------
def _draft_text(store: Store, experiment_id: str) -> str | None:
    """A draft's definition as the form shows it (JSON, indented: YAML reads it too); None: no
    such experiment. ``ExperimentStateError`` once it has started (its definition is fixed)."""
    stored = find_experiment(store, experiment_id)
    if stored is None:
        return None
    if stored.state != "draft":
        raise ExperimentStateError(f"experiment {experiment_id!r} is {stored.state}")
    return json.dumps(json.loads(stored.definition), ensure_ascii=False, indent=2)


@router.get("/{experiment_id}/edit", response_class=HTMLResponse, response_model=None)
async def edit(request: Request, experiment_id: str) -> Response:
    """A draft's definition in the form, to change before it starts."""
    lang = lang_of(request)
    if not _ID.match(experiment_id):
        return _not_found(request)
    try:
        text = await read(request, _draft_text, experiment_id)
    except ExperimentStateError:
        return RedirectResponse(f"{HERE}/{experiment_id}?problem=state&lang={lang}", 303)
    if text is None:
        return _not_found(request)
    return _form(request, text, editing=experiment_id)


def _change(store: Store, experiment: Experiment, now: datetime) -> None:
    change_experiment(store, experiment, now=now)


@router.post("/{experiment_id}/edit", response_model=None)
async def save_edit(
    request: Request,
    experiment_id: str,
    _: Marketer,
    definition: Annotated[str, Form(max_length=MAX_TEXT)] = "",
) -> Response:
    """Replace a draft's definition and open its page; or the form again, each wrong field named
    (the id cannot change: it is the experiment's name in the results and the assignment)."""
    lang = lang_of(request)
    if not _ID.match(experiment_id):
        return RedirectResponse(HERE, 303)
    here = f"{HERE}/{experiment_id}"
    try:
        experiment = read_experiment_text(definition)
        if experiment.id != experiment_id:
            raise InvalidInputError(
                [
                    FieldError(
                        "id", f"{experiment.id!r} is not the id of the experiment edited ({experiment_id!r})"
                    )
                ]
            )
        await store_write(request, _change, experiment, datetime.now(UTC))
    except InvalidInputError as exc:
        return _form(request, definition, _problems(exc, lang), editing=experiment_id)
    except UnknownExperimentError:
        return RedirectResponse(HERE, 303)
    except ExperimentStateError:
        return RedirectResponse(f"{here}?problem=state&lang={lang}", 303)
    return RedirectResponse(f"{here}?done=edited&lang={lang}", 303)


# -- one experiment ------------------------------------------------------------------------------
def _not_found(request: Request) -> HTMLResponse:
    response = render(request, "experiment.html", "nav.experiments", experiment=None)
    response.status_code = 404
    return response


@router.get("/{experiment_id}", response_class=HTMLResponse)
async def one(
    request: Request,
    experiment_id: str,
    done: Annotated[str | None, Query(max_length=20)] = None,
    problem: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    lang = lang_of(request)
    if not _ID.match(experiment_id):
        return _not_found(request)
    found = await read(request, views.experiment_page, experiment_id, datetime.now(UTC), lang)
    if found is None:
        return _not_found(request)
    stored, shown = found
    _name_triggers(stored, shown, _trigger_names(request, lang), lang)
    viewer: Viewer = request.state.viewer
    may_act = viewer.may("marketer")
    actions = []
    if may_act and stored.state == "draft":
        actions.append("start")
    if may_act and stored.state != "stopped":
        actions.append("stop")
    return render(
        request,
        "experiment.html",
        "ex.page",
        experiment=stored,
        state_name=views.state_name(stored.state, lang),
        shown=shown,
        actions=actions,
        may_act=may_act,
        done=message(f"ex.done.{done}", lang)
        if done in ("created", "edited", "started", "stopped")
        else None,
        problem=message(f"ex.err.action.{problem}", lang) if problem in ("state", "winner") else None,
    )


def _act(store: Store, experiment_id: str, action: str, winner: str | None, now: datetime) -> None:
    if action == "start":
        start_experiment(store, experiment_id, now=now)
    else:
        stop_experiment(store, experiment_id, now=now, winner=winner or None)


async def _reload(request: Request) -> None:
    """The server's on-site decisions re-read the running experiments (when they can)."""
    reload = getattr(getattr(request.app.state, "onsite", None), "reload_experiments", None)
    if reload is not None:
        done = reload()
        if inspect.isawaitable(done):
            await done


@router.post("/{experiment_id}/{action}", response_model=None)
async def act(
    request: Request,
    experiment_id: str,
    action: str,
    _: Marketer,
    winner: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    lang = lang_of(request)
    if action not in ("start", "stop") or not _ID.match(experiment_id):
        return RedirectResponse(HERE, 303)
    here = f"{HERE}/{experiment_id}"
    try:
        await store_write(request, _act, experiment_id, action, winner or None, datetime.now(UTC))
    except UnknownExperimentError:
        return RedirectResponse(HERE, 303)
    except ExperimentStateError:
        return RedirectResponse(f"{here}?problem=state&lang={lang}", 303)
    except InvalidInputError as exc:
        field = exc.errors[0].field if exc.errors else ""
        kind = "winner" if field == "winner" else "state"
        return RedirectResponse(f"{here}?problem={kind}&lang={lang}", 303)
    await _reload(request)
    return RedirectResponse(f"{here}?done={'started' if action == 'start' else 'stopped'}&lang={lang}", 303)

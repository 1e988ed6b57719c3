"""Campaigns: the list; the form (audience, steps with a message per channel, channel policy, send
time, caps, holdout) whose live preview writes each message for a sample customer exactly as the
law has it go out ("(광고)", the sender, the free opt-out; its format and length); the review of
a campaign before it is scheduled (what goes out when, on which channel, at what cost, and who is
left out and why, with examples); its actions (schedule, pause, resume, finish); and its results
(per step, and the uplift over the holdout with 95 % intervals, in a chart and in words).

Viewers look; saving and the actions need a marketer. Pages read through the dashboard's reader;
saving and the actions run on the server's store thread. Every POST carries the CSRF token."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import Depends, Form, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.requests import Request

from shopmind.activation import (
    CHANNELS,
    ChannelConfig,
    MessageLinks,
    finish_campaign,
    holdout_key,
    load_channel_config,
    new_campaign,
    parse_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    stored_definition,
)
from shopmind.core import InvalidInputError, label, resolve_particles, resolve_plurals
from shopmind.segments import SEGMENTS, saved_segments, segment_name
from shopmind.store import (
    CAMPAIGN_TRANSITIONS,
    HASH_KEY_FILE,
    CampaignStateError,
    Store,
    StoredCampaign,
    UnknownCampaignError,
    find_campaign,
)
from shopmind.web import _campaign_results
from shopmind.web import _campaign_views as views
from shopmind.web._access import Viewer, require, store_write
from shopmind.web._campaign_form import (
    BAND_SCORES,
    RESPONSES,
    TITLED,
    Problem,
    campaign_data,
    library_problem,
)
from shopmind.web._frame import PREFIX, lang_of, page, render
from shopmind.web._i18n import message
from shopmind.web._reading import read

router = page("campaigns", "nav.campaigns")
HERE = f"{PREFIX}/campaigns"
Marketer = Annotated[Viewer, Depends(require("marketer"))]
MAX_STATE_BYTES = 256 * 1024
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: what each action does to a campaign, and the state it moves to
ACTIONS = {"schedule": "scheduled", "pause": "paused", "resume": "scheduled", "finish": "finished"}
_log = logging.getLogger("shopmind.web")
#: the template fields the form lists (what the marketer types, and what it means)
TEMPLATE_FIELDS = (
    ("{{ name_or_customer }}", "cp.f.name"),
    ("{{ segment_name }}", "cp.f.segment"),
    ("{{ favourite_category }}", "cp.f.category"),
    ("{{ coupon }}", "cp.f.coupon"),
    ("{{ link('https://…') }}", "cp.f.link"),
    ("{% for item in recommended %}{{ item.name }} {{ item.price | won }}{% endfor %}", "cp.f.recommended"),
)


# -- what every page needs of the workspace ------------------------------------------------------
def _folder(request: Request) -> Path:
    """The workspace's folder (the server's; else the one its key ring lives in)."""
    found = getattr(request.app.state, "workspace_folder", None)
    return Path(found) if found is not None else Path(request.app.state.keys.path).parent


def _config(request: Request) -> ChannelConfig:
    """The workspace's ``channels.toml`` (the sender, the costs), read for each use: an edit
    applies without a restart."""
    return load_channel_config(_folder(request))


def _holdout_key(request: Request) -> str:
    """The holdout key, derived from the workspace's hashing key as every surface derives it."""
    secret = bytes.fromhex((_folder(request) / HASH_KEY_FILE).read_text().strip())
    return holdout_key(secret)


def _recommender(request: Request) -> Any:
    """The server's hybrid recommender once it is ready (messages then carry each customer's
    recommended products), else None."""
    found = getattr(request.app.state, "recommender", None)
    return found.model if found is not None and found.ready else None


def _problems(found: Sequence[Problem], lang: str) -> list[dict[str, str]]:
    out = []
    for p in found:
        text = message(p.key, lang)
        if p.values:
            text = text.format(**p.values)
        out.append({"field": p.field, "message": resolve_particles(text) if lang == "ko" else text})
    return out


def _t(key: str, lang: str, **values: Any) -> str:
    text = message(key, lang).format(**values) if values else message(key, lang)
    return resolve_particles(text) if lang == "ko" else resolve_plurals(text)


# -- the list ------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
async def show(request: Request) -> HTMLResponse:
    rows = await read(request, views.campaign_list, datetime.now(UTC), lang_of(request))
    viewer: Viewer = request.state.viewer
    return render(request, "campaigns.html", "nav.campaigns", campaigns=rows, may_act=viewer.may("marketer"))


# -- the form ------------------------------------------------------------------------------------
def _choices(store: Store, lang: str) -> dict[str, Any]:
    def upper(text: str) -> str:
        return text[:1].upper() + text[1:] if lang == "en" else text

    return {
        "saved": [
            (s.segment_id, (s.name_en or s.name_ko) if lang == "en" else (s.name_ko or s.name_en))
            for s in saved_segments(store)
        ],
        "rfm": [(k, upper(segment_name(k, lang))) for k in SEGMENTS],
        "scores": [(k, upper(label("score", k, lang))) for k in BAND_SCORES],
        "channels": [(c, upper(label("channel", c, lang))) for c in CHANNELS],
        "responses": [(r, message(f"cp.when.{r}", lang)) for r in RESPONSES],
        "kinds": [(k, upper(label("message_kind", k, lang))) for k in ("advertising", "informational")],
    }


async def _form(
    request: Request, state: Any = None, problems: Sequence[Problem] = (), status: int = 200
) -> HTMLResponse:
    lang = lang_of(request)
    choices = await read(request, _choices, lang)
    viewer: Viewer = request.state.viewer
    response = render(
        request,
        "campaigns_new.html",
        "cp.form",
        choices=choices,
        titled=TITLED,
        fields=TEMPLATE_FIELDS,
        may_save=viewer.may("marketer"),
        form={
            "state": state,
            "problems": _problems(problems, lang),
            "words": {
                k: message(k, lang)
                for k in ("cp.step", "cp.preview_busy", "cp.no_sample", "cp.no_problem", "cp.open_profile")
            },
        },
    )
    response.status_code = status
    return response


@router.get("/new", response_class=HTMLResponse)
async def new(request: Request) -> HTMLResponse:
    return await _form(request)


def _load(text: bytes | str) -> Any:
    if len(text) > MAX_STATE_BYTES:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _checked(data: Mapping[str, Any]) -> list[Problem]:
    """The library's own checks of the definition, as the form's problems."""
    try:
        parse_campaign(data)
    except InvalidInputError as exc:
        return [library_problem(e.field, e.reason) for e in exc.errors]
    return []


@router.post("/preview")
async def preview(request: Request) -> Response:
    """The audience's size and each message as the sample customer would get it (JSON, for the
    page's script); form problems are an answer too (``{"problems": [...]}``, 200)."""
    lang = lang_of(request)
    state = _load(await request.body())
    data, problems = campaign_data(state)
    if data is None:
        return JSONResponse({"problems": _problems(problems, lang)})
    sample = state.get("sample") if isinstance(state.get("sample"), str) else None
    answer, problems = await read(
        request,
        views.form_preview,
        data,
        sample,
        _config(request),
        _recommender(request),
        datetime.now(UTC),
        lang,
    )
    problems += _checked(data)
    answer["problems"] = _problems(problems, lang)
    return JSONResponse(answer)


def _create(store: Store, data: Mapping[str, Any], who: str, now: datetime) -> str:
    return new_campaign(store, data, created_by=who, now=now).campaign_id


@router.post("/new", response_model=None)
async def save(
    request: Request, viewer: Marketer, state: Annotated[str, Form(max_length=MAX_STATE_BYTES)] = ""
) -> Response:
    """Keep the form's campaign as a draft and open its review."""
    found = _load(state)
    data, problems = campaign_data(found)
    if data is None:
        return await _form(request, found, problems, 400)
    problems = _checked(data)
    if not problems:
        _, problems = await read(
            request,
            views.form_preview,
            data,
            None,
            _config(request),
            None,
            datetime.now(UTC),
            lang_of(request),
        )
    if problems:
        return await _form(request, found, problems, 400)
    try:
        campaign_id = await store_write(
            request, _create, data, f"dashboard:{viewer.login}", datetime.now(UTC)
        )
    except InvalidInputError as exc:
        return await _form(request, found, [library_problem(e.field, e.reason) for e in exc.errors], 400)
    return RedirectResponse(f"{HERE}/{campaign_id}?done=created", 303)


# -- a campaign's review and its actions ---------------------------------------------------------
def _stored(store: Store, campaign_id: str) -> StoredCampaign | None:
    found = find_campaign(store, campaign_id)
    return found if found is not None and found.campaign_id == campaign_id else None


def _review(store: Store, campaign_id: str, config: ChannelConfig, key: str, now: datetime, lang: str) -> Any:
    stored = _stored(store, campaign_id)
    if stored is None:
        return None
    return stored, views.review(store, stored, config, key, now, lang)


def _not_found(request: Request) -> HTMLResponse:
    response = render(request, "campaign.html", "nav.campaigns", campaign=None)
    response.status_code = 404
    return response


def _actions(state: str) -> list[str]:
    return [
        a
        for a, to in ACTIONS.items()
        if to in CAMPAIGN_TRANSITIONS[state]
        and (a != "resume" or state == "paused")
        and (a != "schedule" or state == "draft")
    ]


@router.get("/{campaign_id}", response_class=HTMLResponse)
async def review(
    request: Request,
    campaign_id: str,
    done: Annotated[str | None, Query(max_length=20)] = None,
    problem: Annotated[str | None, Query(max_length=20)] = None,
    members: Annotated[int, Query(ge=0)] = 0,
    queued: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    lang = lang_of(request)
    if not _ID.match(campaign_id):
        return _not_found(request)
    found = await read(
        request, _review, campaign_id, _config(request), _holdout_key(request), datetime.now(UTC), lang
    )
    if found is None:
        return _not_found(request)
    stored, shown = found
    viewer: Viewer = request.state.viewer
    note = None
    if done in ("created", "scheduled", "paused", "resumed", "finished"):
        note = _t(f"cp.done.{done}", lang, members=f"{members:,}", queued=f"{queued:,}")
    return render(
        request,
        "campaign.html",
        "cp.review",
        campaign=stored,
        state_name=views.named("campaign_state", stored.state, lang),
        definition=stored_definition(stored),
        shown=shown,
        actions=_actions(stored.state) if viewer.may("marketer") else [],
        may_act=viewer.may("marketer"),
        done=note,
        problem=message(f"cp.err.{problem}", lang) if problem in ("state",) else None,
        schedule_problem=request.query_params.get("detail", "")[:300] if problem == "schedule" else None,
    )


def _links(request: Request) -> tuple[Any, Any]:
    """The signed links a scheduled message carries, on this server (its clicks and one-click
    unsubscribe answer at ``/m/…``)."""
    # the public address the sender's links use (SHOPMIND_PUBLIC_URL), else the one the
    # marketer reached the dashboard by
    base = (os.environ.get("SHOPMIND_PUBLIC_URL") or str(request.base_url)).rstrip("/")
    key: bytes = request.app.state.link_key

    def unsubscribe(message_key: str) -> str:
        return MessageLinks(base, key, message_key).unsubscribe()

    def tracked(message_key: str, index: int, _target: str) -> str:
        return MessageLinks(base, key, message_key).click(index)

    return unsubscribe, tracked


def _act(
    store: Store,
    campaign_id: str,
    action: str,
    now: datetime,
    config: ChannelConfig,
    key: str,
    links: tuple[Any, Any],
    recommender: Any,
) -> tuple[int, int]:
    if action == "pause":
        pause_campaign(store, campaign_id, now=now)
    elif action == "resume":
        resume_campaign(store, campaign_id, now=now)
    elif action == "finish":
        finish_campaign(store, campaign_id, now=now)
    else:
        stored = _stored(store, campaign_id)
        if stored is None:
            raise UnknownCampaignError(campaign_id)
        done = schedule_campaign(
            store,
            campaign_id,
            now=now,
            key=key,
            sender=config.sender,
            recommender=recommender,
            unsubscribe_url=links[0],
            tracked=links[1],
            costs=config.costs,
        )
        return done.members, done.queued
    return 0, 0


@router.post("/{campaign_id}/{action}", response_model=None)
async def act(request: Request, campaign_id: str, action: str, _: Marketer) -> Response:
    if action not in ACTIONS or not _ID.match(campaign_id):
        return RedirectResponse(HERE, 303)
    here = f"{HERE}/{campaign_id}"
    try:
        members, queued = await store_write(
            request,
            _act,
            campaign_id,
            action,
            datetime.now(UTC),
            _config(request),
            _holdout_key(request),
            _links(request),
            _recommender(request),
        )
    except UnknownCampaignError:
        return RedirectResponse(HERE, 303)
    except CampaignStateError:
        return RedirectResponse(f"{here}?problem=state", 303)
    except InvalidInputError as exc:
        _log.info("campaign %s: %s failed: %s", campaign_id, action, exc)
        lang = lang_of(request)
        detail = "; ".join(
            p["message"] for p in _problems([library_problem(e.field, e.reason) for e in exc.errors], lang)
        )
        return RedirectResponse(f"{here}?problem=schedule&detail={quote(detail)}", 303)
    done = {"schedule": "scheduled", "pause": "paused", "resume": "resumed", "finish": "finished"}[action]
    return RedirectResponse(f"{here}?done={done}&members={members}&queued={queued}", 303)


# -- the results ---------------------------------------------------------------------------------
def _results(store: Store, campaign_id: str, now: datetime, lang: str) -> Any:
    stored = _stored(store, campaign_id)
    if stored is None:
        return None
    return stored, _campaign_results.results(store, stored, now, lang)


@router.get("/{campaign_id}/results", response_class=HTMLResponse)
async def results(request: Request, campaign_id: str) -> HTMLResponse:
    lang = lang_of(request)
    if not _ID.match(campaign_id):
        return _not_found(request)
    found = await read(request, _results, campaign_id, datetime.now(UTC), lang)
    if found is None:
        return _not_found(request)
    stored, shown = found
    return render(
        request,
        "campaign_results.html",
        "cp.results",
        campaign=stored,
        state_name=views.named("campaign_state", stored.state, lang),
        shown=shown,
    )

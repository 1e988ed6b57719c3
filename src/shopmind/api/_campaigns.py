"""Campaigns over the API (secret key): create one from its JSON definition (a draft), list and read
them, preview what one would send (a stored campaign, or a definition not yet stored), schedule it
(planned and its messages queued in the outbox), pause, resume or finish it, read its results with
the uplift over the holdout, and why customers were left out.

A definition is read here as bytes by the campaign's own parser: its errors name the field path
(``steps[0].messages.sms.text``) in the one error shape, and nothing is stored. Links in the
queued messages point at ``SHOPMIND_PUBLIC_URL`` when it is set, else at the address the request
reached the server on."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from shopmind.activation import (
    CampaignSettings,
    Scheduled,
    campaign_results,
    campaign_settings,
    due_hours,
    finish_campaign,
    new_campaign,
    parse_campaign,
    pause_campaign,
    preview_campaign,
    resume_campaign,
    schedule_stored,
    stored_definition,
    suppressed_counts,
)
from shopmind.api._auth import requires
from shopmind.api._errors import ApiError, error_responses
from shopmind.api._json import JSON
from shopmind.core import to_utc
from shopmind.store import (
    CampaignStateError,
    Store,
    StoredCampaign,
    UnknownCampaignError,
    get_campaign,
    list_campaigns,
    member_counts,
    outbox_counts,
)

router = APIRouter(
    prefix="/v1/campaigns",
    tags=["campaigns"],
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 404, 429, 503),
)
MAX_BODY_BYTES = 256 * 1024
#: the campaign's types are documented as ``campaign.<Type>`` (a segment definition has a Step too)
_PREFIX = "campaign."
_REF = "#/components/schemas/" + _PREFIX + "{name}"
_CAMPAIGN_SCHEMA = {"$ref": _REF.format(name="Campaign")}
_OBJECT = {"application/json": {"schema": {"type": "object"}}}

AsOf = Annotated[
    datetime | None,
    Query(description="As of this moment (ISO 8601; without an offset, the shop's time zone). Default: now."),
]
Customers = Annotated[int, Query(ge=0, le=20, description="Sample customers whose finished message to show")]
ProfileIds = Annotated[
    list[str] | None,
    Query(alias="profile_id", max_length=20, description="Show these customers' messages (repeatable)"),
]


def _now(as_of: datetime | None = None) -> datetime:
    return to_utc(as_of) if as_of is not None else datetime.now(UTC)  # the surface reads the clock


async def _body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiError(
            413, "too_large", f"the campaign has {int(length):,} bytes; the limit is {MAX_BODY_BYTES:,}"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the campaign is larger than {MAX_BODY_BYTES:,} bytes")
    return bytes(body)


def _settings(request: Request) -> CampaignSettings:
    """The workspace's campaign settings (read per request: channels.toml may change while the
    server runs; a bad one is a 400 naming its field)."""
    url = os.environ.get("SHOPMIND_PUBLIC_URL") or str(request.base_url)
    state = request.app.state
    return campaign_settings(state.workspace, public_url=url, zone=state.shop_zone)


def _not_found(campaign_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no campaign {campaign_id!r} (GET /v1/campaigns lists them)")


def _not_a_word(campaign_id: str, request: Request) -> None:
    """``GET /v1/campaigns/preview`` is a wrong method on the preview, not a campaign so named."""
    if campaign_id == "preview":
        raise ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; use POST",
            headers={"Allow": "POST"},
        )


async def _on_store(request: Request, campaign_id: str, fn: Any, *args: Any) -> Any:
    """``fn(store, stored campaign, *args)`` on the store's thread: 404 for no such campaign, 409
    for a state it cannot move from."""

    def run(store: Store) -> Any:
        try:
            stored = get_campaign(store, campaign_id)
        except UnknownCampaignError:
            return _not_found(campaign_id)
        try:
            return fn(store, stored, *args)
        except CampaignStateError as exc:
            return ApiError(409, "conflict", str(exc))

    found = await request.app.state.worker.run(run)
    if isinstance(found, ApiError):
        raise found
    return found


def _described(store: Store, stored: StoredCampaign) -> dict[str, Any]:
    return {
        **stored.to_dict(),
        "definition": _definition_dict(stored),
        "members": member_counts(store, stored.campaign_id),
        "outbox": outbox_counts(store, stored.campaign_id),
    }


def _definition_dict(stored: StoredCampaign) -> dict[str, Any]:
    import msgspec

    out: dict[str, Any] = msgspec.to_builtins(stored_definition(stored))
    return out


def _body_doc(description: str, required: bool = True) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "description": description,
            "content": {"application/json": {"schema": _CAMPAIGN_SCHEMA}},
        }
    }


def _ok(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": _OBJECT}}


@router.post(
    "",
    summary="Keep a campaign as a draft (nothing planned or sent yet); a bad definition is a 400 naming the field",
    openapi_extra=_body_doc("A campaign (see docs/campaigns.md)"),
    responses={201: {"description": "Created", "content": _OBJECT}},
    status_code=201,
    response_model=None,
)
async def create(request: Request) -> JSON:
    campaign = parse_campaign(await _body(request))
    now = _now()

    def made(store: Store) -> dict[str, Any]:
        return _described(store, new_campaign(store, campaign, created_by="api", now=now))

    return JSON(await request.app.state.worker.run(made), status_code=201)


@router.get(
    "", summary="The campaigns, newest first, with their state and outbox counts", response_model=None
)
async def list_all(
    request: Request,
    state: Annotated[
        str | None,
        Query(pattern="^(draft|scheduled|running|paused|finished)$", description="Only this state"),
    ] = None,
) -> dict[str, Any]:
    def listed(store: Store) -> list[dict[str, Any]]:
        return [
            {**c.to_dict(), "outbox": outbox_counts(store, c.campaign_id)}
            for c in list_campaigns(store, state)
        ]

    return {"campaigns": await request.app.state.worker.run(listed)}


@router.post(
    "/preview",
    summary="What a campaign not yet stored would send: the plan's counts (planned, held out, excluded by "
    "reason, moved out of the night, per channel, cost), when, and sample customers' finished messages",
    openapi_extra=_body_doc("A campaign (see docs/campaigns.md)"),
    responses=_ok("The preview"),
    response_model=None,
)
async def preview_definition(
    request: Request, as_of: AsOf = None, customers: Customers = 3, profile_id: ProfileIds = None
) -> dict[str, Any]:
    campaign = parse_campaign(await _body(request))
    settings, moment = _settings(request), _now(as_of)

    def shown(store: Store) -> dict[str, Any]:
        return preview_campaign(
            store, settings, campaign, at=moment, customers=customers, profile_ids=profile_id or ()
        ).to_dict()

    found: dict[str, Any] = await request.app.state.worker.run(shown)
    return found


@router.get(
    "/{campaign_id}",
    summary="A campaign: its state, definition, members per arm and outbox counts (by id or name)",
    responses={**_ok("The campaign"), **error_responses(405)},
    response_model=None,
)
async def show(campaign_id: str, request: Request) -> dict[str, Any]:
    _not_a_word(campaign_id, request)
    found: dict[str, Any] = await _on_store(request, campaign_id, _described)
    return found


@router.post(
    "/{campaign_id}/preview",
    summary="What a stored campaign would send now (nothing is written): counts, when, sample messages",
    responses=_ok("The preview"),
    response_model=None,
)
async def preview_stored(
    campaign_id: str,
    request: Request,
    as_of: AsOf = None,
    customers: Customers = 3,
    profile_id: ProfileIds = None,
) -> dict[str, Any]:
    settings, moment = _settings(request), _now(as_of)

    def shown(store: Store, stored: StoredCampaign) -> dict[str, Any]:
        return preview_campaign(
            store,
            settings,
            stored_definition(stored),
            at=moment,
            campaign_id=stored.campaign_id,
            customers=customers,
            profile_ids=profile_id or (),
        ).to_dict()

    found: dict[str, Any] = await _on_store(request, campaign_id, shown)
    return found


def _scheduled(done: Scheduled) -> dict[str, Any]:
    due = due_hours(done.plan) if done.plan is not None else ()
    return {
        "campaign": done.campaign.to_dict(),
        "members": done.members,
        "queued": done.queued,
        "counts": done.plan.counts.to_dict() if done.plan is not None else None,
        "due": [{"at": at.isoformat(), "messages": n} for at, n in due],
    }


@router.post(
    "/{campaign_id}/schedule",
    summary="Plan a draft campaign and queue its messages in the outbox, each at its customer's best hour "
    "(409 if it is not a draft)",
    responses={**_ok("What was queued, and when it goes"), **error_responses(409)},
    response_model=None,
)
async def schedule(campaign_id: str, request: Request) -> dict[str, Any]:
    settings, now = _settings(request), _now()

    def scheduled(store: Store, stored: StoredCampaign) -> dict[str, Any]:
        return _scheduled(schedule_stored(store, settings, stored.campaign_id, now=now))

    found: dict[str, Any] = await _on_store(request, campaign_id, scheduled)
    return found


def _mover(move: Any) -> Any:
    def moved(store: Store, stored: StoredCampaign, now: datetime) -> dict[str, Any]:
        return dict(move(store, stored.campaign_id, now=now).to_dict())

    return moved


_MOVES = {
    "pause": (pause_campaign, "Stop sending: the sender claims none of its messages until it is resumed"),
    "resume": (resume_campaign, "Send again what a pause held back"),
    "finish": (finish_campaign, "End the campaign: nothing more of it is sent"),
}


def _move_route(action: str) -> None:
    move, summary = _MOVES[action]

    async def endpoint(campaign_id: str, request: Request) -> dict[str, Any]:
        found: dict[str, Any] = await _on_store(request, campaign_id, _mover(move), _now())
        return found

    endpoint.__name__ = f"{action}_campaign"
    router.add_api_route(
        f"/{{campaign_id}}/{action}",
        endpoint,
        methods=["POST"],
        summary=f"{summary} (409 if its state does not allow it)",
        responses={**_ok("The campaign in its new state"), **error_responses(409)},
        response_model=None,
    )


for _action in _MOVES:
    _move_route(_action)


@router.get(
    "/{campaign_id}/results",
    summary="Per step: sent, delivered, opened, clicked, converted, revenue, cost; and the uplift over the "
    "holdout with 95% intervals (conversion, revenue per customer, incremental revenue minus cost)",
    responses=_ok("The results"),
    response_model=None,
)
async def results(campaign_id: str, request: Request, as_of: AsOf = None) -> dict[str, Any]:
    moment = _now(as_of)

    def found(store: Store, stored: StoredCampaign) -> dict[str, Any]:
        return {
            "name": stored.name,
            "state": stored.state,
            **campaign_results(store, stored.campaign_id, as_of=moment).to_dict(),
        }

    answer: dict[str, Any] = await _on_store(request, campaign_id, found)
    return answer


@router.get(
    "/{campaign_id}/excluded",
    summary="Why customers get no message: the plan's exclusions now by reason (count, share, examples) and "
    "what the sender suppressed at hand-over",
    responses=_ok("The excluded customers by reason"),
    response_model=None,
)
async def excluded(campaign_id: str, request: Request, as_of: AsOf = None) -> dict[str, Any]:
    settings, moment = _settings(request), _now(as_of)

    def found(store: Store, stored: StoredCampaign) -> dict[str, Any]:
        shown = preview_campaign(
            store, settings, stored_definition(stored), at=moment, campaign_id=stored.campaign_id, customers=0
        )
        return {
            "campaign_id": stored.campaign_id,
            "as_of": moment.isoformat(),
            "treated": shown.counts.treated,
            "excluded": [e.to_dict() for e in shown.exclusions],
            "deferred": shown.counts.deferred,
            "suppressed": suppressed_counts(store, stored.campaign_id),
        }

    answer: dict[str, Any] = await _on_store(request, campaign_id, found)
    return answer


def document_campaigns(app: FastAPI) -> None:
    """Put the campaign's JSON Schema (its declared types) among the OpenAPI document's components."""
    import msgspec

    from shopmind.activation import Campaign

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            (_,), components = msgspec.json.schema_components([Campaign], ref_template=_REF)
            named = {_PREFIX + name: component for name, component in components.items()}
            schema.setdefault("components", {}).setdefault("schemas", {}).update(named)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

"""What customers and gateways tell shopmind about the messages it sent.

* ``GET /m/o/{token}``: the open pixel (a 1×1 GIF, never cached);
* ``GET /m/c/{token}``: a tracked link: 302 to the target stored with the message (the token
  names only its index: no open redirect);
* ``GET /m/u/{token}``: the unsubscribe page (Korean, or English when the browser prefers it),
  with one button; ``POST /m/u/{token}``: the unsubscribe itself, which is also what a mail
  client's one-click unsubscribe sends (RFC 8058, ``List-Unsubscribe-Post``). A GET never
  unsubscribes: mail scanners follow links;
* ``POST /v1/messages/callbacks``: a gateway's delivery reports (secret key);
* ``POST /v1/opt-outs``: replies to the free 080 opt-out line (secret key).

The links carry no key: their signature is the proof. A forged, edited or unknown token gets the
same bare 404 whatever is wrong with it, and nothing is recorded.
"""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shopmind.activation import (
    LINK_PATHS,
    BadLinkError,
    DeliveryReport,
    follow_click,
    record_deliveries,
    record_open,
    record_opt_out,
    unsubscribe,
    unsubscribe_target,
)
from shopmind.api._auth import requires
from shopmind.api._consent import FUTURE_TOLERANCE
from shopmind.api._errors import ApiError, error_responses
from shopmind.core import FieldError, InvalidInputError

router = APIRouter(tags=["messages"])

#: a transparent 1×1 GIF (42 bytes)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
#: what every answer about a message link says: private to the customer, not to be cached, not
#: to leak the token onwards, not to be indexed
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

Token = Annotated[str, Path(min_length=1, max_length=512, description="the signed token from the message")]


def _no_such_link() -> ApiError:
    # one answer for every failure: which part of a token was wrong is nobody's business
    return ApiError(404, "not_found", "no such link", headers=_PRIVATE)


async def _run(request: Request, fn: Any, *args: Any) -> Any:
    try:
        return await request.app.state.worker.run(fn, request.app.state.link_key, *args)
    except BadLinkError:
        raise _no_such_link() from None


@router.get(
    LINK_PATHS["open"] + "{token}",
    summary="The open pixel of a message: records its first open; a 1×1 GIF",
    response_class=Response,
    responses={
        200: {"content": {"image/gif": {}}, "description": "a transparent 1×1 GIF"},
        **error_responses(400, 404),
    },
)
async def opened(token: Token, request: Request) -> Response:
    await _run(request, record_open, token, datetime.now(UTC))
    return Response(PIXEL, media_type="image/gif", headers=_PRIVATE)


@router.get(
    LINK_PATHS["click"] + "{token}",
    summary="A tracked link of a message: records the click and redirects to the link's stored target",
    response_class=RedirectResponse,
    status_code=302,
    responses={
        302: {
            "description": "to the link's target",
            "headers": {"Location": {"schema": {"type": "string"}, "description": "the target"}},
        },
        **error_responses(400, 404),
    },
)
async def clicked(token: Token, request: Request) -> RedirectResponse:
    target = await _run(request, follow_click, token, datetime.now(UTC))
    return RedirectResponse(target, status_code=302, headers=_PRIVATE)


_CHANNEL_WORDS = {
    "ko": {
        "email": "이메일로",
        "sms": "문자로",
        "kakao": "카카오톡으로",
        "app_push": "앱 푸시로",
        "web_push": "웹 푸시로",
    },
    "en": {
        "email": "by e-mail",
        "sms": "by text message",
        "kakao": "on KakaoTalk",
        "app_push": "by app notification",
        "web_push": "by browser notification",
    },
}
_TEXT = {
    "ko": {
        "title": "광고성 정보 수신거부",
        "ask": "앞으로 {channel} 광고성 정보를 받지 않으시려면 아래 버튼을 눌러 주세요.",
        "button": "수신거부",
        "done": "수신거부가 처리되었습니다. 앞으로 {channel} 광고성 정보를 보내 드리지 않습니다.",
        "note": "주문·배송 안내처럼 광고가 아닌 정보는 계속 받으실 수 있습니다.",
    },
    "en": {
        "title": "Unsubscribe from advertising",
        "ask": "Press the button below to stop receiving advertising {channel}.",
        "button": "Unsubscribe",
        "done": "You are unsubscribed. We will no longer send you advertising {channel}.",
        "note": "Messages that are not advertising, such as order and delivery notices, still reach you.",
    },
}


def _locale(request: Request) -> Literal["ko", "en"]:
    """English when the browser ranks it above Korean; Korean otherwise (a Korean shop's page)."""
    ranked: list[tuple[float, str]] = []
    for part in request.headers.get("accept-language", "").split(","):
        language, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((quality, language.strip().lower()[:2]))
    for _, language in sorted(ranked, key=lambda r: -r[0]):
        if language in ("ko", "en"):
            return "ko" if language == "ko" else "en"
    return "ko"


def _page(locale: Literal["ko", "en"], channel: str, done: bool) -> HTMLResponse:
    text = _TEXT[locale]
    words = _CHANNEL_WORDS[locale].get(channel, "")
    body = (
        f"<p>{html.escape(text['done'].format(channel=words))}</p>"
        if done
        else f"<p>{html.escape(text['ask'].format(channel=words))}</p>"
        f'<form method="post"><button type="submit">{html.escape(text["button"])}</button></form>'
    )
    page = f"""<!doctype html>
<html lang="{locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(text["title"])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.6}}
button{{font-size:1rem;padding:.6rem 1.4rem;cursor:pointer}}</style></head>
<body><h1>{html.escape(text["title"])}</h1>{body}<p><small>{html.escape(text["note"])}</small></p></body></html>"""
    return HTMLResponse(page, headers={**_PRIVATE, "Content-Security-Policy": _PAGE_POLICY})


_PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "the page"},
    **error_responses(400, 404),
}


@router.get(
    LINK_PATHS["unsubscribe"] + "{token}",
    summary="The unsubscribe page of a message (Korean or English): one button; nothing changes until it is pressed",
    response_class=HTMLResponse,
    responses=_PAGE_RESPONSES,
)
async def unsubscribe_page(token: Token, request: Request) -> HTMLResponse:
    message = await _run(request, unsubscribe_target, token)
    return _page(_locale(request), message.channel, done=False)


@router.post(
    LINK_PATHS["unsubscribe"] + "{token}",
    summary="Unsubscribe (the page's button, or a mail client's one-click unsubscribe, RFC 8058): advertising "
    "on the message's channel is withdrawn in the consent ledger",
    response_class=HTMLResponse,
    responses=_PAGE_RESPONSES,
)
async def unsubscribe_now(token: Token, request: Request) -> HTMLResponse:
    done = await _run(request, unsubscribe, token, datetime.now(UTC))
    return _page(_locale(request), done.channel, done=True)


Text = Annotated[str, Field(min_length=1, max_length=256)]


class DeliveryResult(BaseModel):
    """A gateway's report on one message: name it by ``messageKey`` (the idempotency key shopmind
    sent) or by ``providerId`` (the gateway's id for it)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    status: Literal["delivered", "failed"]
    message_key: Annotated[Text | None, Field(alias="messageKey")] = None
    provider_id: Annotated[Text | None, Field(alias="providerId")] = None
    occurred_at: Annotated[AwareDatetime | None, Field(alias="occurredAt", description="default: now")] = None
    event_id: Annotated[
        Text | None,
        Field(alias="eventId", description="the report's own id: a report sent again counts once"),
    ] = None
    reason: Annotated[
        str | None, Field(max_length=512, description="why it failed, in the gateway's words")
    ] = None


class CallbacksRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results: Annotated[list[DeliveryResult], Field(min_length=1, max_length=10_000)]


@router.post(
    "/v1/messages/callbacks",
    summary="Delivery reports from a messaging gateway: each message delivered or failed (stored once each)",
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 429),
)
async def callbacks(request: Request, ask: CallbacksRequest) -> dict[str, Any]:
    now = datetime.now(UTC)
    errors = [
        FieldError(f"results.{i}.messageKey", "give messageKey or providerId")
        for i, r in enumerate(ask.results)
        if r.message_key is None and r.provider_id is None
    ]
    errors += [
        FieldError(f"results.{i}.occurredAt", "in the future")
        for i, r in enumerate(ask.results)
        if r.occurred_at is not None and r.occurred_at > now + FUTURE_TOLERANCE
    ]
    if errors:
        raise InvalidInputError(errors)
    reports = [
        DeliveryReport(
            r.status,
            r.occurred_at or now,
            message_key=r.message_key,
            provider_id=r.provider_id,
            event_id=r.event_id,
            reason=r.reason,
        )
        for r in ask.results
    ]
    done = await request.app.state.worker.run(record_deliveries, reports, now)
    return {"recorded": done.inserted, "duplicates": done.duplicates, "unknown": list(done.unknown)}


class OptOutRequest(BaseModel):
    """A reply to the free 080 opt-out line."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    phone: Annotated[
        str, Field(min_length=1, max_length=64, description="the number that replied; hashed, never stored")
    ]
    occurred_at: Annotated[AwareDatetime | None, Field(alias="occurredAt", description="default: now")] = None
    entry_id: Annotated[
        Text | None, Field(alias="entryId", description="the reply's own id: a reply sent again counts once")
    ] = None


@router.post(
    "/v1/opt-outs",
    summary="An 080 opt-out reply: SMS advertising to that phone number's customer is withdrawn in the consent "
    "ledger at once",
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 429),
)
async def opt_out(request: Request, ask: OptOutRequest) -> dict[str, Any]:
    now = datetime.now(UTC)
    if ask.occurred_at is not None and ask.occurred_at > now + FUTURE_TOLERANCE:
        raise InvalidInputError([FieldError("occurredAt", "in the future")])
    state = request.app.state
    done = await state.worker.run(
        lambda store: record_opt_out(
            store, state.hasher, ask.phone, ask.occurred_at or now, entry_id=ask.entry_id, source="api:080"
        )
    )
    return {
        "recorded": done.recorded,
        "duplicate": not done.recorded,
        "identifier": done.identifier,
        "profileId": done.profile_id,
        "channel": done.channel,
    }

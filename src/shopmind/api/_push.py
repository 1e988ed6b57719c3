"""Push subscriptions over HTTP: what the tracker (``shopmind.subscribePush()``) and the shop's app
hand over so that campaigns can reach a browser or a phone by push.

* ``GET /v1/push/vapid-key`` (write key): the shop's VAPID public key, which a browser subscribes
  with (``pushManager.subscribe({applicationServerKey})``): the key the web push channel signs with;
* ``POST /v1/push-subscriptions`` (write key): a browser's subscription (``kind: "web"``, its
  ``subscription`` as ``PushSubscription.toJSON()`` gives it) or an app's device token
  (``kind: "app"``, ``token`` and ``platform``), for the visitor's own identifier: their
  ``anonymousId``, or their member id with its identity signature (the write key is public: a
  member id without its signature could route someone else's messages to this device). A secret
  key (the shop's server or app backend) may name a member without signature.
  The endpoint must be a push service on the internet (the sender will POST to it): a local or
  private address is refused (``SHOPMIND_PUSH_LOOPBACK_ENDPOINTS=1`` admits this machine's, for a
  stand-in push service);
* ``DELETE /v1/push-subscriptions?endpoint=…`` (write key): revokes it (the endpoint or token is
  the browser's or app's own secret: knowing it is holding it);
* ``GET /push-sw.js``: the service worker that shows the notifications (see ``static/push-sw.js``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
from datetime import UTC, datetime
from importlib.resources import files
from ipaddress import ip_address
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from shopmind.activation import workspace_vapid_key
from shopmind.api._auth import requires
from shopmind.api._errors import ApiError, error_responses
from shopmind.core import FieldError, InvalidInputError, ShopmindError
from shopmind.store import (
    PushSubscription,
    Store,
    record_profiles,
    revoke_push_subscriptions,
    save_push_subscription,
)

router = APIRouter(tags=["push"])
_SERVICE_WORKER = files("shopmind.api").joinpath("static/push-sw.js").read_bytes()
#: a device token as FCM and APNs issue them: printable, no spaces
_TOKEN = re.compile(r"^[A-Za-z0-9:_\-.]+$")
Text = Annotated[str, Field(min_length=1, max_length=512)]


class SubscriptionKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p256dh: Annotated[str, Field(min_length=1, max_length=256, description="base64url, 65 bytes")]
    auth: Annotated[str, Field(min_length=1, max_length=64, description="base64url, 16 bytes")]


class WebSubscription(BaseModel):
    """What ``PushSubscription.toJSON()`` gives."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    endpoint: Annotated[str, Field(min_length=1, max_length=2048, description="the push service's https URL")]
    keys: SubscriptionKeys
    expiration_time: Annotated[float | None, Field(alias="expirationTime", description="ignored")] = None


class PushSubscriptionRequest(BaseModel):
    """A browser's Web Push subscription (``kind: "web"``) or an app's device token (``kind: "app"``)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    kind: Literal["web", "app"] = "web"
    subscription: Annotated[WebSubscription | None, Field(description='kind "web": the subscription')] = None
    token: Annotated[
        str | None, Field(min_length=1, max_length=4096, description='kind "app": the device token')
    ] = None
    platform: Annotated[
        Literal["android", "ios"] | None, Field(description='kind "app": the app\'s platform')
    ] = None
    anonymous_id: Annotated[Text | None, Field(alias="anonymousId")] = None
    user_id: Annotated[Text | None, Field(alias="userId")] = None
    user_signature: Annotated[
        str | None,
        Field(
            alias="userSignature", max_length=128, description="with the write key: the member id's signature"
        ),
    ] = None


def _b64url(value: str, size: int, where: str, errors: list[FieldError]) -> str:
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        decoded = b""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+=*", value) or len(decoded) != size:
        errors.append(FieldError(where, f"expected {size} bytes in base64url"))
    return value.rstrip("=")


def _subscription(ask: PushSubscriptionRequest, identifier: str) -> PushSubscription:
    """The subscription to store; InvalidInputError naming each field that is wrong."""
    errors: list[FieldError] = []
    if ask.kind == "web":
        if ask.token is not None or ask.platform is not None:
            errors.append(FieldError("token", 'a browser\'s subscription has no token: kind "app" has'))
        sub = ask.subscription
        if sub is None:
            raise InvalidInputError(
                [*errors, FieldError("subscription", "required: the browser's PushSubscription.toJSON()")]
            )
        parts = urlsplit(sub.endpoint)
        if parts.scheme != "https" or not parts.hostname:
            errors.append(FieldError("subscription.endpoint", "expected the push service's https:// URL"))
        elif not public_push_host(parts.hostname, loopback=_loopback_allowed()):
            # the sender POSTs to the endpoint: a public key must not point it at the shop's own network
            errors.append(
                FieldError(
                    "subscription.endpoint", "expected a push service on the internet, not a local address"
                )
            )
        p256dh = _b64url(sub.keys.p256dh, 65, "subscription.keys.p256dh", errors)
        if not errors and base64.urlsafe_b64decode(p256dh + "=" * (-len(p256dh) % 4))[0] != 4:
            errors.append(FieldError("subscription.keys.p256dh", "not an uncompressed P-256 public key"))
        auth = _b64url(sub.keys.auth, 16, "subscription.keys.auth", errors)
        if errors:
            raise InvalidInputError(errors)
        return PushSubscription(sub.endpoint, identifier, "web", p256dh, auth)
    if ask.subscription is not None:
        errors.append(FieldError("subscription", 'an app has a token, not a subscription: kind "web" has'))
    if ask.token is None:
        errors.append(FieldError("token", "required: the app's device token"))
    elif not _TOKEN.fullmatch(ask.token):
        errors.append(FieldError("token", "expected a device token (letters, digits, : _ - .)"))
    if ask.platform is None:
        errors.append(FieldError("platform", "required: android or ios"))
    if errors:
        raise InvalidInputError(errors)
    assert ask.token is not None
    return PushSubscription(ask.token, identifier, "app", platform=ask.platform)


#: a push service on this machine (a stand-in in tests): its endpoints are taken when this is "1"
LOOPBACK_ENDPOINTS_ENV = "SHOPMIND_PUSH_LOOPBACK_ENDPOINTS"
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def _loopback_allowed() -> bool:
    return os.environ.get(LOOPBACK_ENDPOINTS_ENV) == "1"


def public_push_host(host: str, *, loopback: bool = False) -> bool:
    """Whether a subscription's endpoint host may be stored: a name (browsers' push services are
    fcm.googleapis.com, updates.push.services.mozilla.com, *.push.apple.com, *.notify.windows.com),
    not a private, loopback, link-local or reserved address, nor a local-only name. (A name that
    resolves to a private address is not caught here.) ``loopback``: this machine's addresses too."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or ("." not in host and ":" not in host):
        return loopback and (host == "localhost" or host.endswith(".localhost"))
    try:
        address = ip_address(host)
    except ValueError:
        return True
    if address.is_loopback:
        return loopback
    return address.is_global and not address.is_multicast


def _identifier(request: Request, ask: PushSubscriptionRequest, kind: str) -> str:
    """Whose subscription it is (see the module's doc)."""
    if ask.user_id is not None:
        if kind == "secret" or request.app.state.signer.verify(ask.user_id, ask.user_signature):
            return f"user:{ask.user_id}"
        raise ApiError(
            403,
            "forbidden",
            "with the public write key a member's subscription needs the member id's userSignature "
            "(HMAC-SHA256 by the shop's server); without it, send the visitor's anonymousId only",
            [FieldError("userSignature", "wrong" if ask.user_signature else "required with userId")],
        )
    if ask.anonymous_id is None:
        raise InvalidInputError([FieldError("anonymousId", "required: whose device this is (or userId)")])
    return f"anon:{ask.anonymous_id}"


def _save(store: Store, subscription: PushSubscription, at: datetime) -> bool:
    with store.atomically():
        record_profiles(store, {subscription.identifier})
        return save_push_subscription(store, subscription, at=at)


@router.post(
    "/v1/push-subscriptions",
    summary="Store a browser's Web Push subscription or an app's device token for the visitor (their anonymousId, "
    "or userId with its userSignature); a subscription sent again is stored once",
    responses=error_responses(400, 401, 403, 429),
)
async def subscribe(
    request: Request, ask: PushSubscriptionRequest, kind: str = Depends(requires("write"))
) -> dict[str, Any]:
    subscription = _subscription(ask, _identifier(request, ask, kind))
    stored = await request.app.state.worker.run(_save, subscription, datetime.now(UTC))
    return {"stored": stored, "duplicate": not stored, "kind": subscription.kind}


@router.delete(
    "/v1/push-subscriptions",
    summary="Revoke a push subscription (the browser unsubscribed, the app signed out): no push goes to it any more",
    dependencies=[Depends(requires("write"))],
    responses=error_responses(400, 401, 403, 429),
)
async def unsubscribe(
    request: Request,
    endpoint: Annotated[
        str,
        Query(
            min_length=1,
            max_length=4096,
            description="the subscription's endpoint, or the app's device token",
        ),
    ],
) -> dict[str, Any]:
    now = datetime.now(UTC)
    revoked = await request.app.state.worker.run(
        lambda store: revoke_push_subscriptions(store, [endpoint], at=now)
    )
    return {"revoked": revoked}


@router.get(
    "/v1/push/vapid-key",
    summary="The shop's VAPID public key (base64url): what browsers subscribe with (applicationServerKey)",
    dependencies=[Depends(requires("write"))],
    responses=error_responses(401, 403, 429, 503),
)
async def vapid_key(request: Request) -> dict[str, str]:
    state = request.app.state
    if getattr(state, "vapid_public_key", None) is None:
        try:  # made the first time it is asked for (0600), as the web push channel would
            key = await asyncio.to_thread(workspace_vapid_key, state.workspace_folder)
        except ShopmindError as exc:  # e.g. a key file others may read, a broken channels.toml
            raise ApiError(503, "unavailable", f"web push is not available: {exc}") from None
        state.vapid_public_key = key.application_server_key
    return {"publicKey": state.vapid_public_key}


@router.api_route(
    "/push-sw.js",
    methods=["GET", "HEAD"],
    summary="The service worker that shows web push notifications (title, body; a click opens the link)",
    response_class=Response,
    responses={200: {"content": {"application/javascript; charset=utf-8": {}}, "description": "The worker"}},
)
async def service_worker() -> Response:
    return Response(
        _SERVICE_WORKER,
        media_type="application/javascript; charset=utf-8",
        # served from the API's root it may control the whole origin (the demo shop's pages)
        headers={"Cache-Control": "public, max-age=300", "Service-Worker-Allowed": "/"},
    )

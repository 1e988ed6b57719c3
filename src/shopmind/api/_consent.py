"""The consent ledger over HTTP: record a consent or withdrawal (``POST /v1/consent``), read a
customer's consent and whether advertising may go to them (``GET /v1/consent/{profile}``), who is
due the two-yearly notice of consent status and that it went out (``/v1/consent-notices``).

Who may record what. The write key is public (it sits in every shop page), so whatever comes with
it may be a lie; a forged withdrawal only stops advertising (the law's safe side), a forged grant
would make shopmind send advertising to someone who never agreed (the unsafe side):

* with the **write key**, consent is recorded for the visitor's own identifiers only: their
  ``anonymousId`` (the device's random id), or their member id when it comes with its identity
  signature (``userSignature``: HMAC-SHA256 of the member id under the workspace's identity secret,
  computed by the shop's server after the member signed in). ``profileId``, ``email``, ``phone``,
  ``method`` and ``occurredAt`` are refused (403): the method is ``tracker`` and the time is the
  server's;
* a **grant** with the write key needs the member's signature: an anonymous visitor, or a member id
  without its signature, cannot grant (403), so no one can grant for another's profile;
* a **withdrawal** with the write key is accepted for the signed member, else for the anonymous id
  (a device withdrawing for whoever it belongs to);
* the **secret key** (the shop's server) records for any identifier (member id, anonymous id,
  profile id, or a phone number or e-mail address, hashed here and never stored), by any method,
  at the time given; identifiers given together are linked as one customer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from shopmind.api._auth import requires
from shopmind.api._errors import ApiError, error_responses
from shopmind.core import FieldError, IdentifierHasher, InvalidInputError
from shopmind.store import (
    SUBJECT_KINDS,
    ConsentEntry,
    ConsentNotice,
    Store,
    consent_history,
    consent_state,
    decide_advertising,
    notice_history,
    notices_due,
    profile_identifiers,
    record_consents,
    record_notices,
    record_profiles,
    resolve_customer,
)

router = APIRouter(prefix="/v1", tags=["consent"], responses=error_responses(400, 401, 403, 404, 429, 503))

Channel = Literal["email", "sms", "kakao", "app_push", "web_push"]
Method = Literal[
    "signup_form", "checkout", "reply_080", "unsubscribe_link", "import", "api", "tracker", "admin"
]
Text = Annotated[str, Field(min_length=1, max_length=512)]
#: how far past the server's clock ``occurredAt`` may lie
FUTURE_TOLERANCE = timedelta(minutes=5)


class ConsentRequest(BaseModel):
    """One consent given or withdrawn."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    channel: Channel
    granted: StrictBool = Field(description="true: consent given; false: refused or withdrawn")
    purpose: Literal["advertising", "night_advertising"] = Field(
        "advertising", description="night_advertising: the separate consent for 21:00-08:00 (§50③)"
    )
    anonymous_id: Annotated[Text | None, Field(alias="anonymousId")] = None
    user_id: Annotated[Text | None, Field(alias="userId")] = None
    user_signature: Annotated[
        str | None,
        Field(
            alias="userSignature", max_length=128, description="with the write key: the member id's signature"
        ),
    ] = None
    profile_id: Annotated[Text | None, Field(alias="profileId", description="secret key only")] = None
    email: Annotated[
        str | None, Field(max_length=320, description="secret key only; hashed, never stored")
    ] = None
    phone: Annotated[
        str | None, Field(max_length=64, description="secret key only; hashed, never stored")
    ] = None
    method: Annotated[Method | None, Field(description="secret key only (default api)")] = None
    occurred_at: Annotated[
        AwareDatetime | None,
        Field(alias="occurredAt", description="secret key only: when the customer did it (default: now)"),
    ] = None
    text_version: Annotated[str | None, Field(alias="textVersion", max_length=128)] = None
    entry_id: Annotated[
        str | None,
        Field(alias="entryId", min_length=1, max_length=128, description="a re-sent entry id is stored once"),
    ] = None


_WRITE_KEY_FIELDS = {
    "profile_id": "profileId",
    "email": "email",
    "phone": "phone",
    "method": "method",
    "occurred_at": "occurredAt",
}


def _subject_for_write_key(ask: ConsentRequest, signed: bool) -> str:
    """The identifier a write-key call may record for (see the module's doc)."""
    refused = [alias for name, alias in _WRITE_KEY_FIELDS.items() if getattr(ask, name) is not None]
    if refused:
        raise ApiError(
            403,
            "forbidden",
            "with the write key, consent is recorded for the visitor's own ids (anonymousId, or userId with "
            f"its userSignature), now and by the tracker: {', '.join(refused)} need(s) a secret key",
            [FieldError(alias, "needs a secret key") for alias in refused],
        )
    if signed:
        return f"user:{ask.user_id}"
    if ask.granted:
        wrong = ask.user_id is not None and ask.user_signature is not None
        raise ApiError(
            403,
            "forbidden",
            ("userSignature is not userId's signature: " if wrong else "")
            + "the public write key cannot grant consent but for a signed-in member: send userId with its "
            "userSignature (HMAC-SHA256 by the shop's server), or record the consent from the shop's server "
            "with a secret key",
            [
                FieldError(
                    "userSignature", "wrong" if wrong else "required to grant consent with the write key"
                )
            ],
        )
    # a withdrawal is safe to take from anyone: without a valid signature, for the device's own id
    if ask.anonymous_id is None:
        raise ApiError(
            400,
            "invalid_input",
            "a withdrawal with the write key needs the visitor's anonymousId (or userId with its userSignature)",
            [FieldError("anonymousId", "required")],
        )
    return f"anon:{ask.anonymous_id}"


def _identifiers_for_secret_key(ask: ConsentRequest, hasher: IdentifierHasher) -> list[str]:
    """Every identifier the call names, the most authoritative first (it is recorded for that one)."""
    found: list[str] = []
    errors: list[FieldError] = []
    if ask.profile_id is not None:
        kind, sep, value = ask.profile_id.partition(":")
        if sep and kind in SUBJECT_KINDS and value:
            found.append(ask.profile_id)
        else:
            errors.append(FieldError("profileId", "expected user:…, anon:…, email:<hash> or phone:<hash>"))
    if ask.user_id is not None:
        found.append(f"user:{ask.user_id}")
    if ask.email is not None:
        hashed = hasher.email(ask.email)
        if hashed is None:
            errors.append(FieldError("email", "not a valid e-mail address"))
        else:
            found.append(f"email:{hashed}")
    if ask.phone is not None:
        hashed = hasher.phone(ask.phone)
        if hashed is None:
            errors.append(FieldError("phone", "not a valid phone number"))
        else:
            found.append(f"phone:{hashed}")
    if ask.anonymous_id is not None:
        found.append(f"anon:{ask.anonymous_id}")
    if errors:
        raise InvalidInputError(errors)
    if not found:
        raise InvalidInputError(
            [FieldError("customer", "give one of profileId, userId, email, phone or anonymousId")]
        )
    return list(dict.fromkeys(found))


def _record(store: Store, entry: ConsentEntry, linked: list[str], zone: str) -> dict[str, Any]:
    """On the store's thread (it owns the identity graph): the links, the entry, its customer's profile."""
    if linked:
        store.link_identities([(entry.identifier, other, "consent") for other in linked])
    written = record_consents(store, [entry])
    record_profiles(store, {entry.identifier, *linked}, linked)
    profile_id = resolve_customer(store, entry.identifier) or entry.identifier
    state = consent_state(store, profile_id)
    channel = state.channel(entry.channel)
    return {
        "recorded": bool(written.inserted),
        "duplicate": not written.inserted,
        "entryId": entry.key(),
        "identifier": entry.identifier,
        "profileId": profile_id,
        "state": channel.to_dict(),
        "mayAdvertiseNow": decide_advertising(channel, datetime.now(UTC), zone).to_dict(),
    }


def _zone(request: Request) -> str:
    jobs = getattr(request.app.state, "jobs", None)
    return str(getattr(jobs, "zone", "Asia/Seoul"))


@router.post(
    "/consent",
    summary="Record an advertising consent given or withdrawn (정보통신망법 §50). With the public write key: "
    "a signed-in member's consent (userId with userSignature), or a withdrawal by the visitor's anonymousId; "
    "anything else needs a secret key",
)
async def record(
    request: Request, ask: ConsentRequest, kind: str = Depends(requires("write"))
) -> dict[str, Any]:
    state = request.app.state
    now = datetime.now(UTC)
    if kind == "secret":
        identifiers = _identifiers_for_secret_key(ask, state.hasher)
        subject, linked = identifiers[0], identifiers[1:]
        occurred = ask.occurred_at or now
        if occurred > now + FUTURE_TOLERANCE:
            raise InvalidInputError([FieldError("occurredAt", "in the future")])
        method, source = ask.method or "api", "api:secret"
    else:
        signed = state.signer.verify(ask.user_id, ask.user_signature)
        subject, linked = _subject_for_write_key(ask, signed), []
        occurred, method, source = now, "tracker", "api:write"
    entry = ConsentEntry(
        identifier=subject,
        channel=ask.channel,
        granted=ask.granted,
        occurred_at=occurred,
        method=method,
        purpose=ask.purpose,
        text_version=ask.text_version,
        source=source,
        entry_id=ask.entry_id,
    )
    done = await state.worker.run(_record, entry, linked, _zone(request))
    if kind != "secret":  # the public key learns nothing of the customer behind it
        return {"recorded": done["recorded"], "duplicate": done["duplicate"], "entryId": done["entryId"]}
    return done


class NoticeRequest(BaseModel):
    """A consent-status notice (§50⑧) that went out."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    profile_id: Annotated[
        Text, Field(alias="profileId", description="the customer (a profile id or member id)")
    ]
    channel: Channel
    sent_at: Annotated[AwareDatetime | None, Field(alias="sentAt", description="default: now")] = None
    text_version: Annotated[str | None, Field(alias="textVersion", max_length=128)] = None
    notice_id: Annotated[str | None, Field(alias="noticeId", min_length=1, max_length=128)] = None


def _notice(
    store: Store, ask: NoticeRequest, hasher: IdentifierHasher, now: datetime
) -> dict[str, Any] | None:
    profile_id = resolve_customer(store, ask.profile_id, hasher)
    if profile_id is None:
        return None
    notice = ConsentNotice(
        profile_id,
        ask.channel,
        ask.sent_at or now,
        ask.text_version,
        source="api:secret",
        notice_id=ask.notice_id,
    )
    written = record_notices(store, [notice])
    state = consent_state(store, profile_id)
    return {
        "recorded": bool(written.inserted),
        "duplicate": not written.inserted,
        "noticeId": notice.key(),
        "profileId": profile_id,
        "lastNoticeAt": state.last_notice_at.isoformat() if state.last_notice_at else None,
        "noticeDueAt": state.notice_due_at.isoformat() if state.notice_due_at else None,
    }


@router.post(
    "/consent-notices",
    summary="Record that the consent-status notice (§50⑧, every two years) went out to a customer",
    dependencies=[Depends(requires("secret"))],
)
async def notice(request: Request, ask: NoticeRequest) -> dict[str, Any]:
    now = datetime.now(UTC)
    if ask.sent_at is not None and ask.sent_at > now + FUTURE_TOLERANCE:
        raise InvalidInputError([FieldError("sentAt", "in the future")])
    state = request.app.state
    done = await state.worker.run(_notice, ask, state.hasher, now)
    if done is None:
        raise ApiError(
            404, "not_found", f"no customer {ask.profile_id!r}", [FieldError("profileId", "unknown")]
        )
    return done


@router.get(
    "/consent-notices/due",
    summary="Customers due the consent-status notice (§50⑧): two years after their advertising consent or "
    "their last notice",
    dependencies=[Depends(requires("secret"))],
)
async def due(
    request: Request,
    within: Annotated[int, Query(ge=0, le=3660, description="also those due in the next N days")] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    found = await request.app.state.worker.run(
        lambda store: notices_due(store, now, within=timedelta(days=within), limit=limit)
    )
    return {"as_of": now.isoformat(), "within_days": within, "customers": [d.to_dict() for d in found]}


def _consent(
    store: Store, reference: str, hasher: IdentifierHasher, at: datetime, zone: str, history: bool
) -> dict[str, Any] | None:
    profile_id = resolve_customer(store, reference, hasher)
    if profile_id is None:
        return None
    state = consent_state(store, profile_id)
    found: dict[str, Any] = {
        **state.to_dict(),
        "at": at.isoformat(),
        "may_send": {c.channel: decide_advertising(c, at, zone).to_dict() for c in state.channels},
        "informational": "allowed: informational messages (orders, delivery) need no advertising consent",
    }
    if history:
        identifiers = profile_identifiers(store, profile_id)
        found["history"] = [e.to_dict() for e in consent_history(store, identifiers)]
        found["notices"] = [n.to_dict() for n in notice_history(store, identifiers)]
    return found


@router.get(
    "/consent/{profile_id:path}",
    summary="A customer's advertising consent now per channel (and at night), whether advertising may go to "
    "them (at `at`, default now, night judged in the shop's zone), their notices; with history=true every change",
    dependencies=[Depends(requires("secret"))],
)
async def show(
    profile_id: str,
    request: Request,
    at: Annotated[
        AwareDatetime | None, Query(description="when the message would go out (default: now)")
    ] = None,
    history: bool = False,
) -> dict[str, Any]:
    state = request.app.state
    found = await state.worker.run(
        _consent, profile_id, state.hasher, at or datetime.now(UTC), _zone(request), history
    )
    if found is None:
        raise ApiError(
            404,
            "not_found",
            f"no customer {profile_id!r}: give a profile id (e.g. user:m000123), a member id, or the phone number "
            "or e-mail address they gave",
        )
    return found

"""What the shop's own code asks (secret key): a customer's 360° profile (and its erasure),
recommendations for a visitor in context (placement, current product, cart, region, weather), and
the items related to a product (bought with it, or like it), each item with its reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from shopmind.api._auth import requires
from shopmind.api._errors import ApiError, error_responses
from shopmind.api._live_experiments import recommend_by
from shopmind.api._models import LiveRecommender
from shopmind.core import IdentifierHasher, UnknownProfileError
from shopmind.pipeline import customer_profile, resolve_profile
from shopmind.recommend import request_context
from shopmind.store import Erasure, Store, erase_profile

router = APIRouter(
    prefix="/v1",
    tags=["profiles and recommendations"],
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 404, 429, 503),
)
Lang = Literal["ko", "en"]


def _profile(store: Store, identifier: str) -> dict[str, Any] | None:
    profile_id = resolve_profile(store, identifier)
    return customer_profile(store, profile_id) if profile_id else None


@router.get(
    "/profiles/{profile_id:path}",
    summary="A customer's 360° profile: identities and devices, segment, CLV, P(alive), churn risk, "
    "purchase probability, taste, best time and device, recent events",
)
async def profile(profile_id: str, request: Request) -> dict[str, Any]:
    found = await request.app.state.worker.run(_profile, profile_id)
    if found is None:
        raise ApiError(
            404,
            "not_found",
            f"no customer {profile_id!r}: give a profile id (e.g. user:m000123), a user id or an anonymous id",
        )
    return found


def _erase(store: Store, identifier: str, hasher: IdentifierHasher) -> Erasure | None:
    try:
        return erase_profile(store, identifier, hasher)
    except UnknownProfileError:
        return None


@router.delete(
    "/profiles/{profile_id:path}",
    summary="Erase a customer (개인정보 삭제): every stored row holding any of their identifiers or "
    "hashes; answers the rows deleted per table. Only a record that an erasure happened stays",
)
async def erase(profile_id: str, request: Request) -> dict[str, Any]:
    state = request.app.state
    found = await state.worker.run(_erase, profile_id, state.hasher)
    if found is None:
        raise ApiError(
            404,
            "not_found",
            f"no customer {profile_id!r}: give a profile id (e.g. user:m000123), a user id or an anonymous id",
        )
    forgotten = found.identifiers  # their profile rows are gone: the live writer makes new ones

    def forget(_: Store) -> None:
        state.committer.writer.forget(forgotten)
        state.live.forget({*forgotten, found.profile_id})  # and live segments drop them, unrecorded

    await state.worker.write(forget)
    for ident in found.identifiers:  # what the on-site decisions remember about them goes too
        state.onsite.visitors.pop(ident, None)
        state.onsite.orders.pop(ident.partition(":")[2], None)
    if state.recommender.model is not None:  # the model in memory learned from their purchases
        state.jobs.relearn()
    return found.to_dict()


def _recommender(request: Request) -> LiveRecommender:
    live: LiveRecommender = request.app.state.recommender
    if not live.ready:
        retry = {"Retry-After": "5"} if live.status == "training" else {}
        raise ApiError(
            503,
            "recommender_" + live.status,
            f"recommendations are {live.status}: {live.note}",
            headers=retry,
        )
    return live


def _profile_of(request: Request, user: str) -> str | None:
    """The profile id of ``user`` (None: a visitor the store does not know yet)."""
    visitors = request.app.state.onsite.visitors
    for key in (user, f"user:{user}", f"anon:{user}"):
        found = visitors.get(key)
        if found is not None and found.profile_id:
            return str(found.profile_id)
    return None


def _ids(text: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip())) if text else ()


@router.get("/recommendations", summary="Items for a visitor now, each with its reason")
async def recommendations(
    request: Request,
    user: Annotated[str, Query(min_length=1, max_length=512, description="Profile, user or anonymous id")],
    placement: Annotated[
        str | None, Query(max_length=64, description="Where the list shows, e.g. home, product, cart")
    ] = None,
    product: Annotated[str | None, Query(max_length=512, description="The product on screen")] = None,
    cart: Annotated[
        str | None, Query(max_length=8192, description="Comma-separated product ids in the cart")
    ] = None,
    region: Annotated[str | None, Query(max_length=64, description="The visitor's region, e.g. 부산")] = None,
    temp_c: Annotated[float | None, Query(ge=-60, le=60, description="Temperature now")] = None,
    precip_mm: Annotated[float | None, Query(ge=0, le=1000, description="Rain now (mm)")] = None,
    n: Annotated[int, Query(ge=1, le=100)] = 10,
    lang: Lang = "ko",
) -> dict[str, Any]:
    live = _recommender(request)
    assert live.model is not None
    in_cart = _ids(cart)
    profile_id = _profile_of(request, user)
    # with no weather given, today's weather in the region is looked up (that needs the day)
    context = request_context(
        datetime.now(UTC),
        region=region,
        session=(*in_cart, *((product,) if product else ())),
        temp_c=temp_c,
        precip_mm=precip_mm,
    )
    # a running recommendations experiment may name another recommender for this customer
    strategy, choice = request.app.state.onsite.strategy_for(user, profile_id, placement)
    found, algorithm = recommend_by(live.model, strategy, profile_id or user, context, n)
    answer: dict[str, Any] = {
        "user": user,
        "profile_id": profile_id,
        "placement": placement,
        "algorithm": algorithm,
        "items": live.describe(found, lang),
    }
    if choice is not None:
        answer["experiment"] = {"id": choice.experiment_id, "variant": choice.variant}
    return answer


@router.get("/products/{product_id:path}/related", summary="Items bought with a product, or like it")
async def related(
    request: Request,
    product_id: str,
    kind: Annotated[
        Literal["complements", "alternatives"],
        Query(description="complements: bought with it (cross-sell); alternatives: like it"),
    ] = "complements",
    n: Annotated[int, Query(ge=1, le=100)] = 10,
    lang: Lang = "ko",
) -> dict[str, Any]:
    live = _recommender(request)
    assert live.model is not None
    if product_id not in live.items:
        raise ApiError(
            404, "not_found", f"no product {product_id!r} in the catalogue the recommender learned"
        )
    model = live.model
    found = model.complements(product_id, n) if kind == "complements" else model.similar_items(product_id, n)
    return {"product_id": product_id, "kind": kind, "items": live.describe(found, lang)}

"""Off-policy evaluation over the API (secret key): ``GET /v1/experiments/{id}/policy-value?policy=``,
what another traffic policy would have earned on an on-site experiment's logged decisions (IPS,
self-normalised IPS and doubly robust, each with its interval, beside the logging policy's own
rate and the effective sample size; ``shopmind.measure.policy_value``). An unknown policy or
variant, decisions without propensities or not enough data: a 400 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from shopmind.api._auth import requires
from shopmind.api._errors import ApiError, error_responses
from shopmind.core import to_utc
from shopmind.measure import policy_value
from shopmind.store import Store, UnknownExperimentError, get_experiment

router = APIRouter(
    prefix="/v1/experiments",
    tags=["experiments"],
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 404, 429, 503),
)
Policy = Annotated[
    str,
    Query(
        min_length=1,
        max_length=80,
        description="The policy to value: uniform, always:<variant>, logged (the policy that served: a "
        "check), thompson or contextual (the bandit learnt from the log, cross-fitted)",
    ),
]
RewardQuery = Annotated[
    Literal["clicked", "converted"] | None,
    Query(description="The reward: clicked, or converted (verified orders only). Default: the experiment's."),
]
AsOf = Annotated[
    datetime | None,
    Query(description="As of this moment (ISO 8601; without an offset, the shop's time zone). Default: now."),
]
_OBJECT = {"application/json": {"schema": {"type": "object"}}}


@router.get(
    "/{experiment_id}/policy-value",
    summary="Off-policy evaluation: another traffic policy's estimated click or conversion rate on the "
    "experiment's logged decisions (IPS, self-normalised IPS, doubly robust, with intervals), beside the "
    "logging policy's own rate",
    responses={200: {"description": "The policy's estimated value", "content": _OBJECT}},
    response_model=None,
)
async def value(
    experiment_id: str,
    request: Request,
    policy: Policy,
    reward: RewardQuery = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    moment = to_utc(as_of) if as_of is not None else datetime.now(UTC)

    def run(store: Store) -> dict[str, Any] | ApiError:
        try:
            stored = get_experiment(store, experiment_id)
        except UnknownExperimentError:
            return ApiError(
                404, "not_found", f"no experiment {experiment_id!r} (GET /v1/experiments lists them)"
            )
        found = policy_value(store, experiment_id, policy, reward=reward, as_of=moment)
        return {"name": stored.name, **found.to_dict()}

    answer = await request.app.state.worker.run(run)
    if isinstance(answer, ApiError):
        raise answer
    return answer

"""Real-time on-site decisions: every stored event updates the visitor's live session; ``/v1/decide``
answers what to show in a placement now (popup, banner, slide-in, recommendation widget) by the
workspace's triggers, within frequency caps and targeting; every decision is logged, and its
outcomes (shown, clicked, dismissed; converted when the session then orders) with it.

Every trigger holds out a share of the visitors it qualifies for (``Trigger.holdout``, 10% by
default): they are answered with nothing, their decision is logged with the action ``none`` in the
experiment ``trigger:<id>`` (variant ``holdout``, the others ``shown``), and their orders convert it
like a shown decision's; ``/v1/triggers`` reports each trigger's uplift, shown against holdout.
Running placement, bandit and recommendation experiments route the decisions too
(``api._live_experiments``); ``OnSite.reload_experiments`` re-reads them after a change.

A decision is answered, and an outcome acknowledged, only once it is durable (``DecisionLog``:
a group commit on a thread and a connection of its own); a conversion, which no request waits
for, is written with the next group.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shopmind.api._auth import requires
from shopmind.api._decision_log import DecisionLog
from shopmind.api._errors import ApiError, error_responses
from shopmind.api._live_batches import bandits_due, batch_rewards, learn, save_bandit
from shopmind.api._live_experiments import LiveExperiments, identities, read_snapshot, unit_of
from shopmind.api._models import LiveRecommender
from shopmind.api._recommend_by import recommend_by
from shopmind.api._worker import StoreWorker
from shopmind.events import Event, EventType
from shopmind.measure import trigger_uplift, uplift_of
from shopmind.onsite import (
    FrequencyLedger,
    Session,
    SessionTracker,
    Trigger,
    Visitor,
    decide,
    serve,
)
from shopmind.pipeline import visitor_facts
from shopmind.recommend import Context
from shopmind.store import (
    NO_ACTION,
    OUTCOMES,
    Store,
    exposed_variants,
    served_since,
    trigger_performance,
)

log = logging.getLogger("shopmind.api")
router = APIRouter(
    prefix="/v1", tags=["on-site decisions"], responses=error_responses(400, 401, 403, 404, 429)
)
_RECENT_DECISIONS = 100_000
_FORGET_EVERY = 1000  # decisions
_BANDIT_CHECK_SECONDS = 20.0  # how often the server looks for a bandit whose batch is due


class OnSite:
    """Live sessions, triggers, frequency caps and the decision log of one server."""

    def __init__(
        self, triggers: Sequence[Trigger], recommender: LiveRecommender, now: Callable[[], datetime]
    ) -> None:
        self.triggers = list(triggers)
        self.by_id = {t.id: t for t in self.triggers}
        self.experiments = LiveExperiments()
        self.recommender = recommender
        self.now = now
        self.tracker = SessionTracker()
        self.ledger = FrequencyLedger()
        self.visitors: dict[str, Visitor] = {}
        self.orders: dict[str, int] = {}  # visitor → orders completed since the server started
        self.recent: OrderedDict[str, None] = OrderedDict()  # the latest decisions' ids, oldest first
        self.log = DecisionLog()
        #: the live saved segments a customer is in now, by their identifiers (``user:``, ``anon:``)
        self.live_segments: Callable[..., frozenset[str]] = lambda *_: frozenset()
        self._served = 0
        self._worker: StoreWorker | None = None
        self._bandits: asyncio.Task[None] | None = None
        self._learning = asyncio.Lock()  # one batch at a time: a batch is never fed twice
        #: a connection and a thread of their own for the units' variants the memory lacks
        self._reader: Store | None = None
        self._reading: ThreadPoolExecutor | None = None

    async def start(self, worker: StoreWorker) -> None:
        """Read what the store knows about visitors, the last day's decisions (caps survive a
        restart) and the running experiments with their exposures, then open the decision log."""
        self._worker = worker
        self.visitors = await worker.run(visitor_facts)
        for visitor, trigger, at in await worker.run(served_since, self.now() - timedelta(days=1)):
            self.ledger.record(visitor, trigger, at)
        self.experiments.load(await worker.run(read_snapshot), self.visitors)
        self._reader = await worker.write(Store.reader)
        self._reading = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopmind-exposures")
        await self.log.start(worker)
        self._bandits = asyncio.create_task(self._learn_forever(), name="shopmind-bandits")

    async def close(self) -> None:
        if self._bandits is not None:
            self._bandits.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bandits
        await self.log.close()
        if self._reading is not None:
            self._reading.shutdown(wait=True)
        if self._reader is not None:
            self._reader.close()

    async def recall(self, experiment_ids: Iterable[str], keys: Sequence[str]) -> None:
        """Before routing: the variants of ``keys`` in the experiments the memory has nothing
        about, read from the store's exposures (the memory keeps recent visitors only)."""
        missing = self.experiments.misses(experiment_ids, keys)
        if not missing or self._reader is None or self._reading is None:
            return
        reader = self._reader
        found = await asyncio.get_running_loop().run_in_executor(
            self._reading, exposed_variants, reader, missing, keys
        )
        for experiment_id in missing:
            self.experiments.remember(experiment_id, keys, found.get(experiment_id))

    def forget(self, identifiers: Iterable[str]) -> None:
        """An erasure: the experiments' memory of these identifiers goes (drain ``log`` before
        erasing the store, so no exposure of theirs it buffered is written after)."""
        self.experiments.forget(identifiers)

    async def reload_experiments(self) -> None:
        """Re-read the running experiments (after one is created, started or stopped): from the
        next decision on, they route it. A bandit that keeps running keeps what it learned."""
        assert self._worker is not None, "the server has not started"
        await self.log.drain()  # the exposures decided so far are in the store
        self.experiments.load(await self._worker.run(read_snapshot), self.visitors)

    async def update_bandits(self) -> int:
        """Feed every bandit whose batch is due the rewards stored since its last one, save its
        state and record a switch to a winner; how many were updated."""
        assert self._worker is not None, "the server has not started"
        async with self._learning:
            now = self.now()
            due = bandits_due(self.experiments, now)
            if due:
                await self.log.drain()
            for run in due:
                rewards, until = await self._worker.run(batch_rewards, run, now)
                state = learn(run, rewards, until, now)
                await self._worker.write(save_bandit, run.id, state, now, run.winner)
                if state.get("winner"):
                    run.winner = str(state["winner"])
            return len(due)

    async def _learn_forever(self) -> None:
        while True:
            try:
                await self.update_bandits()
            except Exception:  # the bandits keep serving what they learned; the next turn tries again
                log.exception("updating the bandits failed")
            await asyncio.sleep(_BANDIT_CHECK_SECONDS)

    async def flush(self) -> None:
        """Wait until every decision and outcome so far is written (conversions included)."""
        await self.log.drain()
        self.ledger.forget_before(self.now() - timedelta(days=1))

    # -- events ---------------------------------------------------------------------------
    def observe(self, events: Sequence[Event]) -> None:
        """Apply stored events to the live sessions; an order converts the session's latest decision."""
        for event in events:
            session, converted = self.tracker.observe(event)
            if session is None or event.type is not EventType.ORDER_COMPLETED:
                continue
            self.orders[session.visitor] = self.orders.get(session.visitor, 0) + 1
            if converted is not None:
                self.log.outcome_soon(
                    {
                        "decision_id": converted,
                        "outcome": "converted",
                        "outcome_at": event.event_time,
                        "order_id": event.order_id,
                        "revenue": event.revenue,
                    }
                )

    def visitor(self, session: Session) -> Visitor:
        """What the store knew about the session's visitor, and the orders they completed since.
        A member's profile only for the member id the session proved (``verified_user``): a
        ``userId`` sent with the public write key is anyone's claim."""
        known = None
        verified = session.user_id if session.user_id and session.user_id == session.verified_user else None
        if verified:
            known = self.visitors.get(f"user:{verified}")
        known = known or self.visitors.get(f"anon:{session.visitor}") or Visitor()
        before_session = self.orders.get(session.visitor, 0) - session.orders
        saved = self.live_segments(f"anon:{session.visitor}", f"user:{verified}" if verified else None)
        if before_session > 0 or saved:
            known = dataclasses.replace(
                known,
                orders=known.orders + max(before_session, 0),
                known=known.known or before_session > 0,
                saved_segments=saved,
            )
        return known

    # -- deciding -------------------------------------------------------------------------
    async def decide(
        self,
        anonymous_id: str | None,
        user_id: str | None,
        placement: str | None,
        lang: str | None,
        *,
        verified: bool = False,
    ) -> dict[str, Any]:
        """What to show now; the decision is durable when this returns. ``verified``:
        ``user_id`` came with its valid identity signature; otherwise it is not used, and the
        visitor is answered as the anonymous visitor it may be."""
        now = self.now()
        session = self.tracker.session_for(anonymous_id, user_id if verified else None, now)
        if verified and user_id:
            session.user_id = session.verified_user = user_id
        visitor = self.visitor(session)
        lang = lang or ("en" if (session.locale or "").lower().startswith("en") else "ko")
        trigger = decide(self.triggers, session, visitor, self.ledger, now, placement)
        if trigger is None:
            return {"decision_id": None, "placement": placement, "action": None}
        decision_id = uuid.uuid4().hex
        await self.recall(self.experiments.relevant(trigger), identities(session, visitor))
        choice = self.experiments.route(trigger, self.by_id, session, visitor, now, decision_id)
        shown = choice.trigger
        # the qualifying trigger's caps count whatever was shown: a held-out visitor is answered
        # as often as a shown one would have been, so the two arms stay alike
        serve(trigger, session, self.ledger, decision_id, now)
        if shown is not None and shown.id != trigger.id:
            serve(shown, session, self.ledger, decision_id, now)
        self._served += 1
        if self._served % _FORGET_EVERY == 0:  # the caps look back a day at most
            self.ledger.forget_before(now - timedelta(days=1))
        self.recent[decision_id] = None
        while len(self.recent) > _RECENT_DECISIONS:
            self.recent.popitem(last=False)
        # a held-out visitor's answer is the same as one nothing qualified for
        answer = {
            "decision_id": decision_id if shown is not None else None,
            "placement": trigger.placement if shown is not None else placement,
            "action": self._action(shown, session, visitor, lang, now) if shown is not None else None,
        }
        await self.log.decision(
            {
                "decision_id": decision_id,
                "decided_at": now,
                "visitor": session.visitor,
                "user_id": session.user_id,
                "profile_id": visitor.profile_id,
                "session_id": session.session_id,
                "placement": trigger.placement,
                "trigger_id": shown.id if shown is not None else trigger.id,
                "action": shown.action if shown is not None else NO_ACTION,
                "page_type": session.page_type,
                "device_type": session.device,
                "region": session.region,
                "experiment_id": choice.experiment_id,
                "variant": choice.variant,
                "propensity": choice.propensity,
                "context": orjson.dumps(choice.context).decode() if choice.context is not None else None,
            },
            choice.exposure,
        )
        return answer

    def _action(
        self, trigger: Trigger, session: Session, visitor: Visitor, lang: str, now: datetime
    ) -> dict[str, Any]:
        c = trigger.content
        action: dict[str, Any] = {
            "kind": trigger.action,
            "trigger": trigger.id,
            "title": c.title.in_(lang),
            "body": c.body.in_(lang) if c.body else None,
            "button": c.button.in_(lang) if c.button else None,
            "link": c.link,
            "coupon": c.coupon,
            "discount_percent": c.discount_percent,
            "items": [],
        }
        live = self.recommender
        if c.items and live.ready and live.model is not None:
            in_cart = tuple(session.cart)
            on_screen = session.product_on_screen  # a widget beside a product does not offer it again
            banned = frozenset(in_cart) | ({on_screen} if on_screen else set())
            context = Context(exclude=banned, region=session.region, session=in_cart)
            user = visitor.profile_id or session.visitor
            # a recommendations experiment on this placement names the recommender that answers
            choice = self.experiments.strategy(
                trigger.placement,
                unit_of(session, visitor),
                identities(session, visitor),
                visitor,
                now,
                f"widget:{trigger.id}",
            )
            strategy = (
                self.experiments.strategy_name(choice)
                if choice is not None
                else self.experiments.kept_strategy(trigger.placement)
            )
            found, action["algorithm"] = recommend_by(live.model, strategy, user, context, c.items)
            action["items"] = live.describe(found, lang)
            if choice is not None:
                action["experiment"] = {"id": choice.experiment_id, "variant": choice.variant}
                if choice.exposure is not None:
                    self.log.exposure_soon(choice.exposure)
        return action

    async def strategy_for(self, user: str, profile_id: str | None, placement: str | None) -> tuple[str, Any]:
        """The recommender that answers ``/v1/recommendations`` for ``user`` (a profile, member or
        anonymous id) in ``placement``, and the experiment's choice that named it (or None); the
        unit's first exposure is recorded with the next write."""
        known = self.visitors.get(profile_id or "") or Visitor(profile_id=profile_id)
        plain = user.split(":", 1)[1] if user.startswith(("user:", "anon:")) else user
        unit = profile_id or (user if user.startswith(("user:", "anon:")) else f"anon:{user}")
        keys = list(dict.fromkeys([unit, f"user:{plain}", f"anon:{plain}"]))
        await self.recall(self.experiments.recommendation_ids(), keys)
        choice = self.experiments.strategy(
            placement or "*", unit, keys, known, self.now(), f"recommendations:{placement or '*'}"
        )
        if choice is None:  # a stopped experiment's kept strategy, else the hybrid
            return self.experiments.kept_strategy(placement or "*"), None
        if choice.exposure is not None:
            self.log.exposure_soon(choice.exposure)
        return self.experiments.strategy_name(choice), choice

    async def outcome(self, decision_id: str, outcome: str) -> bool:
        """Record an outcome now (durable when it returns); False for an unknown decision."""
        if decision_id not in self.recent and not await self.log.known(decision_id):
            return False
        row = {
            "decision_id": decision_id,
            "outcome": outcome,
            "outcome_at": self.now(),
            "order_id": None,
            "revenue": None,
        }
        await self.log.outcome(row)
        return True


# -- routes -------------------------------------------------------------------------------
Lang = Literal["ko", "en"]
_DECIDE_DOC = (
    "The on-site action for a placement now (null when nothing applies). Use the write key from "
    "web pages; the visitor is the tracker's anonymousId. A userId counts (personal content such as "
    "a VIP's picks) only with userSignature, HMAC-SHA256 of the userId under the workspace's "
    "identity secret (`shopmind keys identity-secret`), computed by the shop's server; without it "
    "the visitor is answered as an anonymous one."
)


class DecideRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    anonymous_id: Annotated[str, Field(alias="anonymousId", min_length=1, max_length=512)]
    user_id: Annotated[str | None, Field(alias="userId", min_length=1, max_length=512)] = None
    user_signature: Annotated[str | None, Field(alias="userSignature", max_length=128)] = None
    placement: Annotated[str | None, Field(max_length=64)] = None
    lang: Lang | None = None


def _onsite(request: Request) -> OnSite:
    onsite: OnSite = request.app.state.onsite
    return onsite


async def _decide(request: Request, ask: DecideRequest) -> dict[str, Any]:
    verified = request.app.state.signer.verify(ask.user_id, ask.user_signature)
    return await _onsite(request).decide(
        ask.anonymous_id, ask.user_id, ask.placement, ask.lang, verified=verified
    )


@router.get("/decide", summary="What to show this visitor in a placement now", description=_DECIDE_DOC)
async def decide_get(
    request: Request,
    anonymous_id: Annotated[str, Query(alias="anonymousId", min_length=1, max_length=512)],
    user_id: Annotated[str | None, Query(alias="userId", min_length=1, max_length=512)] = None,
    user_signature: Annotated[str | None, Query(alias="userSignature", max_length=128)] = None,
    placement: Annotated[str | None, Query(max_length=64)] = None,
    lang: Lang | None = None,
    _: str = Depends(requires("write")),
) -> dict[str, Any]:
    ask = DecideRequest(
        anonymous_id=anonymous_id,
        user_id=user_id,
        user_signature=user_signature,
        placement=placement,
        lang=lang,
    )
    return await _decide(request, ask)


@router.post("/decide", summary="What to show this visitor in a placement now", description=_DECIDE_DOC)
async def decide_post(
    request: Request, ask: DecideRequest, _: str = Depends(requires("write"))
) -> dict[str, Any]:
    return await _decide(request, ask)


class OutcomeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["shown", "clicked", "dismissed"]


@router.post(
    "/decisions/{decision_id}/outcome",
    summary="Report what became of a decision: shown, clicked or dismissed (converted is recorded "
    "by the server when the session orders)",
)
async def outcome(
    decision_id: Annotated[str, Path(max_length=64)],
    report: OutcomeRequest,
    request: Request,
    _: str = Depends(requires("write")),
) -> dict[str, Any]:
    if not await _onsite(request).outcome(decision_id, report.outcome):
        raise ApiError(
            404, "not_found", f"no decision {decision_id!r}: use the decision_id /v1/decide returned"
        )
    return {"success": True, "decision_id": decision_id, "outcome": report.outcome}


@router.get(
    "/triggers",
    summary="The on-site triggers, how each performs and what it adds against its holdout",
    description=(
        "Per trigger: its definition, `performance` (decisions served, shown, clicked, dismissed, "
        "converted, revenue) and `uplift`: the units shown it and those held out (qualified, shown "
        "nothing: `holdout` of the trigger, 10% by default), each arm's conversion rate, the "
        "difference (shown minus holdout) with its interval, or a note when there is not yet "
        "enough data to compare."
    ),
    dependencies=[Depends(requires("secret"))],
)
async def triggers(request: Request) -> dict[str, Any]:
    onsite = _onsite(request)
    await onsite.flush()
    worker = request.app.state.worker
    performance = {row["trigger_id"]: row for row in await worker.run(trigger_performance)}
    uplift = await worker.run(trigger_uplift, onsite.triggers)  # as experiment_results says
    empty = {
        "served": 0,
        "shown": 0,
        "clicked": 0,
        "dismissed": 0,
        "converted": 0,
        "revenue": 0.0,
        "unverified_revenue": 0.0,
    }
    return {
        "outcomes": list(OUTCOMES),
        "triggers": [
            {
                **t.model_dump(mode="json"),
                "performance": performance.get(t.id, empty),
                "uplift": (uplift[t.id] if t.id in uplift else uplift_of(t.id, [])).to_dict(),
            }
            for t in onsite.triggers
        ],
    }

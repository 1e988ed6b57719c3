"""The on-site experiments against abuse and growth: forged clicks cannot pick a bandit's winner,
browser order claims reward nothing, one unit counts once per batch, the memory of units'
variants stays bounded (the store answers the rest, identity merges included), a member keeps
their variant on a second device, starting refuses experiments that collide or cannot work
(named fields), and an erasure through the server leaves nothing of the customer in the
experiments' memory. In process on a real store with a clock the test moves, and against a
real ``shopmind serve``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from shopmind.api._live_batches import batch_rewards
from shopmind.api._live_experiments import LiveExperiments, Snapshot
from shopmind.core import InvalidInputError
from shopmind.experiments import Assigner, parse_experiment
from shopmind.measure import start_experiment, stop_experiment
from shopmind.onsite import Visitor, parse_triggers
from shopmind.store import (
    Store,
    Workspace,
    create_experiment,
    get_experiment,
    latest_bandit_state,
    set_experiment_state,
)
from tests.serving import Server
from tests.test_onsite_experiments import (
    ALWAYS,
    BANDIT,
    COUPON,
    EXPERIMENT,
    TRIGGERS,
    Shopper,
    _key,
    _session,
)

T = TypeVar("T")
STARTED = datetime(2026, 3, 2, 3, tzinfo=UTC)
FIXED = {**BANDIT, "id": "top-banner-ab", "policy": {"kind": "fixed"}}


def _create(store: Store, definition: dict[str, Any], *, running: bool = True) -> None:
    create_experiment(
        store,
        definition["id"],
        definition["name"],
        orjson.dumps(definition).decode(),
        created_by="test",
        now=STARTED,
    )
    if running:
        set_experiment_state(store, definition["id"], "running", STARTED)


def _in_server(
    workspace: Workspace, clock: list[datetime], body: Callable[[Any, Any], Awaitable[T]], *, cache: int = 0
) -> T:
    """Run ``body(onsite, worker)`` against an OnSite on the workspace's store (seeded bandits)."""
    from shopmind.api._models import LiveRecommender
    from shopmind.api._onsite import OnSite
    from shopmind.api._worker import StoreWorker

    async def run() -> T:
        worker = StoreWorker(workspace.open_store())
        onsite = OnSite(parse_triggers(ALWAYS), LiveRecommender(enabled=False), now=lambda: clock[0])
        onsite.experiments.seed = 20
        if cache:
            onsite.experiments.cache_size = cache
        await onsite.start(worker)
        try:
            return await body(onsite, worker)
        finally:
            await onsite.close()
            worker.close()

    return asyncio.run(run())


# -- 1. forged clicks cannot pick a bandit's winner ------------------------------------------
def test_forged_clicks_on_fresh_visitors_never_switch_a_clicks_bandit(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop")
    (workspace.path / "triggers.toml").write_text(ALWAYS, encoding="utf-8")
    with workspace.open_store() as store:
        _create(store, BANDIT)
    clock = [STARTED + timedelta(minutes=1)]
    floor = BANDIT["policy"]["floor"]

    async def attack(onsite: Any, worker: Any) -> dict[str, Any]:
        # the attacker holds the public write key: fresh anonymousIds, a click on every B
        for n in range(400):
            answer = await onsite.decide(f"forger-{n}", None, "top", "ko")
            if answer["action"]["trigger"] == "top-banner-b":
                assert await onsite.outcome(answer["decision_id"], "clicked")
        # and one visitor answered 30 times who clicks every B: one unit, one reward
        for _ in range(30):
            answer = await onsite.decide("forger-again", None, "top", "ko")
            if answer["action"]["trigger"] == "top-banner-b":
                await onsite.outcome(answer["decision_id"], "clicked")
        clock[0] = STARTED + timedelta(minutes=13)
        assert await onsite.update_bandits() == 1
        state = dict(onsite.experiments.running[BANDIT["id"]].policy.state())
        # it keeps serving both: A keeps at least the floor
        served = {"top-banner": 0, "top-banner-b": 0}
        for n in range(200):
            answer = await onsite.decide(f"later-{n}", None, "top", "ko")
            served[answer["action"]["trigger"]] += 1
        state["served_after"] = served
        state["stored_winner"] = await worker.run(lambda s: get_experiment(s, BANDIT["id"]).winner)
        return state

    state = _in_server(workspace, clock, attack)
    # the switch rule would have fired (P(best) ≥ 0.95 with ≥ 100 rewards per variant) ...
    assert (
        state["chance_best"]["b"] >= 0.95
        and min(state["successes"][i] + state["failures"][i] for i in (0, 1)) >= 100
    )
    # ... but a clicks bandit only suggests: no winner in the policy nor in the store
    assert state["winner"] is None and state["stored_winner"] is None
    assert state["suggested_winner"] == "b"
    # the bound: every variant keeps the floor, the favoured one at most 1 - (K-1)·floor
    assert state["shares"]["a"] >= floor - 1e-9 and state["shares"]["b"] <= 1 - floor + 1e-9
    assert state["served_after"]["top-banner"] > 0
    # one reward per unit per batch: 400 forgers and the repeat visitor are 401 rewards, not 430
    assert state["decisions"] == 401

    # the operator confirms the suggestion: from then on everyone but the holdout sees B
    async def confirm(onsite: Any, worker: Any) -> set[str | None]:
        await worker.write(lambda s: stop_experiment(s, BANDIT["id"], now=clock[0], winner="b"))
        await onsite.reload_experiments()
        shown = set()
        for n in range(60):
            answer = await onsite.decide(f"after-stop-{n}", None, "top", "ko")
            shown.add((answer["action"] or {}).get("trigger"))
        return shown

    assert _in_server(workspace, clock, confirm) <= {"top-banner-b", None}


def test_a_converted_bandit_is_rewarded_by_verified_orders_only(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop")
    converted = {**BANDIT, "id": "top-banner-orders", "policy": {**BANDIT["policy"], "reward": "converted"}}
    with workspace.open_store() as store:
        _create(store, converted)
    clock = [STARTED + timedelta(minutes=1)]

    async def run(onsite: Any, worker: Any) -> list[float]:
        decided: list[tuple[str, datetime]] = []
        for n in range(6):
            clock[0] += timedelta(seconds=10)
            answer = await onsite.decide(f"c-{n}", None, "top", "ko")
            decided.append((answer["decision_id"], clock[0]))
        # c-0, c-1: the browser reported an order (a claim: unverified) and the session converted
        for n in (0, 1):
            await onsite.outcome(decided[n][0], "converted")

        def orders(store: Store) -> None:
            rows = [
                ("o-0", decided[0][1] + timedelta(minutes=1), "c-0", False),  # claims
                ("o-1", decided[1][1] + timedelta(minutes=1), "c-1", False),
                ("o-2", decided[2][1] + timedelta(minutes=2), "c-2", True),  # verified, in time
                ("o-3", decided[3][1] + timedelta(minutes=11), "c-3", True),  # verified, too late
            ]
            for order_id, at, anon, verified in rows:
                store.sql(
                    "INSERT INTO orders (order_id, ordered_at, anonymous_id, currency, is_return, source, "
                    "verified) VALUES (?, ?, ?, 'KRW', false, 'test', ?)",
                    [order_id, at, anon, verified],
                )

        await worker.write(orders)
        await onsite.flush()
        run = onsite.experiments.running[converted["id"]]
        rewards, _ = await worker.run(batch_rewards, run, STARTED + timedelta(minutes=30))
        return [r.reward for r in rewards]

    assert _in_server(workspace, clock, run) == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]


# -- 2. bounded memory; the store answers a miss, identity merges included --------------------
def test_the_memory_of_variants_is_bounded_and_the_store_answers_a_miss(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop")
    with workspace.open_store() as store:
        _create(store, FIXED)
    key = _key(workspace.path)
    assigner = Assigner(parse_experiment(FIXED), key)
    clock = [STARTED + timedelta(minutes=1)]

    async def run(onsite: Any, worker: Any) -> tuple[str, str, int, bool]:
        async def variant_of(visitor: str) -> str:
            rows = await worker.run(
                lambda s: s.sql(
                    "SELECT variant FROM decisions WHERE visitor = ? AND experiment_id = ? "
                    "ORDER BY decided_at DESC LIMIT 1",
                    [visitor, FIXED["id"]],
                )
            )
            return str(rows[0][0])

        await onsite.decide("phone", None, "top", "ko")
        await onsite.flush()
        first = await variant_of("phone")
        # the phone's visitor is member m-N (a member whose own hash gives the other variant)
        member = next(f"m-{n}" for n in range(1000) if assigner(f"user:m-{n}") != first)
        profile = f"user:{member}"

        def link(store: Store) -> None:
            store.sql(
                "INSERT INTO profiles VALUES ('anon:phone', ?, 'anon'), (?, ?, 'user')",
                [profile, profile, profile],
            )

        await worker.write(link)
        onsite.visitors[profile] = Visitor(profile_id=profile, known=True)
        for n in range(300):  # many new visitors: the phone's pairs fall out of the memory
            await onsite.decide(f"crowd-{n}", None, "top", "ko")
        size = len(onsite.experiments.remembered)
        evicted = (FIXED["id"], "anon:phone") not in onsite.experiments.remembered
        # signed in on a laptop (decide is told the signature was valid, as the route checks it)
        await onsite.decide("laptop", member, "top", "ko", verified=True)
        await onsite.flush()
        return first, await variant_of("laptop"), size, evicted

    first, laptop, size, evicted = _in_server(workspace, clock, run, cache=50)
    assert size <= 50 and evicted
    assert laptop == first  # found in the store through the member's profile, not hashed afresh


def test_a_restart_reads_only_the_latest_bandit_state(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop")
    with workspace.open_store() as store:
        _create(store, BANDIT)
        for minute in range(5):
            store.sql(
                "INSERT INTO bandit_states VALUES (?, ?, ?)",
                [BANDIT["id"], STARTED + timedelta(minutes=minute), orjson.dumps({"n": minute}).decode()],
            )
        at, text = latest_bandit_state(store, BANDIT["id"]) or (None, "")
        assert at == STARTED + timedelta(minutes=4) and orjson.loads(text) == {"n": 4}
        assert latest_bandit_state(store, "nothing") is None


# -- 4. a member keeps their variant on a second device ------------------------------------------
def test_a_variant_found_by_one_identifier_is_kept_under_all_of_them() -> None:
    definition = {**EXPERIMENT, "traffic": 1.0}
    live = LiveExperiments()
    now = STARTED
    live.load(Snapshot("k", [(parse_experiment(definition), None, now)], {}, []), {})
    coupon = TRIGGERS[COUPON]
    assigner = Assigner(parse_experiment(definition), "k")
    # anonymous on the phone, then logged in as m1 on the phone (found by anon:phone) ...
    first = live.route(coupon, TRIGGERS, _session("phone"), Visitor(), now, "d1")
    assert first.exposure is not None
    member = next(f"m{n}" for n in range(1000) if assigner(f"user:m{n}") != first.variant)
    assert live.route(coupon, TRIGGERS, _session("phone", user=member), Visitor(), now, "d2").exposure is None
    # ... then on a laptop as the member, before any restart: the same variant
    laptop = next(f"l{n}" for n in range(1000) if assigner(f"anon:l{n}") != first.variant)
    later = live.route(coupon, TRIGGERS, _session(laptop, user=member), Visitor(), now, "d3")
    assert later.variant == first.variant and later.exposure is None


# -- 3 and 5. starting refuses collisions and definitions that cannot work -----------------------
def _refused(store: Store, experiment_id: str, **given: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInputError) as caught:
        start_experiment(store, experiment_id, now=STARTED, **given)
    return [(e.field, e.reason) for e in caught.value.errors]


def test_start_refuses_a_second_experiment_on_the_same_point_or_an_overlapping_layer(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop")
    (workspace.path / "triggers.toml").write_text(ALWAYS, encoding="utf-8")
    with workspace.open_store() as store:
        _create(store, FIXED, running=False)
        start_experiment(store, FIXED["id"], now=STARTED)
        _create(store, {**FIXED, "id": "same-point"}, running=False)
        ((field, reason),) = _refused(store, "same-point")
        assert field == "point" and FIXED["id"] in reason
        # one layer, two ranges: overlapping ones are refused, disjoint ones start
        left = {**FIXED, "id": "left", "layer": {"name": "top", "start": 0.0, "end": 0.6}}
        right = {**FIXED, "id": "right", "layer": {"name": "top", "start": 0.5, "end": 1.0}}
        elsewhere = {
            **FIXED,
            "id": "elsewhere",
            "point": {"kind": "placement", "placement": "top", "trigger": "top-banner-b"},
            "variants": [{"name": "a", "trigger": "top-banner-b"}, {"name": "b", "trigger": "top-banner"}],
            "layer": {"name": "top", "start": 0.3, "end": 0.4},
        }
        set_experiment_state(store, FIXED["id"], "stopped", STARTED)
        for d in (left, right, elsewhere):
            _create(store, d, running=False)
        start_experiment(store, "left", now=STARTED)
        ((field, reason),) = _refused(store, "right")
        assert field == "layer" and "'left'" in reason  # overlapping ranges of one layer
        ((field, reason),) = _refused(store, "elsewhere")
        assert field == "layer" and "'left'" in reason and "[0.3, 0.4)" in reason
        fixed_right = {**right, "id": "right-2", "layer": {"name": "top", "start": 0.6, "end": 1.0}}
        _create(store, fixed_right, running=False)
        assert start_experiment(store, "right-2", now=STARTED).state == "running"


def test_start_refuses_variants_that_cannot_work_naming_the_field(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop")
    (workspace.path / "triggers.toml").write_text(ALWAYS, encoding="utf-8")
    silent = {
        **BANDIT,
        "id": "silent-arm",
        "variants": [{"name": "a", "trigger": "top-banner"}, {"name": "nothing", "trigger": None}],
    }
    missing = {
        **FIXED,
        "id": "missing",
        "variants": [{"name": "a", "trigger": "top-banner"}, {"name": "b", "trigger": "no-such"}],
    }
    strategies = {
        "id": "picks",
        "name": "추천",
        "point": {"kind": "recommendations", "placement": "*"},
        "variants": [{"name": "hybrid", "strategy": "hybrid"}, {"name": "bpr", "strategy": "bpr"}],
    }
    with workspace.open_store() as store:
        for d in (silent, missing, strategies):
            _create(store, d, running=False)
        ((field, reason),) = _refused(store, "silent-arm")
        assert field == "variants[1].trigger" and "never clicked" in reason
        ((field, reason),) = _refused(store, "missing")  # the workspace's triggers.toml
        assert field == "variants[1].trigger" and "'no-such'" in reason
        ((field, _),) = _refused(store, "missing", triggers=["top-banner"])  # the server's
        assert field == "variants[1].trigger"
        ((field, reason),) = _refused(store, "picks")  # the hybrid has no bpr
        assert field == "variants[1].strategy" and "'bpr'" in reason
        ((field, _),) = _refused(store, "picks", strategies=["hybrid", "popularity"])
        assert field == "variants[1].strategy"
        assert start_experiment(store, "picks", now=STARTED, strategies=["hybrid", "bpr"]).state == "running"


# -- against a real server: start through the API, erasure ---------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("onsite-hardening") / "shop"
    running = Server(folder, ("--no-recommender", "--run-at", "off"))
    (folder / "triggers.toml").write_text(ALWAYS, encoding="utf-8")
    running.start()
    yield running
    running.stop()


def test_the_api_refuses_to_start_a_variant_naming_a_trigger_the_server_lacks(server: Server) -> None:
    definition = {
        **FIXED,
        "id": "api-missing",
        "variants": [{"name": "a", "trigger": "top-banner"}, {"name": "b", "trigger": "gone"}],
    }
    with server.client(server.secret_key) as secret:
        created = secret.post(
            "/v1/experiments", content=orjson.dumps(definition), headers={"content-type": "application/json"}
        )
        assert created.status_code in (200, 201), created.text
        started = secret.post("/v1/experiments/api-missing/start")
        assert started.status_code == 400, started.text
        assert started.json()["errors"][0]["field"] == "variants[1].trigger"
        assert secret.get("/v1/experiments/api-missing").json()["state"] == "draft"


def test_an_erasure_leaves_nothing_of_the_visitor_in_the_experiments_memory(server: Server) -> None:
    visitor = f"erase-{uuid.uuid4().hex[:8]}"
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        shopper = Shopper(write, visitor)
        shopper.send({"type": "page", "context": {"page": {"url": "https://shop.example.kr/"}}})
        shopper.decide("top")
        secret.get("/v1/triggers")  # the decision log is written

        def exposures() -> int:
            from tests.test_onsite_experiments import _query

            return int(
                _query(server, "SELECT count(*) FROM exposures WHERE unit_id = ?", [f"anon:{visitor}"])[0][0]
            )

        assert exposures() == 1
        erased = secret.delete(f"/v1/profiles/anon:{visitor}")
        assert erased.status_code == 200, erased.text
        assert exposures() == 0
        # the server no longer remembers their variant: they come back as a new unit, exposed anew
        shopper.decide("top")
        assert exposures() == 1


def test_a_bandit_without_auto_switch_only_suggests_and_an_old_clicks_state_loses_its_winner() -> None:
    from shopmind.experiments import Reward, ThompsonSampling, policy_from_state

    rewards = [Reward("b", 1.0, None)] * 150 + [Reward("a", 0.0, None)] * 150
    suggesting = ThompsonSampling(["a", "b"], floor=0.05, seed=3, auto_switch=False)
    suggesting.update(rewards)
    assert suggesting.winner is None and suggesting.suggested_winner == "b"
    assert suggesting.probabilities()["a"] == pytest.approx(0.05, abs=0.01)
    switching = ThompsonSampling(["a", "b"], floor=0.05, seed=3)
    switching.update(rewards)
    assert switching.winner == "b" and switching.probabilities()["a"] == 0.0
    # a state saved by an older server for a clicks bandit, with its winner: now a suggestion
    old = {k: v for k, v in switching.state().items() if k not in ("auto_switch", "suggested_winner")}
    rebuilt = policy_from_state(parse_experiment(BANDIT), old)
    assert rebuilt.state()["winner"] is None and rebuilt.state()["suggested_winner"] == "b"
    assert rebuilt.probabilities()["a"] >= 0.05 - 1e-9


def test_only_what_hashing_cannot_answer_is_looked_up_in_the_store() -> None:
    live = LiveExperiments()
    experiments = [(parse_experiment(d), None, STARTED) for d in (FIXED, {**BANDIT, "id": "b2"})]
    live.load(Snapshot("k", experiments, {}, []), {})
    ids = [FIXED["id"], "b2", "trigger:top-banner"]
    # one identifier: a hash gives back the variant it was exposed to; a bandit's choice it cannot
    assert live.misses(ids, ["anon:new"]) == ["b2"]
    # several identifiers: an earlier exposure under another of them must be found
    assert live.misses(ids, ["user:m1", "anon:laptop"]) == ids
    live.remember(FIXED["id"], ["user:m1"], None)
    assert live.misses(ids, ["user:m1", "anon:laptop"]) == ["b2", "trigger:top-banner"]


def test_of_two_experiments_on_one_point_the_one_started_first_routes() -> None:
    # stored before starting refused such pairs: the older keeps its units, deterministically
    newer = (parse_experiment({**EXPERIMENT, "id": "newer", "traffic": 1.0}), None, STARTED)
    older = (
        parse_experiment({**EXPERIMENT, "id": "older", "traffic": 1.0}),
        None,
        STARTED - timedelta(days=1),
    )
    live = LiveExperiments()
    live.load(Snapshot("k", [newer, older], {}, []), {})
    coupon = TRIGGERS[COUPON]
    routed = {
        live.route(coupon, TRIGGERS, _session(f"o{n}"), Visitor(), STARTED, "d").experiment_id
        for n in range(50)
    }
    assert routed == {"older"}

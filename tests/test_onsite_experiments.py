"""On-site experiments against a real ``shopmind serve``: every trigger's default holdout (held-out
visitors answered with nothing, their decisions and exposures logged, their orders converting
them, the trigger's report an uplift of shown against holdout), placement experiments (the
variant's trigger shown instead, a holdout variant showing nothing, fixed shares by the keyed
hash), and, in process on a real store, what routes a decision: sticky variants across identity
merges, layers, targeting, bandits' batched updates from stored outcomes."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shopmind.activation import experiment_key
from shopmind.api._live_experiments import HOLDOUT, SHOWN, LiveExperiments, Snapshot
from shopmind.experiments import Assigner, parse_experiment, unit_point
from shopmind.measure import trigger_experiment
from shopmind.onsite import DEFAULT_TRIGGERS, Session, Visitor, parse_triggers
from shopmind.store import (
    HASH_KEY_FILE,
    IdentitySigner,
    Store,
    Workspace,
    create_experiment,
    get_experiment,
    set_experiment_state,
)
from tests.serving import Server

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
COUPON = "first-purchase-coupon"
FREE_SHIPPING = """
[[trigger]]
id = "free-shipping-popup"
name = { ko = "무료 배송 팝업", en = "Free shipping popup" }
action = "popup"
placement = "popup"
enabled = false  # shown only as an experiment's variant
[trigger.content]
title = { ko = "지금 주문하면 무료 배송", en = "Free shipping if you order now" }
"""
EXPERIMENT = {
    "id": "exit-popup-copy",
    "name": "이탈 팝업 문구",
    "point": {"kind": "placement", "placement": "popup", "trigger": COUPON},
    "variants": [
        {"name": "control", "trigger": COUPON},
        {"name": "free-shipping", "trigger": "free-shipping-popup"},
        {"name": "nothing", "trigger": None},
    ],
    "traffic": 0.6,
}


def _key(folder: Path) -> str:
    """The assignment key, as campaigns' experiments derive it from the workspace's secret."""
    return experiment_key(bytes.fromhex((folder / HASH_KEY_FILE).read_text().strip()))


def _held_out(key: str, trigger: str, unit: str, share: float = 0.1) -> bool:
    return unit_point(key, f"trigger:{trigger}:holdout", unit) < share


class Shopper:
    """A visitor who puts a product in the cart and is about to leave the cart page."""

    def __init__(self, client: httpx.Client, anonymous_id: str | None = None) -> None:
        self.client = client
        self.anonymous_id = anonymous_id or f"v-{uuid.uuid4().hex[:12]}"
        self.at = datetime.now(UTC) - timedelta(minutes=2)

    def send(self, *bodies: dict[str, Any]) -> None:
        batch = []
        for body in bodies:
            self.at += timedelta(seconds=1)
            batch.append(
                {
                    "messageId": uuid.uuid4().hex,
                    "timestamp": self.at.isoformat(),
                    "anonymousId": self.anonymous_id,
                    **body,
                }
            )
        answer = self.client.post("/v1/batch", json={"batch": batch})
        assert answer.status_code == 200 and answer.json()["accepted"] == len(batch), answer.text

    def about_to_leave_the_cart(self) -> None:
        self.send(
            {
                "type": "track",
                "event": "Product Added",
                "properties": {"product_id": "P00001", "price": 3900},
            },
            {"type": "page", "context": {"page": {"url": "https://shop.example.kr/cart"}}},
            {"type": "track", "event": "Exit Intent", "properties": {"page_type": "cart"}},
        )

    def decide(self, placement: str = "popup", **extra: Any) -> dict[str, Any]:
        answer = self.client.get(
            "/v1/decide", params={"anonymousId": self.anonymous_id, "placement": placement, **extra}
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def order(self) -> None:
        # now (send adds a second): after the decision that exposed them, not in the future
        self.at = datetime.now(UTC) - timedelta(seconds=1)
        self.send(
            {
                "type": "track",
                "event": "Order Completed",
                "properties": {
                    "order_id": f"o-{self.anonymous_id}",
                    "revenue": 3900,
                    "products": [{"product_id": "P00001", "quantity": 1, "price": 3900}],
                },
            }
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("onsite-experiments") / "shop"
    running = Server(folder, ("--no-recommender", "--run-at", "off"))
    (folder / "triggers.toml").write_text(DEFAULT_TRIGGERS + FREE_SHIPPING, encoding="utf-8")
    running.owner_password = running.add_user("owner", "owner")  # type: ignore[attr-defined]
    running.start()
    yield running
    running.stop()


def test_a_trigger_holds_out_a_tenth_and_reports_its_uplift(server: Server) -> None:
    key = _key(server.workspace)
    shopper_ids = [f"hold-{n:03d}" for n in range(160)]
    held = {a for a in shopper_ids if _held_out(key, COUPON, f"anon:{a}")}
    assert 5 <= len(held) <= 35  # about a tenth (the hash decides; the test checks each one)
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        answers: dict[str, dict[str, Any]] = {}
        for a in shopper_ids:
            shopper = Shopper(write, a)
            shopper.about_to_leave_the_cart()
            answers[a] = shopper.decide()
        for a, answer in answers.items():
            if a in held:  # qualified, shown nothing: the same answer as when nothing applies
                assert answer == {"decision_id": None, "placement": "popup", "action": None}, a
            else:
                assert answer["action"]["trigger"] == COUPON, a
        # every held-out shopper orders; one shown shopper in four does
        shown = [a for a in shopper_ids if a not in held]
        buyers = set(held) | set(shown[::4])
        for a in buyers:  # the shop's server reports the orders (secret key): verified orders
            Shopper(secret, a).order()
        listed = {t["id"]: t for t in secret.get("/v1/triggers").json()["triggers"]}
        coupon = listed[COUPON]
        assert coupon["holdout"] == pytest.approx(0.1)
        uplift = coupon["uplift"]
        assert uplift["shown"] == {
            "units": len(shown),
            "converted": len(shown[::4]),
            "rate": pytest.approx(0.25, abs=0.01),
        }
        assert uplift["holdout"] == {"units": len(held), "converted": len(held), "rate": 1.0}
        assert uplift["difference"] == pytest.approx(len(shown[::4]) / len(shown) - 1.0)
        # the difference's interval (two proportions) holds it and, this clear, excludes 0
        low, high = uplift["interval"]["low"], uplift["interval"]["high"]
        assert low < uplift["difference"] < high < 0
        assert 0 <= uplift["p_value"] < 0.001 and uplift["decision"] in ("worse", "inconclusive")
        # the performance counts what was shown: held-out decisions were not served
        assert coupon["performance"]["served"] == len(shown)
        assert coupon["performance"]["converted"] == len(shown[::4])
        # a trigger nothing qualified for yet says so instead of a rate
        careers = listed["careers-banner"]["uplift"]
        assert careers["difference"] is None and "not enough data" in careers["note"]
        assert "100%" not in str(careers)
    # the report is experiment_results of the implicit trigger:<id> experiment: the same figures
    result = _results(server, trigger_experiment(COUPON, 0.1, "popup"))
    (conversion,) = result.metrics
    by = {v.variant: v for v in conversion.variants}
    assert by[SHOWN].units == uplift["shown"]["units"] and by[HOLDOUT].units == uplift["holdout"]["units"]
    assert by[SHOWN].value == pytest.approx(uplift["shown"]["rate"])
    assert by[HOLDOUT].value == pytest.approx(uplift["holdout"]["rate"])
    (comparison,) = conversion.comparisons
    assert comparison.absolute.estimate == pytest.approx(uplift["difference"])
    assert comparison.p_value == pytest.approx(uplift["p_value"])


def test_browser_orders_do_not_convert_a_trigger_and_a_login_is_one_unit(server: Server) -> None:
    """A browser's order_completed is anyone's claim: the trigger's report counts verified orders
    only; a visitor answered before and after logging in is one unit, not two."""
    key = _key(server.workspace)
    signer = IdentitySigner(server.workspace)
    shopper_id = next(f"claim-{n}" for n in range(1000) if not _held_out(key, COUPON, f"anon:claim-{n}"))
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        before = secret.get("/v1/triggers").json()["triggers"]
        (coupon,) = [t["uplift"] for t in before if t["id"] == COUPON]
        shopper = Shopper(write, shopper_id)
        shopper.about_to_leave_the_cart()
        assert shopper.decide()["action"]["trigger"] == COUPON
        shopper.order()  # with the write key: a claim
        after = next(t["uplift"] for t in secret.get("/v1/triggers").json()["triggers"] if t["id"] == COUPON)
        assert after["shown"]["units"] == coupon["shown"]["units"] + 1
        assert after["shown"]["converted"] == coupon["shown"]["converted"]  # the claim converts nothing
        # the same visitor logs in and is answered again: still one unit
        member = f"m-{shopper_id}"
        shopper.send({"type": "identify", "userId": member})
        shopper.decide(userId=member, userSignature=signer.sign(member))
        again = next(t["uplift"] for t in secret.get("/v1/triggers").json()["triggers"] if t["id"] == COUPON)
        assert again["shown"]["units"] == after["shown"]["units"]


def test_the_held_out_decisions_and_exposures_are_in_the_store(server: Server) -> None:
    key = _key(server.workspace)
    # a shopper of each arm
    ids = iter(f"arm-{n}" for n in range(1000))
    out = next(a for a in ids if _held_out(key, COUPON, f"anon:{a}"))
    shown = next(a for a in ids if not _held_out(key, COUPON, f"anon:{a}"))
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        for a in (out, shown):
            shopper = Shopper(write, a)
            shopper.about_to_leave_the_cart()
            shopper.decide()
            # the cap counts a held-out decision too: asked again, the same arm and nothing more
            assert shopper.decide()["action"] is None
        secret.get("/v1/triggers")  # flushes the decision log
    # the server holds the store: read the rows through a copy
    rows = _query(
        server,
        "SELECT visitor, trigger_id, action, experiment_id, variant, propensity FROM decisions "
        "WHERE visitor IN (?, ?) ORDER BY visitor",
        [out, shown],
    )
    assert rows == sorted(
        [
            (out, COUPON, "none", f"trigger:{COUPON}", HOLDOUT, pytest.approx(0.1)),
            (shown, COUPON, "popup", f"trigger:{COUPON}", SHOWN, pytest.approx(0.9)),
        ]
    )
    exposures = _query(
        server,
        "SELECT unit_id, variant, source IS NOT NULL FROM exposures WHERE experiment_id = ? "
        "AND unit_id IN (?, ?) ORDER BY unit_id",
        [f"trigger:{COUPON}", f"anon:{out}", f"anon:{shown}"],
    )
    assert exposures == sorted([(f"anon:{out}", HOLDOUT, True), (f"anon:{shown}", SHOWN, True)])


def test_a_member_keeps_their_arm_on_another_device(server: Server) -> None:
    key = _key(server.workspace)
    signer = IdentitySigner(server.workspace)
    # a member first seen on a phone, then on a laptop whose anonymous id alone hashes to the
    # other arm: the member id finds the first exposure before anything is hashed
    member = "member-42"
    phone = next(f"phone-{n}" for n in range(5000) if _held_out(key, COUPON, f"anon:phone-{n}"))
    laptop = next(f"laptop-{n}" for n in range(5000) if not _held_out(key, COUPON, f"anon:laptop-{n}"))
    signed = {"userId": member, "userSignature": signer.sign(member)}
    with server.client(server.write_key) as write:
        first = Shopper(write, phone)
        first.about_to_leave_the_cart()
        assert first.decide(**signed)["action"] is None  # held out
        second = Shopper(write, laptop)
        second.about_to_leave_the_cart()
        assert second.decide(**signed)["action"] is None  # still held out, not shown


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_the_dashboard_shows_each_triggers_uplift_in_korean_and_english(
    server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        for n in range(12):  # whatever ran before, both arms of the coupon have units
            shopper = Shopper(write, f"page-{n}")
            shopper.about_to_leave_the_cart()
            shopper.decide()
        listed = {t["id"]: t for t in secret.get("/v1/triggers").json()["triggers"]}
    coupon = listed[COUPON]["uplift"]
    assert coupon["shown"]["units"] and coupon["holdout"]["units"]
    out = Path(os.environ.get("SHOPMIND_ARTIFACTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(server.url + "/dashboard/onsite")
        page.wait_for_url("**/dashboard/login**")
        page.fill("#login", "owner")
        page.fill("#password", server.owner_password)  # type: ignore[attr-defined]
        page.click("#sign-in")
        page.wait_for_url("**/dashboard/onsite*")
        row = f"#uplift tr[data-trigger='{COUPON}']"
        units = {
            k: page.inner_text(f"{row} [data-units='{k}']").replace(",", "") for k in ("shown", "holdout")
        }
        assert units == {"shown": str(coupon["shown"]["units"]), "holdout": str(coupon["holdout"]["units"])}
        rate = page.inner_text(f"{row} [data-rate='holdout']")
        assert rate == f"{100 * coupon['holdout']['rate']:.1f}%"
        difference = page.inner_text(f"{row} [data-difference]")
        interval = coupon["interval"]  # the difference in points, with its interval
        low, high = 100 * interval["low"], 100 * interval["high"]
        assert difference == f"{100 * coupon['difference']:+.1f}%p ({low:+.1f} ~ {high:+.1f})"
        careers = page.inner_text("#uplift tr[data-trigger='careers-banner'] [data-note]")
        assert careers == "아직 대조군 고객이 없어 비교할 수 없습니다"
        korean = page.inner_text("#uplift")
        assert "NaN" not in korean and "not enough" not in korean
        page.screenshot(path=str(out / "onsite-uplift-ko.png"), full_page=True)
        page.click("#lang-switch")
        page.wait_for_selector("html[lang='en']")
        english = page.inner_text("#uplift")
        assert "Not enough data: nobody held out yet" in english and "NaN" not in english
        page.screenshot(path=str(out / "onsite-uplift-en.png"), full_page=True)
        browser.close()
    assert problems == [], problems


def _results(server: Server, experiment: Any) -> Any:
    """experiment_results on a copy of the server's store (the server holds the store)."""
    from shopmind.measure import experiment_results

    copy = _copy(server)
    with Store(copy) as store:
        return experiment_results(store, experiment)


def _copy(server: Server) -> Path:
    copy = server.workspace / f"copy-{uuid.uuid4().hex[:6]}.duckdb"
    with server.client(server.secret_key) as secret:
        secret.get("/v1/triggers")
    shutil.copy(server.workspace / "shop.duckdb", copy)
    wal = server.workspace / "shop.duckdb.wal"
    if wal.exists():
        shutil.copy(wal, Path(f"{copy}.wal"))
    return copy


def _query(server: Server, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    copy = server.workspace / f"copy-{uuid.uuid4().hex[:6]}.duckdb"
    with server.client(server.secret_key) as secret:
        secret.get("/v1/triggers")
    shutil.copy(server.workspace / "shop.duckdb", copy)
    wal = server.workspace / "shop.duckdb.wal"
    if wal.exists():
        shutil.copy(wal, Path(f"{copy}.wal"))
    with Store(copy) as store:
        return [tuple(r) for r in store.sql(sql, params)]


# -- placement experiments through a real server ------------------------------------------------
def test_a_placement_experiment_shows_each_variants_trigger(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    workspace = Workspace.init(folder)
    (folder / "triggers.toml").write_text(DEFAULT_TRIGGERS + FREE_SHIPPING, encoding="utf-8")
    experiment = parse_experiment(EXPERIMENT)
    now = datetime.now(UTC)
    with workspace.open_store() as store:
        create_experiment(
            store,
            experiment.id,
            experiment.name,
            orjson.dumps(EXPERIMENT).decode(),
            created_by="test",
            now=now,
        )
        set_experiment_state(store, experiment.id, "running", now)
    assigner = Assigner(experiment, _key(folder))
    server = Server(folder, ("--no-recommender", "--run-at", "off")).start()
    try:
        seen: dict[str | None, int] = {}
        with server.client(server.write_key) as write:
            for n in range(90):
                a = f"exp-{n:03d}"
                shopper = Shopper(write, a)
                shopper.about_to_leave_the_cart()
                action = shopper.decide()["action"]
                variant = assigner(f"anon:{a}")
                seen[variant] = seen.get(variant, 0) + 1
                if variant == "control":
                    assert action["trigger"] == COUPON, a
                elif variant == "free-shipping":
                    assert action["trigger"] == "free-shipping-popup", a
                    assert action["title"] == "지금 주문하면 무료 배송"
                elif variant == "nothing":
                    assert action is None, a
                else:  # outside the experiment's 60% of traffic: the trigger's own holdout applies
                    expected = None if _held_out(assigner.key, COUPON, f"anon:{a}") else COUPON
                    assert (action or {}).get("trigger") == expected, a
        assert set(seen) == {"control", "free-shipping", "nothing", None}  # every path was taken
        rows = _query(
            server,
            "SELECT variant, count(*), min(propensity), max(propensity) FROM decisions "
            "WHERE experiment_id = ? GROUP BY variant ORDER BY variant",
            [experiment.id],
        )
        assert [(v, n) for v, n, _, _ in rows] == sorted((v, n) for v, n in seen.items() if v)
        assert all(lo == hi == pytest.approx(1 / 3) for _, _, lo, hi in rows)
        exposed = _query(
            server,
            "SELECT count(*), count(DISTINCT unit_id) FROM exposures WHERE experiment_id = ?",
            [experiment.id],
        )
        assert exposed == [(90 - seen[None], 90 - seen[None])]
    finally:
        server.stop()


# -- routing in process ------------------------------------------------------------------------
TRIGGERS = {t.id: t for t in parse_triggers(DEFAULT_TRIGGERS + FREE_SHIPPING)}
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _session(anonymous_id: str, user: str | None = None) -> Session:
    session = Session(anonymous_id, NOW, NOW)
    session.verified_user = session.user_id = user
    return session


def _live(*definitions: dict[str, Any], key: str = "k") -> LiveExperiments:
    live = LiveExperiments()
    experiments = [(parse_experiment(d), None, NOW) for d in definitions]
    live.load(Snapshot(key, experiments, {}, []), {})
    return live


def test_layers_keep_experiments_apart_and_targeting_admits_only_the_segment() -> None:
    left = {**EXPERIMENT, "id": "left", "traffic": 1.0, "layer": {"name": "popup", "start": 0.0, "end": 0.5}}
    right = {
        **EXPERIMENT,
        "id": "right",
        "traffic": 1.0,
        "layer": {"name": "popup", "start": 0.5, "end": 1.0},
    }
    live = _live(left, right)
    coupon = TRIGGERS[COUPON]
    hits = {"left": 0, "right": 0}
    for n in range(400):
        choice = live.route(coupon, TRIGGERS, _session(f"a{n}"), Visitor(), NOW, f"d{n}")
        assert choice.experiment_id in hits  # the layer's two halves cover every unit, once
        hits[str(choice.experiment_id)] += 1
    assert 150 < hits["left"] < 250 and hits["left"] + hits["right"] == 400
    vips = _live({**EXPERIMENT, "id": "vips", "traffic": 1.0, "target": {"rfm": ["vip"]}})
    outsider = vips.route(coupon, TRIGGERS, _session("x"), Visitor(), NOW, "d")
    assert outsider.experiment_id == f"trigger:{COUPON}"  # not targeted: the trigger's own holdout
    vip = Visitor(profile_id="user:v", segments=frozenset({"vip"}), known=True)
    assert vips.route(coupon, TRIGGERS, _session("y"), vip, NOW, "d").experiment_id == "vips"


def test_a_unit_keeps_its_variant_when_its_identities_merge() -> None:
    live = _live({**EXPERIMENT, "traffic": 1.0}, key="k")
    coupon = TRIGGERS[COUPON]
    first = live.route(coupon, TRIGGERS, _session("phone", user="m1"), Visitor(), NOW, "d1")
    assert first.exposure is not None and first.exposure["unit_id"] == "anon:phone"
    # the laptop's own hash would give another variant
    assigner = Assigner(parse_experiment({**EXPERIMENT, "traffic": 1.0}), "k")
    laptop = next(f"l{n}" for n in range(1000) if assigner(f"anon:l{n}") != first.variant)
    again = live.route(coupon, TRIGGERS, _session(laptop, user="m1"), Visitor(), NOW, "d2")
    assert again.variant == first.variant and again.exposure is None  # exposed once
    # after a restart the store's profiles map the exposed unit to its profile
    restarted = LiveExperiments()
    facts = {"anon:phone": Visitor(profile_id="user:m1"), "user:m1": Visitor(profile_id="user:m1")}
    experiment = parse_experiment({**EXPERIMENT, "traffic": 1.0})
    restarted.load(
        Snapshot("k", [(experiment, None, NOW)], {}, [(experiment.id, "anon:phone", str(first.variant))]),
        facts,
    )
    member = Visitor(profile_id="user:m1", known=True)
    later = restarted.route(coupon, TRIGGERS, _session(laptop), member, NOW, "d3")
    assert later.variant == first.variant and later.exposure is None


# -- a bandit on /v1/decide, in process on a real store with a clock the test moves --------------
ALWAYS = """
[[trigger]]
id = "top-banner"
name = { ko = "상단 배너 A", en = "Top banner A" }
action = "banner"
placement = "top"
cap = { per_session = 100 }
[trigger.content]
title = { ko = "A", en = "A" }

[[trigger]]
id = "top-banner-b"
name = { ko = "상단 배너 B", en = "Top banner B" }
action = "banner"
placement = "top"
enabled = false
[trigger.content]
title = { ko = "B", en = "B" }
"""
BANDIT = {
    "id": "top-banner-bandit",
    "name": "상단 배너 밴딧",
    "point": {"kind": "placement", "placement": "top", "trigger": "top-banner"},
    "variants": [{"name": "a", "trigger": "top-banner"}, {"name": "b", "trigger": "top-banner-b"}],
    "policy": {"kind": "thompson", "reward": "clicked", "batch_minutes": 10, "floor": 0.05},
}


def test_a_bandit_learns_in_batches_from_the_stored_clicks_and_its_states_are_kept(tmp_path: Path) -> None:
    import asyncio

    from shopmind.api._models import LiveRecommender
    from shopmind.api._onsite import OnSite
    from shopmind.api._worker import StoreWorker
    from shopmind.store import bandit_states

    workspace = Workspace.init(tmp_path / "shop")
    started = datetime(2026, 3, 2, 3, tzinfo=UTC)
    clock = [started + timedelta(minutes=1)]
    with workspace.open_store() as store:
        create_experiment(
            store, BANDIT["id"], BANDIT["name"], orjson.dumps(BANDIT).decode(), created_by="test", now=started
        )
        set_experiment_state(store, BANDIT["id"], "running", started)

    async def month() -> tuple[list[tuple[str, str, float, str]], list[dict[str, Any]]]:
        worker = StoreWorker(workspace.open_store())
        onsite = OnSite(parse_triggers(ALWAYS), LiveRecommender(enabled=False), now=lambda: clock[0])
        await onsite.start(worker)
        try:
            await onsite.update_bandits()  # done at start already: nothing due
            assert await onsite.update_bandits() == 0
            shown: dict[str, int] = {}
            for n in range(60):
                answer = await onsite.decide(f"b-{n}", None, "top", "ko")
                trigger = answer["action"]["trigger"]
                shown[trigger] = shown.get(trigger, 0) + 1
                if trigger == "top-banner-b":  # B is clicked, A never
                    assert await onsite.outcome(answer["decision_id"], "clicked")
            assert set(shown) == {"top-banner", "top-banner-b"}
            assert await onsite.update_bandits() == 0  # the next batch is not due yet
            clock[0] = started + timedelta(minutes=13)  # 10 minutes on, the decisions' outcomes are in
            assert await onsite.update_bandits() == 1
            await onsite.flush()
            decided = await worker.run(
                lambda s: s.sql(
                    "SELECT variant, trigger_id, propensity, context FROM decisions WHERE experiment_id = ?",
                    [BANDIT["id"]],
                )
            )
            states = [orjson.loads(text) for _, text in await worker.run(bandit_states, BANDIT["id"])]
            return decided, states
        finally:
            await onsite.close()
            worker.close()

    decided, states = asyncio.run(month())
    assert len(decided) == 60
    for variant, trigger, propensity, context in decided:
        assert trigger == ("top-banner" if variant == "a" else "top-banner-b")
        assert 0 < propensity <= 1
        assert set(orjson.loads(context)) == {"device", "hour", "region", "segment", "recent"}
        assert orjson.loads(context)["hour"] == 12  # 03:01 UTC is noon in Seoul
    assert len(states) == 2, states  # the first state, then the batch
    assert states[0]["through"] == started.isoformat()
    # the batch took every decision up to 10 minutes before it
    assert states[1]["through"] == (started + timedelta(minutes=3)).isoformat()
    assert states[1]["kind"] == "thompson" and states[1]["decisions"] == 60  # every decision, once
    shares = states[1]["shares"]
    assert shares["b"] > 0.9 and shares["a"] >= 0.05 - 1e-9  # B is clicked; A keeps the floor
    if states[1]["winner"] is not None:  # switched: the experiment records its winner
        with workspace.open_store() as store:
            assert get_experiment(store, BANDIT["id"]).winner == states[1]["winner"] == "b"
    assert states[1]["through"] > states[0]["through"]

    async def restarted() -> dict[str, Any]:
        worker = StoreWorker(workspace.open_store())
        onsite = OnSite(parse_triggers(ALWAYS), LiveRecommender(enabled=False), now=lambda: clock[0])
        await onsite.start(worker)
        try:
            await onsite.update_bandits()
            policy = onsite.experiments.running[BANDIT["id"]].policy
            assert policy is not None
            return policy.state()
        finally:
            await onsite.close()
            worker.close()

    # after a restart the bandit goes on from its saved state, not from scratch
    again = asyncio.run(restarted())
    assert again["decisions"] == 60 and again["shares"]["b"] == pytest.approx(states[1]["shares"]["b"])


# -- recommendation strategies: hybrid against popularity ---------------------------------------
STRATEGIES = {
    "id": "picks-hybrid-vs-popular",
    "name": "추천 방식 비교",
    "point": {"kind": "recommendations", "placement": "*"},
    "variants": [{"name": "hybrid", "strategy": "hybrid"}, {"name": "popular", "strategy": "popularity"}],
}


def test_a_recommendation_experiment_answers_each_unit_with_its_variants_recommender(tmp_path: Path) -> None:
    import time

    from tests.shops import demo_workspace

    shop = demo_workspace(tmp_path / "shop")
    no_holdout = DEFAULT_TRIGGERS.replace("\npriority = ", "\nholdout = 0\npriority = ")
    (shop.folder / "triggers.toml").write_text(no_holdout, encoding="utf-8")
    experiment = parse_experiment(STRATEGIES)
    now = datetime.now(UTC)
    with Workspace(shop.folder).open_store() as store:
        create_experiment(
            store,
            experiment.id,
            experiment.name,
            orjson.dumps(STRATEGIES).decode(),
            created_by="test",
            now=now,
        )
        set_experiment_state(store, experiment.id, "running", now)
    assigner = Assigner(experiment, _key(shop.folder))
    server = Server(shop.folder, ("--run-at", "off")).start()
    try:
        with server.client(server.secret_key) as secret, server.client(server.write_key) as write:
            deadline = time.monotonic() + 240
            while secret.get("/readyz").json()["recommender"] == "training":
                assert time.monotonic() < deadline
                time.sleep(0.5)
            lists: dict[str, list[list[str]]] = {"hybrid": [], "popular": []}
            for n in range(24):
                user = f"rec-{n}"
                answer = secret.get("/v1/recommendations", params={"user": user, "n": 5}).json()
                variant = assigner(f"anon:{user}")
                assert answer["experiment"] == {"id": experiment.id, "variant": variant}
                assert answer["algorithm"] == ("popularity" if variant == "popular" else "hybrid")
                lists[str(variant)].append([i["product_id"] for i in answer["items"]])
                again = secret.get("/v1/recommendations", params={"user": user, "n": 5}).json()
                assert again["experiment"]["variant"] == variant  # the same unit, the same recommender
            assert lists["hybrid"] and lists["popular"]
            # new visitors all get the best sellers from popularity
            assert all(items == lists["popular"][0] for items in lists["popular"])
            # the recommendation widget of a returning VIP follows their variant too
            vip = Shopper(write, f"vip-{uuid.uuid4().hex[:6]}")
            vip.send({"type": "page", "context": {"page": {"url": "https://shop.example.kr/"}}})
            signature = IdentitySigner(shop.folder).sign(shop.vip)
            picks = vip.decide("top", userId=shop.vip, userSignature=signature)["action"]
            vip_variant = assigner(f"user:{shop.vip}")
            assert picks["trigger"] == "returning-vip" and len(picks["items"]) == 4
            assert picks["experiment"] == {"id": experiment.id, "variant": vip_variant}
            assert picks["algorithm"] == ("popularity" if vip_variant == "popular" else "hybrid")
        exposed = _query(
            server,
            "SELECT count(*), count(DISTINCT unit_id) FROM exposures WHERE experiment_id = ?",
            [experiment.id],
        )
        assert exposed == [(25, 25)]  # each unit once: 24 visitors and the VIP
    finally:
        server.stop()


def test_reload_experiments_starts_and_stops_routing_without_a_restart(tmp_path: Path) -> None:
    import asyncio

    from shopmind.api._models import LiveRecommender
    from shopmind.api._onsite import OnSite
    from shopmind.api._worker import StoreWorker

    workspace = Workspace.init(tmp_path / "shop")
    now = datetime(2026, 3, 2, 3, tzinfo=UTC)
    fixed = {**BANDIT, "id": "top-banner-ab", "policy": {"kind": "fixed"}}

    async def run() -> list[tuple[str | None, str | None]]:
        worker = StoreWorker(workspace.open_store())
        onsite = OnSite(parse_triggers(ALWAYS), LiveRecommender(enabled=False), now=lambda: now)
        await onsite.start(worker)
        seen: list[tuple[str | None, str | None]] = []

        async def ask(visitor: str) -> None:
            await onsite.decide(visitor, None, "top", "ko")
            await onsite.flush()
            rows = await worker.run(
                lambda s: s.sql("SELECT experiment_id, variant FROM decisions WHERE visitor = ?", [visitor])
            )
            seen.append(rows[-1])

        try:
            await ask("r-1")  # no experiment yet: the trigger's own comparison
            definition = orjson.dumps(fixed).decode()
            await worker.write(
                lambda s: create_experiment(
                    s, fixed["id"], fixed["name"], definition, created_by="t", now=now
                )
            )
            await worker.write(lambda s: set_experiment_state(s, fixed["id"], "running", now))
            await ask("r-2")  # not re-read yet
            await onsite.reload_experiments()
            await ask("r-3")
            await ask("r-3")  # the same unit: its variant, exposed once
            await worker.write(lambda s: set_experiment_state(s, fixed["id"], "stopped", now))
            await onsite.reload_experiments()
            await ask("r-4")
            exposures = await worker.run(
                lambda s: s.sql("SELECT unit_id FROM exposures WHERE experiment_id = ?", [fixed["id"]])
            )
            assert exposures == [("anon:r-3",)]
            return seen
        finally:
            await onsite.close()
            worker.close()

    seen = asyncio.run(run())
    key = _key(tmp_path / "shop")
    variant = Assigner(parse_experiment(fixed), key)("anon:r-3")
    experiments = [e for e, _ in seen]
    assert experiments == [
        "trigger:top-banner",
        "trigger:top-banner",
        fixed["id"],
        fixed["id"],
        "trigger:top-banner",
    ]
    assert seen[2][1] == seen[3][1] == variant


@pytest.mark.parametrize(
    ("value", "reason"), [("1.5", "less than or equal to 0.9"), ("-0.1", "greater than")]
)
def test_a_bad_holdout_is_named_with_its_reason(value: str, reason: str) -> None:
    from shopmind.core import InvalidInputError

    text = DEFAULT_TRIGGERS.replace("\npriority = 100", f"\npriority = 100\nholdout = {value}", 1)
    with pytest.raises(InvalidInputError) as caught:
        parse_triggers(text)
    (error,) = caught.value.errors
    assert error.field == "trigger[0].holdout" and reason in error.reason


def test_holdout_zero_shows_everyone_who_qualifies_and_logs_no_comparison() -> None:
    text = DEFAULT_TRIGGERS.replace("\npriority = ", "\nholdout = 0\npriority = ")
    triggers = {t.id: t for t in parse_triggers(text)}
    live = _live()
    coupon = triggers[COUPON]
    for n in range(200):
        choice = live.route(coupon, triggers, _session(f"z{n}"), Visitor(), NOW, f"d{n}")
        assert choice.trigger is coupon and choice.experiment_id is None and choice.exposure is None


def test_a_stopped_experiments_winner_is_shown_to_everyone_but_the_holdout() -> None:
    experiment = parse_experiment(EXPERIMENT)
    live = LiveExperiments()
    live.load(Snapshot("k", [], {}, [], winners=[(experiment, "free-shipping")]), {})
    coupon = TRIGGERS[COUPON]
    arms: dict[str | None, int] = {}
    for n in range(300):
        choice = live.route(coupon, TRIGGERS, _session(f"w{n}"), Visitor(), NOW, f"d{n}")
        assert choice.experiment_id == f"trigger:{COUPON}"  # no experiment runs: the trigger's holdout
        shown = choice.trigger.id if choice.trigger is not None else None
        assert shown == ("free-shipping-popup" if choice.variant == SHOWN else None)
        arms[choice.variant] = arms.get(choice.variant, 0) + 1
    assert 10 < arms[HOLDOUT] < 60 and arms[SHOWN] == 300 - arms[HOLDOUT]
    nothing = LiveExperiments()
    nothing.load(Snapshot("k", [], {}, [], winners=[(experiment, "nothing")]), {})
    assert all(
        nothing.route(coupon, TRIGGERS, _session(f"x{n}"), Visitor(), NOW, "d").trigger is None
        for n in range(50)
    )


def _stopped(store: Store, definition: dict[str, Any], winner: str | None) -> None:
    experiment = parse_experiment(definition)
    create_experiment(
        store, experiment.id, experiment.name, orjson.dumps(definition).decode(), created_by="test", now=NOW
    )
    set_experiment_state(store, experiment.id, "running", NOW)
    set_experiment_state(store, experiment.id, "stopped", NOW + timedelta(days=7), winner=winner)


@pytest.mark.parametrize(("winner", "kept"), [("items", "item_cf"), (None, "popularity")])
def test_a_stopped_recommendation_experiment_gives_everyone_the_kept_strategy(
    tmp_path: Path, winner: str | None, kept: str
) -> None:
    """Stopped, a recommendations experiment splits no more: every unit of its placement gets the
    winner's strategy, or the control's without a winner (here the control is popularity),
    untagged and exposed to nothing; other placements keep the hybrid."""
    from shopmind.api._live_experiments import read_snapshot
    from shopmind.api._models import LiveRecommender
    from shopmind.api._onsite import OnSite

    definition = {
        "id": "home-picks",
        "name": "홈 추천 방식",
        "point": {"kind": "recommendations", "placement": "home"},
        "variants": [
            {"name": "popular", "strategy": "popularity"},
            {"name": "hybrid", "strategy": "hybrid"},
            {"name": "items", "strategy": "item_cf"},
        ],
    }
    with Workspace.init(tmp_path / "shop").open_store() as store:
        _stopped(store, definition, winner)
        snapshot = read_snapshot(store)
    onsite = OnSite(parse_triggers(DEFAULT_TRIGGERS), LiveRecommender(enabled=False), now=lambda: NOW)
    onsite.experiments.load(snapshot, {})

    async def answers() -> None:
        for n in range(40):
            assert await onsite.strategy_for(f"u{n}", None, "home") == (kept, None)
            assert await onsite.strategy_for(f"u{n}", None, "cart") == ("hybrid", None)

    asyncio.run(answers())
    assert not any(v is not None for v in onsite.experiments.remembered.values())


def test_a_placement_experiment_stopped_without_a_winner_shows_its_controls_trigger() -> None:
    """The control here is the free-shipping popup (not the trigger that qualifies): stopped
    without a winner, the shown arm keeps seeing the control's trigger."""
    definition = {
        **EXPERIMENT,
        "variants": [
            {"name": "free-shipping", "trigger": "free-shipping-popup"},
            {"name": "coupon", "trigger": COUPON},
        ],
    }
    experiment = parse_experiment(definition)
    live = LiveExperiments()
    live.load(Snapshot("k", [], {}, [], winners=[(experiment, experiment.control.name)]), {})
    coupon = TRIGGERS[COUPON]
    for n in range(100):
        choice = live.route(coupon, TRIGGERS, _session(f"c{n}"), Visitor(), NOW, f"d{n}")
        shown = choice.trigger.id if choice.trigger is not None else None
        assert shown == ("free-shipping-popup" if choice.variant == SHOWN else None)


def test_the_snapshot_keeps_a_stopped_placement_experiments_control_when_it_named_no_winner(
    tmp_path: Path,
) -> None:
    from shopmind.api._live_experiments import read_snapshot

    definition = {**EXPERIMENT, "id": "no-winner-popup"}
    with Workspace.init(tmp_path / "shop").open_store() as store:
        _stopped(store, definition, None)
        snapshot = read_snapshot(store)
    assert [(e.id, kept) for e, kept in snapshot.winners] == [("no-winner-popup", "control")]

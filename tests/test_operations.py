"""Operations: one owner of the store, everything works while it serves (issue 16, points 1-4),
against a real ``shopmind serve`` on loopback and the real command line:

1. the command line works through the running server (it exited 5 before);
2. the server's full run: on demand (CLI, API, dashboard button) with its history, the
   recommender refitted after it, and the nightly run driven by a fake clock;
3. visitors collected over HTTP have profiles at once, and ``run`` scores them (0 before);
4. decisions are durable before they are answered (after kill -9 their outcomes got 404).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from shopmind.api._admin import _local
from shopmind.api._jobs import Jobs
from shopmind.api._models import LiveRecommender
from shopmind.api._schedule import Scheduler, next_run
from shopmind.api._worker import StoreWorker
from shopmind.core import FixedClock
from shopmind.onsite import DEFAULT_TRIGGERS
from shopmind.store import SERVER_FILE, TOKEN_FILE, Store, Workspace
from tests.serving import Server
from tests.shops import START, Shop, demo_workspace

DAYS = 60
AS_OF = (START + timedelta(days=DAYS)).date().isoformat()


def shopmind(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    return demo_workspace(tmp_path_factory.mktemp("operations") / "shop", customers=300, days=DAYS)


@pytest.fixture(scope="module")
def server(shop: Shop) -> Iterator[Server]:
    running = Server(shop.folder, ("--run-at", "off"))
    running.marketer_password = running.add_user("marketer", "marketer")  # type: ignore[attr-defined]
    running.start()
    _wait_for_recommender(running)
    yield running
    if running.process is not None and running.process.poll() is None:
        running.stop()


def _wait_for_recommender(server: Server, fits: int = 1) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    with server.client(server.secret_key) as c:
        while time.monotonic() < deadline:
            jobs: dict[str, Any] = c.get("/v1/jobs").json()
            if jobs["recommender"]["fits"] >= fits and jobs["running"] is None:
                return jobs
            time.sleep(0.3)
    raise AssertionError(f"the recommender was not learned {fits} time(s) in time")


# -- 1. the command line through the server ------------------------------------------------------
def test_the_server_leaves_its_address_and_a_private_token_in_the_workspace(server: Server) -> None:
    record = json.loads((server.workspace / SERVER_FILE).read_text())
    assert record["port"] == server.port and record["pid"] == server.process.pid  # type: ignore[union-attr]
    assert (server.workspace / TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    token = (server.workspace / TOKEN_FILE).read_text().strip()
    with httpx.Client(base_url=server.url) as c:
        body = {"command": ["status"], "params": {}}
        assert c.post("/admin/v1/cli", json=body).status_code == 401
        wrong = c.post("/admin/v1/cli", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = c.post("/admin/v1/cli", json=body, headers={"Authorization": f"Bearer {token}"})
        assert right.status_code == 200
        lines = [json.loads(line) for line in right.text.splitlines()]
        assert lines[-1] == {"exit": 0} and any("events" in m.get("out", "") for m in lines)
        unknown = c.post(
            "/admin/v1/cli", json={"command": ["serve"]}, headers={"Authorization": f"Bearer {token}"}
        )
        assert json.loads(unknown.text.splitlines()[-1]) == {"exit": 2}


def _request(client: str, server: str = "127.0.0.1") -> Request:
    return Request({"type": "http", "client": (client, 50000), "server": (server, 8000), "headers": []})


def test_the_admin_endpoint_answers_this_machine_only() -> None:
    assert _local(_request("127.0.0.1")) and _local(_request("::1"))
    assert not _local(_request("192.0.2.7"))  # another machine
    assert _local(_request("192.0.2.7", server="192.0.2.7"))  # a server bound to one address
    relayed = Request(
        {
            "type": "http",
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "headers": [(b"x-forwarded-for", b"192.0.2.7")],
        }
    )
    assert not _local(relayed)  # a proxy on this machine relays someone else


def test_status_customers_run_and_import_work_while_serving(
    server: Server, shop: Shop, tmp_path: Path
) -> None:
    ws = str(server.workspace)
    status = shopmind("status", "-w", ws, "--json")
    assert status.returncode == 0, status.stderr  # it exited 5 while the server ran
    assert "working through it" in status.stderr
    before = json.loads(status.stdout)["tables"]
    run = shopmind("run", "-w", ws, "--as-of", AS_OF)
    assert run.returncode == 0, run.stderr
    assert "customers as of" in run.stdout and "taste" in run.stdout
    shown = shopmind("customers", "show", f"user:{shop.vip}", "-w", ws, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["scores"]["clv_12m"] is not None
    erase = shopmind("customers", "erase", f"user:{shop.vip}", "--yes", "-w", ws)
    assert erase.returncode == 2 and "DELETE /v1/profiles" in erase.stderr  # never the held file
    missing = shopmind("customers", "show", "user:nobody", "-w", ws)
    assert missing.returncode == 2 and "no profile 'user:nobody'" in missing.stderr
    # an import reads the file on this machine, relative to the caller's folder
    (tmp_path / "orders.csv").write_text(
        "order_id,ordered_at,product_id,quantity,unit_price,customer_id\n"
        "OPS-1,2026-02-20 10:00,P00001,1,3900,ops-member\n"
        "OPS-2,2026-02-21 11:00,P00002,2,1000,ops-member\n"
        "OPS-3,not a date,P00003,1,100,ops-member\n"
    )
    imported = shopmind("import", "orders", "orders.csv", "-w", ws, cwd=tmp_path)
    assert imported.returncode == 3, imported.stderr  # done, one row rejected
    assert "newly stored" in imported.stdout
    after = json.loads(shopmind("status", "-w", ws, "--json").stdout)["tables"]
    assert after["orders"]["rows"] == before["orders"]["rows"] + 2
    assert after["quarantine"]["rows"] == before["quarantine"]["rows"] + 1
    member = shopmind("customers", "show", "user:ops-member", "-w", ws)
    assert member.returncode == 0, member.stderr  # the import's customer has a profile
    listed = shopmind("customers", "list", "-w", ws, "--output", "vips.csv", cwd=tmp_path)
    assert listed.returncode == 0 and (tmp_path / "vips.csv").read_text().startswith("profile_id")
    for command in (
        ["quarantine"],
        ["identity", "merges"],
        ["keys", "list"],
        ["customers", "segments"],
        ["recommend", "rules", "--min-support", "0.02"],
    ):
        done = shopmind(*command, "-w", ws)
        assert done.returncode == 0, (command, done.stderr)


def test_recommend_for_answers_with_the_servers_live_recommender(server: Server, shop: Shop) -> None:
    """Through the server, ``recommend for`` is answered by the recommender the API answers with
    (issue 17: it fitted a model of its own on every call): the same items as
    /v1/recommendations for the same customer, with and without a cart, and nothing fitted."""
    ws = str(server.workspace)
    user = f"user:{shop.repeat_buyer}"
    for options, query in [((), {}), (("--session", "P00001"), {"cart": "P00001"})]:
        for _ in range(3):  # a refit swapping the model in between the two questions: ask again
            fits = _wait_for_recommender(server)["recommender"]["fits"]
            done = shopmind("recommend", "for", user, "-n", "8", *options, "-w", ws)
            with server.client(server.secret_key) as c:
                api = c.get("/v1/recommendations", params={"user": user, "n": 8, **query})
            if _wait_for_recommender(server)["recommender"]["fits"] == fits:
                break
        assert done.returncode == 0, done.stderr
        assert "working through it" in done.stderr
        assert "answered by the server's recommender" in done.stderr and "fitted now" not in done.stderr
        assert api.status_code == 200, api.text
        expected = [item["product_id"] for item in api.json()["items"]]
        assert len(expected) == 8 and re.findall(r"\((P\d{5})\)", done.stdout) == expected, done.stdout


# -- 2. the server's full run --------------------------------------------------------------------
def test_a_run_asked_for_over_the_api_is_one_at_a_time_kept_and_refits_the_recommender(
    server: Server,
) -> None:
    before = _wait_for_recommender(server)["recommender"]
    fits = before["fits"]
    with server.client(server.secret_key) as c:
        assert server.client(server.write_key).post("/v1/jobs/run").status_code == 403
        started = c.post("/v1/jobs/run")
        assert started.status_code == 202, started.text
        job = started.json()["job"]
        assert job["trigger"] == "api" and job["status"] == "running"
        busy = c.post("/v1/jobs/run")
        assert busy.status_code == 409 and busy.json()["error"] == "run_in_progress"
    jobs = _wait_for_recommender(server, fits + 1)  # refitted after the run, swapped in
    # the model the run fitted and stored is the one swapped in: not fitted a second time
    assert jobs["recommender"]["loaded_from_run"] == before["loaded_from_run"] + 1
    done = next(j for j in jobs["history"] if j["job_id"] == job["job_id"])
    assert done["status"] == "ok" and done["detail"]["profiles"] > 0 and done["finished_at"]
    with server.client(server.secret_key) as c:
        answer = c.get("/v1/recommendations", params={"user": "anyone", "n": 3})
        assert answer.status_code == 200 and answer.json()["items"]


def test_the_dashboard_button_starts_a_run_and_the_overview_shows_the_history(server: Server) -> None:
    _wait_for_recommender(server)
    with server.client(server.secret_key) as c:
        pushed = c.post("/dashboard/overview/run", follow_redirects=False)
        assert pushed.status_code == 303 and pushed.headers["location"].endswith("run=started#jobs")
        page = c.get("/dashboard/overview?run=started").text
        assert 'id="run-started"' in page and 'data-trigger="dashboard"' in page
        assert "지금 분석 실행" in page and "대시보드" in page
    _wait_for_recommender(server)
    with server.client(server.secret_key) as c:
        page = c.get("/dashboard/overview?lang=en").text
        assert 'data-status="ok" data-trigger="dashboard"' in page and "Run the analysis now" in page


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed")
def test_the_button_in_a_browser_starts_a_run_that_the_history_then_shows(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_browser_dashboard import _browser, _sign_in

    _wait_for_recommender(server)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        _sign_in(page, server, server.marketer_password, login="marketer")  # type: ignore[attr-defined]
        finished = len(page.query_selector_all("#job-history tr[data-status='ok']"))
        page.click("#run-now")
        page.wait_for_url("**run=started**")
        assert "분석을 시작했습니다" in page.inner_text("#run-started")
        deadline = time.monotonic() + 300
        while len(page.query_selector_all("#job-history tr[data-status='ok']")) <= finished:
            assert time.monotonic() < deadline, "the run did not finish in time"
            time.sleep(1.0)
            page.goto(server.url + "/dashboard/overview")
        newest = page.query_selector("#job-history tbody tr")
        assert newest is not None and newest.get_attribute("data-trigger") == "dashboard"
        assert "고객" in newest.inner_text() and "VIP" in newest.inner_text()
        browser.close()
    assert problems == [], problems


def test_the_nightly_run_happens_at_its_hour_in_the_shops_zone(tmp_path: Path) -> None:
    shop = demo_workspace(tmp_path / "nightly", customers=150, days=45)
    # 02:59 in Seoul on 2026-02-15 (17:59 UTC the day before)
    clock = FixedClock(datetime(2026, 2, 14, 17, 59, tzinfo=UTC))
    assert next_run(clock.now(), clock_time(3, 0), "Asia/Seoul") == datetime(2026, 2, 14, 18, 0, tzinfo=UTC)

    async def scenario() -> tuple[list[str], list[str], datetime | None, list[Any]]:
        store = Workspace(shop.folder).open_store()
        worker = StoreWorker(store)
        jobs = Jobs(worker, LiveRecommender(enabled=False), clock=clock)
        await jobs.start()
        scheduler = Scheduler(jobs, clock_time(3, 0), "Asia/Seoul", clock, tick=0.01)
        scheduler.start()
        try:
            await asyncio.sleep(0.3)
            before = [j.status for j in jobs.history]  # 02:59: nothing yet
            clock.advance(timedelta(minutes=2))  # 03:01 in Seoul
            deadline = time.monotonic() + 300
            while not (jobs.history and jobs.history[0].status != "running") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            clock.advance(timedelta(hours=5))  # later that morning: no second run
            await asyncio.sleep(0.3)
            after = [f"{j.trigger}:{j.status}" for j in jobs.history]
            runs = await worker.run(lambda s: s.sql("SELECT job, as_of FROM job_runs WHERE status = 'ok'"))
            return before, after, scheduler.next_at, runs
        finally:
            await scheduler.close()
            await jobs.close()
            worker.close()

    before, after, next_at, runs = asyncio.run(scenario())
    assert before == []
    assert after == ["schedule:ok"]
    ran_at = datetime(2026, 2, 14, 18, 1, tzinfo=UTC)
    assert ("customer_intelligence", ran_at) in runs and ("preferences", ran_at) in runs
    assert next_at == datetime(2026, 2, 15, 18, 0, tzinfo=UTC)  # 03:00 the next day in Seoul
    with Store(shop.folder / "shop.duckdb") as store:  # the history outlives the server
        assert store.sql("SELECT trigger, status FROM server_jobs") == [("schedule", "ok")]


# -- 3. live profiles ----------------------------------------------------------------------------
def test_visitors_collected_over_http_have_profiles_at_once_and_run_scores_them(tmp_path: Path) -> None:
    server = Server(tmp_path / "live", ("--no-recommender", "--run-at", "off")).start()
    try:
        members = [f"live-{i}" for i in range(8)]
        sent = _live_events(members, per_member=400)
        with server.client(server.secret_key) as c:  # the shop's server: its orders count as sales
            for start in range(0, len(sent), 500):
                answer = c.post("/v1/batch", json={"batch": sent[start : start + 500]})
                assert answer.status_code == 200 and answer.json()["accepted"] == len(
                    sent[start : start + 500]
                )
        ws = str(server.workspace)
        shown = shopmind("customers", "show", f"user:{members[0]}", "-w", ws)
        assert shown.returncode == 0, shown.stderr  # "no profile" before: only imports made them
        lone = shopmind("customers", "show", "anon:window-shopper", "-w", ws)
        assert lone.returncode == 0, lone.stderr  # an anonymous visitor is a profile too
        run = shopmind("run", "-w", ws, "--as-of", "2026-03-01")
        assert run.returncode == 0, run.stderr
        scored = json.loads(shopmind("customers", "show", f"user:{members[3]}", "-w", ws, "--json").stdout)
        assert scored["scores"]["revenue"] > 0 and scored["segments"]
    finally:
        server.stop()
    with Store(server.workspace / "shop.duckdb") as store:
        profiles = dict(store.sql("SELECT identifier, profile_id FROM profiles"))
        scored_members = store.sql(
            "SELECT count(DISTINCT profile_id) FROM scores WHERE name = 'revenue' AND value > 0"
        )[0][0]
    for member in members:  # the device they browsed on joined their member profile
        assert profiles[f"user:{member}"] == f"user:{member}"
        assert profiles[f"anon:device-{member}"] == f"user:{member}"
    assert profiles["anon:window-shopper"] == "anon:window-shopper"
    assert scored_members == len(members)


def _live_events(members: list[str], per_member: int) -> list[dict[str, Any]]:
    """Each member browses anonymously on a device, signs in, and orders now and then; plus one
    anonymous visitor who never signs in."""
    events: list[dict[str, Any]] = []
    first = datetime(2026, 1, 5, 9, tzinfo=UTC)
    for m, member in enumerate(members):
        device = f"device-{member}"
        for i in range(per_member):
            at = (first + timedelta(hours=3 * i + m)).isoformat()
            base = {"messageId": uuid.uuid4().hex, "anonymousId": device, "timestamp": at}
            if i == 1:
                events.append(base | {"type": "identify", "userId": member})
            elif i % 40 == 5:
                order = {
                    "order_id": f"{member}-{i}",
                    "products": [{"product_id": f"P{i % 7:05d}", "price": 5000}],
                }
                events.append(base | {"userId": member, "event": "Order Completed", "properties": order})
            else:
                product = {"product_id": f"P{i % 7:05d}", "price": 5000}
                events.append(base | {"event": "Product Viewed", "properties": product})
    at = first.isoformat()
    events.append(
        {"messageId": uuid.uuid4().hex, "anonymousId": "window-shopper", "timestamp": at, "type": "page"}
    )
    return events


# -- 4. durable decisions ------------------------------------------------------------------------
def test_decisions_answered_just_before_kill_9_take_their_outcomes_after_the_restart(tmp_path: Path) -> None:
    server = Server(tmp_path / "decisions", ("--no-recommender", "--run-at", "off"))
    # every visitor here must be shown the coupon: no holdout (a tenth would be shown nothing)
    no_holdout = DEFAULT_TRIGGERS.replace("\npriority = ", "\nholdout = 0\npriority = ")
    (tmp_path / "decisions" / "triggers.toml").write_text(no_holdout, encoding="utf-8")
    server.start()
    decided: list[str] = []
    with server.client(server.write_key) as c:
        for n in range(40):
            visitor = f"cart-{n}"

            def track(event: str, visitor: str = visitor, **props: Any) -> None:
                body = {
                    "messageId": uuid.uuid4().hex,
                    "anonymousId": visitor,
                    "event": event,
                    "properties": props,
                }
                assert c.post("/v1/track", json=body).status_code == 200

            track("Product Added", product_id="P00001", price=3900)
            page = {"messageId": uuid.uuid4().hex, "anonymousId": visitor, "type": "page"}
            page["context"] = {"page": {"url": "https://shop.example.kr/cart"}}
            assert c.post("/v1/page", json=page).status_code == 200
            track("Exit Intent", page_type="cart")
            answer = c.get("/v1/decide", params={"anonymousId": visitor, "placement": "popup"}).json()
            assert answer["action"]["trigger"] == "first-purchase-coupon"
            decided.append(answer["decision_id"])
    server.kill()  # SIGKILL right after the last answer: nothing flushed at shutdown
    server.start()
    try:
        with server.client(server.write_key) as c:
            refused = [
                d
                for d in decided
                if c.post(f"/v1/decisions/{d}/outcome", json={"outcome": "shown"}).status_code != 200
            ]
        assert refused == []  # each was a 404 before: the log was written every two seconds
    finally:
        server.stop()
    with Store(server.workspace / "shop.duckdb") as store:
        assert store.scalar("SELECT count(*) FROM decisions") == len(decided)
        assert store.scalar("SELECT count(*) FROM decision_outcomes WHERE outcome = 'shown'") == len(decided)


def test_after_a_graceful_stop_the_record_is_gone_and_the_cli_opens_the_store_itself(
    server: Server,
) -> None:
    assert server.stop() == 0
    assert not (server.workspace / SERVER_FILE).exists() and not (server.workspace / TOKEN_FILE).exists()
    status = shopmind("status", "-w", str(server.workspace))
    assert status.returncode == 0 and "working through it" not in status.stderr

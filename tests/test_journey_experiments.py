"""Experiments on triggered campaigns and journeys' later steps: ``run_journey`` splits the members
a trigger brings in (or whose next step falls due) as scheduling splits a ``now`` campaign's —
the same keyed hash, the message carrying the variant, one exposure per unit however many steps
it gets — and a Thompson-sampling experiment draws each entrant's variant from its policy as it
is, the policy learning from the clicks in between (``run_waves``)."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shopmind.activation import (
    Sender,
    campaign_settings,
    experiment_key,
    holdout_key,
    new_campaign,
    run_journey,
    run_journeys,
    run_waves,
    schedule_campaign,
)
from shopmind.experiments import Assigner, experiment_json, parse_experiment
from shopmind.store import (
    ConsentEntry,
    Store,
    Workspace,
    bandit_states,
    create_experiment,
    record_consents,
    set_experiment_state,
)

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 10:00 KST
H = timedelta(hours=1)
SEOUL = ZoneInfo("Asia/Seoul")
KEY = holdout_key(b"k" * 32)
EXPERIMENT_KEY = experiment_key(b"k" * 32)
SENDER = Sender(name="가게", contact="02-123-4567", opt_out_phone="080-123-4567")
_ids = itertools.count(1)


def shoppers(store: Store, users: list[str], cart_at: datetime) -> None:
    """Members with SMS consent who left a cart at ``cart_at``."""
    store.sql("INSERT INTO profiles SELECT 'user:' || u, u, 'user' FROM unnest(?::VARCHAR[]) t(u)", [users])
    record_consents(
        store, [ConsentEntry(f"user:{u}", "sms", True, cart_at - 72 * H, "signup_form") for u in users]
    )
    for u in users:
        store.sql(
            "INSERT INTO events (message_id, type, user_id, event_time, received_at, source) "
            "VALUES (?, 'add_to_cart', ?, ?, ?, 'test')",
            [f"m{next(_ids)}", u, cart_at, cart_at],
        )


def cart_campaign(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "audience": {"kind": "segment", "segment": "all"},
        "trigger": {"kind": "event", "event": "add_to_cart", "unless": "order_completed", "after_hours": 1},
        "steps": [
            {"id": "s1", "messages": {"sms": {"text": "담아두신 상품이 기다려요"}}},
            {"id": "s2", "wait_hours": 48, "messages": {"sms": {"text": "쿠폰을 드려요"}}},
        ],
        "channel": {"mode": "fixed", "channels": ["sms"]},
        "send_time": {"mode": "fixed", "hour": 10},
        "caps": {"per_day": 5, "per_week": 10},
        "holdout": 0.2,
        **extra,
    }


def start(store: Store, definition: dict[str, Any], at: datetime) -> None:
    experiment = parse_experiment(definition)
    create_experiment(
        store, experiment.id, experiment.name, experiment_json(experiment), created_by="t", now=at
    )
    set_experiment_state(store, experiment.id, "running", at)


def scheduled(store: Store, definition: dict[str, Any]) -> str:
    stored = new_campaign(store, definition, created_by="test", now=T0 - 24 * H)
    schedule_campaign(
        store, stored.campaign_id, now=T0 - 24 * H, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY
    )
    return stored.campaign_id


def outbox(store: Store, cid: str, step: str) -> list[tuple[str, str | None, str | None, str]]:
    return store.sql(
        "SELECT profile_id, experiment_id, variant, message_key FROM outbox WHERE campaign_id = ? AND step = ? ORDER BY 1",
        [cid, step],
    )


def message_test(name: str, experiment_id: str, step: str | None = None) -> dict[str, Any]:
    return {
        "id": experiment_id,
        "name": "문구",
        "point": {"kind": "campaign_message", "campaign": name, **({"step": step} if step else {})},
        "variants": [
            {"name": "plain", "text": {"ko": "상품이 기다려요"}},
            {"name": "hurry", "text": {"ko": "품절 전에 만나 보세요"}},
        ],
    }


def test_a_triggered_campaigns_entrants_get_their_variant_and_one_exposure(store: Store) -> None:
    users = [f"u{i:03d}" for i in range(200)]
    shoppers(store, users, T0)
    name = "장바구니 문구"
    start(store, message_test(name, "cart-copy"), T0 - 48 * H)
    cid = scheduled(store, cart_campaign(name))
    run = run_journey(store, cid, now=T0 + H, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    assert run.entered == 200
    rows = outbox(store, cid, "s1")
    arms = dict(store.sql("SELECT profile_id, arm FROM campaign_members WHERE campaign_id = ?", [cid]))
    assert {p for p, *_ in rows} == {p for p, arm in arms.items() if arm == "treated"}
    assigner = Assigner(parse_experiment(message_test(name, "cart-copy")), EXPERIMENT_KEY)
    assert all(e == "cart-copy" and v == assigner(p) for p, e, v, _ in rows)
    assert Counter(v for _, _, v, _ in rows).keys() == {"plain", "hurry"}
    texts = dict(
        store.sql("SELECT variant, any_value(body_text) FROM outbox WHERE campaign_id = ? GROUP BY 1", [cid])
    )
    assert "품절 전에" in texts["hurry"] and "품절 전에" not in texts["plain"]
    exposures = store.sql(
        "SELECT unit_id, variant, source, propensity FROM exposures WHERE experiment_id = 'cart-copy' ORDER BY 1"
    )
    assert [(p, v, k, None) for p, _, v, k in rows] == exposures
    # the next turn finds nothing new: no message and no exposure twice
    run_journey(store, cid, now=T0 + 2 * H, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    assert len(outbox(store, cid, "s1")) == len(rows)
    assert store.scalar("SELECT count(*) FROM exposures WHERE experiment_id = 'cart-copy'") == len(rows)


def test_a_later_steps_experiment_and_a_send_time_experiment_expose_each_unit_once(store: Store) -> None:
    users = [f"w{i:03d}" for i in range(200)]
    shoppers(store, users, T0)
    name = "두 단계 실험"
    start(store, message_test(name, "second-copy", step="s2"), T0 - 48 * H)
    cid = scheduled(store, cart_campaign(name))
    run_journey(store, cid, now=T0 + H, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    first = outbox(store, cid, "s1")
    assert first and all(e is None for _, e, _, _ in first)  # the experiment is on the second step
    later = T0 + 23 * H + 49 * H
    run_journey(store, cid, now=later, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    second = outbox(store, cid, "s2")
    assert len(second) == len(first)
    assigner = Assigner(parse_experiment(message_test(name, "second-copy", step="s2")), EXPERIMENT_KEY)
    assert all(e == "second-copy" and v == assigner(p) for p, e, v, _ in second)
    exposed = dict(store.sql("SELECT unit_id, source FROM exposures WHERE experiment_id = 'second-copy'"))
    assert exposed == {p: k for p, _, _, k in second}


def test_a_send_time_experiment_tags_every_step_and_exposes_at_the_first(store: Store) -> None:
    users = [f"t{i:03d}" for i in range(120)]
    shoppers(store, users, T0)
    name = "저녁 장바구니"
    start(
        store,
        {
            "id": "cart-time",
            "name": "발송 시각",
            "point": {"kind": "send_time", "campaign": name},
            "variants": [
                {"name": "morning", "send_time": "10:00"},
                {"name": "evening", "send_time": "19:00"},
            ],
        },
        T0 - 48 * H,
    )
    cid = scheduled(store, cart_campaign(name))
    run_journey(store, cid, now=T0 + H, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    run_journey(store, cid, now=T0 + 100 * H, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    rows = store.sql(
        "SELECT profile_id, step, variant, due_at, message_key FROM outbox WHERE campaign_id = ? ORDER BY 1, 2",
        [cid],
    )
    by_unit: dict[str, list[tuple[str, str, datetime, str]]] = {}
    for p, step, variant, due, key in rows:
        by_unit.setdefault(p, []).append((step, variant, due, key))
        hour = due.astimezone(SEOUL).hour
        assert hour == (19 if variant == "evening" else 10)
    assert {len(v) for v in by_unit.values()} == {2} and len(by_unit) > 50
    assert all(len({v for _, v, _, _ in steps}) == 1 for steps in by_unit.values())  # the same variant
    exposures = dict(store.sql("SELECT unit_id, source FROM exposures WHERE experiment_id = 'cart-time'"))
    assert exposures == {p: steps[0][3] for p, steps in by_unit.items()}  # the first step's message


def clicks(store: Store, cid: str, rate: dict[str, float], seed: int) -> None:
    rng = random.Random(seed)
    for key, profile, step, variant, due in store.sql(
        "SELECT message_key, profile_id, step, variant, due_at FROM outbox WHERE campaign_id = ? ORDER BY 1",
        [cid],
    ):
        if rng.random() < rate[variant]:
            store.sql(
                "INSERT INTO message_events VALUES (?, ?, ?, ?, ?, 'clicked', ?, ?, NULL) ON CONFLICT DO NOTHING",
                [
                    f"clicked:{key}",
                    key,
                    cid,
                    step,
                    profile,
                    due + timedelta(minutes=5),
                    due + timedelta(minutes=5),
                ],
            )


def test_a_bandit_on_a_triggered_campaign_draws_each_entrant_and_learns_between(store: Store) -> None:
    name = "장바구니 밴딧"
    bandit = {**message_test(name, "cart-bandit"), "policy": {"kind": "thompson", "batch_minutes": 60}}
    start(store, bandit, T0 - 48 * H)
    cid = scheduled(store, cart_campaign(name, steps=cart_campaign(name)["steps"][:1]))
    shoppers(store, [f"a{i:03d}" for i in range(300)], T0)
    run_journey(store, cid, now=T0 + H, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    early = store.sql("SELECT variant, propensity FROM exposures WHERE experiment_id = 'cart-bandit'")
    assert len(early) > 200 and all(p == pytest.approx(0.5, abs=0.01) for _, p in early)
    assert abs(Counter(v for v, _ in early)["hurry"] - len(early) / 2) < 3 * (len(early) / 4) ** 0.5
    clicks(store, cid, {"plain": 0.02, "hurry": 0.4}, seed=1)
    due = T0 + 24 * H  # the next 10:00
    learned = run_waves(store, cid, now=due + 2 * H, key=KEY, experiment_key=EXPERIMENT_KEY, sender=SENDER)
    assert learned.learned == len(early) and learned.queued == 0  # a triggered campaign has no waves
    # the next day's entrants draw from what it learned
    shoppers(store, [f"b{i:03d}" for i in range(200)], due + 2 * H)
    run_journey(store, cid, now=due + 4 * H, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    late = store.sql(
        "SELECT variant, propensity FROM exposures WHERE experiment_id = 'cart-bandit' AND unit_id LIKE 'b%'"
    )
    assert len(late) > 100
    assert Counter(v for v, _ in late)["hurry"] > 0.85 * len(late)
    assert all(p > 0.9 for v, p in late if v == "hurry") and all(p < 0.1 for v, p in late if v == "plain")


def test_the_senders_turn_runs_the_waves_with_the_workspaces_experiment_key(tmp_path: Path) -> None:
    """``run_journeys`` (the worker's and ``serve --send``'s periodic turn) learns and sends the
    next wave of a ``now`` campaign's bandit, with the settings scheduling uses, and the
    campaign's journey does not send the held members their first step."""
    from shopmind.activation import schedule_stored

    ws = Workspace.init(tmp_path / "shop")
    settings = campaign_settings(ws)
    users = [f"n{i:03d}" for i in range(150)]
    with ws.open_store() as store:
        store.sql(
            "INSERT INTO profiles SELECT 'user:' || u, 'user:' || u, 'user' FROM unnest(?::VARCHAR[]) t(u)",
            [users],
        )
        record_consents(
            store, [ConsentEntry(f"user:{u}", "sms", True, T0 - 72 * H, "signup_form") for u in users]
        )
        # a customer-intelligence run found them dormant VIPs (the campaign's audience)
        store.sql(
            "INSERT INTO segment_members SELECT 'r1', 'dormant_vip', 'user:' || u, ? FROM unnest(?::VARCHAR[]) t(u)",
            [T0 - H, users],
        )
        store.sql("INSERT INTO job_runs VALUES ('r1', 'customer_intelligence', ?, ?, ?, 'ok')", [T0 - H] * 3)
        name = "지금 밴딧"
        bandit = {**message_test(name, "now-bandit"), "policy": {"kind": "thompson", "batch_minutes": 30}}
        start(store, bandit, T0 - H)
        definition = {
            **cart_campaign(name),
            "audience": {"kind": "rfm", "segments": ["dormant_vip"]},
            "trigger": {"kind": "now"},  # two steps: a journey as well
        }
        stored = new_campaign(store, definition, created_by="test", now=T0)
        first = schedule_stored(store, settings, stored.campaign_id, now=T0)
        assert first.queued > 0 and first.waiting > 0
        due = store.scalar("SELECT max(due_at) FROM outbox WHERE campaign_id = ?", [stored.campaign_id])
        turn = run_journeys(store, settings, now=due + H)
        assert turn.errors == 0 and turn.wave_messages > 0
        # the journey's turn left the first step's held members to the waves: no message went to
        # them beside the two waves' (the journey would otherwise find their first step due)
        s1 = store.scalar(
            "SELECT count(*) FROM outbox WHERE campaign_id = ? AND step = 's1'", [stored.campaign_id]
        )
        assert turn.queued == 0 and s1 == first.queued + turn.wave_messages < first.queued + first.waiting
        assert len(bandit_states(store, "now-bandit")) == 2  # the start's, and the turn's
        second = store.scalar(
            "SELECT count(*) FROM exposures WHERE experiment_id = 'now-bandit' AND exposed_at > ?", [due]
        )
        assert second == turn.wave_messages

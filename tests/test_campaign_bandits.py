"""Thompson sampling over a campaign's message variants, sent in waves, on the demo shop: the
first wave splits a fifth of the experiment's members equally, the clicks the shop answers with
(planted here per variant, seeded) teach the policy after ``batch_minutes``, the later waves go
mostly to the better variant, and once the policy switches the rest go to the winner. Every
wave's state is in the store, so each turn (a new ``run_waves`` call) continues from it."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from shopmind.activation import (
    WAVE_SHARE,
    Sender,
    campaign_json,
    experiment_key,
    holdout_key,
    parse_campaign,
    run_waves,
    schedule_campaign,
)
from shopmind.activation._campaign_waves import load_bandit
from shopmind.experiments import experiment_json, parse_experiment
from shopmind.pipeline import load_demo_shop, run_customer_intelligence, run_preferences
from shopmind.store import (
    Store,
    bandit_states,
    create_campaign,
    create_experiment,
    get_experiment,
    save_bandit_state,
    set_experiment_state,
)
from tests.shops import START

CUSTOMERS, DAYS, SEED = 2000, 60, 42
AS_OF = START + timedelta(days=DAYS)
SECRET = bytes.fromhex("b4d1" * 16)
KEY = holdout_key(SECRET)
EXPERIMENT_KEY = experiment_key(SECRET)
SENDER = Sender(name="데모상점", contact="02-123-4567", opt_out_phone="080-123-4567")
BUYERS = ["vip", "clv_vip", "loyal", "potential_vip", "promising", "new", "needs_attention"]
BUYERS += ["about_to_churn", "dormant_vip", "hibernating", "lost"]
PLAIN = "{{ name_or_customer }}님, 새 상품을 만나 보세요"
#: the planted click rates: the coupon copy is clicked six times as often
CLICK_RATE = {"plain": 0.05, "coupon": 0.30}


def campaign(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "audience": {"kind": "rfm", "segments": BUYERS},
        "steps": [{"id": "s1", "coupon": "CX-{code}", "messages": {"sms": {"text": PLAIN}}}],
        "channel": {"mode": "fixed", "channels": ["sms"]},
        "holdout": 0.2,
        "caps": {"per_day": 20, "per_week": 40},  # the waves go over several days
        **extra,
    }


def bandit_experiment(campaign_name: str, experiment_id: str = "copy-bandit") -> dict[str, Any]:
    return {
        "id": experiment_id,
        "name": "쿠폰 문구 밴딧",
        "point": {"kind": "campaign_message", "campaign": campaign_name},
        "variants": [
            {"name": "plain", "text": {"ko": PLAIN}},
            {"name": "coupon", "text": {"ko": "{{ name_or_customer }}님께 드리는 쿠폰 {{ coupon }}"}},
        ],
        "policy": {"kind": "thompson", "reward": "clicked", "batch_minutes": 60, "floor": 0.05},
    }


def start(store: Store, definition: dict[str, Any]) -> None:
    experiment = parse_experiment(definition)
    create_experiment(
        store, experiment.id, experiment.name, experiment_json(experiment), created_by="test", now=AS_OF
    )
    set_experiment_state(store, experiment.id, "running", AS_OF)


def new_draft(store: Store, definition: dict[str, Any]) -> str:
    parsed = parse_campaign(definition)
    cid = "c_" + hashlib.sha256(parsed.name.encode()).hexdigest()[:12]
    create_campaign(store, parsed.name, campaign_json(parsed), created_by="test", now=AS_OF, campaign_id=cid)
    return cid


def answer(store: Store, campaign_id: str, seed: int) -> list[dict[str, Any]]:
    """The shop's clicks on the campaign's messages not answered yet (10 minutes after each is
    due, at the variant's planted rate); the messages answered."""
    rows = store.query_arrow(
        """SELECT message_key, profile_id, step, variant, due_at FROM outbox o
           WHERE campaign_id = ? AND NOT EXISTS (
               SELECT 1 FROM message_events e WHERE e.message_key = o.message_key AND e.kind = 'answered')
           ORDER BY message_key""",
        [campaign_id],
    ).to_pylist()
    rng = random.Random(seed)
    for r in rows:
        kinds = ["answered"] + (["clicked"] if rng.random() < CLICK_RATE[r["variant"]] else [])
        for kind in kinds:  # "answered" marks the message as seen by this simulation only
            store.sql(
                "INSERT INTO message_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [
                    f"{kind}:{r['message_key']}",
                    r["message_key"],
                    campaign_id,
                    r["step"],
                    r["profile_id"],
                    kind,
                    r["due_at"] + timedelta(minutes=10),
                    r["due_at"] + timedelta(minutes=10),
                ],
            )
    return rows


@pytest.fixture(scope="module")
def shop() -> Iterator[Store]:
    with Store(":memory:") as store:
        load_demo_shop(store, customers=CUSTOMERS, days=DAYS, seed=SEED)
        run_customer_intelligence(store, AS_OF)
        run_preferences(store, AS_OF)
        yield store


def waves_of(store: Store, name: str) -> tuple[Any, list[list[dict[str, Any]]], int]:
    """Schedule the campaign and run its waves to the end, answering each wave's messages."""
    start(store, bandit_experiment(name))
    cid = new_draft(store, campaign(name))
    scheduled = schedule_campaign(
        store, cid, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY
    )
    waves = [answer(store, cid, 0)]
    turns = 0
    while turns < 20:
        turns += 1
        last_due = max(r["due_at"] for wave in waves for r in wave)
        now = max(last_due, AS_OF) + timedelta(minutes=61)
        run = run_waves(store, cid, now=now, key=KEY, experiment_key=EXPERIMENT_KEY, sender=SENDER)
        wave = answer(store, cid, turns)
        if not wave:
            assert run.waiting == 0
            break
        waves.append(wave)
    return scheduled, waves, turns


@pytest.fixture(scope="module")
def campaign_waves(shop: Store) -> tuple[Any, list[list[dict[str, Any]]], str]:
    scheduled, waves, _ = waves_of(shop, "밴딧 캠페인")
    return scheduled, waves, scheduled.campaign.campaign_id


def test_the_first_wave_is_a_fifth_split_equally(campaign_waves: Any) -> None:
    scheduled, waves, _ = campaign_waves
    first = waves[0]
    members = len(first) + scheduled.waiting
    assert members > 200
    assert len(first) == pytest.approx(WAVE_SHARE * members, abs=1)
    counts = Counter(r["variant"] for r in first)
    assert set(counts) == {"plain", "coupon"}
    assert abs(counts["coupon"] - len(first) / 2) < 3 * (len(first) / 4) ** 0.5, counts
    assert scheduled.queued == len(first)


def test_the_better_variant_gets_most_of_the_later_waves(campaign_waves: Any) -> None:
    _, waves, _ = campaign_waves
    assert len(waves) >= 3
    later = Counter(r["variant"] for wave in waves[1:] for r in wave)
    assert later["coupon"] > 0.85 * sum(later.values()), later


def test_once_the_policy_switches_the_rest_go_to_the_winner(shop: Store) -> None:
    """The switch needs at least 100 rewards per variant (the policy's guard against a lucky first
    hour): more than this shop's campaign gives the worse copy. The state after a decisive first
    wave is written as a sender would have saved it; the next turn sends every held member the
    winner and records it on the experiment."""
    name = "승자 밴딧"
    start(shop, bandit_experiment(name, "winner-bandit"))
    cid = new_draft(shop, campaign(name))
    scheduled = schedule_campaign(shop, cid, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    first = answer(shop, cid, 0)
    assert get_experiment(shop, "winner-bandit").winner is None
    ((at, raw),) = bandit_states(shop, "winner-bandit")
    state = json.loads(raw)
    state.update(successes=[5.0, 60.0], failures=[95.0, 40.0], batches=1)
    state["campaign"]["rewarded_until"] = max(r["due_at"] for r in first).isoformat()
    save_bandit_state(shop, "winner-bandit", at + timedelta(seconds=1), json.dumps(state))
    now = max(r["due_at"] for r in first) + timedelta(minutes=61)
    run = run_waves(shop, cid, now=now, key=KEY, experiment_key=EXPERIMENT_KEY, sender=SENDER)
    assert run.winners == (("winner-bandit", "coupon"),)
    assert get_experiment(shop, "winner-bandit").winner == "coupon"
    rest = answer(shop, cid, 1)
    assert run.queued == len(rest) > 0.9 * scheduled.waiting and run.waiting == 0
    assert {r["variant"] for r in rest} == {"coupon"}
    propensities = shop.sql(
        "SELECT DISTINCT propensity FROM exposures WHERE experiment_id = 'winner-bandit' AND exposed_at > ?",
        [max(r["due_at"] for r in first)],
    )
    assert propensities == [(1.0,)]
    # no treated member is left without a message unless the plan excluded them for good
    left = shop.scalar(
        """SELECT count(*) FROM campaign_members m WHERE campaign_id = ? AND arm = 'treated'
           AND exited_at IS NULL AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.campaign_id = m.campaign_id
           AND o.profile_id = m.profile_id)""",
        [cid],
    )
    assert left == 0


def test_each_exposure_carries_the_chance_its_variant_was_drawn_with(
    shop: Store, campaign_waves: Any
) -> None:
    _, waves, cid = campaign_waves
    exposures = shop.query_arrow(
        "SELECT unit_id, variant, propensity, source FROM exposures WHERE experiment_id = 'copy-bandit'"
    ).to_pylist()
    sent = {r["message_key"]: r for wave in waves for r in wave}
    assert len(exposures) == len(sent)
    for e in exposures:
        assert e["variant"] == sent[e["source"]]["variant"]
        assert 0.0 < e["propensity"] <= 1.0
    first_keys = {r["message_key"] for r in waves[0]}
    # equal chances at the start (P(best) from the policy's seeded posterior draws: 0.5 ± 0.005)
    assert all(
        e["propensity"] == pytest.approx(0.5, abs=0.01) for e in exposures if e["source"] in first_keys
    )
    # the holdout is in no wave
    holdout = {
        p
        for (p,) in shop.sql(
            "SELECT profile_id FROM campaign_members WHERE campaign_id = ? AND arm = 'holdout'", [cid]
        )
    }
    assert holdout and not holdout & {e["unit_id"] for e in exposures}


def test_the_states_are_saved_and_a_restart_continues_from_them(shop: Store, campaign_waves: Any) -> None:
    _, waves, _ = campaign_waves
    states = [json.loads(s) for _, s in bandit_states(shop, "copy-bandit")]
    assert len(states) >= len(waves)  # the start, and one per turn that learned
    assert [s["campaign"]["waves"] for s in states] == sorted(s["campaign"]["waves"] for s in states)
    last = states[-1]
    assert last["decisions"] == sum(len(w) for w in waves)
    assert last["chance_best"]["coupon"] > 0.99
    # a new process reads the same policy back
    bandit = load_bandit(shop, parse_experiment(bandit_experiment("밴딧 캠페인")), EXPERIMENT_KEY)
    assert bandit.policy.state()["successes"] == last["successes"]
    assert bandit.policy.probabilities() == last["shares"] and bandit.waves == last["campaign"]["waves"]


def test_a_turn_before_the_batch_has_passed_learns_nothing_and_sends_nothing(shop: Store) -> None:
    name = "기다리는 밴딧"
    start(shop, bandit_experiment(name, "wait-bandit"))
    cid = new_draft(shop, campaign(name))
    scheduled = schedule_campaign(shop, cid, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    assert scheduled.waiting > 0
    answer(shop, cid, 0)
    before = shop.scalar("SELECT count(*) FROM outbox WHERE campaign_id = ?", [cid])
    run = run_waves(
        shop, cid, now=AS_OF + timedelta(minutes=1), key=KEY, experiment_key=EXPERIMENT_KEY, sender=SENDER
    )
    assert (run.learned, run.queued) == (0, 0) and run.waiting >= scheduled.waiting
    assert shop.scalar("SELECT count(*) FROM outbox WHERE campaign_id = ?", [cid]) == before
    assert len(bandit_states(shop, "wait-bandit")) == 1  # only the start's


def test_the_results_read_the_bandits_exposures(shop: Store, campaign_waves: Any) -> None:
    """``measure.experiment_results`` counts every exposed unit once, in the variant it was sent,
    and does not flag the bandit's uneven split as a sample-ratio mismatch."""
    from shopmind.measure import experiment_results

    _, waves, _ = campaign_waves
    result = experiment_results(shop, "copy-bandit", as_of=AS_OF + timedelta(days=14))
    assert result.units == sum(len(w) for w in waves)
    sent = Counter(r["variant"] for wave in waves for r in wave)
    conversion = next(m for m in result.metrics if m.kind == "conversion")
    assert {v.variant: v.units for v in conversion.variants} == dict(sent)
    assert result.srm is None or not result.srm.flagged


def test_a_converted_reward_counts_a_converted_event_or_an_order_since_the_message(shop: Store) -> None:
    from shopmind.events import ORDER_LINE_SCHEMA, ORDER_SCHEMA

    name = "전환 밴딧"
    definition = bandit_experiment(name, "convert-bandit")
    definition["policy"]["reward"] = "converted"
    start(shop, definition)
    cid = new_draft(shop, campaign(name))
    schedule_campaign(shop, cid, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    rows = shop.query_arrow(
        "SELECT message_key, profile_id, variant, due_at FROM outbox WHERE campaign_id = ? ORDER BY 1", [cid]
    ).to_pylist()
    coupon = [r for r in rows if r["variant"] == "coupon"]
    plain = [r for r in rows if r["variant"] == "plain"]
    assert len(coupon) >= 3 and len(plain) >= 2
    # two coupon messages converted (the tracking's event), one plain member ordered after hers,
    # and one plain member's order came before the message: no reward
    for r in coupon[:2]:
        at = r["due_at"] + timedelta(minutes=30)
        shop.sql(
            "INSERT INTO message_events VALUES (?, ?, ?, 's1', ?, 'converted', ?, ?, NULL)",
            [f"converted:{r['message_key']}", r["message_key"], cid, r["profile_id"], at, at],
        )
    for i, (r, delta) in enumerate([(plain[0], timedelta(minutes=40)), (plain[1], -timedelta(hours=3))]):
        order_id = f"convert-bandit-{i}"
        head = {n: None for n in ORDER_SCHEMA.names}
        head.update(
            order_id=order_id,
            ordered_at=r["due_at"] + delta,
            customer_id=r["profile_id"].removeprefix("user:"),
            currency="KRW",
            is_return=False,
            source="test",
            verified=True,
        )
        line = {
            "order_id": order_id,
            "line_key": f"{order_id}#1",
            "line_no": 1,
            "product_id": "p1",
            "description": "x",
            "quantity": 1,
            "unit_price": 10_000.0,
            "is_return": False,
            "is_product": True,
        }
        shop.write_orders(
            pa.Table.from_pylist([head], schema=ORDER_SCHEMA),
            pa.Table.from_pylist([line], schema=ORDER_LINE_SCHEMA),
        )
    now = max(r["due_at"] for r in rows) + timedelta(minutes=61)
    run = run_waves(shop, cid, now=now, key=KEY, experiment_key=EXPERIMENT_KEY, sender=SENDER)
    assert run.learned == len(rows)
    state = json.loads(bandit_states(shop, "convert-bandit")[-1][1])
    successes = dict(zip(state["variants"], state["successes"], strict=True))
    assert successes == {"plain": 1.0, "coupon": 2.0}


@pytest.mark.parametrize(("winner", "kept"), [("coupon", "coupon"), (None, "plain")])
def test_a_stopped_bandits_held_members_get_the_winner_or_else_the_control(
    shop: Store, winner: str | None, kept: str
) -> None:
    """Stopped after its first wave, the bandit's held members are sent on the next turn: the
    variant kept with the stop, or the control without one. They are no exposures of the
    experiment (their variant was not drawn), and a second turn sends nothing more."""
    name, eid = f"멈춘 밴딧 {kept}", f"stopped-bandit-{kept}"
    start(shop, bandit_experiment(name, eid))
    cid = new_draft(shop, campaign(name))
    scheduled = schedule_campaign(shop, cid, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY)
    assert scheduled.waiting > 0
    first = answer(shop, cid, 0)
    stopped_at = max(r["due_at"] for r in first) + timedelta(minutes=5)
    set_experiment_state(shop, eid, "stopped", stopped_at, winner=winner)
    run = run_waves(shop, cid, now=stopped_at, key=KEY, experiment_key=EXPERIMENT_KEY, sender=SENDER)
    first_keys = {r["message_key"] for r in first}
    rest = [
        r
        for r in shop.query_arrow(
            "SELECT message_key, body_text, experiment_id, variant FROM outbox WHERE campaign_id = ?", [cid]
        ).to_pylist()
        if r["message_key"] not in first_keys
    ]
    assert run.queued == len(rest) > 0.9 * scheduled.waiting
    words = "드리는 쿠폰" if kept == "coupon" else "새 상품을 만나 보세요"
    assert all(words in r["body_text"] for r in rest), rest[:3]
    assert {(r["experiment_id"], r["variant"]) for r in rest} == {(None, None)}
    assert shop.scalar("SELECT count(*) FROM exposures WHERE experiment_id = ?", [eid]) == len(first)
    left = shop.scalar(
        """SELECT count(*) FROM campaign_members m WHERE campaign_id = ? AND arm = 'treated'
           AND exited_at IS NULL AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.campaign_id = m.campaign_id
           AND o.profile_id = m.profile_id)""",
        [cid],
    )
    assert left == 0
    again = run_waves(
        shop, cid, now=stopped_at + timedelta(hours=2), key=KEY, experiment_key=EXPERIMENT_KEY, sender=SENDER
    )
    assert again.queued == 0

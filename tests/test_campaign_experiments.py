"""Campaign message and send-time experiments on the demo shop: scheduling a campaign splits its
treated members between the running experiments' variants by the shares (the experiments' own
keyed hash, reproducible, the same in Python wherever it is recomputed), leaves the campaign's
holdout out of every experiment, writes each variant's text or send hour into its messages, tags
the outbox rows and records one exposure per queued message; bad variants are refused naming
the field, before anything is queued."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from shopmind.activation import (
    Scheduled,
    Sender,
    assign_members,
    campaign_experiments,
    campaign_json,
    campaign_settings,
    experiment_key,
    holdout_key,
    parse_campaign,
    plan_campaign,
    preview_campaign,
    schedule_campaign,
    schedule_stored,
    wilson_interval,
)
from shopmind.activation._campaign_experiments import variant_content
from shopmind.core import InvalidInputError
from shopmind.demo import MESSAGE_RESPONSES, SentMessage, generate_shop, shop_recipients, simulate_responses
from shopmind.experiments import Assigner, Variant, experiment_json, parse_experiment
from shopmind.measure import experiment_results
from shopmind.pipeline import load_demo_shop, run_customer_intelligence, run_preferences
from shopmind.store import (
    HASH_KEY_FILE,
    Store,
    StoredCampaign,
    Workspace,
    create_campaign,
    create_experiment,
    get_campaign,
    set_experiment_state,
)
from tests.shops import START

CUSTOMERS, DAYS, SEED = 2000, 60, 42
AS_OF = START + timedelta(days=DAYS)
SECRET = bytes.fromhex("5eed" * 16)
KEY = holdout_key(SECRET)
EXPERIMENT_KEY = experiment_key(SECRET)
SENDER = Sender(name="데모상점", contact="02-123-4567", opt_out_phone="080-123-4567")
SEOUL = ZoneInfo("Asia/Seoul")
#: the demo shop's RFM segments of customers who bought (the audience of both campaigns)
BUYERS = ["vip", "clv_vip", "loyal", "potential_vip", "promising", "new", "needs_attention"]
BUYERS += ["about_to_churn", "dormant_vip", "hibernating", "lost"]
PLAIN = "{{ name_or_customer }}님, 새 상품을 만나 보세요"
RESPONSE_SEED = 19  # the demo shop's answers (seeded: the same answers every run)
WINDOW_DAYS = 7  # the experiment's conversion window
WITH_COUPON = "{{ name_or_customer }}님께 드리는 쿠폰 {{ coupon }}"


def campaign(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "audience": {"kind": "rfm", "segments": BUYERS},
        "steps": [{"id": "s1", "coupon": "CX-{code}", "messages": {"sms": {"text": PLAIN}}}],
        "channel": {"mode": "fixed", "channels": ["sms"]},
        "holdout": 0.2,
        **extra,
    }


def message_experiment(campaign_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "coupon-copy",
        "name": "쿠폰 문구",
        "point": {"kind": "campaign_message", "campaign": campaign_name},
        "variants": [
            {"name": "plain", "share": 0.4, "text": {"ko": PLAIN}},
            {"name": "coupon", "share": 0.6, "text": {"ko": WITH_COUPON, "en": "A coupon: {{ coupon }}"}},
        ],
        # the raw difference, so that it can be checked against the simulation's own count
        "analysis": {"cuped": False},
        **extra,
    }


def send_time_experiment(campaign_name: str) -> dict[str, Any]:
    return {
        "id": "evening-send",
        "name": "저녁 발송",
        "point": {"kind": "send_time", "campaign": campaign_name},
        "variants": [
            {"name": "own-hour", "send_time": "best_hour"},
            {"name": "evening", "send_time": "19:00"},
        ],
    }


def new_draft(store: Store, definition: dict[str, Any], *, created_by: str, now: datetime) -> StoredCampaign:
    """A draft with an id fixed by its name: the holdout's draw is keyed by the campaign's id, so
    every run puts the same customers in the holdout (``new_campaign`` draws a new id)."""
    campaign = parse_campaign(definition)
    cid = "c_" + hashlib.sha256(campaign.name.encode()).hexdigest()[:12]
    return create_campaign(
        store, campaign.name, campaign_json(campaign), created_by=created_by, now=now, campaign_id=cid
    )


def start(store: Store, definition: dict[str, Any], minutes: int = 0) -> None:
    experiment = parse_experiment(definition)
    create_experiment(
        store, experiment.id, experiment.name, experiment_json(experiment), created_by="test", now=AS_OF
    )
    set_experiment_state(store, experiment.id, "running", AS_OF + timedelta(minutes=minutes))


def schedule(store: Store, name: str, key: str | None = EXPERIMENT_KEY) -> Scheduled:
    stored = new_draft(store, campaign(name), created_by="test", now=AS_OF)
    return schedule_campaign(store, stored.campaign_id, now=AS_OF, key=KEY, sender=SENDER, experiment_key=key)


@pytest.fixture(scope="module")
def shop() -> Iterator[Store]:
    with Store(":memory:") as store:
        load_demo_shop(store, customers=CUSTOMERS, days=DAYS, seed=SEED)
        run_customer_intelligence(store, AS_OF)
        run_preferences(store, AS_OF)  # the habits: each customer's best send hour
        yield store


@dataclass(frozen=True)
class Outcome:
    scheduled: Scheduled
    members: dict[str, str]  # profile → arm
    outbox: list[dict[str, Any]]
    exposures: list[dict[str, Any]]


def outcome(store: Store, scheduled: Scheduled, experiment_id: str) -> Outcome:
    cid = scheduled.campaign.campaign_id
    members = dict(store.sql("SELECT profile_id, arm FROM campaign_members WHERE campaign_id = ?", [cid]))
    outbox = store.query_arrow(
        "SELECT message_key, profile_id, body_text, due_at, planned_at, experiment_id, variant FROM outbox "
        "WHERE campaign_id = ? ORDER BY profile_id",
        [cid],
    ).to_pylist()
    exposures = store.query_arrow(
        "SELECT * FROM exposures WHERE experiment_id = ? ORDER BY unit_id", [experiment_id]
    ).to_pylist()
    return Outcome(scheduled, members, outbox, exposures)


@pytest.fixture(scope="module")
def message_test(shop: Store) -> Outcome:
    start(shop, message_experiment("쿠폰 캠페인"))
    return outcome(shop, schedule(shop, "쿠폰 캠페인"), "coupon-copy")


def within_five_sd(count: int, n: int, share: float) -> bool:
    return abs(count / n - share) <= 5 * math.sqrt(share * (1 - share) / n)


def assigned_variants(table: pa.Table, column: str = "variant") -> dict[str, str]:
    return dict(zip(table.column("profile_id").to_pylist(), table.column(column).to_pylist(), strict=True))


def test_the_treated_members_split_as_the_shares_say(message_test: Outcome) -> None:
    plan = message_test.scheduled.plan
    assert plan is not None
    treated = [p for p, arm in message_test.members.items() if arm == "treated"]
    assigned = assigned_variants(plan.assignments)
    assert len(treated) > 300 and set(assigned) == set(treated)  # traffic 1: every treated member
    counts = Counter(assigned.values())
    assert within_five_sd(counts["coupon"], len(treated), 0.6), counts
    # the experiments' own hash under the workspace's experiment key, recomputed one by one
    assigner = Assigner(parse_experiment(message_experiment("쿠폰 캠페인")), EXPERIMENT_KEY)
    assert assigned == {p: assigner(p) for p in treated}


def test_the_holdout_is_in_no_experiment(message_test: Outcome) -> None:
    holdout = {p for p, arm in message_test.members.items() if arm == "holdout"}
    assert len(holdout) > 50
    plan = message_test.scheduled.plan
    assert plan is not None
    assert not holdout & set(plan.assignments.column("profile_id").to_pylist())
    assert not holdout & {r["profile_id"] for r in message_test.outbox}
    assert not holdout & {e["unit_id"] for e in message_test.exposures}
    # though the variant hash would have put some of them in the coupon variant
    assigner = Assigner(parse_experiment(message_experiment("쿠폰 캠페인")), EXPERIMENT_KEY)
    assert Counter(assigner(p) for p in holdout)["coupon"] > 0


def test_each_message_carries_its_variants_text_and_tag(message_test: Outcome) -> None:
    rows = message_test.outbox
    assert len(rows) > 100
    assert {r["experiment_id"] for r in rows} == {"coupon-copy"}
    for r in rows:
        has_coupon = "쿠폰 CX-" in r["body_text"]
        assert has_coupon == (r["variant"] == "coupon"), r
        assert "새 상품을 만나 보세요" in r["body_text"] or has_coupon
    assert Counter(r["variant"] for r in rows).keys() == {"plain", "coupon"}


def test_every_queued_message_is_one_exposure(message_test: Outcome) -> None:
    exposures = {e["unit_id"]: e for e in message_test.exposures}
    assert len(exposures) == len(message_test.exposures) == len(message_test.outbox)
    for r in message_test.outbox:
        e = exposures[r["profile_id"]]
        assert (e["variant"], e["exposed_at"], e["source"]) == (r["variant"], r["due_at"], r["message_key"])
        assert e["propensity"] is None
    # treated members the plan excluded (no consent) were assigned but not exposed
    plan = message_test.scheduled.plan
    assert plan is not None and plan.counts.planned < plan.counts.treated
    assert len(exposures) == plan.counts.planned


def test_a_re_plan_assigns_the_same(message_test: Outcome, shop: Store) -> None:
    stored = get_campaign(shop, message_test.scheduled.campaign.campaign_id)
    definition = parse_campaign(stored.definition)
    experiments = campaign_experiments(shop, stored.campaign_id, definition)
    assert [e.id for e in experiments] == ["coupon-copy"]
    again = plan_campaign(
        shop,
        definition,
        stored.campaign_id,
        at=AS_OF,
        key=KEY,
        sender=SENDER,
        experiments=experiments,
        experiment_key=EXPERIMENT_KEY,
    )
    first = message_test.scheduled.plan
    assert first is not None and again.assignments.equals(first.assignments)
    # another key, another split
    other = assign_members(
        experiments, experiment_key(b"x" * 32), first.assignments.column("profile_id").to_pylist()
    )
    assert other.column("variant").to_pylist() != first.assignments.column("variant").to_pylist()


def test_a_send_time_variant_sets_the_hour(shop: Store) -> None:
    start(shop, send_time_experiment("발송 시각 캠페인"))
    scheduled = schedule(shop, "발송 시각 캠페인")
    plan = scheduled.plan
    assert plan is not None
    rows = {r["profile_id"]: r for r in plan.table.to_pylist()}
    variants = assigned_variants(plan.assignments)
    evening = [p for p, v in variants.items() if v == "evening"]
    own = [p for p, v in variants.items() if v == "own-hour"]
    assert len(evening) > 100 and len(own) > 100
    for p in evening:
        assert (rows[p]["send_hour"], rows[p]["hour_basis"]) == (19, "experiment")
        if rows[p]["status"] == "planned":
            assert rows[p]["planned_at"].astimezone(SEOUL).hour == 19
    # the other variant keeps each customer's own hour (the habits'), else the campaign's 10:00
    assert {rows[p]["hour_basis"] for p in own} <= {"habits", "campaign"}
    assert (
        Counter(rows[p]["send_hour"] for p in own if rows[p]["hour_basis"] == "habits").most_common(1)[0][0]
        != 19
    )
    assert all(rows[p]["send_hour"] == 10 for p in own if rows[p]["hour_basis"] == "campaign")
    tagged = shop.sql(
        "SELECT variant, count(*) FROM outbox WHERE campaign_id = ? GROUP BY 1",
        [scheduled.campaign.campaign_id],
    )
    assert {v for v, _ in tagged} == {"evening", "own-hour"}
    exposed = shop.scalar("SELECT count(*) FROM exposures WHERE experiment_id = 'evening-send'")
    assert exposed == plan.counts.planned == sum(n for _, n in tagged)


def test_the_experiment_started_first_keeps_a_member(shop: Store) -> None:
    name = "두 실험 캠페인"
    first = {**message_experiment(name), "id": "copy-a", "traffic": 0.5}
    second = {**send_time_experiment(name), "id": "time-b"}
    start(shop, second, minutes=5)
    start(shop, first, minutes=1)
    stored = new_draft(shop, campaign(name), created_by="test", now=AS_OF)
    experiments = campaign_experiments(shop, stored.campaign_id, parse_campaign(campaign(name)))
    assert [e.id for e in experiments] == ["copy-a", "time-b"]
    ids = [f"user:m{i:06d}" for i in range(2000)]
    table = assign_members(experiments, EXPERIMENT_KEY, ids)
    by = assigned_variants(table, "experiment_id")
    copy = Assigner(parse_experiment(first), EXPERIMENT_KEY)
    assert set(by) == set(ids)  # the send-time test takes everyone the other leaves
    assert all((by[p] == "copy-a") == copy.in_experiment(p) for p in ids)
    assert within_five_sd(Counter(by.values())["copy-a"], len(ids), 0.5)


def test_no_experiment_applies_without_the_key_or_to_another_campaign(shop: Store) -> None:
    start(shop, {**message_experiment("다른 캠페인"), "id": "elsewhere"})
    scheduled = schedule(shop, "키 없는 캠페인", key=None)
    assert scheduled.plan is not None and scheduled.plan.assignments.num_rows == 0
    assert not shop.sql(
        "SELECT 1 FROM outbox WHERE campaign_id = ? AND experiment_id IS NOT NULL",
        [scheduled.campaign.campaign_id],
    )
    unrelated = schedule(shop, "관계없는 캠페인")
    assert unrelated.plan is not None and unrelated.plan.assignments.num_rows == 0
    assert not shop.scalar("SELECT count(*) FROM exposures WHERE experiment_id = 'elsewhere'")


def test_a_variant_without_the_campaigns_language_is_refused_naming_the_field(shop: Store) -> None:
    name = "영어 없는 캠페인"
    definition = message_experiment(name)
    definition["id"] = "no-english"
    start(shop, definition)
    stored = new_draft(shop, {**campaign(name), "locale": "en"}, created_by="test", now=AS_OF)
    with pytest.raises(InvalidInputError) as raised:
        schedule_campaign(
            shop, stored.campaign_id, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY
        )
    fields = [e.field for e in raised.value.errors]
    assert "experiments.no-english.variants[0].text.en" in fields, fields
    assert get_campaign(shop, stored.campaign_id).state == "draft"  # nothing scheduled, nothing queued
    assert not shop.scalar("SELECT count(*) FROM outbox WHERE campaign_id = ?", [stored.campaign_id])


def test_a_variant_template_that_cannot_render_is_refused(shop: Store) -> None:
    name = "깨진 문구 캠페인"
    definition = message_experiment(name)
    definition["id"] = "broken-copy"
    definition["variants"][1]["text"] = {"ko": "{{ no_such_field }} 쿠폰"}
    start(shop, definition)
    stored = new_draft(shop, campaign(name), created_by="test", now=AS_OF)
    with pytest.raises(InvalidInputError) as raised:
        schedule_campaign(
            shop, stored.campaign_id, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY
        )
    assert any(e.field.startswith("experiments.broken-copy.variants[1].sms") for e in raised.value.errors)
    assert not shop.scalar("SELECT count(*) FROM outbox WHERE campaign_id = ?", [stored.campaign_id])


@dataclass(frozen=True)
class Answered:
    """The demo shop's answers to the coupon test's messages: each exposed unit's expected
    conversion (the planted rates: no message + the coupon's or the plain message's uplift) and
    whether it ordered within the window of its exposure (the simulation's draw)."""

    expected: dict[str, list[float]]  # variant → each unit's planted conversion chance
    converted: dict[str, list[bool]]  # variant → each unit's simulated outcome


@pytest.fixture(scope="module")
def answered(shop: Store, message_test: Outcome) -> Answered:
    shop_again = generate_shop(customers=CUSTOMERS, days=DAYS, seed=SEED)
    people = shop_recipients(shop_again)
    rows = message_test.outbox
    assert all(r["profile_id"] in people.groups for r in rows)  # members only: the shop answers them
    # the coupon variant's message carries the step's coupon: the demo shop answers it as a coupon
    messages = [
        SentMessage(
            message_test.scheduled.campaign.campaign_id,
            "s1",
            r["profile_id"],
            "treated",
            r["due_at"],
            "sms",
            coupon=r["variant"] == "coupon",
            message_key=r["message_key"],
        )
        for r in rows
    ]
    answers = simulate_responses(messages, people, RESPONSE_SEED)
    shop.write_orders(answers.orders, answers.order_lines)
    ordered: dict[str, list[datetime]] = {}
    for o in answers.orders.to_pylist():
        ordered.setdefault(f"user:{o['customer_id']}", []).append(o["ordered_at"])
    expected: dict[str, list[float]] = {}
    converted: dict[str, list[bool]] = {}
    for r in rows:
        answer = MESSAGE_RESPONSES[people.groups[r["profile_id"]]]
        uplift = answer.coupon_uplift if r["variant"] == "coupon" else answer.message_uplift
        expected.setdefault(r["variant"], []).append(answer.no_message + uplift)
        window = r["due_at"] + timedelta(days=WINDOW_DAYS)
        converted.setdefault(r["variant"], []).append(
            any(r["due_at"] <= at < window for at in ordered.get(r["profile_id"], []))
        )
    return Answered(expected, converted)


def test_the_planted_coupon_effect_is_in_the_simulated_answers(answered: Answered) -> None:
    planted = {v: sum(x) / len(x) for v, x in answered.expected.items()}
    assert planted["coupon"] > planted["plain"]  # the dormant VIPs' +8 points against +2 for a plain one
    for variant, outcomes in answered.converted.items():
        rate = sum(outcomes) / len(outcomes)
        assert wilson_interval(sum(outcomes), len(outcomes)).covers(planted[variant]), (variant, rate)


def test_scheduling_as_the_surfaces_do_applies_the_workspaces_experiment_key(
    shop: Store, tmp_path: Path
) -> None:
    """The CLI, the API and the dashboard schedule through ``schedule_stored`` with the workspace's
    settings: its experiment key is derived from the workspace's secret, apart from the holdout's."""
    folder = tmp_path / "shop"
    folder.mkdir(mode=0o700)
    (folder / HASH_KEY_FILE).write_text(SECRET.hex())
    (folder / HASH_KEY_FILE).chmod(0o600)
    Workspace.init(folder)
    settings = campaign_settings(Workspace(folder))
    assert settings.experiment_key == EXPERIMENT_KEY != settings.holdout_key == KEY
    name = "설정 경유 캠페인"
    start(shop, {**message_experiment(name), "id": "via-settings"})
    # the other tests' campaigns went to the same customers today: caps that let this one through
    lenient = campaign(name, caps={"per_day": 20, "per_week": 40})
    stored = new_draft(shop, lenient, created_by="test", now=AS_OF)
    scheduled = schedule_stored(shop, settings, stored.campaign_id, now=AS_OF)
    variants = shop.sql(
        "SELECT profile_id, variant FROM outbox WHERE campaign_id = ? AND experiment_id = 'via-settings'",
        [stored.campaign_id],
    )
    assert scheduled.queued > 100 and len(variants) == scheduled.queued
    assigner = Assigner(parse_experiment({**message_experiment(name), "id": "via-settings"}), EXPERIMENT_KEY)
    assert all(assigner(p) == v for p, v in variants)


def test_the_results_show_the_planted_difference_between_the_variants(
    shop: Store, message_test: Outcome, answered: Answered
) -> None:
    """``measure.experiment_results`` reads the exposures this scheduling recorded and the orders
    the demo shop answered with: per variant the same units and conversions as counted here
    from the simulation, and the coupon-minus-plain difference's interval covers the planted one
    (the demo plants +8 points for a coupon against +2 for a plain message on the dormant VIPs,
    smaller effects on the others; at this size the difference is not significant, and is not
    asserted to be)."""
    result = experiment_results(shop, "coupon-copy", as_of=AS_OF + timedelta(days=14))
    assert result.units == len(message_test.outbox) and result.crossed_units == 0
    assert result.srm is not None and not result.srm.flagged
    conversion = next(m for m in result.metrics if m.kind == "conversion")
    assert conversion.note is None
    summary = {v.variant: v for v in conversion.variants}
    for variant, outcomes in answered.converted.items():
        assert summary[variant].units == len(outcomes)
        assert summary[variant].value == pytest.approx(sum(outcomes) / len(outcomes), abs=1e-12)
    (versus,) = conversion.comparisons
    assert (versus.variant, versus.control) == ("coupon", "plain")
    planted = {v: sum(x) / len(x) for v, x in answered.expected.items()}
    measured = {v: sum(x) / len(x) for v, x in answered.converted.items()}
    assert versus.absolute is not None and not versus.cuped  # the plain difference (CUPED off)
    assert versus.absolute.estimate == pytest.approx(measured["coupon"] - measured["plain"], abs=1e-12)
    assert versus.absolute.covers(planted["coupon"] - planted["plain"]), (versus.absolute, planted)
    print(
        f"coupon vs plain: planted {planted['coupon'] - planted['plain']:+.3f}, "
        f"measured {versus.absolute.estimate:+.3f} [{versus.absolute.low:+.3f}, {versus.absolute.high:+.3f}]"
    )


def test_a_bandit_policy_on_a_campaign_sends_a_first_wave_not_fixed_shares(shop: Store) -> None:
    """Thompson sampling is served in waves (tests/test_campaign_bandits.py): scheduling queues
    only the first wave, each message with the chance its variant was drawn with."""
    name = "밴딧 캠페인"
    start(shop, {**message_experiment(name), "id": "copy-bandit", "policy": {"kind": "thompson"}})
    lenient = campaign(name, caps={"per_day": 20, "per_week": 40})
    stored = new_draft(shop, lenient, created_by="test", now=AS_OF)
    scheduled = schedule_campaign(
        shop, stored.campaign_id, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY
    )
    assert scheduled.waiting > 3 * scheduled.queued > 0
    exposed = shop.sql("SELECT propensity FROM exposures WHERE experiment_id = 'copy-bandit'")
    assert len(exposed) == scheduled.queued and all(0.4 < p < 0.6 for (p,) in exposed)


def test_a_message_experiment_on_a_step_the_campaign_lacks_is_refused(shop: Store) -> None:
    name = "없는 단계 캠페인"
    definition = message_experiment(name)
    definition["id"] = "no-such-step"
    definition["point"]["step"] = "s9"
    start(shop, definition)
    stored = new_draft(shop, campaign(name), created_by="test", now=AS_OF)
    with pytest.raises(InvalidInputError) as raised:
        schedule_campaign(
            shop, stored.campaign_id, now=AS_OF, key=KEY, sender=SENDER, experiment_key=EXPERIMENT_KEY
        )
    assert [e.field for e in raised.value.errors] == ["experiments.no-such-step.point.step"]


def test_a_variant_replaces_subject_and_text_in_the_campaigns_language() -> None:
    definition = campaign("내용 캠페인")
    definition["steps"][0]["messages"]["email"] = {
        "subject": "원래 제목",
        "text": "원래 본문",
        "html": "<p>원래</p>",
    }
    step = parse_campaign(definition).steps[0]
    both = Variant(name="b", subject={"ko": "새 제목"}, text={"ko": "새 본문", "en": "new"})
    subject_only = Variant(name="s", subject={"ko": "새 제목"})
    ko = parse_campaign(definition)
    # a new text drops the e-mail HTML (it would show the control's words); a new subject keeps it
    assert variant_content(ko, step, "email", both) == ("새 본문", "새 제목", None)
    assert variant_content(ko, step, "email", subject_only) == ("원래 본문", "새 제목", "<p>원래</p>")
    assert variant_content(ko, step, "sms", both)[0] == "새 본문"
    en = parse_campaign({**definition, "locale": "en"})
    assert variant_content(en, step, "email", both) == ("new", "원래 제목", None)


def test_the_assignment_table_is_empty_without_experiments() -> None:
    table = assign_members([], EXPERIMENT_KEY, ["a", "b"])
    assert table.num_rows == 0 and table.schema.names[:3] == ["profile_id", "experiment_id", "variant"]
    assert isinstance(table, pa.Table)


def test_the_preview_shows_each_variants_share_members_and_message(shop: Store, tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir(mode=0o700)
    (folder / HASH_KEY_FILE).write_text(SECRET.hex())
    (folder / HASH_KEY_FILE).chmod(0o600)
    Workspace.init(folder)
    settings = campaign_settings(Workspace(folder))
    name = "미리보기 캠페인"
    start(shop, {**message_experiment(name), "id": "preview-copy"})
    lenient = parse_campaign(campaign(name, caps={"per_day": 20, "per_week": 40}))
    shown = preview_campaign(shop, settings, lenient, at=AS_OF, customers=6)
    assert [(v.experiment_id, v.variant, v.share, v.policy) for v in shown.variants] == [
        ("preview-copy", "plain", 0.4, "fixed"),
        ("preview-copy", "coupon", 0.6, "fixed"),
    ]
    assert sum(v.members for v in shown.variants) == shown.counts.planned > 100
    plain, coupon = shown.variants
    assert plain.sample is not None and coupon.sample is not None
    assert "쿠폰 CX-" in coupon.sample.message.draft.text
    assert "새 상품을 만나 보세요" in plain.sample.message.draft.text
    # the sample customers read their own variant's words
    assigner = Assigner(parse_experiment({**message_experiment(name), "id": "preview-copy"}), EXPERIMENT_KEY)
    assert len(shown.samples) == 6
    for sample in shown.samples:
        has_coupon = "쿠폰 CX-" in sample.message.draft.text
        assert has_coupon == (assigner(sample.message.profile_id) == "coupon")
    as_json = shown.to_dict()["variants"]
    assert as_json[1]["sample"]["profile_id"] == coupon.sample.message.profile_id
    # without the experiment key (no experiment applies) the preview lists no variant
    bare = preview_campaign(shop, replace(settings, experiment_key=None), lenient, at=AS_OF)
    assert bare.variants == () and bare.to_dict()["variants"] == []


def test_the_preview_of_a_bandit_shows_its_chances_now(shop: Store, tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir(mode=0o700)
    (folder / HASH_KEY_FILE).write_text(SECRET.hex())
    Workspace.init(folder)
    settings = campaign_settings(Workspace(folder))
    name = "밴딧 미리보기"
    start(shop, {**message_experiment(name), "id": "preview-bandit", "policy": {"kind": "thompson"}})
    lenient = parse_campaign(campaign(name, caps={"per_day": 20, "per_week": 40}))
    shown = preview_campaign(shop, settings, lenient, at=AS_OF)
    assert [v.policy for v in shown.variants] == ["thompson", "thompson"]
    assert all(v.share == pytest.approx(0.5, abs=0.01) for v in shown.variants)
    assert all(v.members > 0 and v.sample is not None for v in shown.variants)

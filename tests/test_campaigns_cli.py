"""``shopmind campaigns`` run as a user would (real processes) on a small demo shop: a win-back
campaign file is created, previewed, scheduled (its messages wait in the outbox), paused (the
outbox's claim skips it), resumed and finished, and its results read; bad files exit 2 naming the
field and store nothing; the same commands work through a running server that owns the store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shopmind.store import Workspace, claim_due, outbox_counts
from tests.serving import Server
from tests.shops import demo_workspace
from tests.test_privacy import shopmind

WINBACK = """\
name: 휴면 고객 복귀
audience: {kind: rfm, segments: [about_to_churn, hibernating, lost, needs_attention]}
steps:
  - id: s1
    coupon: "WB-{code}"
    messages:
      sms: {text: "{{ name_or_customer }}님, 다시 만나요. 쿠폰 {{ coupon }}"}
      email:
        subject: "{{ name_or_customer }}님, 다시 만나요"
        text: "쿠폰 {{ coupon }}: {{ link('https://shop.example/coupon') }}"
channel: {mode: cheapest, channels: [sms, email]}
send_time: {mode: fixed, hour: 10}
holdout: 0.2
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("campaigns-cli")
    (folder / "winback.yaml").write_text(WINBACK, encoding="utf-8")
    return demo_workspace(folder / "shop", customers=300, days=30).folder


def run(shop: Path, *args: str) -> Any:
    done = shopmind("campaigns", *args, "-w", str(shop))
    return done


def as_json(shop: Path, *args: str) -> Any:
    done = run(shop, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_create_preview_schedule_pause_resume_results(shop: Path) -> None:
    made = run(shop, "create", "--file", str(shop.parent / "winback.yaml"))
    assert made.returncode == 0, made.stderr
    assert (
        "created campaign c_" in made.stdout
        and "캠페인 ‘휴면 고객 복귀’를 초안으로 만들었습니다" in made.stdout
    )
    listed = run(shop, "list")
    assert "휴면 고객 복귀" in listed.stdout and "draft · 초안" in listed.stdout

    shown = run(shop, "preview", "휴면 고객 복귀", "--customers", "2")
    assert shown.returncode == 0, shown.stderr
    for words in ("the plan · 발송 계획", "planned messages", "held out", "(광고)", "bytes", "발송 예정"):
        assert words in shown.stdout, words
    preview = as_json(shop, "preview", "휴면 고객 복귀", "--customers", "2")
    counts = preview["counts"]
    assert counts["treated"] == counts["planned"] + sum(counts["excluded"].values())
    assert counts["planned"] > 0 and len(preview["samples"]) == 2
    assert all(s["violations"] == [] and s["carrier_bytes"] > 0 for s in preview["samples"])
    # a customer asked for by id who is held out is shown too, with what the plan decided
    holdout = next(p for p in _arms(shop, preview) if p[1] == "holdout")[0] if counts["holdout"] else None
    if holdout is not None:
        one = as_json(shop, "preview", "휴면 고객 복귀", "--customer", holdout)
        assert [(s["profile_id"], s["status"]) for s in one["samples"]] == [(holdout, "holdout")]

    scheduled = as_json(shop, "schedule", "휴면 고객 복귀")
    assert scheduled["state"] == "scheduled" and scheduled["queued"] == counts["planned"]
    assert scheduled["members"] == counts["members"]
    due = max(_moment(d["at"]) for d in scheduled["due"])
    with Workspace(shop).open_store() as store:
        assert outbox_counts(store, scheduled["campaign_id"])["queued"] == scheduled["queued"]
    again = run(shop, "schedule", "휴면 고객 복귀")
    assert again.returncode == 2 and "only a draft" in again.stderr

    paused = run(shop, "pause", "휴면 고객 복귀")
    assert paused.returncode == 0 and "‘휴면 고객 복귀’를 일시 중지했습니다" in paused.stdout
    with Workspace(shop).open_store() as store:  # due, and the sender's claim skips every message
        assert claim_due(store, due + timedelta(minutes=1), 1000) == []
    assert run(shop, "resume", scheduled["campaign_id"]).returncode == 0
    with Workspace(shop).open_store() as store:
        claimed = claim_due(store, due + timedelta(minutes=1), 1000)
    assert len(claimed) == scheduled["queued"]

    results = run(shop, "results", "휴면 고객 복귀")
    assert results.returncode == 0, results.stderr
    for words in (
        "per step · 단계별 결과",
        "uplift over the holdout",
        "대조군 대비 효과",
        "95%",
        "추가 매출 − 비용",
    ):
        assert words in results.stdout, words
    read = as_json(shop, "results", "휴면 고객 복귀")
    assert [s["planned"] for s in read["steps"]] == [scheduled["queued"]]
    assert read["uplift"]["treated"]["members"] == counts["treated"]
    assert read["uplift"]["holdout"]["members"] == counts["holdout"]

    finished = run(shop, "finish", "휴면 고객 복귀")
    assert finished.returncode == 0 and "종료했습니다" in finished.stdout
    refused = run(shop, "resume", "휴면 고객 복귀")
    assert refused.returncode == 2 and "finished" in refused.stderr
    show = run(shop, "show", "휴면 고객 복귀")
    assert "finished · 종료" in show.stdout and "WB-{code}" in show.stdout


def _arms(shop: Path, preview: dict[str, Any]) -> list[tuple[str, str]]:
    """Members and their arms as the plan drew them (the same every time)."""
    from shopmind.activation import campaign_settings, parse_campaign_yaml, plan_campaign

    with Workspace(shop).open_store(read_only=True) as store:
        settings = campaign_settings(Workspace(shop))
        plan = plan_campaign(
            store,
            parse_campaign_yaml(WINBACK),
            preview["campaign_id"],
            at=_moment(preview["at"]),
            key=settings.holdout_key,
        )
    return list(
        zip(plan.table.column("profile_id").to_pylist(), plan.table.column("arm").to_pylist(), strict=True)
    )


def _moment(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (WINBACK.replace("holdout: 0.2", "holdout: 1.5"), "holdout"),
        (WINBACK.replace("kind: rfm", "kind: galaxy"), "audience"),
        (WINBACK.replace("      sms:", "      fax:"), "steps[0].messages.fax"),
        (WINBACK.replace('{{ coupon }}"}', '{{ cuopon }}"}'), "steps[0].messages.sms.text"),
        (WINBACK.replace("hour: 10", "hour: 24"), "send_time.hour"),
        (WINBACK.replace("name: 휴면 고객 복귀", "name: [a, b]"), "name"),
        ("name: x\n  - : [", "campaign"),
    ],
)
def test_a_bad_file_exits_2_naming_the_field_and_stores_nothing(
    shop: Path, tmp_path: Path, text: str, field: str
) -> None:
    before = len(as_json(shop, "list"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("휴면 고객 복귀", "틀린 캠페인"), encoding="utf-8")
    for args in (("create", "--file", str(bad)), ("preview", str(bad))):
        done = run(shop, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert f"{field}" in done.stderr and "docs/campaigns.md" in done.stderr, done.stderr
    assert len(as_json(shop, "list")) == before
    missing = run(shop, "create", "--file", str(tmp_path / "nothing.yaml"))
    assert missing.returncode == 4 and "cannot read" in missing.stderr


def test_a_file_is_previewed_without_storing_it_and_an_unknown_campaign_is_named(shop: Path) -> None:
    before = len(as_json(shop, "list"))
    other = shop.parent / "other.json"
    other.write_text(
        json.dumps(
            {
                "name": "미리 보기만",
                "audience": {"kind": "rfm", "segments": ["lost"]},
                "steps": [{"id": "s1", "messages": {"email": {"subject": "안녕", "text": "안녕하세요"}}}],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    shown = as_json(shop, "preview", str(other), "-n", "1")
    assert shown["campaign_id"] is None and shown["name"] == "미리 보기만"
    assert len(as_json(shop, "list")) == before
    unknown = run(shop, "schedule", "없는 캠페인")
    assert unknown.returncode == 2 and "없는 캠페인" in unknown.stderr and "campaigns list" in unknown.stderr


def test_the_commands_work_through_a_server_that_owns_the_store(shop: Path) -> None:
    other = shop.parent / "through.yaml"
    other.write_text(WINBACK.replace("휴면 고객 복귀", "서버를 거친 캠페인"), encoding="utf-8")
    server = Server(shop, args=("--no-recommender", "--run-at", "off")).start()
    try:
        made = run(shop, "create", "-f", str(other))
        assert made.returncode == 0, made.stderr
        assert "working through it" in made.stderr and "‘서버를 거친 캠페인’을" in made.stdout
        shown = run(shop, "preview", "서버를 거친 캠페인", "-n", "1")
        assert shown.returncode == 0 and "발송 계획" in shown.stdout, shown.stderr
        scheduled = run(shop, "schedule", "서버를 거친 캠페인")
        assert scheduled.returncode == 0 and "발송을 기다립니다" in scheduled.stdout, scheduled.stderr
        with server.client(server.secret_key) as c:
            found = [
                x for x in c.get("/v1/campaigns").json()["campaigns"] if x["name"] == "서버를 거친 캠페인"
            ]
        assert found[0]["state"] == "scheduled" and found[0]["outbox"]["queued"] > 0
    finally:
        assert server.stop() == 0, server.output()


def test_the_preview_prints_each_experiment_variants_share_customers_and_message(shop: Path) -> None:
    """A running message experiment on the campaign: the preview's variants table names each
    variant (the control marked), its share, the customers the plan gives it and a sample of its
    words; the numbers are the ones ``--json`` gives."""
    name = "변형 미리보기"
    lenient = (
        WINBACK.replace("휴면 고객 복귀", name) + "caps: {per_day: 20, per_week: 40}\n"
    )  # after the others
    (shop.parent / "variants.yaml").write_text(lenient, encoding="utf-8")
    experiment = {
        "id": "winback-copy",
        "name": "복귀 문구",
        "point": {"kind": "campaign_message", "campaign": name},
        "variants": [
            {"name": "plain", "share": 0.3, "text": {"ko": "{{ name_or_customer }}님, 다시 만나요"}},
            {"name": "sorry", "share": 0.7, "text": {"ko": "{{ name_or_customer }}님, 보고 싶었어요"}},
        ],
    }
    (shop.parent / "copy.json").write_text(json.dumps(experiment, ensure_ascii=False), encoding="utf-8")
    made = shopmind("experiments", "create", str(shop.parent / "copy.json"), "-w", str(shop))
    assert made.returncode == 0, made.stderr
    assert shopmind("experiments", "start", "winback-copy", "-w", str(shop)).returncode == 0

    preview = as_json(shop, "preview", str(shop.parent / "variants.yaml"))
    plain, sorry = preview["variants"]
    assert (plain["variant"], plain["share"], sorry["variant"], sorry["share"]) == (
        "plain",
        0.3,
        "sorry",
        0.7,
    )
    assert plain["members"] > 0 and sorry["members"] > 0
    shown = run(shop, "preview", str(shop.parent / "variants.yaml"))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "experiment variants · 실험 변형" in out and "planned customers · 발송 예정 고객" in out
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if "winback-copy" in line}
    assert set(rows) == {"plain (control · 대조군)", "sorry"}, out
    assert (
        "30%" in rows["plain (control · 대조군)"]
        and f"{plain['members']:,}" in rows["plain (control · 대조군)"]
    )
    assert "70%" in rows["sorry"] and f"{sorry['members']:,}" in rows["sorry"]
    assert "보고 싶었어요" in rows["sorry"] and "다시 만나요" in rows["plain (control · 대조군)"]

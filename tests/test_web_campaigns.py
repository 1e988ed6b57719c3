"""The dashboard's campaign pages without a browser, against ``shopmind serve`` on a synthetic shop
whose jobs have run: the list, the form, the review and the results render for each role (viewers
look, marketers and owners act); the form's problems are named by field in the page's language;
the live preview writes the sample customer's message as the law has it go out; every POST needs
the session's CSRF token; a campaign goes draft → scheduled → paused → scheduled → finished from
the review's buttons; and every page reads as native Korean and English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from shopmind.activation import carrier_bytes
from tests.serving import DashboardClient, Server
from tests.shops import understood_workspace
from tests.test_korean_text import problems, visible_text

ROLES = ("viewer", "marketer", "owner")


def form_state(**over: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "name": "휴면 VIP 다시 부르기",
        "locale": "ko",
        "audience": {"kind": "rfm", "segments": ["dormant_vip", "about_to_churn", "hibernating"]},
        "steps": [
            {
                "kind": "advertising",
                "coupon": "COME-{code}",
                "messages": {
                    "sms": {"text": "{{ name_or_customer }}님, 다시 만나요! 쿠폰 {{ coupon }}"},
                    "email": {
                        "subject": "{{ name_or_customer }}님을 위한 쿠폰",
                        "text": "{{ favourite_category }} 신상품을 만나 보세요. {{ link('https://shop.example/new') }}",
                    },
                },
            }
        ],
        "channel_mode": "cheapest",
        "channels": ["kakao", "sms", "email", "app_push", "web_push"],
        "send_mode": "best_hour",
        "hour": "10",
        "per_day": "1",
        "per_week": "3",
        "holdout": "20",
        "attribution_days": "7",
    }
    state.update(over)
    return state


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, DashboardClient]]]:
    folder = understood_workspace(tmp_path_factory.mktemp("campaign-pages") / "shop", customers=500)
    server = Server(folder, args=("--no-recommender",))
    passwords = {role: server.add_user(role, role) for role in ROLES}
    server.start()
    clients = {role: server.dashboard(role, passwords[role]) for role in ROLES}
    try:
        yield server, clients
    finally:
        for c in clients.values():
            c.close()
        assert server.stop() == 0


def _post_json(client: DashboardClient, path: str, body: Any, **headers: str) -> Any:
    return client.post(
        path,
        json=body,
        headers={"X-CSRF-Token": client.csrf, "Origin": str(client.base_url), **headers},
    )


def _save(client: DashboardClient, state: dict[str, Any], csrf: bool = True) -> Any:
    import json

    data = {"state": json.dumps(state)}
    if csrf:
        data["csrf_token"] = client.csrf
    return client.post("/dashboard/campaigns/new", data=data, headers={"Origin": str(client.base_url)})


def _readable(client: DashboardClient, path: str) -> list[str]:
    found = []
    for lang in ("ko", "en"):
        answer = client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        # what the marketer types into a template (field names) is code, shown as code
        text = visible_text(re.sub(r"<code>.*?</code>", " ", answer.text, flags=re.S))
        found += [
            f"{lang} {path}: {p}"
            for p in problems(text, korean=lang == "ko")
            if "'marketer'" not in p  # the test account's name
        ]
    return found


def test_the_pages_render_for_each_role(shop: tuple[Server, dict[str, DashboardClient]]) -> None:
    _, clients = shop
    for role, client in clients.items():
        listing = client.get("/dashboard/campaigns")
        assert listing.status_code == 200
        assert 'data-page="campaigns"' in listing.text and ">캠페인<" in listing.text
        form = client.get("/dashboard/campaigns/new")
        assert form.status_code == 200
        assert ('id="save-campaign"' in form.text) == (role != "viewer"), role
        assert ('id="new-campaign"' in listing.text) == (role != "viewer"), role
    refused = _save(clients["viewer"], form_state(name="열람자의 캠페인"))
    assert refused.status_code == 403
    assert client_missing(clients["viewer"], "열람자의 캠페인")


def client_missing(client: DashboardClient, name: str) -> bool:
    return name not in client.get("/dashboard/campaigns").text


def test_form_problems_are_named_by_field_in_the_pages_language(
    shop: tuple[Server, dict[str, DashboardClient]],
) -> None:
    _, clients = shop
    client = clients["marketer"]
    bad = form_state(
        name=" ",
        audience={"kind": "band", "score": "churn_risk", "low": "80", "high": "20"},
        per_day="2",
        per_week="1",
        holdout="75",
    )
    bad["steps"][0]["messages"]["sms"]["text"] = " "
    ko = _post_json(client, "/dashboard/campaigns/preview?lang=ko", bad).json()
    en = _post_json(client, "/dashboard/campaigns/preview?lang=en", bad).json()
    by_field = {p["field"]: p["message"] for p in ko["problems"]}
    assert by_field == {
        "name": "캠페인 이름을 입력하세요.",
        "audience.high": "최소가 최대보다 작아야 합니다.",
        "steps[0].messages.sms.text": "본문을 입력하세요.",
        "per_week": "주간 한도는 하루 한도보다 작을 수 없습니다.",
        "holdout": "0에서 50 사이로 입력하세요.",
    }
    assert {p["field"] for p in en["problems"]} == set(by_field)
    assert {p["field"]: p["message"] for p in en["problems"]}["name"] == "Give the campaign a name."

    # a template the library refuses: the line and the field it names, in Korean
    typo = form_state()
    typo["steps"][0]["messages"]["sms"]["text"] = "{{ nmae }}님, 안녕하세요"
    answer = _post_json(client, "/dashboard/campaigns/preview", typo).json()
    assert answer["problems"] == [
        {
            "field": "steps[0].messages.sms.text",
            "message": "1번째 줄: 'nmae' 항목은 없습니다. 아래 목록에 있는 항목을 쓰세요.",
        }
    ]
    # the e-mail without its subject
    nosubject = form_state()
    del nosubject["steps"][0]["messages"]["email"]["subject"]
    answer = _post_json(client, "/dashboard/campaigns/preview?lang=en", nosubject).json()
    assert {"field": "steps[0].messages.email.subject", "message": "An e-mail needs a subject."} in answer[
        "problems"
    ]
    # saving a form with problems answers the form again (400), the problems in its data
    saved = _save(client, bad)
    assert saved.status_code == 400
    assert "캠페인 이름을 입력하세요." in saved.text


def test_the_preview_writes_the_message_as_the_law_has_it_go_out(
    shop: tuple[Server, dict[str, DashboardClient]],
) -> None:
    _, clients = shop
    answer = _post_json(clients["marketer"], "/dashboard/campaigns/preview", form_state()).json()
    assert answer["problems"] == []
    assert answer["count"] > 0 and answer["count_text"] == f"대상 고객 {answer['count']:,}명"
    sample = answer["sample"]["id"]
    assert sample == sorted(s["id"] for s in answer["samples"])[0]
    sms, email = sorted(answer["messages"], key=lambda m: m["channel"], reverse=True)
    assert sms["channel"] == "sms" and email["channel"] == "email"
    assert sms["text"].startswith("(광고)") and "무료수신거부 080" in sms["text"]
    assert "님, 다시 만나요! 쿠폰 COME-" in sms["text"]
    assert sms["bytes"] == carrier_bytes(sms["text"])
    assert sms["format"] == ("sms" if sms["bytes"] <= 90 else "lms")
    assert sms["format_name"] in ("단문 문자", "장문 문자") and sms["size"] == f"{sms['bytes']:,}바이트"
    assert sms["violations"] == [] and sms["coupon_note"]
    assert email["subject"].startswith("(광고)") and "https://shop.example/new" in email["text"]
    # another sample customer: their own message
    other = answer["samples"][1]["id"]
    again = _post_json(
        clients["marketer"], "/dashboard/campaigns/preview", {**form_state(), "sample": other}
    ).json()
    assert again["sample"]["id"] == other


def test_every_post_needs_the_sessions_csrf_token(shop: tuple[Server, dict[str, DashboardClient]]) -> None:
    _, clients = shop
    client = clients["owner"]
    assert _save(client, form_state(name="토큰 없는 캠페인"), csrf=False).status_code == 403
    answer = client.post(
        "/dashboard/campaigns/preview", json=form_state(), headers={"Origin": str(client.base_url)}
    )
    assert answer.status_code == 403
    forged = client.post(
        "/dashboard/campaigns/c_000000000000/schedule",
        data={"csrf_token": client.csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    assert client_missing(client, "토큰 없는 캠페인")
    # with its token, an action on no campaign leads back to the list (no server error)
    for action in ("schedule", "pause", "finish"):
        answer = _action(client, "c_000000000000", action)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/campaigns"


def _action(client: DashboardClient, campaign_id: str, action: str) -> Any:
    return client.post(
        f"/dashboard/campaigns/{campaign_id}/{action}",
        data={"csrf_token": client.csrf},
        headers={"Origin": str(client.base_url)},
    )


def test_save_review_schedule_pause_resume_finish_and_read_results(
    shop: tuple[Server, dict[str, DashboardClient]],
) -> None:
    _, clients = shop
    marketer, viewer = clients["marketer"], clients["viewer"]
    saved = _save(marketer, form_state(name="봄맞이 복귀 쿠폰"))
    assert saved.status_code == 303, saved.text[:500]
    found = re.match(r"^/dashboard/campaigns/(c_[0-9a-f]+)\?done=created$", saved.headers["location"])
    assert found
    cid = found[1]
    review = marketer.get(f"/dashboard/campaigns/{cid}").text
    assert "초안을 저장했습니다" not in review  # the note only after saving
    review = marketer.get(saved.headers["location"]).text
    assert "초안을 저장했습니다" in review and 'id="schedule-campaign"' in review
    tiles = dict(re.findall(r'data-count="(\w+)">([\d,]+)<', review))
    members, treated, holdout = (int(tiles[k].replace(",", "")) for k in ("members", "treated", "holdout"))
    assert members == treated + holdout > 0 and holdout > 0
    planned = int(tiles["planned"].replace(",", ""))
    excluded = int(tiles["excluded"].replace(",", ""))
    assert planned + excluded == treated
    assert 'data-reason="no_consent"' in review or 'data-reason="opted_out"' in review
    assert "/dashboard/customer?id=" in review  # example customers link to their profiles
    # a viewer sees the review, without its buttons, and may not act
    seen = viewer.get(f"/dashboard/campaigns/{cid}").text
    assert 'id="schedule-campaign"' not in seen and 'id="marketer-only"' in seen
    assert _action(viewer, cid, "schedule").status_code == 403

    done = _action(marketer, cid, "schedule")
    assert done.status_code == 303 and "done=scheduled" in done.headers["location"]
    assert (
        f"members={members}" in done.headers["location"] and f"queued={planned}" in done.headers["location"]
    )
    page = marketer.get(done.headers["location"]).text
    assert f"대상 고객 {members:,}명을 기록하고 메시지 {planned:,}건을" in page
    assert 'id="pause-campaign"' in page and 'id="schedule-campaign"' not in page
    assert _action(marketer, cid, "schedule").headers["location"].endswith("?problem=state")
    assert "done=paused" in _action(marketer, cid, "pause").headers["location"]
    assert 'id="resume-campaign"' in marketer.get(f"/dashboard/campaigns/{cid}").text
    assert "done=resumed" in _action(marketer, cid, "resume").headers["location"]

    listing = marketer.get("/dashboard/campaigns").text
    row = re.search(rf'<tr data-campaign="{cid}" data-state="scheduled">(.*?)</tr>', listing, flags=re.S)
    assert row and f"{treated:,} / {holdout:,}" in row[1]
    results = marketer.get(f"/dashboard/campaigns/{cid}/results")
    assert results.status_code == 200 and 'id="uplift-chart"' in results.text
    assert "발송 그룹: 고객" in results.text and "대조군: 고객" in results.text

    found_problems = []
    for path in (
        "/dashboard/campaigns",
        "/dashboard/campaigns/new",
        f"/dashboard/campaigns/{cid}",
        f"/dashboard/campaigns/{cid}/results",
        "/dashboard/campaigns/c_nothing",
    ):
        if path.endswith("c_nothing"):
            assert marketer.get(path).status_code == 404
            continue
        found_problems += _readable(marketer, path)
    assert "done=finished" in _action(marketer, cid, "finish").headers["location"]
    finished = marketer.get(f"/dashboard/campaigns/{cid}").text
    assert (
        'id="actions"' in finished
        and '-campaign"' not in finished.split('id="actions"')[1].split("</div>")[0]
    )
    assert not found_problems, "\n".join(found_problems[:40])


def test_a_journey_of_two_steps_is_saved_and_its_review_says_what_it_shows(
    shop: tuple[Server, dict[str, DashboardClient]],
) -> None:
    _, clients = shop
    client = clients["owner"]
    second = {
        "kind": "advertising",
        "wait_hours": "abc",
        "when": "clicked_not_bought",
        "messages": {
            "email": {"subject": "아직 고민 중이세요?", "text": "{{ name_or_customer }}님, 쿠폰이 곧 끝나요."}
        },
    }
    state = form_state(name="두 단계 복귀 여정")
    state["steps"].append(second)
    answer = _post_json(client, "/dashboard/campaigns/preview", state).json()
    assert answer["problems"] == [{"field": "steps[1].wait_hours", "message": "숫자를 입력하세요."}]
    second["wait_hours"] = "48"
    answer = _post_json(client, "/dashboard/campaigns/preview", state).json()
    assert answer["problems"] == []
    assert sorted((m["step"], m["channel"]) for m in answer["messages"]) == [
        (0, "email"),
        (0, "sms"),
        (1, "email"),
    ]
    saved = _save(client, state)
    assert saved.status_code == 303, saved.text[:300]
    review = client.get(saved.headers["location"]).text
    assert "2단계부터는 앞 단계를 보낸 뒤 고객의 반응에 따라" in review
    english = client.get(saved.headers["location"].split("?")[0] + "?lang=en").text
    assert "Later steps are planned as customers answer" in english


def test_a_later_start_moves_every_planned_message_after_it(
    shop: tuple[Server, dict[str, DashboardClient]],
) -> None:
    _, clients = shop
    client = clients["marketer"]
    bad = _post_json(
        client, "/dashboard/campaigns/preview?lang=ko", form_state(start_at="2027-13-01T09:00")
    ).json()
    assert bad["problems"] == [
        {"field": "start_at", "message": "날짜와 시각을 2026-03-01 09:00처럼 입력하세요."}
    ]
    saved = _save(client, form_state(name="새해 첫 주 쿠폰", start_at="2027-01-04T09:00"))
    assert saved.status_code == 303, saved.text[:300]
    review = client.get(saved.headers["location"] + "&lang=ko").text
    assert "2027-01-04 09:00부터 보냅니다." in review
    slots = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d \d\d:00)</td>", review)
    assert slots and min(slots) >= "2027-01-04 09:00", slots[:3]

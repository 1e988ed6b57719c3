"""No plain contact data at rest (issue 16, fault 13), against a real ``shopmind serve`` and the CLI:
e-mail-like and phone-like fields under any usual key are stored only as keyed hashes, other
personal fields (address, birthday, names) are dropped, personal query parameters leave page
URLs, rejected input is redacted before the quarantine keeps it, and the store's files are
readable by their owner only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from shopmind.core import (
    DEFAULT_PERSONAL_FIELDS,
    IdentifierHasher,
    InvalidInputError,
    normalise_key,
)
from shopmind.events import validate_event
from shopmind.store import PRIVACY_FILE, KeyRing, Store, Workspace
from tests.serving import Server

from .conftest import NOW

#: Pieces of the personal data the tests send: none may be found anywhere in the store.
PLAIN = (
    "example.com",
    "park.one",
    "park.two",
    "2222-3333",
    "22223333",
    "4444-5555",
    "345-6789",
    "9999-8888",
    "테헤란로",
    "1990-05-05",
    "19900505",
    "박일",
    "y.z",
)


def shopmind(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, with this checkout's sources (PYTHONPATH is inherited)."""
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
        env={**os.environ, "COLUMNS": "250"},
    )


def text_columns(store: Store) -> list[tuple[str, str]]:
    """Every VARCHAR and JSON column of every table of the store."""
    return [
        (t, c)
        for t, c in store.sql(
            """SELECT c.table_name, c.column_name FROM duckdb_columns() c JOIN duckdb_tables() t
            ON t.table_name = c.table_name AND t.schema_name = c.schema_name
            WHERE c.schema_name = 'main' AND c.data_type IN ('VARCHAR', 'JSON') ORDER BY 1, 2"""
        )
    ]


def holding(store: Store, needles: tuple[str, ...] | list[str]) -> list[tuple[str, str, str, str]]:
    """(table, column, needle, value) of every stored text holding one of ``needles`` (any case)."""
    found = []
    for table, column in text_columns(store):
        for needle in needles:
            rows = store.sql(
                f'SELECT CAST("{column}" AS VARCHAR) FROM {table} WHERE contains(lower(CAST("{column}" AS VARCHAR)), ?)',
                [needle.lower()],
            )
            found += [(table, column, needle, str(value)[:200]) for (value,) in rows]
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "shop").start()
    yield running
    if running.process is not None and running.process.poll() is None:
        running.stop()


_ACCEPTED = [
    {
        "messageId": "p-identify",
        "type": "identify",
        "userId": "u-park",
        "anonymousId": "a-park",
        "traits": {
            "Email": "Park.One@Example.com",
            "mobile": "010-2222-3333",
            "address": "서울시 강남구 테헤란로 1",
            "birthday": "1990-05-05",
            "생년월일": "19900505",
            "name": "박일",
            "grade": "vip",
        },
    },
    {
        "messageId": "p-view",
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": "a-park",
        "context": {
            "page": {
                "url": "https://shop.example/p/1?utm_source=naver&email=park.one%40example.com&phone=01022223333&size=L",
                "referrer": "https://m.shop.example/login?Mobile=010-2222-3333#/cart?e_mail=x%40y.z",
            }
        },
        "properties": {
            "product_id": "P1",
            "contact": {"email": "park.two@example.com"},
            "tel": "02-345-6789",
            "phone_number": "010-4444-5555",
            "colour": "red",
        },
    },
    {
        "messageId": "p-page",
        "type": "page",
        "anonymousId": "a-park",
        "properties": {
            "url": "https://shop.example/?name=박일&ref=home",
            "path": "/",
            "shipping_address": "서울",
        },
    },
    {
        "messageId": "p-nested",
        "type": "identify",
        "userId": "u-park",
        "traits": {
            "contact": {"Phone": "+82 10-2222-3333"},
            "휴대폰": "010-9999-8888",
            "이메일": "park.one@example.com",
        },
    },
]
_REJECTED = [
    {  # an address that is not one: rejected, with the valid phone number beside it
        "messageId": "p-bad-mail",
        "type": "identify",
        "userId": "u-park",
        "traits": {"email": "park.one@example", "phone": "010-2222-3333", "address": "테헤란로 1"},
    },
    {  # no product id: rejected, with contact data under other keys
        "messageId": "p-no-product",
        "type": "product_view",
        "anonymousId": "a-park",
        "traits": {"E-Mail": "park.one@example.com", "hp": "010-4444-5555"},
        "context": {"page": {"url": "https://shop.example/?email=park.two%40example.com"}},
        "properties": {"birth_date": "1990-05-05"},
    },
]


def test_contact_data_under_any_usual_key_is_hashed_or_dropped_and_never_at_rest(server: Server) -> None:
    hasher = Workspace(server.workspace).hasher()
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        answer = write.post("/v1/batch", json={"batch": _ACCEPTED + _REJECTED})
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == len(_ACCEPTED)
        assert [r["index"] for r in answer.json()["rejected"]] == [4, 5]
        reasons = {e["field"] for r in answer.json()["rejected"] for e in r["errors"]}
        assert "traits.email" in reasons  # the error names the field the value came under
        # the quarantine, as served: the rejected events are there, their personal data is not
        rejected = secret.get("/v1/quarantine")
        assert rejected.status_code == 200
        served = rejected.json()["rejected"]
        assert len(served) == 2 and all("[redacted]" in row["raw"] for row in served)
        assert any('"messageId":"p-no-product"' in row["raw"] for row in served)  # still useful
        text = rejected.text.lower()
        assert [p for p in PLAIN if p.lower() in text] == []
        stored = secret.get("/v1/events/p-view")
        assert stored.status_code == 200 and stored.json()["product_id"] == "P1"
    assert server.stop() == 0

    with Store(server.workspace / "shop.duckdb", read_only=True) as store:
        assert holding(store, PLAIN) == []
        rows = {
            m: (url, ref, props, email, phone)
            for m, url, ref, props, email, phone in store.sql(
                "SELECT message_id, page_url, referrer, properties, email_hash, phone_hash FROM events"
            )
        }
    # the first e-mail-like and phone-like values found are hashed (top level before nested)
    assert rows["p-identify"][3:] == (hasher.email("park.one@example.com"), hasher.phone("010-2222-3333"))
    assert rows["p-identify"][2] == '{"traits":{"grade":"vip"}}'
    assert rows["p-view"][3:] == (hasher.email("park.two@example.com"), hasher.phone("02-345-6789"))
    assert rows["p-view"][2] == '{"colour":"red"}'
    # page URLs keep everything but the personal query parameters
    assert rows["p-view"][0] == "https://shop.example/p/1?utm_source=naver&size=L"
    assert rows["p-view"][1] == "https://m.shop.example/login#/cart"
    assert rows["p-page"][2] == '{"url":"https://shop.example/?ref=home","path":"/"}'
    assert rows["p-nested"][3:] == (hasher.email("park.one@example.com"), hasher.phone("010-9999-8888"))


def test_store_files_are_readable_by_their_owner_only(server: Server) -> None:
    with server.client(server.write_key) as write:
        assert write.post("/v1/track", json=_ACCEPTED[1]).status_code == 200
    folder = server.workspace
    wal = folder / "shop.duckdb.wal"
    assert wal.exists()  # the write is in the log until the server folds it in
    for path in (folder / "shop.duckdb", wal, folder / "hash.key", folder / "api_keys.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_store_left_readable_by_an_older_shopmind_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    Store(path).close()
    os.chmod(path, 0o644)
    with Store(path) as store:
        store.sql("CREATE TABLE t (x INTEGER)")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_cli_exports_are_private(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "shop")
    with ws.open_store() as store, store.job_run("customer_intelligence", NOW) as run_id:
        store.write_segment_members(run_id, NOW, pa.table({"segment": ["vip"], "profile_id": ["user:u1"]}))
    out = tmp_path / "vips.csv"
    done = shopmind("customers", "list", "--segment", "vip", "--output", str(out), "-w", str(ws.path))
    assert done.returncode == 0, done.stderr
    assert "user:u1" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_rejected_order_rows_keep_no_contact_data_in_the_quarantine(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "shop")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,ordered_at,product_id,quantity,unit_price,customer_id,email,phone,주소,수령인\n"
        "A1,2026-03-01 10:00:00,P1,1,1000,,park.one@example.com,010-2222-3333,서울 테헤란로 1,박일\n"
        "A2,2026-03-01 10:00:00,P1,1,1000,c2,park.one@example,010-2222-3333,서울 테헤란로 1,박일\n"
        "A3,2026-03-01 10:00:00,P1,x,1000,c3,park.two@example.com,010-4444-5555,서울 테헤란로 2,박일\n"
        "A4,2026-03-01 10:00:00,P1,1,1000,c4,park.two@example.com,010-4444-5555,extra,field,박일\n",
        encoding="utf-8",
    )
    done = shopmind("import", "orders", str(orders), "-w", str(ws.path))
    assert done.returncode == 3, done.stderr  # some rows rejected
    shown = shopmind("quarantine", "-w", str(ws.path))
    assert shown.returncode == 0, shown.stderr
    assert "quantity" in shown.stdout and "orders.csv" in shown.stdout
    assert [p for p in PLAIN if p.lower() in shown.stdout.lower()] == []
    with ws.open_store(read_only=True) as store:
        kept = dict(store.sql("SELECT line_no, raw FROM quarantine"))
        assert sorted(kept) == [3, 4, 5]
        assert all('"주소":"[redacted]"' in raw and '"수령인":"[redacted]"' in raw for raw in kept.values())
        assert '"quantity":"x"' in kept[4]  # what was wrong is still there to see
        assert holding(store, PLAIN) == []


def test_the_list_of_personal_fields_is_the_workspaces(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "shop")
    (ws.path / PRIVACY_FILE).write_text(
        '[personal_fields]\nemail = ["buyer_mail"]\ndrop = ["Nick-Name"]\nkeep = ["hp"]\n', encoding="utf-8"
    )
    hasher = ws.hasher()
    event = validate_event(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {
                "buyer_mail": "Park.One@Example.com",
                "nick_name": "parky",
                "hp": 80,
                "tel": "02-345-6789",
            },
        },
        received_at=NOW,
        hasher=hasher,
    )
    assert event.email_hash == hasher.email("park.one@example.com")
    assert event.phone_hash == hasher.phone("02-345-6789")
    assert event.properties == '{"traits":{"hp":80}}'  # kept: this shop's hp is not a phone
    assert ws.open_store().personal is not DEFAULT_PERSONAL_FIELDS
    (ws.path / PRIVACY_FILE).write_text('[personal_fields]\nemail = "buyer_mail"\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"privacy.toml: personal_fields.email: expected a list"):
        ws.hasher()


def test_every_spelling_of_a_usual_key_is_one_name() -> None:
    for spelling in (
        "Email",
        "E-Mail",
        "e_mail",
        "EMAIL",
        "Phone_Number",
        "phoneNumber",
        "phone-number",
        "휴대폰",
    ):
        assert DEFAULT_PERSONAL_FIELDS.kind(spelling, False) in ("email", "phone"), spelling
    assert normalise_key("Phone Number") == "phonenumber"
    # "name" is a person's name among traits, a product's or page's elsewhere
    assert DEFAULT_PERSONAL_FIELDS.kind("name", True) == "drop"
    assert DEFAULT_PERSONAL_FIELDS.kind("name", False) == ""


def test_contact_data_without_a_hashing_key_is_refused_naming_the_field() -> None:
    with pytest.raises(
        InvalidInputError, match=r"properties\.contact\.mobile: contact data cannot be accepted"
    ):
        validate_event(
            {"type": "page", "anonymousId": "a", "properties": {"contact": {"mobile": "010-2222-3333"}}},
            received_at=NOW,
        )
    hasher = IdentifierHasher(b"k" * 32)
    with pytest.raises(InvalidInputError, match=r"traits\.tel: not a valid phone number"):
        validate_event(
            {"type": "identify", "userId": "u", "traits": {"tel": "12"}}, received_at=NOW, hasher=hasher
        )


def test_api_keys_file_stays_private_when_rewritten(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "shop")
    ring = KeyRing(ws.path)
    ring.create("write")
    ring.create("secret")
    assert stat.S_IMODE((ws.path / "api_keys.json").stat().st_mode) == 0o600

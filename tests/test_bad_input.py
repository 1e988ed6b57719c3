"""Bad input gets a clear error naming the field, lands in quarantine with its reason and line
number, and nothing valid beside it is lost; re-sending stores nothing twice."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from shopmind.core import FieldError, IdentifierHasher, ImportFileError, InvalidEventError
from shopmind.events import validate_event
from shopmind.ingest import import_events, import_orders
from shopmind.store import Store

from .conftest import NOW

HEADER = "order_id,ordered_at,product_id,quantity,unit_price,customer_id,email\n"
GOOD = [
    "A1,2026-03-01 10:00:00,P1,2,1000,c1,",
    "A1,2026-03-01 10:00:00,P2,1,500,c1,",
    "A2,2026-03-02T11:00:00+09:00,P1,1,1000,,guest@example.com",
]
BAD = {  # line content -> (field, words the reason must contain)
    ",2026-03-01 10:00:00,P1,1,1000,c2,": ("order_id", "empty"),
    "B2,yesterday at noon,P1,1,1000,c2,": ("ordered_at", "cannot read"),
    "B3,2026-03-01 10:00:00,,1,1000,c2,": ("product_id", "empty"),
    "B4,2026-03-01 10:00:00,P1,two,1000,c2,": ("quantity", "not a number"),
    "B5,2026-03-01 10:00:00,P1,1.5,1000,c2,": ("quantity", "not a whole number"),
    "B6,2026-03-01 10:00:00,P1,1,-300,c2,": ("unit_price", "negative"),
    "B7,2026-03-01 10:00:00,P1,1,abc,c2,": ("unit_price", "not a number"),
    "B8,2026-03-01 10:00:00,P1,1,1000,c2,not-an-address": ("email", "not a valid e-mail"),
    "B9,2026-03-01 10:00:00,P1,1,1000": ("line", "fields"),
}


def _write_orders_csv(path: Path) -> dict[int, tuple[str, str]]:
    """Writes good and bad lines interleaved; returns line number -> expected (field, words)."""
    expected: dict[int, tuple[str, str]] = {}
    with path.open("wb") as fh:
        fh.write(HEADER.encode())
        line = 1
        bad = list(BAD.items())
        for i, good in enumerate(GOOD):
            fh.write((good + "\n").encode())
            line += 1
            for content, why in bad[i * 3 : i * 3 + 3]:
                fh.write((content + "\n").encode())
                line += 1
                expected[line] = why
        fh.write(b"B10,2026-03-01 10:00:00,P\xff\xfe,1,1000,c3,\n")
        expected[line + 1] = ("line", "not valid UTF-8")
    return expected


def test_bad_order_rows_are_quarantined_and_good_ones_kept(
    tmp_path: Path, store: Store, hasher: IdentifierHasher
) -> None:
    path = tmp_path / "orders.csv"
    expected = _write_orders_csv(path)
    report = import_orders(store, path, hasher=hasher)
    assert report.rows_read == len(GOOD) + len(expected)
    assert report.stored == len(GOOD)
    assert report.rejected == len(expected)
    assert store.scalar("SELECT count(*) FROM order_lines") == 3
    assert store.scalar("SELECT count(*) FROM orders") == 2
    rows = {
        line: (field, reason)
        for line, field, reason in store.sql("SELECT line_no, field, reason FROM quarantine")
    }
    assert set(rows) == set(expected)
    for line, (field, words) in expected.items():
        got_field, reason = rows[line]
        assert got_field == field, (line, rows[line])
        assert words in reason, (line, reason)
    # the guest is matched by a keyed hash; the plain address is nowhere in the store
    assert store.scalar("SELECT email_hash FROM orders WHERE order_id = 'A2'") == hasher.email(
        "guest@example.com"
    )
    dump = str(store.sql("SELECT * FROM quarantine")) + str(store.sql("SELECT * FROM orders"))
    assert "guest@example.com" not in dump and "not-an-address" not in dump
    # times with an offset keep it; times without one are in the shop's zone (Asia/Seoul)
    assert str(store.scalar("SELECT min(ordered_at) FROM orders WHERE order_id = 'A2'")).startswith(
        "2026-03-02 02:00"
    )
    assert str(store.scalar("SELECT min(ordered_at) FROM orders WHERE order_id = 'A1'")).startswith(
        "2026-03-01 01:00"
    )

    again = import_orders(store, path, hasher=hasher)
    assert again.stored == 0 and again.duplicates == len(GOOD)
    assert store.scalar("SELECT count(*) FROM quarantine") == len(expected), "re-import re-quarantined rows"


def test_unusable_files_raise_a_clear_error(tmp_path: Path, store: Store) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        import_orders(store, tmp_path / "missing.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("invoice,when\n1,2\n")
    with pytest.raises(ImportFileError, match="--map"):
        import_orders(store, wrong)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ImportFileError, match="unknown file type"):
        import_orders(store, tmp_path / "x.json")


def test_column_mapping_and_xlsx(tmp_path: Path, store: Store) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["주문번호", "주문일시", "상품코드", "수량", "단가", "회원번호"])
    sheet.append(["K1", "2026-05-05 09:30:00", "라면-01", 3, 1200, "m-77"])
    sheet.append(["K1", "2026-05-05 09:30:00", "김치-02", 1, 8900, "m-77"])
    sheet.append(["K2", "not a date", "김치-02", 1, 8900, "m-78"])
    path = tmp_path / "orders.xlsx"
    book.save(path)
    mapping = {
        "order_id": "주문번호",
        "ordered_at": "주문일시",
        "product_id": "상품코드",
        "quantity": "수량",
        "unit_price": "단가",
        "customer_id": "회원번호",
    }
    report = import_orders(store, path, mapping=mapping)
    assert (report.stored, report.rejected) == (2, 1)
    assert store.sql("SELECT line_no, field FROM quarantine") == [(4, "ordered_at")]
    assert store.scalar("SELECT sum(quantity * unit_price) FROM order_lines") == 3 * 1200 + 8900
    assert store.scalar("SELECT currency FROM orders") == "KRW"


# -- events -------------------------------------------------------------------------------


def _event(i: int, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "messageId": f"m-{i}",
        "type": "product_view",
        "anonymousId": f"a-{i % 3}",
        "timestamp": "2026-10-31T09:00:00+09:00",
        "context": {"device": {"type": "mobile"}, "location": {"region": "서울"}},
        "properties": {"product_id": f"P{i}", "price": 12900},
    }
    base.update(over)
    return base


BAD_EVENTS: list[tuple[object, str, str]] = [  # (event or raw bytes, field, words in the reason)
    (_event(100, anonymousId=None), "anonymousId", "required"),
    (_event(101, properties={"product_id": "P1", "price": "cheap"}), "properties.price", "number"),
    (
        _event(102, properties={"product_id": "P1", "quantity": 0}),
        "properties.quantity",
        "greater than or equal",
    ),
    (_event(103, timestamp="the day after tomorrow"), "timestamp", "datetime"),
    (_event(104, type="teleport"), "type", "unknown event type"),
    (_event(105, properties={"product_id": "P1", "note": "x" * 40_000}), "properties", "too large"),
    (_event(106, properties={"price": 100}), "properties.product_id", "missing"),
    (_event(107, type="search", properties={}), "properties.query", "missing"),
    (_event(108, userId=["not", "an", "id"]), "userId", "string"),
    (b'{"messageId": "m-109", "type": "page_view", "anonymousId": "caf\xe9"}', "line", "not valid UTF-8"),
    (b'{"messageId": "m-110", "type": ', "line", "not valid JSON"),
    (_event(111, surprise=1), "surprise", "unknown field"),
]


def test_bad_events_are_quarantined_and_good_ones_kept(tmp_path: Path, store: Store, clock: object) -> None:
    path = tmp_path / "events.jsonl"
    lines: list[bytes] = []
    expected: dict[int, tuple[str, str]] = {}
    for i in range(20):
        lines.append(orjson.dumps(_event(i)))
        if i < len(BAD_EVENTS):
            raw, field, words = BAD_EVENTS[i]
            lines.append(raw if isinstance(raw, bytes) else orjson.dumps(raw))
            expected[len(lines)] = (field, words)
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = import_events(store, path, clock=clock)  # type: ignore[arg-type]
    assert report.stored == 20
    assert report.rejected == len(BAD_EVENTS)
    got = {
        line: (field, reason)
        for line, field, reason in store.sql("SELECT line_no, field, reason FROM quarantine")
    }
    assert set(got) == set(expected)
    for line, (field, words) in expected.items():
        assert got[line][0] == field, (line, got[line])
        assert words in got[line][1], (line, got[line])
    # re-sending the same file stores nothing twice and quarantines nothing twice
    again = import_events(store, path, clock=clock)  # type: ignore[arg-type]
    assert (again.stored, again.duplicates) == (0, 20)
    assert store.scalar("SELECT count(*) FROM events") == 20
    assert store.scalar("SELECT count(*) FROM quarantine") == len(BAD_EVENTS)


def test_validation_error_names_every_field() -> None:
    bad = _event(1, anonymousId=None, properties={"price": -1})
    with pytest.raises(InvalidEventError) as info:
        validate_event(bad, received_at=NOW)
    fields = {e.field for e in info.value.errors}
    assert {"anonymousId", "properties.product_id", "properties.price"} <= fields
    assert isinstance(info.value.errors[0], FieldError)
    assert "anonymousId" in str(info.value)

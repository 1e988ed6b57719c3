"""The line key of an imported order line is a stable format: workspaces filled by earlier versions
are re-imported against it, so a faster import must compute the very same keys. Pinned here by
recomputing them in Python: md5 of the normalised fields joined by '|' with the line's occurrence
among identical lines of its order (a rejected twin does not count)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from shopmind.core import IdentifierHasher
from shopmind.ingest import import_orders
from shopmind.store import Store

ROWS = [
    # order_id, ordered_at, product_id, quantity, unit_price, customer_id, description, email
    ("A1", "2026-03-01 10:00:00", "P1", "2", "1000", "c1", "라면", ""),
    # the same line with a bad e-mail address, before its accepted twins: rejected, not counted
    ("A1", "2026-03-01 10:00:00", "P1", "2", "1000", "c1", "라면", "not-an-address"),
    ("A1", "2026-03-01 10:00:00", "P1", "2", "1000", "c1", "라면", ""),  # a genuine repeat: kept
    ("A1", "2026-03-01 10:00:00", "P2", "1", "2.5", "c1", "", ""),  # no description: '~'
    ("A2", "2026-03-02T11:00:00+09:00", "P1", "-1", "1000", "", "라면", ""),  # a guest: '~'
]


def _key(
    order: str, product: str, description: str, quantity: int, price: str, at: str, customer: str, n: int
) -> str:
    # the store's session zone is UTC: TIMESTAMPTZ renders as '2026-03-01 01:00:00+00'
    fields = [order, product, description or "~", str(quantity), price, at, customer or "~", "~", str(n)]
    return hashlib.md5("|".join(fields).encode()).hexdigest()


def test_line_keys_keep_their_format(tmp_path: Path, store: Store, hasher: IdentifierHasher) -> None:
    path = tmp_path / "orders.csv"
    header = "order_id,ordered_at,product_id,quantity,unit_price,customer_id,description,email\n"
    path.write_text(header + "".join(",".join(r) + "\n" for r in ROWS), encoding="utf-8")

    report = import_orders(path=path, store=store, hasher=hasher)

    assert (report.stored, report.rejected) == (4, 1)
    stored = dict(store.sql("SELECT line_no, line_key FROM order_lines"))
    # Seoul is the generic format's zone for times without an offset: 10:00 KST is 01:00 UTC
    assert stored == {
        2: _key("A1", "P1", "라면", 2, "1000.0", "2026-03-01 01:00:00+00", "c1", 1),
        4: _key("A1", "P1", "라면", 2, "1000.0", "2026-03-01 01:00:00+00", "c1", 2),
        5: _key("A1", "P2", "", 1, "2.5", "2026-03-01 01:00:00+00", "c1", 1),
        6: _key("A2", "P1", "라면", -1, "1000.0", "2026-03-02 02:00:00+00", "", 1),
    }
    assert store.sql("SELECT line_no, field FROM quarantine") == [(3, "email")]

    again = import_orders(path=path, store=store, hasher=hasher)
    assert (again.stored, again.duplicates) == (0, 4)


def test_columns_named_like_the_time_lookup_import_alike(
    tmp_path: Path, store: Store, hasher: IdentifierHasher
) -> None:
    """The import reads each distinct time text once and joins it back: a file's own columns may
    carry the names that lookup uses and still give the same lines, keys and reasons."""
    path = tmp_path / "orders.csv"
    header = "order_id,_stamp_raw,product_id,quantity,unit_price,customer_id,_stamp_text,_stamp_at\n"
    rows = [(*r[:7], "x") for r in ROWS if not r[7]] + [("A3", "", "P1", "1", "5", "c2", "라면", "x")]
    path.write_text(header + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")

    report = import_orders(
        path=path,
        store=store,
        hasher=hasher,
        mapping={"ordered_at": "_stamp_raw", "description": "_stamp_text"},
    )

    assert (report.stored, report.rejected) == (4, 1)
    assert sorted(store.sql("SELECT line_key FROM order_lines")) == sorted(
        [
            (_key("A1", "P1", "라면", 2, "1000.0", "2026-03-01 01:00:00+00", "c1", 1),),
            (_key("A1", "P1", "라면", 2, "1000.0", "2026-03-01 01:00:00+00", "c1", 2),),
            (_key("A1", "P2", "", 1, "2.5", "2026-03-01 01:00:00+00", "c1", 1),),
            (_key("A2", "P1", "라면", -1, "1000.0", "2026-03-02 02:00:00+00", "", 1),),
        ]
    )
    reasons = store.sql("SELECT field, reason FROM quarantine")
    assert reasons == [("ordered_at", "ordered_at: column '_stamp_raw' is empty")]

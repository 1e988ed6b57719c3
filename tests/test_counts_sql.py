"""The buyer count's SQL (``insights._buyers_sql``, read by ``shopmind status`` without loading
Ibis) is the text Ibis compiles the features' definition to, and counts the same buyers."""

from __future__ import annotations

import re
from pathlib import Path

import ibis

from shopmind.insights import buyer_count, buyer_expression
from shopmind.insights._buyers_sql import BUYERS_SQL
from shopmind.store import Store, Workspace
from tests.shops import demo_workspace


def _plain(sql: str) -> str:
    """Whitespace folded, and the names of an EXCLUDE list sorted (Ibis writes them from a set,
    in no fixed order)."""
    plain = re.sub(r"\s+", " ", sql).strip()
    return re.sub(
        r"EXCLUDE \(([^)]*)\)", lambda m: "EXCLUDE (" + ", ".join(sorted(m.group(1).split(", "))) + ")", plain
    )


def test_the_kept_sql_is_what_ibis_compiles_the_definition_to() -> None:
    with Store(":memory:") as store:
        compiled = str(ibis.to_sql(buyer_expression(store), dialect="duckdb"))
    assert _plain(compiled) == _plain(BUYERS_SQL), (
        "the buyers' definition (or the orders table) changed: put this text in "
        f"src/shopmind/insights/_buyers_sql.py:\n{compiled}"
    )


def test_the_sql_and_the_expression_count_the_same_buyers(tmp_path: Path) -> None:
    shop = demo_workspace(tmp_path / "shop", customers=300, days=30)
    with Workspace(shop.folder).open_store() as store:
        # returns, unverified claims and guests make the definition matter
        store.sql(
            "UPDATE orders SET verified = false WHERE order_id IN (SELECT order_id FROM orders LIMIT 5)"
        )
        expected = int(buyer_expression(store).execute())
        assert expected > 0 and buyer_count(store) == expected

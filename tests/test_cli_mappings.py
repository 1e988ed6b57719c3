"""Saved import mappings: a re-import needs no --map again (issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shopmind.cli._mappings import MAPPINGS_FILE, resolve_mapping


def shopmind(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_resolve_mapping_saves_reuses_and_forgets(tmp_path: Path) -> None:
    assert resolve_mapping(tmp_path, "orders", {}) == ({}, False)
    given = {"order_id": "InvoiceNo", "product_id": "상품 코드"}
    assert resolve_mapping(tmp_path, "orders", given) == (given, False)
    assert resolve_mapping(tmp_path, "orders", {}) == (given, True)
    assert resolve_mapping(tmp_path, "catalogue", {}) == ({}, False)  # per kind
    assert "상품 코드" in (tmp_path / MAPPINGS_FILE).read_text(encoding="utf-8")
    assert resolve_mapping(tmp_path, "orders", {}, forget=True) == ({}, False)
    assert resolve_mapping(tmp_path, "orders", {}) == ({}, False)


def test_reimport_uses_the_saved_mapping(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert shopmind("init", "-w", str(ws)).returncode == 0
    first = tmp_path / "catalogue.csv"
    first.write_text("sku,title,cost\nP1,라면,1200\nP2,김치,5000\n", encoding="utf-8")
    maps = ["--map", "product_id=sku", "--map", "name=title", "--map", "price=cost"]
    done = shopmind("import", "catalogue", str(first), "-w", str(ws), *maps)
    assert done.returncode == 0, done.stdout + done.stderr
    second = tmp_path / "catalogue2.csv"
    second.write_text("sku,title,cost\nP3,만두,7000\n", encoding="utf-8")
    again = shopmind("import", "catalogue", str(second), "-w", str(ws))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "using the saved mapping for catalogue" in again.stdout
    assert "--map product_id=sku" in again.stdout
    forgot = shopmind("import", "catalogue", str(second), "-w", str(ws), "--forget-map")
    assert forgot.returncode == 4, forgot.stdout + forgot.stderr  # no product_id column without the mapping

"""Stores chosen by URL: ``duckdb:///path/shop.duckdb``, ``duckdb://:memory:`` or a plain path."""

from __future__ import annotations

from shopmind.core import Clock, StoreError
from shopmind.store._store import Store


def open_store(url: str, *, clock: Clock | None = None, read_only: bool = False) -> Store:
    if url.startswith("duckdb://"):
        path = url.removeprefix("duckdb://")
        path = path.removeprefix("/") if path.startswith("/:memory:") else path
        return Store(path or ":memory:", clock=clock, read_only=read_only)
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise StoreError(
            f"unsupported store URL scheme {scheme!r}; use duckdb:///path/to/shop.duckdb "
            "(Spark reads the same data through Ibis, see the README)"
        )
    return Store(url, clock=clock, read_only=read_only)

"""The dashboard reads the store on its own thread and its own connection, so a page never waits
for the ingestion's writes and a write never waits for a page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import Request

from shopmind.store import Store

T = TypeVar("T")


class Reader:
    """Runs read functions of a store (``fn(store, *args)``) on one thread, one at a time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopmind-dashboard")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self.store, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()


async def read(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(store, *args)`` on the dashboard's reader of the app serving ``request``."""
    reader: Reader = request.app.state.dashboard_reader
    return await reader.run(fn, *args)

"""Work off the event loop on daemon threads: a server stopping meanwhile does not wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def in_daemon_thread(work: Callable[[], T], *, name: str = "shopmind-learn", nice: int = 0) -> T:
    """``work()`` on a daemon thread: a server stopping meanwhile does not wait for it to end.
    ``nice``: lower the thread's scheduling priority by this much (Linux: per thread; the
    threads it starts, e.g. a model library's, inherit it), so it takes what requests leave."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(fn: Callable[..., None], value: Any) -> None:
        if not done.done():
            fn(value)

    def run() -> None:
        if nice and hasattr(os, "setpriority"):
            with contextlib.suppress(OSError):
                os.setpriority(
                    os.PRIO_PROCESS,
                    threading.get_native_id(),
                    min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice),
                )
        try:
            result = work()
        except BaseException as exc:
            outcome: tuple[Callable[..., None], Any] = (done.set_exception, exc)
        else:
            outcome = (done.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await done

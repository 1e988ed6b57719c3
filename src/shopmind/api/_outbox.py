"""The outbox's sender inside the server (``shopmind serve --send``): a daemon thread of its own
with a connection of its own to the store, as the server's jobs have (``api._jobs``), never the
store worker's, whose thread writes the collected events. The sender writes only the outbox and
message events; what the store worker commits (an opt-out recorded by the API, a new consent) is
read by the sender's next round, so an opt-out stops the messages that follow it within a
round (about a second when idle, one batch when busy).

At start the thread marks what a stopped sender left in ``sending`` as ``unknown`` (it is resent
with its key); at a graceful stop the sender ends after the message in flight, returns the rest
of its batch to the queue, and its connection closes before the store does."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from shopmind.activation import OutboxSender
from shopmind.api._worker import StoreWorker
from shopmind.store import Store

_log = logging.getLogger("shopmind.api")
#: seconds a graceful stop waits for the message in flight
STOP_WAIT_S = 30.0
#: a sender built for a connection: the channels, the contact book, the clock (``cli._worker``)
SenderFactory = Callable[[Store], OutboxSender]


class OutboxThread:
    """Runs an :class:`OutboxSender` made by ``factory`` on its own thread and connection."""

    def __init__(self, worker: StoreWorker, factory: SenderFactory, *, idle_s: float = 1.0) -> None:
        self._worker, self._factory, self.idle_s = worker, factory, idle_s
        self.sender: OutboxSender | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()

    async def start(self) -> None:
        connection: Store = await self._worker.write(Store.reader)
        self._thread = threading.Thread(
            target=self._run, args=(connection,), name="shopmind-outbox", daemon=True
        )
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait)
        if self.error is not None:
            raise self.error

    def _run(self, connection: Store) -> None:
        try:
            try:
                sender = self.sender = self._factory(connection)
                sender.recover()
            except BaseException as exc:  # the server does not start half-configured
                self.error = exc
                return
            finally:
                self._ready.set()
            if self._stopping.is_set():
                return
            try:
                stats = sender.run_forever(self.idle_s)
                _log.info("the outbox sender stopped: %s", stats.facts())
            except Exception:
                _log.exception("the outbox sender failed; restart the server to send again")
            sender.close()
        finally:
            connection.close()

    async def close(self) -> None:
        self._stopping.set()
        if self.sender is not None:
            self.sender.stop()
        thread = self._thread
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, STOP_WAIT_S)

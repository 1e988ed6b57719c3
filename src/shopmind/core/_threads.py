"""Native thread pools: small linear algebra runs on the calling thread only.

OpenBLAS splits even a dot product of some 10,000 elements (and small matrix products) across
its threads. On a busy machine those threads must wait for a core at every call: a BG/NBD fit over
the CDNOW master file (11,000 distinct customer rows, a few dozen objective calls) took 0.4 s
instead of 0.03 s on two cores beside two busy processes, and 0.18 s even on an idle machine,
because the pool falls asleep between the optimiser's steps and every call wakes it. The maximum
likelihood fits and the association-rule counting do many small products, where one thread is
as fast as two even on an idle machine, so they run under :func:`single_threaded_blas`.

Only BLAS is limited: OpenMP pools (LightGBM, implicit's ALS) do large work per call and keep
their threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import OpenBLASController, ThreadpoolController

_lock = threading.Lock()
_controller: ThreadpoolController | None = None
_holders = 0
_limiter: Any = None  # threadpoolctl's limiter while a block runs: it restores the counts before


def _blas() -> ThreadpoolController:
    """The BLAS libraries of the process, found once: looking them up costs 0.5-10 ms (a scan of
    the loaded libraries), setting their threads about 10 µs. numpy's and scipy's BLAS are loaded
    by the time a model or the rules run (importing numpy and scipy loads them)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with every BLAS library limited to one thread, then restore the pools.

    OpenBLAS's thread count is process-wide, so blocks running at the same time in several
    threads (fits in the server's background threads) share one limit: the first to enter sets
    it and the last to leave restores the counts from before the first. threadpoolctl lets only
    the thread that set OpenBLAS's count last (while alive) change it, which would ignore the
    last block's restore when another thread set the limit; the blocks take turns under a lock,
    so each transition hands control over explicitly and none is kept afterwards.
    """
    global _holders, _limiter
    with _lock:
        if _holders == 0:
            OpenBLASController.clear_controlling_thread(force=True)
            _limiter = _blas().limit(limits=1)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                OpenBLASController.clear_controlling_thread(force=True)
                _limiter.restore_original_limits()
                OpenBLASController.clear_controlling_thread(force=True)
                _limiter = None

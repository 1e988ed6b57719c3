"""The recommender the server answers with: the hybrid, learned from the store in the background
when the server starts (the API answers meanwhile; recommendations say 503 until it is ready)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import pandas as pd

from shopmind.core import ShopmindError
from shopmind.pipeline import order_baskets, recommender_data
from shopmind.recommend import AssociationRules, HybridRecommender, Recommendation
from shopmind.store import Store

log = logging.getLogger("shopmind.api")
Status = Literal["off", "training", "ready", "unavailable"]
T = TypeVar("T")


class LiveRecommender:
    """The hybrid recommender and what the answers need about items (names, categories, prices)."""

    def __init__(self, enabled: bool = True) -> None:
        self.status: Status = "training" if enabled else "off"
        self.note = "learning from the store" if enabled else "started with --no-recommender"
        self.model: HybridRecommender | None = None
        self.items: dict[str, dict[str, Any]] = {}
        self.fit_seconds: float | None = None
        #: association rules of the orders (for the dashboard's products), mined once the
        #: recommender is ready: lhs (list), rhs, support, confidence, lift
        self.rules: pd.DataFrame | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    async def learn(self, run_on_store: Any) -> None:
        """Read the shop's past on the store's thread, then fit on another thread."""
        if self.status == "off":
            return
        started = time.perf_counter()
        try:
            data = await run_on_store(_read)
            model = await _in_daemon_thread(
                lambda: HybridRecommender().fit(data.interactions, data.catalogue, weather=data.weather)
            )
        except ShopmindError as exc:  # e.g. no orders yet: say so on /readyz and in the 503s
            self.status, self.note = "unavailable", str(exc)
            log.warning("recommendations unavailable: %s", exc)
            return
        except Exception as exc:  # the rest of the API keeps working
            self.status, self.note = "unavailable", f"learning failed: {exc}"
            log.exception("learning the recommender failed")
            return
        self.items = _items(data.catalogue)
        self.model = model
        self.fit_seconds = time.perf_counter() - started
        self.status, self.note = "ready", model.ranker_note_
        # the model's millions of objects live as long as the server: out of the collector's
        # sight, a full collection no longer stalls requests for 100-200 ms walking them
        gc.collect()
        gc.freeze()
        try:
            baskets = await run_on_store(order_baskets)
            self.rules = await _in_daemon_thread(lambda: _mine(baskets))
        except ShopmindError as exc:
            log.warning("association rules unavailable: %s", exc)

    def describe(self, recommendations: Sequence[Recommendation], lang: str) -> list[dict[str, Any]]:
        """JSON-ready items with names, categories, prices and the reason in ``lang``."""
        out = []
        for rec in recommendations:
            item = self.items.get(rec.item, {})
            out.append(
                {
                    "product_id": rec.item,
                    "name": item.get("name") or rec.item,
                    "category": item.get("category"),
                    "price": item.get("price"),
                    "score": round(float(rec.score), 6),
                    "reason": {
                        "kind": rec.reason.kind,
                        "text": rec.reason.en if lang == "en" else rec.reason.ko,
                        "ko": rec.reason.ko,
                        "en": rec.reason.en,
                    },
                }
            )
        return out


async def _in_daemon_thread(work: Callable[[], T]) -> T:
    """``work()`` on a daemon thread: a server stopping meanwhile does not wait for it to end."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(fn: Callable[..., None], value: Any) -> None:
        if not done.done():
            fn(value)

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:
            outcome: tuple[Callable[..., None], Any] = (done.set_exception, exc)
        else:
            outcome = (done.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="shopmind-learn", daemon=True).start()
    return await done


def _mine(baskets: list[list[str]]) -> pd.DataFrame:
    """Rules between items bought together in at least three orders (or 0.1% of them)."""
    n = max(len(baskets), 1)
    rules = AssociationRules(min_support=max(3 / n, 0.001), min_confidence=0.05, max_length=3)
    return rules.fit(baskets).rules_.to_pandas()


def _read(store: Store) -> Any:
    return recommender_data(store)


def _items(catalogue: pd.DataFrame) -> dict[str, dict[str, Any]]:
    frame = catalogue.set_index("item")[["name", "category", "price"]]
    frame = frame.astype(object).where(frame.notna(), None)
    return {str(item): {str(k): v for k, v in row.items()} for item, row in frame.to_dict("index").items()}

"""The recommender the server answers with: the hybrid, learned from the store in the background
when the server starts (the API answers meanwhile; recommendations say 503 until it is ready)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd

from shopmind.api._threads import in_daemon_thread
from shopmind.core import ShopmindError
from shopmind.pipeline import fit_shop_hybrid, order_baskets, recommender_data
from shopmind.recommend import (
    AssociationRules,
    HybridRecommender,
    Recommendation,
    StoredModelError,
    load_recommender,
)
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
        self.fits = 0  # models learned since the server started (a refit after each run)
        self.loads = 0  # of those, read from the file a run stored rather than fitted again

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    async def learn(self, run_on_store: Any, *, refit: bool = False, stored: Path | None = None) -> None:
        """Read the shop's past with ``run_on_store`` (``fn(store)`` somewhere the store may be
        read), then fit on another thread. ``refit``: learn again while the current model keeps
        answering; the new one (its items and rules with it) replaces it in one step. ``stored``:
        the JSON file of a hybrid recommender a run has just fitted and stored: it is read
        instead of fitting (fitted when it cannot be read)."""
        if self.status == "off":
            return
        started = time.perf_counter()
        try:
            data = await run_on_store(_read)
            model = _stored_hybrid(stored) if stored is not None else None
            if model is None:
                model = await in_daemon_thread(
                    lambda: fit_shop_hybrid(data.interactions, data.catalogue, data.weather),
                    nice=10 if refit else 0,
                )
            else:
                self.loads += 1
            items = _items(data.catalogue)
        except ShopmindError as exc:  # e.g. no orders yet: say so on /readyz and in the 503s
            if self.model is None:
                self.status, self.note = "unavailable", str(exc)
            log.warning("recommendations unavailable: %s", exc)
            return
        except Exception as exc:  # the rest of the API keeps working
            if self.model is None:
                self.status, self.note = "unavailable", f"learning failed: {exc}"
            log.exception("learning the recommender failed")
            return
        if refit:  # the rules of the new orders first: the swap then replaces everything at once
            rules = await self._rules(run_on_store, nice=10)
        # the swap: no await between these, so every request sees the old model or the new one
        self.items, self.model = items, model
        if refit:
            self.rules = rules
        self.fit_seconds = time.perf_counter() - started
        self.status, self.note = "ready", model.ranker_note_
        self.fits += 1
        # the model's millions of objects live as long as the server: out of the collector's
        # sight, a full collection no longer stalls requests for 100-200 ms walking them (a
        # refit first lets the collector free the replaced model's cycles)
        if refit:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        if not refit:  # at start, answers first; the dashboard's rules a moment later
            self.rules = await self._rules(run_on_store)

    async def _rules(self, run_on_store: Any, nice: int = 0) -> pd.DataFrame | None:
        try:
            baskets = await run_on_store(order_baskets)
            return await in_daemon_thread(lambda: _mine(baskets), nice=nice)
        except ShopmindError as exc:
            log.warning("association rules unavailable: %s", exc)
            return self.rules

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


def _mine(baskets: list[list[str]]) -> pd.DataFrame:
    """Rules between items bought together in at least three orders (or 0.1% of them)."""
    n = max(len(baskets), 1)
    rules = AssociationRules(min_support=max(3 / n, 0.001), min_confidence=0.05, max_length=3)
    return rules.fit(baskets).rules_.to_pandas()


def _stored_hybrid(path: Path) -> HybridRecommender | None:
    """The hybrid recommender stored at ``path`` (its JSON header), or None (logged) when it
    cannot be read or is another kind of model."""
    try:
        model = load_recommender(path.parent, path.stem).model
    except StoredModelError as exc:
        log.warning("the run's stored recommender could not be read (%s): fitting it again", exc)
        return None
    return model if isinstance(model, HybridRecommender) else None


def _read(store: Store) -> Any:
    return recommender_data(store)


def _items(catalogue: pd.DataFrame) -> dict[str, dict[str, Any]]:
    frame = catalogue.set_index("item")[["name", "category", "price"]]
    frame = frame.astype(object).where(frame.notna(), None)
    return {str(item): {str(k): v for k, v in row.items()} for item, row in frame.to_dict("index").items()}

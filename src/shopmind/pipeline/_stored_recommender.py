"""The recommender a run stores: the hybrid the server serves, fitted as of the run on the store's
signals and kept in the workspace's models folder (``store.models_folder``), so that
``shopmind recommend for`` answers from it in a fraction of a second instead of fitting one.

The model files' format belongs to :mod:`shopmind.recommend` (JSON and a numpy ``.npz``, no
pickle); here: when it is fitted, on what, and what its header says about that (``about``: the
run id of the ``recommender`` job, its ``as_of``, how many signals, buyers and products)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError, to_utc
from shopmind.recommend import (
    HybridRecommender,
    StoredModelError,
    StoredRecommender,
    load_recommender,
    read_header,
    save_recommender,
)
from shopmind.store import Store, models_folder

JOB = "recommender"
NAME = "recommender"
#: interactions past which the hybrid fits its two sets of models one after the other, not side
#: by side: at 10 million purchase lines (2 million buyers) each set holds 4-6 GB, and both at
#: once passed 12 GB; one after the other the fit peaked at 8.5 GB
PARALLEL_FIT_ROWS = 2_000_000


@dataclass(frozen=True)
class RecommenderReport:
    """A recommender fitted and stored by a run (``stored``: its JSON file; None for a store
    without a workspace folder, e.g. in memory)."""

    run_id: str
    as_of: datetime
    interactions: int
    buyers: int  # the customers whose purchases it learned from (guests included)
    products: int
    note: str  # how the candidates are ranked (LambdaRank learned on..., or rank fusion)
    fit_seconds: float
    stored: Path | None


def fit_shop_hybrid(
    interactions: pd.DataFrame, catalogue: pd.DataFrame | None, weather: pd.DataFrame | None
) -> HybridRecommender:
    """The hybrid as a run and the server fit it on a shop's signals: its two sets of models side
    by side (two threads), or one after the other past ``PARALLEL_FIT_ROWS`` interactions (the
    same model either way)."""
    n_jobs = 1 if len(interactions) > PARALLEL_FIT_ROWS else 2
    return HybridRecommender(n_jobs=n_jobs).fit(interactions, catalogue, weather=weather)


def stored_as_of(store: Store) -> datetime | None:
    """The ``as_of`` of the recommender stored in the workspace of ``store`` (None: none, or
    one this shopmind cannot read)."""
    folder = models_folder(store)
    if folder is None:
        return None
    try:
        about = read_header(folder, NAME).get("about") or {}
        return to_utc(datetime.fromisoformat(str(about["as_of"])))
    except (StoredModelError, KeyError, ValueError):
        return None


def run_recommender(
    store: Store,
    as_of: datetime,
    *,
    zone: str = DEFAULT_SHOP_TZ,
    progress: Callable[[str, int, int], None] | None = None,
) -> RecommenderReport:
    """Fit the hybrid recommender on the signals before ``as_of`` (as the server does: the same
    hyper-parameters, purchases only) and store it in the workspace, recorded as a run of the
    ``recommender`` job. A stored recommender as of a later moment is kept (a backtest does not
    replace the current model): InvalidInputError naming ``as_of`` says so, as it says when there
    are no purchases to learn from."""
    from shopmind.pipeline._recommend import recommender_data  # the features (Ibis) only here

    report = progress or (lambda phase, done, total: None)
    as_of = to_utc(as_of)
    newer = stored_as_of(store)
    if newer is not None and newer > as_of:
        raise InvalidInputError(
            [
                FieldError(
                    "as_of",
                    f"the stored recommender is as of {newer.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M %Z}, "
                    "later than this run: "
                    "kept (a run as of an earlier date does not replace it)",
                )
            ]
        )
    report("recommender", 0, 2)
    data = recommender_data(store, before=as_of)  # InvalidInputError when nothing was bought
    # the engine's cached pages back before the fit: at 10 million purchase lines the open store
    # held 3 GB the fit could use
    store.release_memory()
    with store.job_run(JOB, as_of) as run_id:
        started = time.perf_counter()
        model = fit_shop_hybrid(data.interactions, data.catalogue, data.weather)
        seconds = time.perf_counter() - started
        report("recommender", 1, 2)
        frame = data.interactions
        about: dict[str, Any] = {
            "job": JOB,
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "interactions": len(frame),
            "buyers": int(model.users_.size),
            "products": int(model.items_.size),
            "catalogue": len(data.catalogue),
            "last_signal": to_utc(frame["time"].max()).isoformat() if len(frame) else None,
            "ranker": model.ranker_note_,
            "fit_seconds": round(seconds, 2),
        }
        folder = models_folder(store)
        stored = None if folder is None else save_recommender(model, folder, name=NAME, about=about)
        report("recommender", 2, 2)
    return RecommenderReport(
        run_id,
        as_of,
        len(frame),
        int(model.users_.size),
        int(model.items_.size),
        model.ranker_note_,
        seconds,
        stored,
    )


def stored_recommender(store: Store) -> StoredRecommender:
    """The recommender the latest run stored in the workspace of ``store``; StoredModelError
    saying why not (none stored, an older format, damaged files)."""
    folder = models_folder(store)
    if folder is None:
        raise StoredModelError("an in-memory store keeps no models")
    return load_recommender(folder, NAME)

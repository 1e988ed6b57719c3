"""Recommendations of a named strategy: the hybrid or one of the components it blends (what a
recommendations experiment's variant names)."""

from __future__ import annotations

import logging

from shopmind.recommend import Context as RecommendContext
from shopmind.recommend import HybridRecommender, Recommendation

_log = logging.getLogger("shopmind.api")


def recommend_by(
    model: HybridRecommender, strategy: str, user: str, context: RecommendContext, n: int
) -> tuple[list[Recommendation], str]:
    """Recommendations of ``strategy``: the hybrid, or one of the components it blends
    (``popularity``, ``als``, ``item_cf``, ...), fitted on the same data; the strategy used (the
    hybrid when it has no such component)."""
    if strategy != "hybrid":
        # the hybrid's fitted components (it keeps them to blend): no second fit of the same data
        state = getattr(model, "_state", None)
        for name, component, _ in getattr(state, "components", ()):
            if name == strategy:
                return list(component.recommend(user, context, n)), strategy
        _log.warning("no %s component in the recommender: the hybrid answers", strategy)
    return model.recommend(user, context, n), "hybrid"

"""Recommendations: association rules and, behind one Recommender base, the cross-sell
algorithms. Like :mod:`shopmind.models`, recommenders take baskets and interactions, never
storage.

- :class:`AssociationRules`: exact "A → B" rules with support, confidence and lift.
- :class:`Recommender`: the base of the algorithms (``fit``, ``recommend``, ``similar_items``),
  each answer a :class:`Recommendation` with its :class:`Reason` in Korean and English.
- :class:`PopularityRecommender` (overall, region, category, trending), the baseline;
  :class:`ItemCFRecommender` (bought together, session-based); :class:`UserCFRecommender`;
  :class:`ALSRecommender` and :class:`BPRRecommender` (matrix factorisation with ``implicit``);
  :class:`ContentRecommender` (category, brand, price band, colour, Korean and English text; new
  items too); :class:`HybridRecommender` (their candidates ranked by LambdaRank learned on the
  shop's past, then re-ranked by :class:`ContextLift`: region, weather, time of day).
- :func:`temporal_split`, :func:`evaluate_recommenders`, :func:`ranking_metrics`: offline
  evaluation (Recall, NDCG, MAP, hit rate at K, coverage, popularity bias).
"""

from shopmind.recommend._base import Context, Reason, Recommendation, Recommender
from shopmind.recommend._content import ContentRecommender
from shopmind.recommend._context import ContextLift
from shopmind.recommend._errors import NotFittedError
from shopmind.recommend._evaluation import (
    TemporalSplit,
    evaluate_recommenders,
    ranking_metrics,
    temporal_split,
)
from shopmind.recommend._factor import ALSRecommender, BPRRecommender
from shopmind.recommend._hybrid import HybridRecommender
from shopmind.recommend._item_cf import ItemCFRecommender
from shopmind.recommend._popularity import PopularityRecommender
from shopmind.recommend._rules import AssociationRules
from shopmind.recommend._user_cf import UserCFRecommender

__all__ = [
    "ALSRecommender",
    "AssociationRules",
    "BPRRecommender",
    "ContentRecommender",
    "Context",
    "ContextLift",
    "HybridRecommender",
    "ItemCFRecommender",
    "NotFittedError",
    "PopularityRecommender",
    "Reason",
    "Recommendation",
    "Recommender",
    "TemporalSplit",
    "UserCFRecommender",
    "evaluate_recommenders",
    "ranking_metrics",
    "temporal_split",
]

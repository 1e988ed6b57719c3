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
- :class:`RepurchaseRecommender`: replenishment, the customer's own items by recency-decayed
  frequency and by how due each is from the item's repurchase cycle learnt from the shop.
- :func:`temporal_split`, :func:`evaluate_recommenders`, :func:`ranking_metrics`: offline
  evaluation (Recall, NDCG, MAP, hit rate at K, coverage, popularity bias);
  :func:`next_basket_split`, :func:`evaluate_next_basket`: each customer's last basket held out,
  repeats included, beside :class:`PersonalTopFrequency` (each customer's own most frequent items).
- :func:`save_recommender`, :func:`load_recommender`: a fitted recommender stored in a folder
  (JSON and a numpy ``.npz``, no pickle; format version ``FORMAT_VERSION``) and read back,
  answering as it did; each recommender writes its learned state into a :class:`ModelState`.
"""

from shopmind.recommend._base import Context, Reason, Recommendation, Recommender, request_context
from shopmind.recommend._content import ContentRecommender
from shopmind.recommend._context import ContextLift
from shopmind.recommend._errors import NotFittedError, StoredModelError
from shopmind.recommend._evaluation import (
    TemporalSplit,
    evaluate_recommenders,
    ranking_metrics,
    temporal_split,
)
from shopmind.recommend._factor import ALSRecommender, BPRRecommender
from shopmind.recommend._hybrid import HybridRecommender
from shopmind.recommend._item_cf import ItemCFRecommender
from shopmind.recommend._next_basket import NextBasketSplit, evaluate_next_basket, next_basket_split
from shopmind.recommend._persist import (
    FORMAT_VERSION,
    StoredRecommender,
    load_recommender,
    read_header,
    remove_recommender,
    save_recommender,
)
from shopmind.recommend._popularity import PersonalTopFrequency, PopularityRecommender
from shopmind.recommend._repurchase import RepurchaseRecommender
from shopmind.recommend._rules import AssociationRules
from shopmind.recommend._state import ModelState
from shopmind.recommend._user_cf import UserCFRecommender

__all__ = [
    "FORMAT_VERSION",
    "ALSRecommender",
    "AssociationRules",
    "BPRRecommender",
    "ContentRecommender",
    "Context",
    "ContextLift",
    "HybridRecommender",
    "ItemCFRecommender",
    "ModelState",
    "NextBasketSplit",
    "NotFittedError",
    "PersonalTopFrequency",
    "PopularityRecommender",
    "Reason",
    "Recommendation",
    "Recommender",
    "RepurchaseRecommender",
    "StoredModelError",
    "StoredRecommender",
    "TemporalSplit",
    "UserCFRecommender",
    "evaluate_next_basket",
    "evaluate_recommenders",
    "load_recommender",
    "next_basket_split",
    "ranking_metrics",
    "read_header",
    "remove_recommender",
    "request_context",
    "save_recommender",
    "temporal_split",
]

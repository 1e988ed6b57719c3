"""Recommendations: association rules and, behind one Recommender base, the cross-sell
algorithms. Like :mod:`shopmind.models`, recommenders take baskets and interactions, never
storage.

- :class:`AssociationRules`: exact "A → B" rules with support, confidence and lift.
- :class:`Recommender`: the base of the algorithms (``fit``, ``recommend``, ``similar_items``),
  each answer a :class:`Recommendation` with its :class:`Reason` in Korean and English.
- :class:`PopularityRecommender` (overall, region, category, trending), the baseline;
  :class:`ItemCFRecommender` (bought together, session-based).
"""

from shopmind.recommend._base import Context, Reason, Recommendation, Recommender
from shopmind.recommend._errors import NotFittedError
from shopmind.recommend._item_cf import ItemCFRecommender
from shopmind.recommend._popularity import PopularityRecommender
from shopmind.recommend._rules import AssociationRules

__all__ = [
    "AssociationRules",
    "Context",
    "ItemCFRecommender",
    "NotFittedError",
    "PopularityRecommender",
    "Reason",
    "Recommendation",
    "Recommender",
]

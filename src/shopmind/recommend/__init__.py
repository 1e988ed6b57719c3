"""Recommendations: association rules and, behind one Recommender base, the cross-sell
algorithms. Like :mod:`shopmind.models`, recommenders take baskets and interactions, never
storage.

- :class:`AssociationRules`: exact "A → B" rules with support, confidence and lift.
"""

from shopmind.recommend._errors import NotFittedError
from shopmind.recommend._rules import AssociationRules

__all__ = ["AssociationRules", "NotFittedError"]

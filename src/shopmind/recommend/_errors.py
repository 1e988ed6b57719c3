"""Errors of the recommenders."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from shopmind.core import ShopmindError


class NotFittedError(ShopmindError, _SklearnNotFittedError):
    """A recommender was asked for results before ``fit`` (also scikit-learn's NotFittedError)."""


class StoredModelError(ShopmindError):
    """A stored model cannot be used: missing, from another format version, or damaged."""

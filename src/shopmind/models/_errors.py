"""Errors of the models package."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from shopmind.core import ShopmindError


class NotFittedError(ShopmindError, _SklearnNotFittedError):
    """A prediction was asked of a model before ``fit``.

    It is both a :class:`shopmind.core.ShopmindError` and scikit-learn's ``NotFittedError``
    (so also a ``ValueError`` and an ``AttributeError``), so either family of handlers catches it.
    """

"""Warnings the models emit when a fit should not be trusted as it stands."""

from __future__ import annotations


class ShopmindWarning(UserWarning):
    """Root of the warnings shopmind emits on purpose (filter them all with one class)."""


class UnstableFitWarning(ShopmindWarning):
    """A fit whose parameters are poorly determined: too few repeat buyers, an optimiser that
    did not converge, a singular information matrix or standard errors larger than the estimates.

    The message says what is wrong and what to do; the same text is kept in the model's
    ``fit_warnings_`` so batch jobs can record it.
    """

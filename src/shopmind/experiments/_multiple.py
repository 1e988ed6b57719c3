"""Holm's step-down correction (Holm 1979) for several comparisons at once (variants × the goal
and guardrail metrics): it controls the family-wise error rate like Bonferroni, under any
dependence between the tests, and rejects at least as much. Sorted ascending, the i-th p-value
(from 0) is multiplied by ``m - i``; the adjusted values are made non-decreasing in that order and
capped at 1 (as statsmodels' ``multipletests(method="holm")``)."""

from __future__ import annotations

from collections.abc import Sequence


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted

"""Whom to send a coupon: the customers whose predicted uplift pays for it — the persuadables,
not the ones who would buy anyway.

A customer's expected gain from a coupon is ``uplift × margin − cost − discount × buy_anyway``:
the extra chance they buy because of it, times what an order earns (the margin, after the
discount), less what the coupon costs to send, less the discount they would take on an order they
would have placed anyway (``buy_anyway``: their chance to buy without the coupon, μ₀ of the uplift
model). The last term is what makes a sure thing a loss: with coupon and margin m after a
discount d, the profit is μ₁(m) − c against μ₀(m + d) without, a gain of (μ₁ − μ₀)m − c − μ₀d.
The list takes customers by that gain, best first, while it is positive and the budget (the
coupons' sending cost) lasts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shopmind.core import FieldError, InvalidInputError


@dataclass(frozen=True)
class TargetedCustomer:
    """One customer on the list: predicted uplift (a probability difference) and expected gain."""

    customer: str
    uplift: float
    expected_gain: float


@dataclass(frozen=True)
class TargetList:
    """The chosen customers, best first, and what sending them the coupon is expected to bring."""

    targets: tuple[TargetedCustomer, ...]
    budget: float
    spent: float  # coupons' cost
    expected_orders: float  # extra orders: the sum of the chosen customers' uplift
    expected_gain: float  # extra margin less the coupons' cost
    candidates: int  # customers considered
    worth_it: int  # of them, with a positive expected gain (the budget may stop before them all)

    @property
    def customers(self) -> list[str]:
        return [t.customer for t in self.targets]


def target_list(
    customers: Sequence[str],
    uplift: npt.ArrayLike,
    *,
    margin: float | npt.ArrayLike,
    coupon_cost: float,
    budget: float,
    discount: float = 0.0,
    buy_anyway: npt.ArrayLike | None = None,
) -> TargetList:
    """The customers with the highest ``uplift × margin − coupon_cost − discount × buy_anyway``
    while positive, within ``budget`` (coupons at ``coupon_cost`` each). ``margin`` is one number
    or one per customer (e.g. their expected order's margin); ``buy_anyway`` one chance per
    customer (needed when ``discount`` is above 0)."""
    ids = list(customers)
    n = len(ids)
    scores = np.asarray(uplift, dtype=np.float64)
    margins = np.broadcast_to(np.asarray(margin, dtype=np.float64), (n,)) if np.ndim(margin) == 0 else None
    errors: list[FieldError] = []
    if scores.shape != (n,) or not np.isfinite(scores).all():
        errors.append(FieldError("uplift", f"must hold one finite number per customer ({n})"))
    if margins is None:
        margins = np.asarray(margin, dtype=np.float64)
        if margins.shape != (n,):
            errors.append(FieldError("margin", f"must be one number or one per customer ({n})"))
    if margins.shape == (n,) and (not np.isfinite(margins).all() or (margins < 0).any()):
        errors.append(FieldError("margin", "must be zero or more"))
    if not math.isfinite(coupon_cost) or coupon_cost < 0:
        errors.append(FieldError("coupon_cost", "must be zero or more"))
    if not math.isfinite(budget) or budget < 0:
        errors.append(FieldError("budget", "must be zero or more"))
    if not math.isfinite(discount) or discount < 0:
        errors.append(FieldError("discount", "must be zero or more"))
    anyway = np.zeros(n) if buy_anyway is None else np.asarray(buy_anyway, dtype=np.float64)
    if anyway.shape != (n,) or not np.isfinite(anyway).all() or (anyway < 0).any() or (anyway > 1).any():
        errors.append(FieldError("buy_anyway", f"must hold one chance from 0 to 1 per customer ({n})"))
    elif discount > 0 and buy_anyway is None:
        errors.append(FieldError("buy_anyway", "give each customer's chance to buy without the coupon"))
    if len(set(ids)) != n:
        errors.append(FieldError("customers", "must not repeat a customer"))
    if errors:
        raise InvalidInputError(errors)
    gain = scores * margins - coupon_cost - discount * anyway
    order = np.lexsort((np.arange(n), -gain))  # best gain first; ties in the given order
    worth = int((gain > 0).sum())
    # free coupons: every customer worth it; else as many as the budget pays for
    affordable = math.floor(budget / coupon_cost + 1e-9) if coupon_cost > 0 else n
    chosen = order[: min(worth, affordable)]
    targets = tuple(TargetedCustomer(ids[i], float(scores[i]), float(gain[i])) for i in chosen)
    return TargetList(
        targets=targets,
        budget=float(budget),
        spent=coupon_cost * len(targets),
        expected_orders=float(scores[chosen].sum()),
        expected_gain=float(gain[chosen].sum()),
        candidates=n,
        worth_it=worth,
    )

"""The lifetime-value fits the CLV job makes: the purchase counts (BG/NBD, refitted with a small
ridge penalty when plain maximum likelihood fails) and the spend per purchase (Gamma-Gamma), each
with a usable fit and a note (never a crash) when the data are awkward."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from shopmind.models import BetaGeoModel, GammaGammaModel

#: The ridge penalty of the refit when plain maximum likelihood runs off to the boundary
#: (lifetimes' ``penalizer_coef``, which it documents as a good first choice).
PENALTY = 0.001

FloatArray = npt.NDArray[np.float64]


def fit_repeat_purchases(
    x: FloatArray, t_x: FloatArray, age: FloatArray, notes: list[str], counts: FloatArray | None = None
) -> BetaGeoModel:
    """BG/NBD by plain maximum likelihood. When a parameter runs to the edge of the search range
    (typically a and b growing without bound: dropout that looks constant), the optimiser did not
    converge, or predictions are not finite, a small ridge penalty gives a usable, stable fit
    instead; ``notes`` says why. The warnings of the kept fit go to ``notes`` too. ``counts``:
    the customers each row stands for (``pipeline._clv_statistics``), one each when None."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BetaGeoModel().fit(x, t_x, age, counts=counts)
    check = model.conditional_expected_number_of_purchases_up_to_time(52, x, t_x, age)
    problem = (
        "a parameter ran to the edge of the search range"
        if model.at_bound_
        else "the optimiser did not converge"
        if not model.converged_
        else "its predictions are not finite"
        if not np.all(np.isfinite(check))
        else None
    )
    if problem is None:
        notes.extend(str(w.message) for w in caught)
        return model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BetaGeoModel(penalizer_coef=PENALTY).fit(x, t_x, age, counts=counts)
    notes.append(
        f"plain maximum likelihood gave an unusable BG/NBD fit ({problem}); refitted with "
        f"penalizer_coef={PENALTY}"
    )
    notes.extend(str(w.message) for w in caught)
    return model


def fit_spend(x: FloatArray, m: FloatArray, notes: list[str]) -> GammaGammaModel | None:
    """Gamma-Gamma on the repeat buyers with a positive mean spend (a repeat buyer whose orders
    all cost 0, e.g. free samples, tells nothing about spend and would stop the fit: left out,
    with a note). None when fewer than two such buyers remain."""
    repeat = x > 0
    usable = repeat & (m > 0)
    dropped = int(repeat.sum() - usable.sum())
    if dropped:
        notes.append(
            f"{dropped} repeat buyer(s) with a mean spend of 0 or less were left out of the Gamma-Gamma "
            "fit (it needs positive spend); they are scored with a mean spend of 0"
        )
    if usable.sum() < 2:
        notes.append("fewer than 2 repeat buyers with positive spend: no spend model")
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GammaGammaModel().fit(x[usable], m[usable])
    notes.extend(str(w.message) for w in caught)
    return model


def fit_spend_all_orders(x: FloatArray, revenue: FloatArray, notes: list[str]) -> GammaGammaModel | None:
    """Gamma-Gamma on every order, the first included: each buyer's x + 1 transactions and their
    mean value (revenue / (x + 1)). The usual fit leaves the first order out (it may differ from
    the repeat ones), so every one-time buyer gets the same population mean; this one lets a
    one-time buyer's order count as evidence of their spend. None when fewer than two buyers
    with positive spend remain (buyers with none are left out, with a note)."""
    orders = x + 1.0
    usable = revenue > 0
    dropped = int((~usable).sum())
    if dropped:
        notes.append(
            f"{dropped} buyer(s) with no positive spend were left out of the every-order Gamma-Gamma fit"
        )
    if usable.sum() < 2:
        notes.append("fewer than 2 buyers with positive spend: no every-order spend model")
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GammaGammaModel().fit(orders[usable], revenue[usable] / orders[usable])
    notes.extend(str(w.message) for w in caught)
    return model


def spend_per_order(x: FloatArray, m: FloatArray, revenue: FloatArray, *, all_orders: bool) -> FloatArray:
    """E[spend per future order] per customer: Gamma-Gamma on the repeat orders (``m``: their
    mean, 0 without one), or on every order (``all_orders``: revenue / (x + 1)); without a
    usable fit, the plain mean of the same values."""
    if all_orders:
        orders, values, model = (
            x + 1.0,
            np.maximum(revenue, 0.0) / (x + 1.0),
            fit_spend_all_orders(x, revenue, []),
        )
        fallback = float(np.mean(values)) if len(values) else 0.0
    else:
        orders, values, model = x, np.maximum(m, 0.0), fit_spend(x, m, [])
        fallback = float(np.mean(m[x > 0])) if (x > 0).any() else 0.0
    if model is None:
        return np.full(len(x), fallback)
    return np.asarray(model.conditional_expected_average_profit(orders, values), dtype=np.float64)

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


def fit_repeat_purchases(x: FloatArray, t_x: FloatArray, age: FloatArray, notes: list[str]) -> BetaGeoModel:
    """BG/NBD by plain maximum likelihood. When a parameter runs to the edge of the search range
    (typically a and b growing without bound: dropout that looks constant), the optimiser did not
    converge, or predictions are not finite, a small ridge penalty gives a usable, stable fit
    instead; ``notes`` says why. The warnings of the kept fit go to ``notes`` too."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BetaGeoModel().fit(x, t_x, age)
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
        model = BetaGeoModel(penalizer_coef=PENALTY).fit(x, t_x, age)
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

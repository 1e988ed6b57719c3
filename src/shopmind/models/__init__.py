"""Customer-lifetime-value models fitted by maximum likelihood (numpy/scipy), with the
scikit-learn estimator contract and the vocabulary of the papers.

- :class:`BetaGeoModel`: BG/NBD (Fader, Hardie & Lee 2005) repeat purchases and P(alive).
- :class:`ParetoNBDModel`: Pareto/NBD (Schmittlein, Morrison & Colombo 1987).
- :class:`GammaGammaModel`: spend per transaction (Fader & Hardie 2013) and discounted CLV.
- :class:`PersonaModel`: k-means personas of buyers, each named and described in Korean and English.
- :class:`CalibratedBoostingClassifier`: LightGBM trees on every row with cross-fitted, strictly
  increasing calibration (interpolated isotonic or Platt), so the probabilities keep the trees'
  ranking (purchase probability, churn, look-alikes), judged by :func:`model_card`.

Each takes per-customer arrays (frequency, recency, T; or frequency, monetary_value), never
storage; ``fit`` returns the model, learned state ends in ``_``.
"""

from shopmind.models._base import PredictionInterval
from shopmind.models._beta_geo import BetaGeoModel
from shopmind.models._classifier import CalibratedBoostingClassifier
from shopmind.models._errors import NotFittedError
from shopmind.models._evaluation import Band, ModelCard, model_card, probability_bands
from shopmind.models._gamma_gamma import GammaGammaModel, PurchaseCountModel
from shopmind.models._pareto_nbd import ParetoNBDModel
from shopmind.models._personas import (
    PERSONA_CATEGORY_PREFIX,
    PERSONA_FEATURES,
    Persona,
    PersonaFeature,
    PersonaModel,
    Trait,
)
from shopmind.models._warnings import ShopmindWarning, UnstableFitWarning

__all__ = [
    "PERSONA_CATEGORY_PREFIX",
    "PERSONA_FEATURES",
    "Band",
    "BetaGeoModel",
    "CalibratedBoostingClassifier",
    "GammaGammaModel",
    "ModelCard",
    "NotFittedError",
    "ParetoNBDModel",
    "Persona",
    "PersonaFeature",
    "PersonaModel",
    "PredictionInterval",
    "PurchaseCountModel",
    "ShopmindWarning",
    "Trait",
    "UnstableFitWarning",
    "model_card",
    "probability_bands",
]

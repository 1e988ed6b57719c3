"""Experiments on every decision point (on-site placements, recommendation strategies, campaign
messages and send times): the declared experiment, deterministic assignment, statistics on
sufficient statistics (frequentist, Bayesian, CUPED, sequential, Holm, SRM), bandits, off-policy
evaluation and uplift models. Pure: the store's numbers come in as sums (``VariantStats``)."""

from shopmind.experiments._analyse import (
    analyse_experiment,
    analyse_metric,
    wilson_interval,
)
from shopmind.experiments._assign import (
    Assigner,
    unit_point,
)
from shopmind.experiments._bandit import (
    ThompsonSampling,
)
from shopmind.experiments._context_features import (
    ContextEncoder,
)
from shopmind.experiments._contextual import (
    LinearThompson,
    LinUCB,
)
from shopmind.experiments._definition import (
    FEATURES,
    METRIC_KINDS,
    POINT_KINDS,
    STRATEGIES,
    Analysis,
    CampaignMessagePoint,
    DecisionPoint,
    Experiment,
    Layer,
    Metric,
    PlacementPoint,
    Policy,
    RecommendationsPoint,
    SendTimePoint,
    Target,
    Variant,
    check_experiment,
    experiment_json,
    parse_experiment,
)
from shopmind.experiments._multiple import (
    holm,
)
from shopmind.experiments._off_policy import doubly_robust, ips, snips
from shopmind.experiments._policy import (
    Context,
    FixedShares,
    Reward,
    TrafficPolicy,
    policy_for,
    policy_from_state,
)
from shopmind.experiments._qini import auuc, qini_coefficient, qini_curve, uplift_curve
from shopmind.experiments._report import (
    Comparison,
    ExperimentResult,
    Interval,
    MetricResult,
    PolicyValue,
    SrmCheck,
    TrafficPoint,
    VariantSummary,
)
from shopmind.experiments._srm import (
    srm_check,
)
from shopmind.experiments._sufficient import (
    VariantStats,
)
from shopmind.experiments._targeting import TargetedCustomer, TargetList, target_list
from shopmind.experiments._uplift import TLearner, UpliftNotFittedError, XLearner

__all__ = [
    "FEATURES",
    "METRIC_KINDS",
    "POINT_KINDS",
    "STRATEGIES",
    "Analysis",
    "Assigner",
    "CampaignMessagePoint",
    "Comparison",
    "Context",
    "ContextEncoder",
    "DecisionPoint",
    "Experiment",
    "ExperimentResult",
    "FixedShares",
    "Interval",
    "Layer",
    "LinUCB",
    "LinearThompson",
    "Metric",
    "MetricResult",
    "PlacementPoint",
    "Policy",
    "PolicyValue",
    "RecommendationsPoint",
    "Reward",
    "SendTimePoint",
    "SrmCheck",
    "TLearner",
    "Target",
    "TargetList",
    "TargetedCustomer",
    "ThompsonSampling",
    "TrafficPoint",
    "TrafficPolicy",
    "UpliftNotFittedError",
    "Variant",
    "VariantStats",
    "VariantSummary",
    "XLearner",
    "analyse_experiment",
    "analyse_metric",
    "auuc",
    "check_experiment",
    "doubly_robust",
    "experiment_json",
    "holm",
    "ips",
    "parse_experiment",
    "policy_for",
    "policy_from_state",
    "qini_coefficient",
    "qini_curve",
    "snips",
    "srm_check",
    "target_list",
    "unit_point",
    "uplift_curve",
    "wilson_interval",
]

"""Experiments on every decision point (on-site placements, recommendation strategies, campaign
messages and send times): the declared experiment, deterministic assignment, statistics on
sufficient statistics (frequentist, Bayesian, CUPED, sequential, Holm, SRM), bandits, off-policy
evaluation and uplift models. Pure: the store's numbers come in as sums (``VariantStats``)."""

from shopmind.experiments._assign import Assigner, unit_point
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
from shopmind.experiments._off_policy import doubly_robust, ips, snips
from shopmind.experiments._policy import Context, FixedShares, Reward, TrafficPolicy, policy_for
from shopmind.experiments._qini import auuc, qini_coefficient, qini_curve, uplift_curve
from shopmind.experiments._report import (
    Comparison,
    ExperimentResult,
    Interval,
    MetricResult,
    SrmCheck,
    TrafficPoint,
    VariantSummary,
)
from shopmind.experiments._sufficient import VariantStats
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
    "DecisionPoint",
    "Experiment",
    "ExperimentResult",
    "FixedShares",
    "Interval",
    "Layer",
    "Metric",
    "MetricResult",
    "PlacementPoint",
    "Policy",
    "RecommendationsPoint",
    "Reward",
    "SendTimePoint",
    "SrmCheck",
    "TLearner",
    "Target",
    "TargetList",
    "TargetedCustomer",
    "TrafficPoint",
    "TrafficPolicy",
    "UpliftNotFittedError",
    "Variant",
    "VariantStats",
    "VariantSummary",
    "XLearner",
    "auuc",
    "check_experiment",
    "doubly_robust",
    "experiment_json",
    "ips",
    "parse_experiment",
    "policy_for",
    "qini_coefficient",
    "qini_curve",
    "snips",
    "target_list",
    "unit_point",
    "uplift_curve",
]

"""Measuring what shopmind did: an experiment's results from the store (its exposures, the
metrics computed in the engine as sufficient statistics, then the statistics of
``shopmind.experiments``), the uplift of campaigns, and the off-policy value of bandit policies."""

from shopmind.measure._campaign_uplift import CampaignUplift, RankingScore, campaign_uplift, compare_rankings
from shopmind.measure._demo_experiments import (
    DemoExperimentsRun,
    DemoExperimentSummary,
    demo_experiment,
    run_demo_experiments,
)
from shopmind.measure._results import experiment_results, metric_stats

__all__ = [
    "CampaignUplift",
    "DemoExperimentSummary",
    "DemoExperimentsRun",
    "RankingScore",
    "campaign_uplift",
    "compare_rankings",
    "demo_experiment",
    "experiment_results",
    "metric_stats",
    "run_demo_experiments",
]

"""Measuring what shopmind did: an experiment's results from the store (its exposures, the
metrics computed in the engine as sufficient statistics, then the statistics of
``shopmind.experiments``), the uplift of campaigns, and the off-policy value of bandit policies."""

from shopmind.measure._campaign_uplift import (
    CampaignUplift,
    RankingScore,
    campaign_uplift,
    compare_rankings,
)
from shopmind.measure._demo_experiments import (
    DemoExperimentsRun,
    DemoExperimentSummary,
    demo_experiment,
    run_demo_experiments,
)
from shopmind.measure._experiment_admin import (
    change_experiment,
    exposure_counts,
    new_experiment,
    point_words,
    read_experiment_text,
    start_experiment,
    stop_experiment,
    stored_experiment,
)
from shopmind.measure._results import (
    experiment_results,
    metric_stats,
)
from shopmind.measure._trigger_uplift import (
    TriggerUplift,
    trigger_uplift,
    uplift_of,
)

__all__ = [
    "CampaignUplift",
    "DemoExperimentSummary",
    "DemoExperimentsRun",
    "RankingScore",
    "TriggerUplift",
    "campaign_uplift",
    "change_experiment",
    "compare_rankings",
    "demo_experiment",
    "experiment_results",
    "exposure_counts",
    "metric_stats",
    "new_experiment",
    "point_words",
    "read_experiment_text",
    "run_demo_experiments",
    "start_experiment",
    "stop_experiment",
    "stored_experiment",
    "trigger_uplift",
    "uplift_of",
]

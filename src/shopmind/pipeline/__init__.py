"""Jobs that wire the store to the parts above it: the demo shop, customer intelligence (segments,
CLV, VIPs), churn risk, purchase probability, look-alikes (could become VIP), taste and habits."""

from shopmind.pipeline._churn import ChurnReport, run_churn_risk
from shopmind.pipeline._demo_job import DemoLoadReport, load_demo_shop
from shopmind.pipeline._full_run import FullRunReport, run_everything
from shopmind.pipeline._intelligence import (
    IntelligenceReport,
    ParetoReport,
    pareto_report,
    run_customer_intelligence,
)
from shopmind.pipeline._lookalike import LookalikeReport, run_vip_lookalike
from shopmind.pipeline._preferences import PreferencesReport, run_preferences
from shopmind.pipeline._profile import (
    customer_profile,
    latest_scores,
    resolve_profile,
    segment_label,
    visitor_facts,
)
from shopmind.pipeline._purchase import PurchaseReport, run_purchase_probability, score_name
from shopmind.pipeline._recommend import (
    ALGORITHMS,
    RecommenderData,
    evaluate_recommendations,
    order_baskets,
    recommender_data,
)

__all__ = [
    "ALGORITHMS",
    "ChurnReport",
    "DemoLoadReport",
    "FullRunReport",
    "IntelligenceReport",
    "LookalikeReport",
    "ParetoReport",
    "PreferencesReport",
    "PurchaseReport",
    "RecommenderData",
    "customer_profile",
    "evaluate_recommendations",
    "latest_scores",
    "load_demo_shop",
    "order_baskets",
    "pareto_report",
    "recommender_data",
    "resolve_profile",
    "run_churn_risk",
    "run_customer_intelligence",
    "run_everything",
    "run_preferences",
    "run_purchase_probability",
    "run_vip_lookalike",
    "score_name",
    "segment_label",
    "visitor_facts",
]

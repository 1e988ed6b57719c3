"""Jobs that wire the store to the parts above it: the demo shop, customer intelligence (segments,
CLV, VIPs) and purchase probability."""

from shopmind.pipeline._demo_job import DemoLoadReport, load_demo_shop
from shopmind.pipeline._intelligence import (
    IntelligenceReport,
    ParetoReport,
    pareto_report,
    run_customer_intelligence,
)
from shopmind.pipeline._purchase import PurchaseReport, run_purchase_probability, score_name

__all__ = [
    "DemoLoadReport",
    "IntelligenceReport",
    "ParetoReport",
    "PurchaseReport",
    "load_demo_shop",
    "pareto_report",
    "run_customer_intelligence",
    "run_purchase_probability",
    "score_name",
]

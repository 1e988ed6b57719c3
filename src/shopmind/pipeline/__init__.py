"""Jobs that wire the store to the parts above it (the demo shop now; models and scores later)."""

from shopmind.pipeline._demo_job import DemoLoadReport, load_demo_shop
from shopmind.pipeline._intelligence import (
    IntelligenceReport,
    ParetoReport,
    pareto_report,
    run_customer_intelligence,
)

__all__ = [
    "DemoLoadReport",
    "IntelligenceReport",
    "ParetoReport",
    "load_demo_shop",
    "pareto_report",
    "run_customer_intelligence",
]

"""Jobs that wire the store to the parts above it (the demo shop now; models and scores later)."""

from shopmind.pipeline._demo_job import DemoLoadReport, load_demo_shop

__all__ = ["DemoLoadReport", "load_demo_shop"]

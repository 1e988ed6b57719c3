"""Run every benchmark: ``python -m bench`` (what ``make bench`` does)."""

from __future__ import annotations

import importlib
import sys

BENCHES = [
    "bench.bench_import",
    "bench.bench_demo",
    "bench.bench_scale",
    "bench.bench_clv",
    "bench.bench_purchase",
    "bench.bench_pipeline",
    "bench.bench_personas",
    "bench.bench_rules",
    "bench.bench_recommend",
    "bench.bench_api",
    "bench.bench_onsite",
    "bench.bench_dashboard",
    "bench.bench_exports",
    "bench.bench_lake",
    "bench.bench_cli",
    "bench.bench_segments",
    "bench.bench_live_segments",
    "bench.bench_smtp",
    "bench.bench_outbox",
    "bench.bench_campaign_plan",
    "bench.bench_campaign_results",
    "bench.bench_experiment_results",
    "bench.bench_bandits",
    "bench.bench_assignment",
]


def main() -> int:
    failed = 0
    for name in BENCHES:
        print(f"\n=== {name} ===", flush=True)
        try:
            importlib.import_module(name).main()
        except Exception as exc:  # report and go on with the other benchmarks
            failed += 1
            print(f"{name} failed: {exc!r}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The traffic policies over a simulated month of the demo shop's popup (``shopmind.demo.
simulate_month``: 30 days × 3,000 visitors, planted context effects, hourly batch updates): each
policy's cumulative regret and click rate beside uniform A/B (fixed equal shares) on the same
visitors, and the serving cost of each (decisions per second of ``choose`` on the month's last
contexts, and milliseconds per hourly batch update).

Run with ``python -m bench.bench_bandits``; ``--plot docs/img/bandit-regret.svg`` also writes the
cumulative regret curves of uniform, Thompson sampling and the contextual bandit (the README's
figure; seeded, so the same file every time).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from shopmind.demo import POPUP_VARIANTS, draw_visitors, simulate_month
from shopmind.experiments import FixedShares, LinearThompson, LinUCB, ThompsonSampling, TrafficPolicy

SEED = 0
DAYS = 30
PER_DAY = 3000


def policies() -> dict[str, TrafficPolicy]:
    variants = list(POPUP_VARIANTS)
    return {
        "uniform A/B": FixedShares(variants, [1 / len(variants)] * len(variants), seed=SEED),
        "Thompson sampling": ThompsonSampling(variants, seed=SEED),
        "contextual (linear TS)": LinearThompson(variants, seed=SEED),
        "contextual (LinUCB)": LinUCB(variants, seed=SEED),
    }


def main(plot: Path | None = None) -> dict[str, np.ndarray]:
    curves: dict[str, np.ndarray] = {}
    contexts = draw_visitors(np.random.default_rng(SEED + 1), 5000).contexts()
    print(
        f"{'policy':<24} {'regret':>8} {'vs uniform':>10} {'click rate':>10} "
        f"{'month s':>8} {'decisions/s':>12} {'µs/decision':>11}"
    )
    uniform = None
    for name, policy in policies().items():
        t0 = time.perf_counter()
        month = simulate_month(policy, days=DAYS, per_day=PER_DAY, seed=SEED)
        month_seconds = time.perf_counter() - t0
        curves[name] = month.cumulative_regret
        uniform = month.total_regret if uniform is None else uniform
        for c in contexts[:500]:  # warm: each context's probabilities computed once per batch
            policy.choose(c)
        t0 = time.perf_counter()
        for c in contexts:
            policy.choose(c)
        per = (time.perf_counter() - t0) / len(contexts)
        print(
            f"{name:<24} {month.total_regret:>8.1f} {month.total_regret / uniform:>10.2f} "
            f"{month.click_rate:>10.2%} {month_seconds:>8.2f} {1 / per:>12,.0f} {per * 1e6:>11.2f}"
        )
    if plot is not None:
        wanted = ["uniform A/B", "Thompson sampling", "contextual (linear TS)"]
        write_svg(plot, {k: curves[k] for k in wanted})
        print(f"wrote {plot}")
    return curves


COLOURS = ("#9aa0a6", "#1a73e8", "#d93025", "#188038")


def write_svg(path: Path, curves: dict[str, np.ndarray]) -> None:
    """A plain line chart (no plotting library: a few SVG elements), days on x, cumulative regret
    (expected clicks lost against the best variant per visitor) on y."""
    width, height = 640, 360
    left, right, top, bottom = 64, 16, 40, 48
    days = max(len(c) for c in curves.values())
    ymax = max(float(c.max()) for c in curves.values())
    step = _nice_step(ymax / 5)
    ymax = step * np.ceil(ymax / step)

    def x(day: float) -> float:
        return left + (width - left - right) * day / days

    def y(value: float) -> float:
        return top + (height - top - bottom) * (1 - value / ymax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14" font-weight="bold">'
        f"Cumulative regret: the demo popup, a month of {PER_DAY:,} visitors a day</text>",
    ]
    for i in range(round(ymax / step) + 1):
        value = i * step
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e8eaed"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
    for day in range(0, days + 1, 5):
        parts.append(f'<text x="{x(day):.1f}" y="{height - bottom + 18}" text-anchor="middle">{day}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle">day</text>')
    parts.append(
        f'<text transform="translate(16 {(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">'
        "expected clicks lost</text>"
    )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#5f6368"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" stroke="#5f6368"/>'
    )
    for i, (name, curve) in enumerate(curves.items()):
        points = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in enumerate([0.0, *curve.tolist()]))
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{points}"/>')
        ly = top + 8 + 18 * i
        parts.append(
            f'<line x1="{left + 12}" x2="{left + 36}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2.5"/>'
        )
        parts.append(f'<text x="{left + 42}" y="{ly + 4}">{name}: {curve[-1]:,.0f}</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def _nice_step(raw: float) -> float:
    magnitude = 10 ** np.floor(np.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, help="write the regret curves as an SVG here")
    main(parser.parse_args().plot)

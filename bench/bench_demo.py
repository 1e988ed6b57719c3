"""Demo-shop generation: the vectorised simulator (~1 million events, as Arrow tables with orders,
lines, weather and planted truths) vs a naive pure-Python generator that builds one dict per
event with ``random`` (the usual first attempt), each in a fresh process.

The peer makes 200,000 events (a million dicts would take gigabytes of this shared machine);
its time and memory are extrapolated linearly to the simulator's event count, which flatters it:
it draws no sessions, orders or truths and never reaches Arrow.

Run with ``python -m bench.bench_demo`` (or ``python -m bench`` for every benchmark).
"""

from __future__ import annotations

from bench._measure import measure, row

CUSTOMERS = 14_000  # x 180 days ~ 1.05 million events
DAYS = 180
PEER_EVENTS = 200_000

# a tiny shop first, so one-off lazy imports (pyarrow loads pandas on first use) are not timed
OURS_SETUP = "from shopmind.demo import generate_shop\ngenerate_shop(customers=20, days=2, seed=0)"
OURS_BODY = f"generate_shop(customers={CUSTOMERS}, days={DAYS}, seed=1).events.num_rows"

PEER_SETUP = """
import random
from datetime import UTC, datetime, timedelta

TYPES = ["page_view", "product_view", "search", "cart_add", "cart_remove", "checkout_start",
         "order_completed", "banner_impression", "banner_click", "message_open", "message_click"]
PRODUCT_TYPES = {"product_view", "cart_add", "cart_remove"}
REGIONS = ["서울", "경기", "인천", "부산", "대구", "광주", "대전", "울산", "강원", "제주"]
DEVICES = ["mobile", "desktop", "tablet"]
QUERIES = ["겨울 코트", "라면", "김치", "삼겹살", "프린터", "우산"]
START = datetime(2025, 12, 31, 15, tzinfo=UTC)


def naive(n, seed):
    rnd = random.Random(seed)
    events = []
    for i in range(n):
        kind = rnd.choice(TYPES)
        member = rnd.random() < 0.6
        product = kind in PRODUCT_TYPES
        when = START + timedelta(seconds=rnd.random() * 180 * 86400)
        events.append(
            {
                "message_id": f"naive-{seed}-{i}",
                "type": kind,
                "anonymous_id": f"a-{rnd.randrange(40_000)}",
                "user_id": f"m{rnd.randrange(1, 20_001):06d}" if member else None,
                "session_id": f"s-{rnd.randrange(300_000)}",
                "event_time": when,
                "client_time": when,
                "received_at": when,
                "device_type": rnd.choice(DEVICES),
                "channel": rnd.choice(["web", "app"]),
                "region": rnd.choice(REGIONS),
                "locale": "ko-KR",
                "product_id": f"P{rnd.randrange(1, 187):05d}" if product else None,
                "price": float(rnd.randrange(10, 3000) * 100) if product else None,
                "quantity": rnd.randint(1, 3) if product else None,
                "query": rnd.choice(QUERIES) if kind == "search" else None,
                "source": "naive",
            }
        )
    return len(events)
"""
PEER_BODY = f"naive({PEER_EVENTS}, 1)"


def main() -> None:
    ours_base = measure(OURS_SETUP, "0")
    ours = measure(OURS_SETUP, OURS_BODY)
    peer_base = measure(PEER_SETUP, "0")
    peer = measure(PEER_SETUP, PEER_BODY)
    events = int(ours.result)  # type: ignore[call-overload]
    assert int(peer.result) == PEER_EVENTS  # type: ignore[call-overload]
    scale = events / PEER_EVENTS
    ours_rate = events / ours.seconds
    peer_rate = PEER_EVENTS / peer.seconds
    ours_mb = (ours.peak_mb - ours_base.peak_mb) / (events / 1e6)
    peer_mb = (peer.peak_mb - peer_base.peak_mb) / (PEER_EVENTS / 1e6)

    print(
        f"demo shop: {CUSTOMERS:,} customers x {DAYS} days = {events:,} events "
        f"(peer: naive per-event Python dicts, {PEER_EVENTS:,} made, extrapolated x{scale:.1f})"
    )
    print(row(f"wall time for {events:,} events", ours.seconds, peer.seconds * scale, "s"))
    print(row("events per second", ours_rate, peer_rate, "ev/s", lower_is_better=False))
    print(row("memory above interpreter, per million events", ours_mb, peer_mb, "MB"))
    print(
        f"peak RSS of the process: ours {ours.peak_mb:,.0f} MB for {events:,} events "
        f"(baseline {ours_base.peak_mb:,.0f} MB); peer {peer.peak_mb:,.0f} MB for {PEER_EVENTS:,} "
        f"(baseline {peer_base.peak_mb:,.0f} MB)"
    )


if __name__ == "__main__":
    main()

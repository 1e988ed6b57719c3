"""Planning one campaign step for 1M customers (target: well under 60 s): a synthetic store (seeded,
``bench/_plan_peer.synthetic_store``) of 1,000,000 customers with ~5M consent-ledger entries
(given, withdrawn, night-time; some under a second identifier), habits for 80 %, ~700,000 earlier
messages of another campaign in the outbox (caps), opens and clicks, web-push subscriptions.

shopmind's ``plan_campaign`` (one DuckDB query: holdout, reachability, consent, cheapest responsive
channel, best hour and the night rule, caps across campaigns, exclusion reasons) vs a plain pandas
implementation of the same rules (``bench/_plan_peer.pandas_plan``, the test oracle), each in a
fresh process on the same store file, with wall time and peak memory; the plans' counts must agree.

    python bench/bench_campaign_plan.py [customers] [repeats]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._measure import load_note, measure, paired_medians, row, spread  # noqa: E402

CUSTOMERS = 1_000_000
SEED = 19
AT = datetime(2026, 12, 5, 5, 30, tzinfo=UTC)
CAMPAIGN = {
    "name": "휴면 VIP 복귀",
    "audience": {"kind": "segment", "segment": "dormant_vip"},
    "steps": [
        {
            "id": "s1",
            "messages": {
                "kakao": {"text": "{{ profile_id }}님을 위한 쿠폰이 도착했어요"},
                "sms": {"text": "{{ profile_id }}님 쿠폰 도착"},
                "email": {"subject": "다시 만나요", "text": "{{ profile_id }}님, 오랜만이에요."},
                "app_push": {"text": "쿠폰이 도착했어요"},
                "web_push": {"text": "쿠폰이 도착했어요"},
            },
        }
    ],
    "channel": {"mode": "cheapest", "channels": ["app_push", "web_push", "kakao", "sms", "email"]},
    "send_time": {"mode": "best_hour", "hour": 10},
    "caps": {"per_day": 1, "per_week": 3},
    "holdout": 0.1,
}

SETUP = """
import sys
sys.path.insert(0, {root!r})
from datetime import datetime
from shopmind.activation import holdout_key, parse_campaign, plan_campaign
from shopmind.store import Store
store = Store({path!r}, read_only=True)
campaign = parse_campaign({campaign!r})
at = datetime.fromisoformat({at!r})
key = holdout_key(b"k" * 32)
audience = store.query_arrow("SELECT DISTINCT profile_id FROM profiles").column(0)
"""
OURS = "plan_campaign(store, campaign, 'c_bench', at=at, key=key, audience=audience).counts.to_dict()"
COMPOSE_SETUP = (
    SETUP
    + """
from shopmind.activation import Sender, compose
sender = Sender(name="가게", contact="02-123-4567", opt_out_phone="080-123-4567", kakao_channel="가게")
plan = plan_campaign(store, campaign, 'c_bench', at=at, key=key, audience=audience.slice(0, {sample}))
"""
)
COMPOSE = (
    "len(compose(plan, campaign, sender=sender, unsubscribe_url=lambda k: 'https://t.example/m/u/' + k))"
)
COMPOSE_SAMPLE = 50_000
PEER_SETUP = SETUP + "from bench._plan_peer import pandas_plan\naudience = audience.to_pylist()\n"
PEER = "_counts(pandas_plan(store, campaign, 'c_bench', at=at, key=key, audience=audience))"
PEER_COUNTS = """
def _counts(frame):
    planned = frame[frame.status == "planned"]
    excluded = frame[frame.status == "excluded"].reason.value_counts().to_dict()
    return {"planned": int(len(planned)), "holdout": int((frame.status == "holdout").sum()),
            "deferred": int((planned.reason == "night_deferred").sum()),
            "excluded": {k: int(v) for k, v in excluded.items()},
            "by_channel": {k: int(v) for k, v in sorted(planned.channel.value_counts().to_dict().items())}}
"""


def build(path: Path, n: int) -> float:
    from bench._plan_peer import synthetic_store
    from shopmind.store import Store

    started = time.perf_counter()
    with Store(path) as store:
        synthetic_store(store, n, SEED, AT)
        store.checkpoint()
    return time.perf_counter() - started


def main(n: int = CUSTOMERS, repeats: int = 1) -> None:
    with tempfile.TemporaryDirectory(prefix="shopmind-bench-plan-") as tmp:
        path = Path(tmp) / "shop.duckdb"
        built = build(path, n)
        setup = SETUP.format(root=str(ROOT), path=str(path), campaign=CAMPAIGN, at=AT.isoformat())
        peer_setup = PEER_SETUP.format(root=str(ROOT), path=str(path), campaign=CAMPAIGN, at=AT.isoformat())
        (ours, peer), (ours_times, peer_times) = paired_medians(
            repeats, (setup, OURS), (peer_setup + PEER_COUNTS, PEER)
        )
        sample = min(n, COMPOSE_SAMPLE)
        composed = measure(
            COMPOSE_SETUP.format(
                root=str(ROOT), path=str(path), campaign=CAMPAIGN, at=AT.isoformat(), sample=sample
            ),
            COMPOSE,
        )
    counts = ours.result
    assert isinstance(counts, dict) and isinstance(peer.result, dict)
    mine = {k: counts[k] for k in ("planned", "holdout", "deferred", "by_channel")}
    mine["excluded"] = {k: v for k, v in counts["excluded"].items() if v}
    same = mine == peer.result
    print(f"Planning one campaign step for {n:,} customers (store built in {built:.0f} s; {load_note()})")
    print(
        f"planned {counts['planned']:,} (of which moved out of the night {counts['deferred']:,}), "
        f"holdout {counts['holdout']:,}, excluded {counts['excluded']}, by channel {counts['by_channel']}; "
        f"the pandas peer's counts agree: {same}"
    )
    print(row("wall time", ours.seconds, peer.seconds, "s"))
    print(row("peak memory (RSS of the process)", ours.peak_mb, peer.peak_mb, "MB"))
    print(f"ours {spread(ours_times)}; peer {spread(peer_times)}")
    rate = float(composed.result) / composed.seconds  # type: ignore[arg-type]
    print(
        f"compose (render, finish for the law, check) of the {composed.result:,} messages planned for "
        f"{sample:,} customers: {composed.seconds:.2f} s, {rate:,.0f} messages/s"
    )
    if not same:
        raise SystemExit(f"the plans differ: ours {mine} vs peer {peer.result}")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS,
        int(sys.argv[2]) if len(sys.argv) > 2 else 1,
    )

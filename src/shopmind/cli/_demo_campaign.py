"""``shopmind demo-campaign``: the demo shop's win-back campaign and send-time test, sent into the
outbox files and answered by the simulated customers, with the measured results beside what the
demo shop planted (``make demo`` runs it after ``shopmind run``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shopmind.cli._common import EXIT_USAGE, WorkspaceOpt, app, console, err_console, fail, open_workspace
from shopmind.cli._format import local_time, money
from shopmind.core import InvalidInputError

if TYPE_CHECKING:  # imported where used: ``shopmind --help`` stays quick
    from shopmind.activation import DemoCampaignRun, Interval


#: the demo shop's planted groups (``demo.MESSAGE_RESPONSES``) in both languages
GROUPS = {
    "dormant_vip": "dormant VIPs · 휴면 VIP",
    "active_vip": "active VIPs · 활동 VIP",
    "evening_reader": "evening readers · 저녁 독자",
    "buyer": "other buyers · 기타 구매 고객",
    "non_buyer": "non-buyers · 미구매 고객",
    "guest": "guests · 비회원",
}


def _pp(value: float) -> str:
    """Percentage points, signed: +8.0%p."""
    return f"{value * 100:+.1f}%p"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _points(interval: Interval | None) -> str:
    if interval is None:
        return "n/a"
    return f"{_pp(interval.estimate)} [{_pp(interval.low)}, {_pp(interval.high)}]"


def _won(interval: Interval | None) -> str:
    if interval is None:
        return "n/a"
    return f"{money(interval.estimate)} [{money(interval.low)}, {money(interval.high)}]"


def _rate(interval: Interval) -> str:
    return f"{_pct(interval.estimate)} [{_pct(interval.low)}, {_pct(interval.high)}]"


@app.command("demo-campaign")
def demo_campaign(
    workspace: WorkspaceOpt = Path(".shopmind"),
    customers: Annotated[
        int, typer.Option(min=10, help="The --customers 'shopmind demo' was run with.")
    ] = 5000,
    days: Annotated[int, typer.Option(min=7, help="The --days 'shopmind demo' was run with.")] = 90,
    seed: Annotated[int, typer.Option(help="The --seed 'shopmind demo' was run with.")] = 42,
    start: Annotated[
        str | None, typer.Option(help="The --start 'shopmind demo' was run with (YYYY-MM-DD).")
    ] = None,
    public_url: Annotated[
        str,
        typer.Option(
            "--public-url",
            help="Where 'shopmind serve' answers: the messages' tracked links and unsubscribe links point there.",
        ),
    ] = "http://127.0.0.1:8000",
) -> None:
    """Run a win-back campaign on the demo shop, offline, and measure it.

    After 'shopmind demo' and 'shopmind run'. Creates the campaign
    '휴면 VIP 복귀 쿠폰 (데모)': the dormant former VIPs of the latest run
    (RFM dormant_vip), a 15% coupon on the cheapest channel each customer
    consented to (Kakao, SMS, e-mail), at each customer's best hour, with a
    10% holdout. Beside it, a send-time test: the same message to the other
    buyers, split 50/50 into a best-hour campaign and a 10:00 one.

    Schedules them at the run's as-of date, sends them into the workspace's
    outbox files (outbox/<channel>.jsonl, to the demo members' synthetic
    addresses such as m000123@demo.shopmind.invalid and 010-0000-0123),
    lets the demo shop's simulated customers answer (opens, clicks, orders
    with planted effects), and prints the results: per step, the uplift over
    the holdout with 95% intervals, incremental revenue minus cost, and the
    send-time test's open rates. Run again, it reuses the campaigns and
    sends nothing twice.
    """
    from shopmind.activation import run_demo_campaign

    first = date.fromisoformat(start) if start else None
    with open_workspace(workspace) as (ws, store):
        try:
            run = run_demo_campaign(
                store,
                ws,
                customers=customers,
                days=days,
                seed=seed,
                start=first,
                public_url=public_url,
                progress=lambda phase: err_console.print(f"[dim]{phase}…[/]"),
            )
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    _print(run)


def _print(run: DemoCampaignRun) -> None:
    from shopmind.demo import EVENING_READER_HOURS, MESSAGE_RESPONSES

    if run.created:
        console.print(
            f"campaigns created · 캠페인 만듦: {', '.join(run.created)} "
            f"(scheduled at · 발송 시작 {local_time(run.as_of)})"
        )
    if run.reused:
        console.print(
            f"campaigns exist, reused · 이미 있는 캠페인을 다시 씀: {', '.join(run.reused)} "
            "(nothing is sent twice · 두 번 보내지 않음)"
        )
    files = ", ".join(f"{path} ({n:,})" for path, n in sorted(run.outbox_files.items()))
    console.print(
        f"sent now · 이번에 보냄: {run.sent:,} messages · 건 → outbox · 발송함 파일: {files or 'none'}"
    )
    console.print(
        f"simulated answers stored · 저장한 모의 응답: {run.new_orders:,} orders · 주문, "
        f"{run.new_events:,} opens and clicks · 열람과 클릭"
    )

    results = run.winback
    steps = Table(
        title=f"win-back · 휴면 VIP 복귀: per step · 단계별 (as of · 기준 {local_time(run.measured_at)})"
    )
    for column in (
        "step · 단계",
        "planned · 계획",
        "suppressed · 제외",
        "sent · 발송",
        "opened · 열람",
        "clicked · 클릭",
        "converted · 구매",
        "revenue · 매출",
        "cost · 비용",
    ):
        steps.add_column(column, justify="left" if column.startswith("step") else "right")
    for s in results.steps:
        steps.add_row(
            s.step,
            f"{s.planned:,}",
            f"{s.suppressed:,}",
            f"{s.sent:,}",
            f"{s.opened:,}",
            f"{s.clicked:,}",
            f"{s.converted:,}",
            money(s.revenue),
            money(s.cost),
        )
    console.print(steps)

    u = results.uplift
    planted = run.winback_planted
    dormant = run.dormant_vips
    answer = MESSAGE_RESPONSES["dormant_vip"]
    arms = Table(
        title="win-back · 휴면 VIP 복귀: treated vs holdout · 발송군 대 대조군 (95% intervals · 95% 구간)"
    )
    arms.add_column("")
    arms.add_column("members · 인원", justify="right")
    arms.add_column("bought · 구매", justify="right")
    arms.add_column("conversion · 구매율", justify="right")
    arms.add_column("revenue per customer · 1인당 매출", justify="right")
    for label, arm in (("treated · 발송군", u.treated), ("holdout · 대조군", u.holdout)):
        arms.add_row(
            label,
            f"{arm.n:,}",
            f"{arm.conversions:,}",
            _pct(arm.conversion_rate),
            money(arm.revenue_per_customer) if arm.revenue_per_customer is not None else "",
        )
    console.print(arms)

    lift = Table(title="uplift · 증분 효과 (measured · 측정 vs planted · 심어 둔 값)")
    lift.add_column("")
    lift.add_column("measured [95%] · 측정 [95% 구간]", justify="right")
    lift.add_column("planted · 심어 둔 값", justify="right")
    lift.add_row("conversion uplift · 구매율 증분", _points(u.conversion), _pp(planted.per_treated))
    lift.add_row(
        f"per customer messaged · 받은 고객당 ({u.messaged:,})",
        _points(u.per_messaged()["conversion"]),
        _pp(planted.per_messaged),
    )
    lift.add_row(
        "holdout conversion · 대조군 구매율",
        _rate(_wilson(u.holdout.conversions, u.holdout.n)),
        _pct(planted.no_message),
    )
    lift.add_row(
        f"planted dormant VIPs, per customer messaged · 휴면 VIP, 받은 고객당 ({dormant.messaged:,})",
        _points(dormant.per_messaged()["conversion"]),
        _pp(answer.coupon_uplift),
    )
    lift.add_row(
        "their holdout · 그 대조군",
        _rate(_wilson(dormant.holdout.conversions, dormant.holdout.n)),
        _pct(answer.no_message),
    )
    lift.add_row("revenue per customer · 1인당 매출 증분", _won(u.revenue_per_customer), "")
    lift.add_row("incremental revenue · 증분 매출", _won(u.incremental_revenue), "")
    lift.add_row("message cost · 발송 비용", money(u.cost), "")
    lift.add_row("incremental revenue − cost · 증분 매출 − 비용", _won(u.net_revenue), "")
    console.print(lift)
    console.print(
        f"audience · 대상: {', '.join(f'{GROUPS.get(g, g)} {n:,}' for g, n in planted.groups.items())} "
        "(the demo shop's planted groups · 데모 상점이 심어 둔 집단). A small holdout gives wide "
        "intervals · 대조군이 작으면 구간이 넓습니다."
    )

    timing = Table(
        title="send-time test · 발송 시각 시험: opens of e-mails · 이메일 열람률 (95% intervals · 95% 구간)"
    )
    timing.add_column("")
    timing.add_column("e-mails · 이메일", justify="right")
    timing.add_column("opened · 열람", justify="right")
    timing.add_column("open rate · 열람률", justify="right")
    timing.add_column("evening readers · 저녁 독자", justify="right")
    labels = {"best_hour": "best hour · 고객별 최적 시각", "fixed": "10:00 fixed · 오전 10시 고정"}
    for rates in run.timing:
        timing.add_row(
            labels[rates.mode],
            f"{rates.tracked:,}",
            f"{rates.opened:,}",
            _rate(rates.rate),
            f"{rates.readers_opened:,}/{rates.readers_tracked:,} = {_rate(rates.readers_rate)}",
        )
    console.print(timing)
    reader = MESSAGE_RESPONSES["evening_reader"]
    hours = "-".join(f"{h}" for h in EVENING_READER_HOURS)
    console.print(
        f"This is the simulation's planted effect · 모의 실험에 심어 둔 효과입니다: the demo's evening readers "
        f"read {_pct(reader.read_own_hour)} of messages arriving at {hours}h and {_pct(reader.read)} at other "
        f"hours · 저녁 독자는 {hours}시에 온 메시지를 {_pct(reader.read_own_hour)}, 다른 시각에는 "
        f"{_pct(reader.read)} 읽습니다; other customers do not mind the hour · 다른 고객은 시각과 무관합니다."
    )


def _wilson(successes: int, n: int) -> Interval:
    from shopmind.activation import wilson_interval

    return wilson_interval(successes, n)

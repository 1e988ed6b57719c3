"""How ``shopmind campaigns`` shows a campaign to a marketer: the plan's counts, sample messages,
when the messages go, and the results with the uplift over the holdout, labelled in English and
Korean like the rest of the command line."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from shopmind.cli._format import local_time, money, plain_number
from shopmind.core import label

if TYPE_CHECKING:
    from shopmind.activation import (
        CampaignPreview,
        CampaignResults,
        Interval,
        PlanCounts,
        PreviewSample,
        VariantPreview,
    )

#: why a customer gets no message (``activation.EXCLUSIONS``), and the night move
REASONS = {
    "unreachable": ("no address on any channel", "연락 가능한 채널 없음"),
    "opted_out": ("opted out", "수신 거부"),
    "no_consent": ("no advertising consent", "광고 수신 동의 없음"),
    "after_end": ("after the campaign's end", "캠페인 종료 이후"),
    "cap_day": ("daily cap reached", "하루 발송 한도 초과"),
    "cap_week": ("weekly cap reached", "주간 발송 한도 초과"),
    "night_deferred": ("moved out of the night to 08:00", "야간이라 08시로 미룸"),
    "withdrawn": ("opted out before sending", "발송 전 수신 거부"),
}
STATES = {
    "draft": "초안",
    "scheduled": "예약됨",
    "running": "발송 중",
    "paused": "일시 중지",
    "finished": "종료",
}
STATUS = {
    "planned": ("planned", "발송 예정"),
    "excluded": ("excluded", "제외"),
    "holdout": ("held out", "대조군"),
    "not_in_audience": ("not in the audience", "대상 아님"),
}


def both(en: str, ko: str) -> str:
    return f"{en} · {ko}"


def reason(code: str | None) -> str:
    if code is None:
        return "-"
    en, ko = REASONS.get(code, (code, code))
    return both(en, ko)


def channel(code: str) -> str:
    return both(label("channel", code, "en"), label("channel", code, "ko"))


def state(code: str) -> str:
    return both(code, STATES.get(code, code))


def counts_table(counts: PlanCounts, title: str) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("customers", justify="right")
    rows = [
        (both("audience", "대상 고객"), counts.members),
        (both("held out (measured, sent nothing)", "대조군 (발송 안 함)"), counts.holdout),
        (both("treated", "발송 대상군"), counts.treated),
        (both("planned messages", "발송 예정 메시지"), counts.planned),
        (
            both("  of which moved out of the night to 08:00", "  그중 야간이라 08시로 미룬 메시지"),
            counts.deferred,
        ),
    ]
    for name, n in rows:
        table.add_row(name, f"{n:,}")
    for code, n in counts.excluded.items():
        if n:
            table.add_row(f"{both('excluded', '제외')}: {reason(code)}", f"{n:,}")
    for code, n in counts.by_channel.items():
        table.add_row(f"{both('by channel', '채널별')}: {channel(code)}", f"{n:,}")
    table.add_row(both("estimated cost", "예상 비용"), money(counts.cost))
    return table


def due_table(due: Iterable[tuple[datetime, int]], limit: int = 24) -> Table:
    table = Table(title=both("when the messages go", "발송 시각"))
    table.add_column(both("time", "시각"))
    table.add_column(both("messages", "메시지"), justify="right")
    rows = list(due)
    for at, n in rows[:limit]:
        table.add_row(local_time(at), f"{n:,}")
    if len(rows) > limit:
        rest = sum(n for _, n in rows[limit:])
        table.add_row(f"… {len(rows) - limit} more · 그 밖 {len(rows) - limit}개 시각", f"{rest:,}")
    return table


def sample_panel(sample: PreviewSample) -> Panel:
    m = sample.message
    status_en, status_ko = STATUS.get(sample.status, (sample.status, sample.status))
    lines = []
    if m.draft.subject:
        lines.append(f"[bold]{_escape(m.draft.subject)}[/]")
    lines.append(_escape(m.draft.text))
    if m.unsendable:
        lines.append(
            "[red]characters a text message cannot carry · 문자로 보낼 수 없는 글자:[/] "
            + _escape(" ".join(m.unsendable))
        )
    for v in m.violations:
        lines.append(f"[red]{_escape(v.field)}: {_escape(v.reason)}[/] ({v.rule})")
    title = (
        f"{m.profile_id} · {channel(sample.channel)} · {m.format.upper()} · {m.carrier_bytes:,} bytes · "
        f"{both(status_en, status_ko)}" + (f" ({reason(sample.reason)})" if sample.reason else "")
    )
    return Panel("\n".join(lines), title=_escape(title), title_align="left")


#: how much of a variant's sample message the table shows (the panels below show whole messages)
_SAMPLE_CHARS = 80


def _sample_words(variant: VariantPreview) -> str:
    if variant.send_time is not None:
        hour = (
            both("each customer's best hour", "고객별 최적 시각")
            if variant.send_time == "best_hour"
            else None
        )
        return hour or both(f"at {variant.send_time}", f"{variant.send_time}에 발송")
    if variant.sample is None:
        return both("nobody planned", "발송 예정 고객 없음")
    draft = variant.sample.message.draft
    words = " ".join(draft.text.split())
    if draft.subject:
        words = f"{' '.join(draft.subject.split())} / {words}"
    if len(words) > _SAMPLE_CHARS:
        words = words[: _SAMPLE_CHARS - 1] + "…"
    return f"{_escape(words)} ({variant.sample.message.profile_id})"


def variants_table(variants: Iterable[VariantPreview]) -> Table:
    """The experiments' variants on the step: each one's share (a bandit's chance now), the
    planned customers the plan gives it and a sample of its message (or its send hour)."""
    table = Table(title=both("experiment variants", "실험 변형"))
    table.add_column(both("experiment", "실험"), no_wrap=True)
    table.add_column(both("variant", "변형"))
    table.add_column(both("share", "비율"), justify="right")
    table.add_column(both("planned customers", "발송 예정 고객"), justify="right")
    table.add_column(both("sample message", "메시지 예시"))
    seen: set[str] = set()
    bandit = False
    for v in variants:
        control = v.experiment_id not in seen
        seen.add(v.experiment_id)
        bandit = bandit or v.policy != "fixed"
        share = f"{v.share:.0%}" + (" *" if v.policy != "fixed" else "")
        name = _escape(v.variant) + (" (control · 대조군)" if control else "")
        table.add_row(_escape(v.experiment_id), name, share, f"{v.members:,}", _sample_words(v))
    if bandit:
        table.caption = (
            "* Thompson sampling: the chance now; it sends in waves, the first a fifth of its customers · "
            "톰슨 샘플링: 지금의 배분 확률입니다. 여러 회차로 나누어 보내며 첫 회차는 대상 고객의 5분의 1입니다"
        )
    return table


def print_preview(out: Console, shown: CampaignPreview) -> None:
    write = out.print
    kind = both("advertising", "광고성") if shown.kind == "advertising" else both("informational", "정보성")
    write(f"[bold]{_escape(shown.name)}[/] · step · 단계 {shown.step} · {kind}")
    write(
        f"planned as of {local_time(shown.at)} · {local_time(shown.at)} 기준 계획 (nothing sent · 발송 안 함)"
    )
    write(counts_table(shown.counts, both("the plan", "발송 계획")))
    if shown.due:
        write(due_table(shown.due))
    if shown.variants:
        write(variants_table(shown.variants))
    for e in shown.exclusions:
        examples = ", ".join(e.examples[:3])
        write(f"{reason(e.reason)}: {e.count:,} ({e.share:.0%}) e.g. · 예: {examples}", highlight=False)
    if not shown.samples:
        write("no customer to show · 보여줄 고객이 없습니다")
    for sample in shown.samples:
        write(sample_panel(sample))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _interval(value: Interval | None, fmt: str) -> str:
    if value is None:
        return "- (too few members · 고객 수 부족)"
    show = {
        "pp": lambda x: f"{x * 100:+.1f}pp",
        "money": lambda x: ("+" if x > 0 else "") + money(x),
        "count": lambda x: f"{x:+,.1f}",
    }[fmt]
    return f"{show(value.estimate)}  \\[{show(value.low)}, {show(value.high)}]"


def results_tables(results: CampaignResults) -> list[Table]:
    steps = Table(title=both("per step", "단계별 결과"))
    columns = [
        ("step", "단계"),
        ("planned", "계획"),
        ("sent", "발송"),
        ("delivered", "도달"),
        ("opened", "열람"),
        ("clicked", "클릭"),
        ("converted", "구매 전환"),
        ("revenue", "매출"),
        ("cost", "비용"),
    ]
    for i, (en, ko) in enumerate(columns):
        steps.add_column(both(en, ko), justify="left" if i == 0 else "right")
    for s in results.steps:
        steps.add_row(
            s.step,
            *(f"{n:,}" for n in (s.planned, s.sent, s.delivered, s.opened, s.clicked, s.converted)),
            money(s.revenue),
            money(s.cost),
        )
    u = results.uplift
    pct = f"{u.confidence:.0%}"
    uplift = Table(title=both(f"uplift over the holdout ({pct} intervals)", f"대조군 대비 효과 ({pct} 구간)"))
    uplift.add_column(both("measure", "지표"), no_wrap=True)
    uplift.add_column(both("treated", "발송 대상군"), justify="right")
    uplift.add_column(both("holdout", "대조군"), justify="right")
    uplift.add_column(both(r"difference \[interval]", r"차이 \[구간]"), justify="right")
    rate = u.treated.conversion_rate, u.holdout.conversion_rate
    per = u.treated.revenue_per_customer, u.holdout.revenue_per_customer
    uplift.add_row(both("members", "고객"), f"{u.treated.n:,}", f"{u.holdout.n:,}", "")
    uplift.add_row(
        both("conversion rate", "구매 전환율"),
        *(f"{r:.2%}" if r is not None else "-" for r in rate),
        _interval(u.conversion, "pp"),
    )
    uplift.add_row(
        both("revenue per customer", "고객당 매출"),
        *(money(r) for r in per),
        _interval(u.revenue_per_customer, "money"),
    )
    uplift.add_row(
        both("incremental conversions", "추가 구매 고객"),
        "",
        "",
        _interval(u.incremental_conversions, "count"),
    )
    uplift.add_row(
        both("incremental revenue", "추가 매출"), "", "", _interval(u.incremental_revenue, "money")
    )
    uplift.add_row(both("message cost", "발송 비용"), money(u.cost), "", "")
    uplift.add_row(
        both("incremental revenue − cost", "추가 매출 − 비용"), "", "", _interval(u.net_revenue, "money")
    )
    share = u.messaged_share
    if share is not None:
        uplift.caption = (
            f"{u.messaged:,} of the treated got a message ({plain_number(share * 100, 3)}%) · "
            f"발송 대상군 중 {u.messaged:,}명이 메시지를 받음"
        )
    return [steps, uplift]

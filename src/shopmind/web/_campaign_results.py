"""A campaign's results as the dashboard shows them: per step what its messages did, and the uplift
over the holdout (``activation.campaign_results``) with each arm's 95 % intervals for the chart
and the difference in words a marketer reads."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from scipy import stats

from shopmind.activation import Arm, CampaignResults, campaign_results, wilson_interval
from shopmind.core import term
from shopmind.store import Store, StoredCampaign
from shopmind.web import _charts
from shopmind.web._campaign_views import capital, won, words
from shopmind.web._i18n import message


def _pp(value: float) -> str:
    return f"{abs(100 * value):.1f}"


def _signed_pp(value: float) -> str:
    return f"{100 * value:.1f}"


def uplift_words(result: CampaignResults, lang: str) -> list[str]:
    """The uplift as a marketer reads it (conversion, revenue per customer, net of cost)."""
    up = result.uplift
    if up.conversion is None or up.revenue_per_customer is None or up.net_revenue is None:
        return [message("cp.words.too_few", lang)]
    lines = []
    conv = up.conversion
    key = "cp.words.conversion_up" if conv.estimate >= 0 else "cp.words.conversion_down"
    lines.append(words(key, lang, d=_pp(conv.estimate), low=_signed_pp(conv.low), high=_signed_pp(conv.high)))
    if conv.low > 0:
        lines.append(message("cp.words.sure", lang))
    elif conv.high >= 0:
        lines.append(message("cp.words.unsure", lang))
    rev = up.revenue_per_customer
    key = "cp.words.revenue_up" if rev.estimate >= 0 else "cp.words.revenue_down"
    lines.append(
        words(key, lang, d=won(abs(rev.estimate), lang), low=won(rev.low, lang), high=won(rev.high, lang))
    )
    net = up.net_revenue
    lines.append(
        words(
            "cp.words.net",
            lang,
            cost=won(up.cost, lang),
            net=won(net.estimate, lang),
            low=won(net.low, lang),
            high=won(net.high, lang),
        )
    )
    share = up.messaged_share
    per = up.per_messaged()["conversion"]
    if share is not None and share < 0.999 and per is not None:
        lines.append(words("cp.messaged_share", lang, share=f"{share:.0%}", d=_signed_pp(per.estimate)))
    return lines


def results(store: Store, stored: StoredCampaign, now: datetime, lang: str) -> dict[str, Any]:
    found = campaign_results(store, stored.campaign_id, as_of=now)
    up = found.uplift
    steps = [
        {
            "step": words("cp.step", lang, n=i + 1),
            "planned": s.planned,
            "suppressed": s.suppressed,
            "sent": s.sent,
            "delivered": s.delivered,
            "opened": s.opened,
            "clicked": s.clicked,
            "converted": s.converted,
            "revenue": won(s.revenue, lang),
            "cost": won(s.cost, lang),
            "rates": {
                k: (getattr(s, k) / s.sent if s.sent else None)
                for k in ("delivered", "opened", "clicked", "converted")
            },
        }
        for i, s in enumerate(found.steps)
    ]
    arms = []
    for arm_key, arm in (("campaign.treated", up.treated), ("campaign.holdout", up.holdout)):
        arms.append(
            words(
                "cp.arm_line",
                lang,
                arm=capital(term(arm_key, lang), lang),
                n=f"{arm.n:,}",
                converted=f"{arm.conversions:,}",
                rate="–" if arm.conversion_rate is None else f"{100 * arm.conversion_rate:.1f}%",
                revenue=won(arm.revenue_per_customer, lang),
            )
        )
    chart = None
    if up.treated.n >= 2 and up.holdout.n >= 2:
        chart = _charts.uplift(
            [
                (
                    capital(term("campaign.treated", lang), lang),
                    arm_rate(up.treated),
                    arm_revenue(up.treated),
                ),
                (
                    capital(term("campaign.holdout", lang), lang),
                    arm_rate(up.holdout),
                    arm_revenue(up.holdout),
                ),
            ],
            (message("cp.conversion_rate", lang), message("cp.revenue_per_customer", lang)),
            "원" if lang == "ko" else "₩",
        )
    return {
        "as_of": found.as_of,
        "days": found.attribution_days,
        "steps": steps,
        "arms": arms,
        "words": uplift_words(found, lang),
        "chart": chart,
        "incremental": won(up.incremental_revenue.estimate, lang) if up.incremental_revenue else "–",
        "net": won(up.net_revenue.estimate, lang) if up.net_revenue else "–",
        "cost": won(up.cost, lang),
        "data": found.to_dict(),
    }


def arm_rate(arm: Arm) -> tuple[float, float, float]:
    """An arm's conversion rate with its Wilson 95 % interval."""
    found = wilson_interval(arm.conversions, arm.n)
    return found.estimate, found.low, found.high


def arm_revenue(arm: Arm) -> tuple[float, float, float]:
    """An arm's revenue per customer with its t 95 % interval (from the arm's sums; n ≥ 2)."""
    mean = arm.revenue / arm.n
    variance = max(0.0, (arm.revenue_squares - arm.revenue * arm.revenue / arm.n) / (arm.n - 1))
    half = float(stats.t.ppf(0.975, arm.n - 1)) * math.sqrt(variance / arm.n)
    return mean, mean - half, mean + half

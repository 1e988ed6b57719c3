"""How the command line writes times, money, scores and warnings (issue 17: times in UTC for a
shop in Seoul, money as 1.024e+07, bars ending at 1/5, the same warning twice)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from shopmind.cli._common import parse_as_of, progress_bars
from shopmind.cli._format import local_date, local_time, money, plain_number, score_value
from shopmind.cli._notes import FIT_EXPLAINED, print_notes


def test_as_of_date_is_printed_in_the_shops_zone() -> None:
    moment = parse_as_of("2026-04-01", "Asia/Seoul")
    assert moment == datetime(2026, 3, 31, 15, tzinfo=UTC)  # stored in UTC
    assert local_time(moment, "Asia/Seoul") == "2026-04-01 00:00 KST"
    assert local_date(moment, "Asia/Seoul") == "2026-04-01"
    assert local_time(moment, "Europe/London") == "2026-03-31 16:00 BST"


def test_default_zone_is_the_settings_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from shopmind.cli import _format

    _format.shop_zone.cache_clear()
    monkeypatch.setenv("SHOPMIND_SHOP_TIMEZONE", "Asia/Tokyo")
    try:
        assert local_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01 09:00 JST"
    finally:
        _format.shop_zone.cache_clear()


def test_money_is_money_never_scientific() -> None:
    assert money(10_240_000) == "₩10,240,000"
    assert money(10_240_000.4, "krw") == "₩10,240,000"
    assert money(12.5, "USD") == "$12.50"
    assert money(-3000) == "-₩3,000"
    assert money(12.5, "CHF") == "12.50 CHF"
    assert money(None) == "-"
    assert "e+" not in plain_number(2_465_967.0)
    assert plain_number(2_465_967.0) == "2,465,967"
    assert plain_number(0.47721) == "0.4772"
    assert plain_number(0.000012345) == "0.00001234"


def test_scores_read_as_a_marketer_reads_them() -> None:
    assert score_value("clv_12m", 2_395_410.2) == "₩2,395,410"
    assert score_value("p_alive", 0.8117) == "81%"
    assert score_value("purchase_probability_7d", 0.156) == "16%"
    assert score_value("frequency", 3.0) == "3"
    assert score_value("expected_purchases_90d", 4.9471) == "4.947"


def test_progress_in_the_server_ends_at_the_total() -> None:
    from pathlib import Path

    from shopmind.cli._common import IN_SERVER, InServer

    seen: list[tuple[str, int, int]] = []
    console = Console(file=io.StringIO())
    token = IN_SERVER.set(
        InServer(Path("."), None, console, console, lambda p, d, t: seen.append((p, d, t)))  # type: ignore[arg-type]
    )
    try:
        with progress_bars() as progress:
            progress("summaries", 1, 5)
            progress("features", 0, 4)
        assert seen[-2:] == [("summaries", 5, 5), ("features", 4, 4)]
        seen.clear()
        with pytest.raises(RuntimeError), progress_bars() as progress:
            progress("fit", 1, 4)
            raise RuntimeError("failed")
        assert seen == [("fit", 1, 4)]  # a failed job's bar stays where it stopped
    finally:
        IN_SERVER.reset(token)


def test_the_same_fit_warning_is_shown_once_and_explained() -> None:
    out = io.StringIO()
    err = Console(file=out, width=300)
    unstable = "The BG/NBD standard errors of a (±146%) exceed the estimates: the data hardly determine them."
    print_notes(err, [("warning", unstable), ("churn", "only 0 past windows"), ("churn", unstable)])
    text = out.getvalue()
    assert text.count("BG/NBD standard errors") == 1
    assert text.count("what this means") == 1
    assert FIT_EXPLAINED.splitlines()[1] in text
    assert "churn: only 0 past windows" in text


def test_python_fit_warnings_are_shown_once_per_command() -> None:
    import warnings

    from shopmind.cli._notes import OnceWarnings
    from shopmind.models import UnstableFitWarning

    out = io.StringIO()
    hook = OnceWarnings(Console(file=out, width=300))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = hook
        for _ in range(2):
            warnings.warn("The BG/NBD fit did not converge.", UnstableFitWarning, stacklevel=1)
    assert out.getvalue().count("did not converge") == 1
    assert out.getvalue().count("what this means") == 1

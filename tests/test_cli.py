"""The command line, run as a user would: real processes, real files, exit codes scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest


def shopmind(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        # PYTHONPATH passes through: a checkout's sources, not the installed copy, are under test
        env={
            "COLUMNS": "200",
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
            **(env or {}),
        },
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["import"],
        ["import", "orders"],
        ["import", "events"],
        ["import", "catalogue"],
        ["import", "interests"],
        ["demo"],
        ["status"],
        ["quarantine"],
        ["identity", "undo"],
        ["run"],
        ["customers", "at-risk"],
        ["customers", "dormant-vips"],
        ["customers", "lookalikes"],
        ["customers", "show"],
        ["recommend", "for"],
        ["demo-campaign"],
        ["campaigns", "create"],
        ["campaigns", "schedule"],
        ["campaigns", "results"],
        ["uplift"],
        ["worker"],
    ],
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = shopmind(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert "--workspace" in result.stdout or command in ([], ["import"])


def test_import_report_and_exit_codes(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert shopmind("status", "-w", ws).returncode == 5  # no workspace yet
    assert "shopmind init" in shopmind("status", "-w", ws).stderr
    assert shopmind("init", "-w", ws).returncode == 0

    good = tmp_path / "orders.csv"
    good.write_text("주문,일시,상품,수량,가격\nK1,2026-05-05 10:00,P1,1,1000\nK2,2026-05-06 10:00,P2,2,500\n")
    mapped = [
        "--map",
        "order_id=주문",
        "--map",
        "ordered_at=일시",
        "--map",
        "product_id=상품",
        "--map",
        "quantity=수량",
        "--map",
        "unit_price=가격",
    ]
    result = shopmind("import", "orders", str(good), "-w", ws, *mapped)
    assert result.returncode == 0, result.stderr
    assert "rows read" in result.stdout and "2" in result.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text("주문,일시,상품,수량,가격\nK3,2026-05-07 10:00,P1,1,1000\nK4,someday,P1,1,1000\n")
    result = shopmind("import", "orders", str(bad), "-w", ws, *mapped)
    assert result.returncode == 3, result.stderr
    assert "ordered_at" in result.stdout  # the report names the field

    assert shopmind("import", "orders", str(tmp_path / "nope.csv"), "-w", ws).returncode == 4
    reused = shopmind("import", "orders", str(good), "-w", ws)  # the saved --map pairs
    assert reused.returncode == 0, reused.stderr
    result = shopmind("import", "orders", str(good), "-w", ws, "--forget-map")  # columns not mapped
    assert result.returncode == 4 and "--map" in result.stderr

    events = tmp_path / "events.jsonl"
    events.write_bytes(
        orjson.dumps({"messageId": "e1", "type": "page_view", "anonymousId": "a1"})
        + b"\n"
        + orjson.dumps(
            {
                "messageId": "e2",
                "type": "identify",
                "anonymousId": "a1",
                "userId": "kim",
                "traits": {"email": "kim@example.com"},
            }
        )
        + b"\n"
    )
    assert shopmind("import", "events", str(events), "-w", ws).returncode == 0

    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(
        "product_id,name,category,brand,price,colour,stock\nP1,신라면,라면,농심,4500,red,10\n"
    )
    assert shopmind("import", "catalogue", str(catalogue), "-w", ws).returncode == 0
    interests = tmp_path / "interests.csv"
    interests.write_text("user_id,keyword,topic,weight\nkim,캠핑,outdoor,0.8\n,골프,sport,0.1\n")
    result = shopmind("import", "interests", str(interests), "--provider", "adnet", "-w", ws)
    assert result.returncode == 3 and "identifier" in result.stdout

    status = shopmind("status", "-w", ws, "--json")
    assert status.returncode == 0, status.stderr
    facts = json.loads(status.stdout)
    assert facts["tables"]["order_lines"]["rows"] == 3
    assert facts["tables"]["events"]["rows"] == 2
    assert facts["tables"]["products"]["rows"] == 2
    assert facts["tables"]["external_interests"]["rows"] == 1
    assert facts["quality"]["quarantined rows"] == 2
    assert shopmind("status", "-w", ws).returncode == 0
    quarantine = shopmind("quarantine", "-w", ws)
    assert "someday" in quarantine.stdout

    merges = shopmind("identity", "merges", "-w", ws)
    assert "anon:a1" in merges.stdout
    assert shopmind("identity", "undo", "999", "-w", ws).returncode == 2


def test_run_and_customers_commands(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert shopmind("demo", "-w", ws, "--customers", "800", "--days", "60", "--seed", "3").returncode == 0
    assert shopmind("customers", "segments", "-w", ws).returncode == 2  # no run yet: a usage hint
    assert shopmind("run", "-w", ws, "--as-of", "yesterday").returncode == 2
    first = shopmind("run", "-w", ws, "--as-of", "2026-02-01")
    assert first.returncode == 0, first.stderr
    assert "세그먼트" in first.stdout and "VIPs" in first.stdout
    assert shopmind("run", "-w", ws, "--as-of", "2026-03-02").returncode == 0
    segments = shopmind("customers", "segments", "-w", ws)
    assert segments.returncode == 0 and "dormant VIP" in segments.stdout
    out = tmp_path / "vips.csv"
    listed = shopmind("customers", "list", "-w", ws, "--segment", "clv_vip", "--output", str(out))
    assert listed.returncode == 0, listed.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "profile_id,clv_12m,p_alive,revenue" and len(lines) > 10
    moved = shopmind("customers", "moved", "-w", ws, "--from", "vip", "--to", "dormant_vip")
    assert moved.returncode == 0 and "moved from RFM VIP · RFM VIP to dormant VIP · 휴면 VIP" in moved.stdout
    # dates are the shop's days (Asia/Seoul): --as-of 2026-02-01 is 2026-01-31 15:00 in UTC
    assert "movement 2026-02-01 → 2026-03-02" in moved.stdout
    assert "before 2026-02-01 (need" in first.stderr  # the churn note: too little history
    assert "2026-01-31" not in first.stdout + first.stderr
    evaluated = shopmind(
        "evaluate",
        "recommendations",
        "-w",
        ws,
        "--split-at",
        "2026-02-01",
        "--until",
        "2026-02-20",
        "-a",
        "popularity",
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "train < 2026-02-01, test until 2026-02-20" in evaluated.stdout
    status = shopmind("status", "-w", ws).stdout
    assert "2026-01-01 0" in status and "KST" in status and "2025-12-31" not in status
    assert "model card: AUC" in first.stdout + first.stderr or "purchase probability skipped" in first.stderr
    audience = tmp_path / "band.csv"
    band = shopmind("customers", "band", "-w", ws, "--low", "0.2", "--high", "1", "--output", str(audience))
    assert band.returncode == 0, band.stderr
    count = int(band.stdout.split(" customer")[0].replace(",", ""))
    assert len(audience.read_text().splitlines()) == count + 1
    assert shopmind("customers", "band", "-w", ws, "--low", "0.5", "--high", "0.2").returncode == 2

    # churn, VIPs at risk, dormant former VIPs, look-alikes and one profile, from the second run
    second = shopmind("run", "-w", ws, "--as-of", "2026-03-02", "--churn-horizon", "14")
    assert second.returncode == 0, second.stderr
    assert "churn risk" in second.stdout and "VIP look-alikes" in second.stdout
    assert "taste" in second.stdout
    # the run stored the recommender: recommend for answers from it, fitting nothing
    assert "recommender · 추천 모델: learned from" in second.stdout
    assert (tmp_path / "ws" / "models" / "recommender.json").exists()
    picks = shopmind("recommend", "for", "new-visitor", "--session", "P00001", "-n", "5", "-w", ws)
    assert picks.returncode == 0, picks.stderr
    assert "stored by the run as of 2026-03-02 00:00 KST" in picks.stderr and "fitted now" not in picks.stderr
    assert "P00001" not in picks.stdout and picks.stdout.count("(P0") == 5  # the cart's item not again
    backtest = shopmind("run", "-w", ws, "--as-of", "2026-02-15")
    assert backtest.returncode == 0 and "recommender skipped" in backtest.stderr  # the newer one is kept
    assert "2026-03-02 00:00 KST, later than this run" in backtest.stderr
    at_risk = tmp_path / "at_risk.csv"
    shown = shopmind("customers", "at-risk", "-w", ws, "-o", str(at_risk))
    assert shown.returncode == 0, shown.stderr
    risky = at_risk.read_text().splitlines()
    assert risky[0] == "profile_id,churn_risk,clv_12m,revenue"
    assert all(float(line.split(",")[1]) >= 0.5 for line in risky[1:])
    dormant = tmp_path / "dormant.csv"
    assert shopmind("customers", "dormant-vips", "-w", ws, "-o", str(dormant)).returncode == 0
    assert dormant.read_text().startswith("profile_id,revenue,days_since_last_purchase,churn_risk")
    looks = tmp_path / "looks.csv"
    assert shopmind("customers", "lookalikes", "-w", ws, "-o", str(looks)).returncode == 0
    candidates = looks.read_text().splitlines()[1:]
    assert candidates and all(float(line.split(",")[1]) >= 0.5 for line in candidates)
    vip = lines[1].split(",")[0]
    profile = shopmind("customers", "show", vip, "-w", ws, "--json")
    assert profile.returncode == 0, profile.stderr
    found = json.loads(profile.stdout)
    assert "clv_12m" in found["scores"] and "churn_risk" in found["scores"]
    assert found["taste"]["top_categories"] and found["habits"]["send_channel"] in {
        "app_push",
        "sms",
        "email",
    }
    assert "best send time" in shopmind("customers", "show", vip, "-w", ws).stdout
    assert shopmind("customers", "show", "user:nobody", "-w", ws).returncode == 2
    bad_zone = shopmind("run", "-w", ws, "--zone", "Mars/Olympus")
    assert bad_zone.returncode == 2 and "IANA" in bad_zone.stderr


def test_a_shop_in_another_zone_gets_its_own_days(tmp_path: Path) -> None:
    """The workspace's zone (SHOPMIND_SHOP_TIMEZONE) is the default of every command: a run
    --as-of 2026-01-20 in Los Angeles is that day's midnight there (not in Seoul, where it is the
    19th's 07:00 in Los Angeles), and the movement between two runs says so."""
    ws = str(tmp_path / "ws")
    zone = {"SHOPMIND_SHOP_TIMEZONE": "America/Los_Angeles"}
    assert shopmind("demo", "-w", ws, "--customers", "300", "--days", "45", "--seed", "4").returncode == 0
    first = shopmind("run", "-w", ws, "--as-of", "2026-01-20", env=zone)
    assert first.returncode == 0, first.stderr
    assert "customers as of 2026-01-20 00:00 PST" in first.stdout
    assert shopmind("run", "-w", ws, "--as-of", "2026-02-05", env=zone).returncode == 0
    moved = shopmind("customers", "moved", "-w", ws, env=zone)
    assert moved.returncode == 0, moved.stderr
    assert "movement 2026-01-20 → 2026-02-05" in moved.stdout

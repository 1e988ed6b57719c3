"""The README's commands, run as it shows them, against the shop `make demo` builds.

The module builds the demo shop by running the Makefile's own `demo` recipe (its `shopmind` lines,
with the same customers, days, seed and dates), then runs every `shopmind ...` line of the README's
```sh blocks in a folder that also holds small stand-ins for the files the README imports
(orders.xlsx, online_retail.parquet, ...). Each command must exit 0 and print the words the README
promises. A README command that is neither in ``RUN`` nor in ``NOT_RUN`` (with the reason) fails the
test, so the README cannot gain an unchecked example.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ".shopmind-demo"  # the Makefile's DEMO_WORKSPACE, relative to the folder commands run in

#: README command (as written, comment stripped) -> words its output must contain.
RUN: dict[str, tuple[str, ...]] = {
    "shopmind init -w myshop": ("workspace ready",),
    "shopmind import orders orders.xlsx -w myshop --map order_id=주문번호 --map ordered_at=주문일시 "
    "--map product_id=상품코드 --map quantity=수량 --map unit_price=판매가 --map customer_id=회원번호 "
    "--map phone=연락처": ("rows read", "accepted"),
    "shopmind import orders online_retail.parquet -w myshop": ("rows read", "accepted"),
    "shopmind import events events.jsonl -w myshop": ("rows read", "accepted"),
    "shopmind import catalogue products.csv -w myshop": ("rows read", "accepted"),
    "shopmind import interests interests.csv --provider adnet -w myshop": ("rows read", "accepted"),
    "shopmind demo --customers 5000 --days 90 --seed 42 -w .shopmind-demo": ("demo shop (seed 42)", "events"),
    "shopmind status -w myshop [--json]": ("orders", "events"),
    "shopmind quarantine -w myshop": ("quarantine",),
    "shopmind export parquet shop-lake -w .shopmind-demo": (
        "lake written",
        "order_lines",
        "read it back with",
    ),
    "shopmind init -w lakecopy": ("workspace ready",),
    "shopmind import parquet shop-lake -w lakecopy": (
        "import lake:events",
        "newly stored",
        "rejected (quarantined)",
    ),
    "shopmind identity merges -w myshop": ("identity",),
    "shopmind run --as-of 2026-04-01 --churn-horizon 21": ("churn risk", "model card", "VIP look-alikes"),
    "shopmind customers segments": ("segment", "rule", "VIP"),
    "shopmind customers list --segment clv_vip": ("CLV VIP", "user:m003412"),
    "shopmind customers moved --from vip --to dormant_vip": ("movement", "moved from RFM VIP"),
    "shopmind customers at-risk -o at_risk.csv": ("wrote", "VIPs at risk"),
    "shopmind customers dormant-vips": ("dormant",),
    "shopmind customers lookalikes": ("VIP look-alikes",),
    "shopmind customers band --low 0.3 --high 0.6 -o audience.csv": ("expected buyers", "wrote"),
    "shopmind customers show user:m003412 [--json]": ("user:m003412", "12-month CLV"),
    "shopmind personas show": ("VIP 고객", "persona_2", "두드러진 특징"),
    "shopmind personas members persona_2 -o persona_2.csv": ("VIP 고객", "wrote"),
    "shopmind export csv --segment persona_2 -o persona.csv": ("exported", "customers"),
    "shopmind personas run --as-of 2026-04-01 --personas 6": ("페르소나", "persona_"),
    "shopmind recommend rules --min-support 0.01 --min-confidence 0.3": (
        "if bought",
        "then",
        "confidence",
        "lift",
    ),
    "shopmind recommend for user:m003412 --region 부산 --temp-c -5": (
        "user:m003412",
        "stored by the run as of 2026-04-01",
    ),
    "shopmind recommend for new-visitor --session P00001": ("P0",),
    "shopmind export csv --segment vip -o vips.csv": ("exported", "customers"),
    "shopmind export log": ("exports", "csv"),
    'shopmind uplift "발송 시각 시험 A: 고객별 최적 시각 (데모)" --budget 300000 --coupon-cost 3000 --margin 30000': (
        "Qini",
        "X-learner",
        "target list",
    ),
    "shopmind recommend for user:m003412 --scores": ("model score", "stored by the run as of 2026-04-01"),
    "shopmind segments preview inquiry.yaml --as-of 2026-04-01": (
        "이번 주 문의하기를 두 번 이상 누른 고객",
        "by RFM segment",
    ),
    "shopmind segments create inquiry.yaml --as-of 2026-04-01": ("saved segment", "세그먼트를 저장했습니다"),
    "shopmind segments list": ("saved segments", "Clicked 문의하기 twice or more this week"),
    'shopmind segments show "이번 주 문의하기를 두 번 이상 누른 고객" [--yaml]': (
        "kind: event",
        "문의하기 클릭",
    ),
    'shopmind segments members "Clicked 문의하기 twice or more this week" --limit 5': (
        "customers",
        "entered",
    ),
    'shopmind segments refresh "Clicked 문의하기 twice or more this week" --as-of 2026-04-02': (
        "entered",
        "left",
    ),
    'shopmind segments export "Clicked 문의하기 twice or more this week" -o asked.csv [--format parquet]': (
        "wrote",
    ),
    "shopmind campaigns create --file winback.yaml": ("created campaign", "초안으로 만들었습니다"),
    'shopmind campaigns preview "겨울 복귀 쿠폰" --customers 3': ("the plan · 발송 계획", "(광고)", "bytes"),
    'shopmind campaigns schedule "겨울 복귀 쿠폰"': ("scheduled", "발송을 기다립니다"),
    'shopmind campaigns pause "겨울 복귀 쿠폰"': ("paused", "일시 중지했습니다"),
    'shopmind campaigns resume "겨울 복귀 쿠폰"': ("resumed",),
    'shopmind campaigns results "겨울 복귀 쿠폰"': ("uplift over the holdout", "대조군 대비 효과"),
    "shopmind experiments evaluate demo-popup-abn --policy contextual": (
        "기록으로 학습한 맥락 밴딧",
        "doubly robust · 이중 강건 추정",
    ),
    "shopmind experiments create popup-test.yaml": (
        "created experiment welcome-popup",
        "초안으로 만들었습니다",
    ),
    "shopmind experiments list": ("welcome-popup", "demo-popup-abn", "draft · 초안"),
    "shopmind experiments start welcome-popup": ("started welcome-popup", "시작했습니다"),
    "shopmind experiments show welcome-popup": (
        "첫 구매 팝업 시험",
        "running · 진행 중",
        "control · 기준안",
    ),
    "shopmind experiments stop welcome-popup --winner control": (
        "채택한 변형 control",
        "종료했습니다",
    ),
    "shopmind experiments results demo-popup-abn [--json]": (
        "SRM check · 표본 비율 검사",
        "against the control · 기준안 대비",
    ),
    "shopmind keys create --kind write": ("sm_w_",),
    "shopmind keys create --kind secret": ("sm_s_",),
    "shopmind users create --role owner --login owner -w .shopmind-demo": ("owner",),
    "shopmind consent import members.csv -w myshop --exported-at 2026-03-31": ("rows read", "sms entries"),
    "shopmind consent show user:m003412": ("user:m003412", "text message", "granted", "may send"),
    "shopmind consent history user:m003412": ("consent history", "sign-up form", "2022-07"),
    "shopmind consent due --as-of 2026-04-01": ("consent-status notice due", "customers", "text message"),
    "shopmind consent notice-sent --all-due --as-of 2026-04-01 --channel email": (
        "recorded the consent-status notice",
    ),
}

#: README commands this test does not run, and why.
NOT_RUN: dict[str, str] = {
    "shopmind customers erase user:m003412 -w myshop": "run last, below, answering the question with y",
    "shopmind evaluate recommendations --split-at 2011-10-01 --until 2011-12-10": (
        "needs UCI Online Retail (the README's figures table); tests/test_recommend_evaluation.py runs it"
    ),
    "shopmind evaluate next-basket": (
        "fits five recommenders, the hybrid among them; tests/test_next_basket.py runs the command"
    ),
    "shopmind demo --to-lake big-lake --events 10000000 --days 365 --seed 1": (
        "10 million events take minutes; tests/test_stream_lake.py runs the command on 6,000"
    ),
    "shopmind run -w myshop --as-of 2026-04-01 --engine spark": (
        "starts Spark and takes minutes; tests/test_engine_spark.py runs the same path (facts_on_spark) on a demo shop"
    ),
    "shopmind run -w myshop --as-of 2026-04-01 --engine spark --spark-master spark://spark-master:7077 "
    "--data /mnt/lake/myshop": "needs a Spark cluster; tests/test_engine_spark.py runs the local path",
    "shopmind serve --port 8000": "a server that runs until stopped; tests/serving.py starts it for the API tests",
    "shopmind serve -w .shopmind-demo": "a server that runs until stopped; see the API and browser tests",
}


def readme_commands(text: str) -> list[str]:
    """Every ``shopmind ...`` line of the ```sh blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            code = line.split("  #")[0].strip()
            if code.startswith("shopmind "):
                commands.append(" ".join(code.split()))
    return commands


def makefile_demo(folder: Path) -> list[list[str]]:
    """The `shopmind` commands of the Makefile's demo recipe, its variables filled in."""
    text = (ROOT / "Makefile").read_text()
    values = dict(re.findall(r"^(DEMO_\w+)\s*\?=\s*(\S+)", text, flags=re.M))
    values["DEMO_WORKSPACE"] = str(folder / DEMO)
    recipe = text.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    commands = []
    for line in recipe.splitlines():
        line = line.strip()
        if line.startswith("$(BIN)/shopmind "):
            line = re.sub(r"\$\((DEMO_\w+)\)", lambda m: values[m.group(1)], line)
            commands.append(shlex.split(line.removeprefix("$(BIN)/shopmind ")))
    return commands


def shopmind(args: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "COLUMNS": "200",
        "PATH": "/usr/bin:/bin",
        "SHOPMIND_WORKSPACE": str(cwd / DEMO),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=600,
        env=env,
    )


def as_args(command: str) -> list[str]:
    """The command's arguments as a shell would pass them; ``[--json]`` (optional) left out."""
    return shlex.split(re.sub(r"\s*\[[^\]]*\]", "", command).removeprefix("shopmind "))


def write_user_files(folder: Path) -> None:
    """Small stand-ins for the files the README imports."""
    pd.DataFrame(
        {
            "주문번호": ["K-1", "K-1", "K-2"],
            "주문일시": ["2026-03-02 10:00", "2026-03-02 10:00", "2026-03-05 21:30"],
            "상품코드": ["P00001", "P00012", "P00031"],
            "수량": [1, 2, 1],
            "판매가": [4500, 12900, 8900],
            "회원번호": ["m003412", "m003412", None],
            "연락처": [None, None, "010-1234-5678"],
        }
    ).to_excel(folder / "orders.xlsx", index=False)
    pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "536366"],
            "StockCode": ["85123A", "71053", "22633"],
            "Description": [
                "WHITE HANGING HEART T-LIGHT HOLDER",
                "WHITE METAL LANTERN",
                "HAND WARMER UNION JACK",
            ],
            "Quantity": [6, 6, 6],
            "InvoiceDate": pd.to_datetime(["2010-12-01 08:26", "2010-12-01 08:26", "2010-12-01 08:28"]),
            "UnitPrice": [2.55, 3.39, 1.85],
            "CustomerID": [17850.0, 17850.0, 17850.0],
            "Country": ["United Kingdom"] * 3,
        }
    ).to_parquet(folder / "online_retail.parquet")
    # the README's own event example (its JSON block), one per line
    example = re.search(r"```json\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert example is not None
    (folder / "events.jsonl").write_text(json.dumps(json.loads(example.group(1)), ensure_ascii=False) + "\n")
    (folder / "products.csv").write_text(
        "product_id,name,category,brand,price,colour,description,stock,region\n"
        "P00001,신라면 멀티팩,라면,농심,4500,,매운 라면 5입,120,\n"
    )
    (folder / "interests.csv").write_text("user_id,keyword\nm003412,캠핑\n")
    # a Cafe24-style 회원 목록 with its 수신여부 columns (no date: the README gives --exported-at)
    (folder / "members.csv").write_text(
        "아이디,이름,휴대폰번호,이메일,SMS 수신여부,이메일 수신여부\n"
        "m003412,김민준,010-3412-0000,m003412@example.com,Y,N\n"
        ",,010-5555-1234,,수신거부,\n",
        encoding="utf-8",
    )
    # the README's segment definition, campaign and experiment (its YAML blocks)
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    (folder / "inquiry.yaml").write_text(blocks[0], encoding="utf-8")
    campaign = next(b for b in blocks if b.startswith("name: ") and "audience:" in b)
    (folder / "winback.yaml").write_text(campaign, encoding="utf-8")
    experiment = next(b for b in blocks if b.startswith("id: "))
    (folder / "popup-test.yaml").write_text(experiment, encoding="utf-8")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the demo shop built as `make demo` builds it, and the user's files."""
    here = tmp_path_factory.mktemp("readme")
    for args in makefile_demo(here):
        result = shopmind(args, here)
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    write_user_files(here)
    return here


def test_every_readme_command_is_run_or_explained() -> None:
    commands = readme_commands((ROOT / "README.md").read_text())
    assert len(commands) >= 25
    unknown = [c for c in commands if c not in RUN and c not in NOT_RUN]
    assert not unknown, f"README commands this test neither runs nor explains: {unknown}"
    stale = [c for c in [*RUN, *NOT_RUN] if c not in commands]
    assert not stale, f"commands no longer in the README: {stale}"


def test_readme_demo_command_is_the_makefiles(tmp_path: Path) -> None:
    readme = next(
        c for c in readme_commands((ROOT / "README.md").read_text()) if c.startswith("shopmind demo ")
    )
    make = next(a for a in makefile_demo(tmp_path) if a[0] == "demo")
    option = dict(itertools.pairwise(make))
    words = as_args(readme)
    for name in ("--customers", "--days", "--seed"):
        assert words[words.index(name) + 1] == option[name], name


def test_readme_commands_run_and_print_what_it_says(folder: Path) -> None:
    failures = []
    for command in readme_commands((ROOT / "README.md").read_text()):
        if command not in RUN:
            continue
        stdin = (
            "secret-password-1\nsecret-password-1\n" if command.startswith("shopmind users create") else ""
        )
        result = shopmind(as_args(command), folder, stdin)
        out = result.stdout + result.stderr
        missing = [word for word in RUN[command] if word not in out]
        if result.returncode != 0 or missing:
            failures.append(f"{command}\n  exit {result.returncode}, missing {missing}\n{out[-1500:]}")
    # what the README says of its example customer: the highest 12-month CLV of the demo shop
    top = shopmind(["customers", "list", "--segment", "clv_vip", "--limit", "1", "-o", "top.csv"], folder)
    assert (folder / "top.csv").read_text().splitlines()[1].startswith("user:m003412,"), top.stdout
    for name in ("at_risk.csv", "audience.csv"):
        assert (folder / name).read_text().startswith("profile_id,"), name
    # last: the erasure asks first; answered yes, the customer imported from orders.xlsx is gone
    erase = shopmind(as_args("shopmind customers erase user:m003412 -w myshop"), folder, "y\n")
    if erase.returncode != 0 or "deleted" not in erase.stdout + erase.stderr:
        failures.append(f"erase: exit {erase.returncode}\n{erase.stdout[-1500:]}{erase.stderr[-1500:]}")
    assert not failures, "\n\n".join(failures)

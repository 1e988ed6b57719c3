"""Every dashboard page (in Korean and in English) and the README's CLI commands, on the synthetic
shop with every job run, read as a native would write them (issue 17): no placeholder particle
("와(과)", "을(를)", "(으)로" ...) anywhere, and on Korean pages no code the product itself produces
(event types, devices, channels, on-site actions and placements, trigger ids, model inputs, job
and segment keys) nor any other English word outside an allow-list of brands, abbreviations, units
and identifiers. The shop's own data is not the page's words: product names, and the experiments'
ids, names, variant and metric names (the marketer's, as the experiment file names them). What the
marketer types (a form's text area) is left out, and a word shown as code (``<code>``: an
experiment file's field names, an identifier) may be English, but never one of the product's own
codes. The dashboard is the real ``shopmind serve``, signed in with an account; the CLI runs as
``python -m shopmind``."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from shopmind.core import GLOSSARY, LABELS
from shopmind.onsite import DEFAULT_TRIGGERS, parse_triggers
from shopmind.segments import SEGMENTS
from shopmind.store import Store, log_decisions, log_outcomes
from tests.serving import DashboardClient, Server
from tests.shops import understood_workspace

PLACEHOLDER = re.compile(r"을\(를\)|를\(을\)|은\(는\)|는\(은\)|이\(가\)|가\(이\)|과\(와\)|와\(과\)|\(으\)로")
#: English: a plural marker left ("order(s)") or a plural after a count of one ("1 orders")
PLURAL = re.compile(
    r"\b[A-Za-z]+\(e?s\)|(?<![\d,.])1 (?:[A-Za-z-]+ ){0,2}"
    r"(?:order|customer|buyer|day|VIP|visitor|identifier|profile|rule|row|session|item)s\b"
)

#: codes the product produces: on a Korean screen each must be shown by its word
#: (the one-word codes, such as ``mobile`` or ``popup``, are English words: the Korean check catches them)
RAW_TERMS = {
    code
    for code in (
        *(code for kind in LABELS.values() for code in kind),
        *(t.id for t in parse_triggers(DEFAULT_TRIGGERS, "default")),
        *SEGMENTS,
        *(key.split(".", 1)[1] for key in GLOSSARY),
    )
    if "_" in code or "-" in code
}
#: Latin words a Korean page may show: brands, abbreviations people use in Korean, units, formats
ALLOWED = {
    "shopmind", "English", "VIP", "RFM", "CLV", "AUC", "Brier", "ECE", "CSV", "ID", "OS", "R", "F", "M", "T",
    "Android", "iOS", "macOS", "Windows", "Linux", "SPF", "SPF50", "P", "A", "B", "kg", "g", "ml", "L", "cm",
    "mm", "C", "Pro", "vs", "p",  # %p: percentage points
    "JSON", "Parquet", "YAML",  # file formats, as CSV
    "CUPED", "Holm", "SRM", "IPS", "SNIPS",  # names statisticians use in Korean too (CUPED 보정, IPS 추정)
    "owner", "nobody",  # the test's account's login name, the id it looks up
}  # fmt: skip
# identifiers and data: member/anonymous/profile ids, product ids (P00183), order ids, URLs, SKU-like
ID_LIKE = re.compile(r"^(?:[a-z]+:[^\s]+|[A-Z]{1,4}[-\d][\w-]*|[a-z]?\d[\w-]*|\w+://\S+|/\S*)$")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_+\-:./]*")


def _decisions(store: Store) -> None:
    """On-site decisions of two built-in triggers, so the on-site page has rows and a chart."""
    from datetime import UTC, datetime, timedelta

    at = datetime(2026, 3, 31, 12, tzinfo=UTC)
    log_decisions(
        store,
        [
            {
                "decision_id": f"d{i}",
                "decided_at": at + timedelta(minutes=i),
                "visitor": f"v{i}",
                "trigger_id": "first-purchase-coupon" if i < 6 else "cart-abandonment",
                "action": "popup" if i < 6 else "slide_in",
                "placement": "popup",
            }
            for i in range(10)
        ],
    )
    log_outcomes(store, [{"decision_id": f"d{i}", "outcome": "shown", "outcome_at": at} for i in range(8)])


#: a saved segment with a condition of every kind the builder makes (and a few it does not), so its
#: page's conditions in words are read too; the shop's own names in it are Korean
SAVED_SEGMENT = {
    "name": {"ko": "다시 올 만한 고객", "en": "Likely to come back"},
    "description": {
        "ko": "라면을 자주 본, 문자 광고 수신에 동의한 고객",
        "en": "Ramen browsers with text consent",
    },
    "conditions": [
        {"kind": "event", "type": "product_view", "category": "라면", "count": {"at_least": 3}},
        {"kind": "event", "name": "문의하기 클릭", "window": {"kind": "last", "days": 365}},
        {"kind": "not", "condition": {"kind": "event", "type": "banner_click", "count": {"at_least": 2}}},
        {"kind": "event", "type": "cart_add", "count": {"at_most": 0}, "window": {"kind": "last", "days": 7}},
        {"kind": "event", "type": "product_view", "count": {"at_least": 2, "distinct": "category"}},
        {"kind": "sequence", "steps": [{"type": "product_view"}, {"type": "cart_add"}], "within_minutes": 30},
        {"kind": "profile", "field": "purchase_probability_7d", "op": "between", "value": [0.0, 0.9]},
        {"kind": "profile", "field": "device", "op": "in", "value": ["mobile", "desktop", "tablet", "other"]},
        {"kind": "profile", "field": "hour", "op": "between", "value": [0, 23]},
        {"kind": "profile", "field": "gender", "op": "!=", "value": "other"},
        {"kind": "profile", "field": "member", "value": True},
        {"kind": "profile", "field": "clv_12m", "op": ">=", "value": 0},
        {"kind": "consent", "channel": "sms", "granted": True},
        {
            "kind": "not",
            "condition": {"kind": "consent", "channel": "app_push", "purpose": "night_advertising"},
        },
        {"kind": "not", "condition": {"kind": "in_segment", "segment": "could_become_vip"}},
        {
            "kind": "any",
            "conditions": [
                {"kind": "moved", "from": "vip", "to": "dormant_vip"},
                {"kind": "in_segment", "segment": "loyal"},
                {"kind": "profile", "field": "age_band", "op": "in", "value": ["20s", "30s", "60s+"]},
                {"kind": "profile", "field": "price_band", "value": "high"},
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, DashboardClient, Path]]:
    from datetime import UTC, datetime

    from shopmind.segments import create_segment

    folder = understood_workspace(tmp_path_factory.mktemp("korean") / "shop")
    with Store(folder / "shop.duckdb") as store:
        _decisions(store)
        create_segment(store, SAVED_SEGMENT, as_of=datetime(2026, 4, 1, tzinfo=UTC))
        _experiments(store)
    _catalogue_words(folder)
    cli = folder.parent / "cli"  # the server holds its workspace's store: the CLI reads a copy
    shutil.copytree(folder, cli)
    server = Server(folder)
    password = server.add_user("owner", "owner")
    server.start()
    for _ in range(240):  # the recommender learns in the background: the 360° page shows its picks
        if httpx.get(f"{server.url}/readyz").json().get("recommender") != "training":
            break
        time.sleep(0.5)
    try:
        client = server.dashboard("owner", password)
        yield server, client, cli
        client.close()
    finally:
        assert server.stop() == 0


def visible_text(page: str) -> str:
    """What a reader sees: the text of the page without tags, plus the words of its charts (trace
    names, axis titles, category labels); not what the marketer types into a text area."""
    charts = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, flags=re.S)
    words: list[str] = []
    for chart in charts:
        _chart_words(json.loads(chart.replace("<\\/", "</")), words, None)
    body = re.sub(r"<(script|style|textarea)\b.*?</\1>", " ", page, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return html.unescape(body) + "\n" + "\n".join(words)


def _chart_words(node: Any, out: list[str], key: str | None) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _chart_words(v, out, k)
    elif isinstance(node, list):
        for v in node:
            _chart_words(v, out, key)
    elif isinstance(node, str) and key in {"name", "text", "x", "y", "labels", "label", "hovertext"}:
        out.append(node)


def code_words(page: str) -> set[str]:
    """The words a page shows as code (``<code>``): identifiers and an experiment file's fields."""
    shown = re.findall(r"<code\b[^>]*>(.*?)</code>", page, flags=re.S)
    return {m.group().rstrip(".:/-") for text in shown for m in WORD.finditer(html.unescape(text))}


def problems(
    text: str, korean: bool, any_snake_case: bool = True, as_code: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """The placeholder particles of ``text``, its raw codes (the catalogue's, and with
    ``any_snake_case`` every snake_case word), and (``korean``) its untranslated words, apart
    from those shown as code (``as_code``)."""
    found = [
        f"placeholder particle: …{text[max(0, m.start() - 20) : m.end()]}" for m in PLACEHOLDER.finditer(text)
    ]
    found += [f"plural: …{text[max(0, m.start() - 20) : m.end()]}" for m in PLURAL.finditer(text)]
    for match in WORD.finditer(text):
        word = match.group().rstrip(".:/-")
        context = text[max(0, match.start() - 30) : match.end() + 10].replace("\n", " ")
        if word in RAW_TERMS or (any_snake_case and "_" in word and not ID_LIKE.match(word)):
            found.append(f"raw code {word!r}: …{context}…")
        elif (
            korean
            and word not in ALLOWED
            and word not in as_code
            and not ID_LIKE.match(word)
            and not _in_product_name(word)
        ):
            found.append(f"English word {word!r}: …{context}…")
    return found


# Latin words inside the synthetic shop's product and brand names ("SPF50+", "1++") are data, not UI;
# so are the experiments' ids, names, variant and metric names and who made them
_CATALOGUE_WORDS: set[str] = set()


def _in_product_name(word: str) -> bool:
    return word in _CATALOGUE_WORDS


def _pages(client: DashboardClient) -> list[str]:
    pages = [
        "/dashboard/overview",
        "/dashboard/customers",
        "/dashboard/predictions",
        "/dashboard/customer",
        "/dashboard/customer?id=nobody",
        "/dashboard/products",
        "/dashboard/products?q=김치",
        "/dashboard/onsite",
        "/dashboard/users",
        "/dashboard/segments",
        "/dashboard/segments/new",
        "/dashboard/segments/no-such-segment",
        "/dashboard/experiments",
        "/dashboard/experiments/new",
        "/dashboard/experiments/no-such-experiment",
        *(f"/dashboard/experiments/{e}" for e in EXPERIMENT_IDS),
        f"/dashboard/experiments/{DRAFT['id']}/edit",
    ]
    pages += [f"/dashboard/customers/segment/{key}" for key in (*SEGMENTS, "clv_vip", "vip_at_risk")]
    segment = client.get("/dashboard/customers/segment/vip?lang=ko").text
    vip = re.search(r'customer\?id=([^"&]+)', segment)
    assert vip, "the VIP segment lists its customers"
    pages.append("/dashboard/customer?id=" + unquote(html.unescape(vip[1])))
    products = client.get("/dashboard/products?lang=ko").text
    product = re.search(r'href="/dashboard/products/([^"?]+)"', products)
    assert product, "the products page links its products"
    pages.append(f"/dashboard/products/{product[1]}")
    pages.append(f"/dashboard/products/{product[1]}?region=부산&temp_c=abc&precip_mm=3&hour=21")
    segments = client.get("/dashboard/segments?lang=ko").text
    saved = re.search(r'href="(/dashboard/segments/[0-9a-f]+)"', segments)
    assert saved, "the segments page links the saved segment"
    pages.append(saved[1])
    pages.append(saved[1] + "?done=refreshed&entered=1&exited=2")
    return pages


def _catalogue_words(folder: Path) -> None:
    from shopmind.experiments import parse_experiment

    with Store(folder / "shop.duckdb") as store:
        names = [n for (n,) in store.sql("SELECT name || ' ' || coalesce(brand, '') FROM products")]
        for experiment_id, name, definition, by in store.sql(
            "SELECT experiment_id, name, definition, created_by FROM experiments"
        ):
            declared = parse_experiment(definition)
            names += [experiment_id, name, by, *declared.variant_names, *(m.name for m in declared.metrics)]
            # the demo's variants show triggers of its own, not in the server's file: the on-site
            # page knows their decisions by the id only
            names += [v.trigger for v in declared.variants if v.trigger and v.trigger.startswith("demo-")]
    _CATALOGUE_WORDS.update(m.group().rstrip(".:/-") for n in names for m in WORD.finditer(n))


#: a draft and a running experiment beside the demo's three stopped popup experiments
DRAFT = {
    "id": "exit-popup-copy",
    "name": "이탈 팝업 문구",
    "point": {"kind": "placement", "placement": "popup", "trigger": "cart-abandonment"},
    "variants": [
        {"name": "control", "trigger": "cart-abandonment"},
        {"name": "coupon", "trigger": "first-purchase-coupon"},
        {"name": "nothing", "trigger": None},
    ],
    "metrics": [
        {"name": "conversion", "kind": "conversion", "window_days": 7},
        {"name": "unsubscribes", "kind": "unsubscribes", "guardrail": True},
    ],
}
RUNNING = {
    "id": "picks-hybrid-vs-popular",
    "name": "추천 방식 비교",
    "point": {"kind": "recommendations", "placement": "*"},
    "variants": [{"name": "hybrid", "strategy": "hybrid"}, {"name": "popular", "strategy": "popularity"}],
    "metrics": [{"name": "revenue", "kind": "revenue"}, {"name": "basket", "kind": "order_value"}],
}
EXPERIMENT_IDS = (
    "demo-popup-abn",
    "demo-popup-thompson",
    "demo-popup-contextual",
    DRAFT["id"],
    RUNNING["id"],
)


def _experiments(store: Store) -> None:
    """The demo's popup experiments (a week, stopped), a draft and a running one, so the
    experiment pages show every state, their results, intervals and the bandits' traffic."""
    from datetime import UTC, datetime

    from shopmind.experiments import experiment_json, parse_experiment
    from shopmind.measure import run_demo_experiments
    from shopmind.store import create_experiment, set_experiment_state

    run_demo_experiments(store, days=7, per_day=48)
    now = datetime(2026, 3, 31, tzinfo=UTC)
    for definition in (DRAFT, RUNNING):
        declared = parse_experiment(definition)
        create_experiment(
            store,
            declared.id,
            declared.name,
            experiment_json(declared),
            created_by="dashboard:owner",
            now=now,
        )
    set_experiment_state(store, RUNNING["id"], "running", now)


def test_every_dashboard_page_reads_as_native_korean_and_english(
    shop: tuple[Server, DashboardClient, Path],
) -> None:
    _, client, _ = shop
    pages = _pages(client)
    assert len(pages) >= 25
    found: list[str] = []
    for lang in ("ko", "en"):
        for path in pages:
            answer = client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
            assert answer.status_code == (404 if "no-such" in path else 200), (path, answer.status_code)
            text = visible_text(answer.text)
            as_code = code_words(answer.text)
            found += [f"{lang} {path}: {p}" for p in problems(text, korean=lang == "ko", as_code=as_code)]
    assert not found, "\n".join(found[:60])


def test_the_checker_catches_what_it_must() -> None:
    """The rules above can fail: a placeholder, a raw code, an English word on a Korean page."""
    assert problems("종가 포기김치 1kg을(를) 고른 고객이", korean=True)
    assert problems("신라면와(과) 함께", korean=False)
    assert problems("11시 · mobile · push", korean=True)
    assert problems("트리거 first-purchase-coupon 형태 slide_in", korean=True)
    assert problems("revenue_all (+1.37)", korean=False)
    assert problems("Mar 2026 매출", korean=True)
    assert not problems("P00183 · user:m001250 · ORD-5-0001701 · RFM VIP 264명 · 1kg", korean=True)
    assert problems("1 orders · revenue ₩12,900", korean=False)
    assert problems("Second purchase within 30 day(s)", korean=False)
    assert not problems("1 order · 11 orders · 21 customers · 1,201 buyers", korean=False)
    # shown as code, a field's name may be English, but never the product's own code
    assert not problems("항목 window 설명", korean=True, as_code={"window"})
    assert problems("트리거 first-purchase-coupon", korean=True, as_code={"first-purchase-coupon"})
    assert visible_text("<p>실험 정의</p><textarea>id: x\nname: y</textarea>").split() == ["실험", "정의"]


def test_a_count_of_one_takes_the_singular_in_english(shop: tuple[Server, DashboardClient, Path]) -> None:
    """The customer page of a member who ordered once: "1 order" in English (it said "1 orders"),
    주문 1건 in Korean."""
    _, client, folder = shop
    with Store(folder / "shop.duckdb") as store:
        ((once,),) = store.sql(
            "SELECT 'user:' || customer_id FROM orders WHERE customer_id IS NOT NULL "
            "GROUP BY customer_id HAVING count(*) = 1 ORDER BY 1 LIMIT 1"
        )
    english = visible_text(client.get("/dashboard/customer", params={"id": once, "lang": "en"}).text)
    assert "1 order · revenue" in english, english[:2000]
    korean = visible_text(client.get("/dashboard/customer", params={"id": once, "lang": "ko"}).text)
    assert "주문 1건 · 매출" in korean


def _a_cli_identifier(problem: str) -> bool:
    """Segment keys (what ``--segment`` takes, shown beside their names) and table names (in
    ``status``, for data teams) are identifiers on the command line."""
    word = problem.split("'")[1] if problem.startswith("raw code") else ""
    return word in SEGMENTS or word in _TABLES or f"list.{word}" in GLOSSARY


_TABLES = {
    "order_lines",
    "identity_links",
    "external_interests",
    "segment_members",
    "job_runs",
    "profile_facts",
}


README_COMMANDS = [
    ["status"],
    ["customers", "segments"],
    ["customers", "list", "--segment", "clv_vip"],
    ["customers", "moved", "--from", "vip", "--to", "dormant_vip"],
    ["customers", "at-risk"],
    ["customers", "dormant-vips"],
    ["customers", "lookalikes"],
    ["customers", "band", "--low", "0.3", "--high", "0.6"],
    ["customers", "show", "{member}"],
    ["recommend", "rules", "--min-support", "0.01", "--min-confidence", "0.3"],
    ["recommend", "for", "{member}", "--region", "부산", "--temp-c", "-5"],
    ["recommend", "for", "new-visitor", "--session", "P00001"],
    ["quarantine"],
    ["identity", "merges"],
    ["users", "list"],
    ["consent", "show", "{member}"],
    ["consent", "history", "{member}"],
    ["consent", "due", "--as-of", "2026-04-01"],
    ["run", "--as-of", "2026-04-01"],  # the day after the synthetic shop's last
    ["demo", "--customers", "200", "--days", "30", "--seed", "42"],  # into a workspace of its own
]


@pytest.mark.parametrize("command", README_COMMANDS, ids=lambda c: " ".join(c))
def test_the_readmes_commands_leave_no_placeholder_or_raw_code(
    shop: tuple[Server, DashboardClient, Path], command: list[str]
) -> None:
    """The CLI prints both languages side by side, so English words are expected there; placeholder
    particles and raw codes (``order_completed``, ``slide_in``, ``revenue_all``) are not."""
    _, _, folder = shop
    with Store(folder / "shop.duckdb") as store:  # the README's customer is one of this shop's VIPs
        member = store.sql("SELECT min(profile_id) FROM segment_members WHERE segment = 'clv_vip'")[0][0]
    command = [member if part == "{member}" else part for part in command]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    workspace = folder.parent / "demo-cli" if command[0] == "demo" else folder
    done = subprocess.run(
        [sys.executable, "-m", "shopmind", *command, "-w", str(workspace)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout + done.stderr  # hints and notes go to stderr
    assert output.strip(), "the command prints something"
    # the CLI also serves data teams: a parameter named in a warning (penalizer_coef) is fine there
    found = [p for p in problems(output, korean=False, any_snake_case=False) if not _a_cli_identifier(p)]
    assert not found, "\n".join(found[:40])


def test_the_product_has_one_korean_name() -> None:
    """숍마인드, as Koreans write "shop" (숍), everywhere: the demo shop's pages were titled
    "쇼프마인드"."""
    root = Path(__file__).resolve().parents[1]
    files = [
        *(root / "src").rglob("*.py"),
        *(root / "src").rglob("*.html"),
        *(root / "src").rglob("*.js"),
        root / "README.md",
        *(root / "docs").rglob("*.md"),
    ]
    misspelt = ("쇼프마인드", "샵마인드", "쇼핑마인드")
    found = [
        f"{path.relative_to(root)}: {word}" for path in files for word in misspelt if word in path.read_text()
    ]
    assert not found, found
    assert "숍마인드" in (root / "src/shopmind/api/_demo_shop.py").read_text()

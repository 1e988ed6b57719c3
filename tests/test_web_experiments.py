"""The dashboard's experiment pages without a browser, against ``shopmind serve`` on a small store
with two running experiments (exposures and orders written in) and one nobody has met: the list
and pages render for each role (viewers look, marketers act); the form names each wrong field in
the page's language and stores nothing; an experiment is saved, started and stopped from its page
(a winner that is not a variant is refused); the results page shows the numbers
``experiment_results`` computes, hides them under a red banner when the split is broken, and
never shows NaN; every POST needs the session's CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shopmind.measure import experiment_results
from shopmind.store import Store, Workspace
from tests import experiment_rows
from tests.serving import DashboardClient, Server
from tests.test_korean_text import problems, visible_text

ROLES = ("viewer", "marketer")
#: the marketer's own identifiers (variant, trigger, experiment ids, the account that made them),
#: shown as typed, and the method names a Korean analyst writes in Latin letters
DATA = {"control", "free-shipping", "exit-coupon", "exit-free-shipping", "test", "marketer", "viewer"}
TERMS = {"SRM", "CUPED", "Holm", "YAML", "SNIPS", "IPS"}
GOOD = """\
id: banner-strategy
name: 배너 추천 방식
point: {kind: recommendations, placement: "*"}
variants:
  - {name: hybrid, strategy: hybrid}
  - {name: popular, strategy: popularity}
metrics:
  - {name: clicks, kind: clicks, window_days: 3}
"""


def seed_bandit(store: Store) -> None:
    """A Thompson-sampling popup test, seeded: 400 decisions over four days by 40 visitors (each
    meets both variants), propensities moving towards free-shipping, which clicks more; one
    stored state a day, the last naming free-shipping the winner."""
    import random

    import orjson

    from shopmind.experiments import parse_experiment
    from shopmind.measure import new_experiment
    from shopmind.store import log_decisions, log_outcomes, save_bandit_state, set_experiment_state

    definition = experiment_rows.popup("popup-bandit", "이탈 팝업 밴딧")
    definition["policy"] = {"kind": "thompson", "reward": "clicked"}
    t0 = experiment_rows.T0
    new_experiment(store, parse_experiment(definition), created_by="test", now=t0)
    # stored data for the pages, not a start: the seeded popup tests share its point
    set_experiment_state(store, "popup-bandit", "running", t0)
    rng = random.Random(11)
    decisions, outcomes = [], []
    for i in range(400):
        d = i // 100
        p_free = 0.5 + 0.1 * d  # the bandit leans towards free-shipping day by day
        variant = "free-shipping" if rng.random() < p_free else "control"
        at = t0 + timedelta(days=d, minutes=3 * (i % 100))
        decisions.append(
            {
                "decision_id": f"b{i}",
                "decided_at": at,
                "visitor": f"bv{i % 40}",
                "placement": "popup",
                "trigger_id": "exit-coupon",
                "action": "popup",
                "experiment_id": "popup-bandit",
                "variant": variant,
                "propensity": p_free if variant == "free-shipping" else 1 - p_free,
            }
        )
        outcomes.append({"decision_id": f"b{i}", "outcome": "shown", "outcome_at": at})
        if rng.random() < (0.15 if variant == "free-shipping" else 0.05):
            outcomes.append(
                {"decision_id": f"b{i}", "outcome": "clicked", "outcome_at": at + timedelta(seconds=9)}
            )
    log_decisions(store, decisions)
    log_outcomes(store, outcomes)
    for d in range(4):
        p_free = 0.5 + 0.1 * d
        state = {
            "kind": "thompson",
            "variants": ["control", "free-shipping"],
            "shares": {"control": 1 - p_free - 0.1, "free-shipping": p_free + 0.1},
            "winner": "free-shipping" if d == 3 else None,
            "decisions": 100 * (d + 1),
        }
        save_bandit_state(
            store, "popup-bandit", t0 + timedelta(days=d, hours=20), orjson.dumps(state).decode()
        )
    # stopped with its winner, as the operator confirms a clicks bandit's suggestion (a running one
    # would go on learning in the server, and a clicks bandit never names a winner by itself)
    set_experiment_state(store, "popup-bandit", "stopped", t0 + timedelta(days=4), "free-shipping")


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, DashboardClient], dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("experiment-pages") / "shop"
    Workspace.init(folder)
    with Store(folder / "shop.duckdb") as store:
        truth = experiment_rows.seed_pages(store)
        seed_bandit(store)
        oracle = experiment_results(store, "popup-copy", as_of=experiment_rows.AS_OF)
        bandit = experiment_results(store, "popup-bandit", as_of=experiment_rows.AS_OF)
    server = Server(folder, args=("--no-recommender", "--run-at", "off"))
    passwords = {role: server.add_user(role, role) for role in ROLES}
    server.start()
    clients = {role: server.dashboard(role, passwords[role]) for role in ROLES}
    try:
        yield server, clients, {"truth": truth, "oracle": oracle, "bandit": bandit}
    finally:
        for c in clients.values():
            c.close()
        assert server.stop() == 0, server.output()


def _post(client: DashboardClient, path: str, data: dict[str, str], csrf: bool = True) -> Any:
    if csrf:
        data = {**data, "csrf_token": client.csrf}
    return client.post(path, data=data, headers={"Origin": str(client.base_url)})


def _text_problems(page: str, korean: bool) -> list[str]:
    """The page's placeholder particles, raw codes and (Korean) untranslated words; what the
    marketer typed (in <code> and the text box) and their identifiers are data."""
    text = visible_text(re.sub(r"<code>.*?</code>|<textarea.*?</textarea>", " ", page, flags=re.S))
    return [p for p in problems(text, korean=korean) if not any(f"'{w}'" in p for w in DATA | TERMS)]


def _readable(client: DashboardClient, path: str) -> list[str]:
    """Problems of the page's text in both languages (identifiers in <code> are data)."""
    found = []
    for lang in ("ko", "en"):
        answer = client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        assert "NaN" not in answer.text and "nan%" not in answer.text.lower(), path
        found += [f"{lang} {path}: {p}" for p in _text_problems(answer.text, lang == "ko")]
    return found


def test_the_pages_render_for_each_role_and_read_natively(
    shop: tuple[Server, dict[str, DashboardClient], dict[str, Any]],
) -> None:
    _, clients, _ = shop
    for role, client in clients.items():
        listing = client.get("/dashboard/experiments")
        assert listing.status_code == 200
        assert 'data-page="experiments"' in listing.text and ">실험<" in listing.text
        assert ('id="new-experiment"' in listing.text) == (role != "viewer"), role
        for eid in ("popup-copy", "broken-split", "nobody-yet"):
            assert f'data-experiment="{eid}"' in listing.text
        page = client.get("/dashboard/experiments/popup-copy")
        assert ('id="stop-experiment"' in page.text) == (role != "viewer"), role
    found: list[str] = []
    for path in (
        "/dashboard/experiments",
        "/dashboard/experiments/new",
        "/dashboard/experiments/popup-copy",
        "/dashboard/experiments/broken-split",
        "/dashboard/experiments/nobody-yet",
        "/dashboard/experiments/popup-bandit",
    ):
        found += _readable(clients["marketer"], path)
    assert not found, "\n".join(found)
    missing = clients["viewer"].get("/dashboard/experiments/no-such-thing")
    assert missing.status_code == 404 and "그런 실험이 없습니다" in missing.text


def test_the_results_page_shows_what_experiment_results_computes(
    shop: tuple[Server, dict[str, DashboardClient], dict[str, Any]],
) -> None:
    _, clients, facts = shop
    truth, oracle = facts["truth"], facts["oracle"]
    page = clients["viewer"].get("/dashboard/experiments/popup-copy?lang=en").text
    assert 'id="srm-ok"' in page and 'id="srm-banner"' not in page
    assert f'data-units="{truth["control"]["units"] + truth["free-shipping"]["units"]}"' in page
    conversion = next(m for m in oracle.metrics if m.metric == "conversion")
    for v in conversion.variants:
        rate = truth[v.variant]["converted"] / truth[v.variant]["units"]
        assert v.value == pytest.approx(rate)  # the library's number is the planted one
        assert f"{100 * v.value:.2f}%" in page  # and the page shows it
    (comparison,) = conversion.comparisons
    assert comparison.relative is not None
    lift = f"{100 * comparison.relative.estimate:+.1f}%"
    assert lift in page
    assert 'id="estimates-m0"' in page and 'id="lifts-m0"' in page and 'id="traffic-chart"' in page
    korean = clients["viewer"].get("/dashboard/experiments/popup-copy?lang=ko").text
    assert "표본 비율 검사 통과" in korean and "순차 검정 구간" in korean


def test_a_broken_split_hides_the_results_under_a_red_banner(
    shop: tuple[Server, dict[str, DashboardClient], dict[str, Any]],
) -> None:
    _, clients, _ = shop
    page = clients["viewer"].get("/dashboard/experiments/broken-split").text
    assert 'id="srm-banner"' in page and "표본 비율 불일치(SRM): 결과를 숨겼습니다" in page
    assert 'class="card metric"' not in page  # no metric is shown
    empty = clients["viewer"].get("/dashboard/experiments/nobody-yet").text
    assert 'data-units="0"' in empty and "아직 노출된 고객이 없습니다" in empty
    assert 'class="card metric"' not in empty


def test_the_form_names_each_wrong_field_in_the_pages_language_and_stores_nothing(
    shop: tuple[Server, dict[str, DashboardClient], dict[str, Any]],
) -> None:
    _, clients, _ = shop
    client = clients["marketer"]
    before = client.get("/dashboard/experiments").text.count("data-experiment=")
    over = GOOD.replace("{name: hybrid, strategy: hybrid}", "{name: hybrid, strategy: hybrid, share: 0.7}")
    over = over.replace(
        "{name: popular, strategy: popularity}", "{name: popular, strategy: popularity, share: 0.5}"
    )
    answer = _post(client, "/dashboard/experiments/new?lang=ko", {"definition": over})
    assert answer.status_code == 400
    assert 'data-field="variants"' in answer.text
    assert "변형 비율의 합이 120%로 100%를 넘습니다" in answer.text
    assert "share: 0.5" in answer.text  # the marketer's text is kept to fix
    english = _post(client, "/dashboard/experiments/new?lang=en", {"definition": "traffic: 0\n" + GOOD})
    assert english.status_code == 400 and 'data-field="traffic"' in english.text
    assert "a share above 0 and at most 1" in english.text
    for bad, field in (
        ("", "experiment"),
        ("id: [unclosed", "experiment"),
        (GOOD.replace("kind: clicks", "kind: joy"), "metrics[0].kind"),
    ):
        answer = _post(client, "/dashboard/experiments/new?lang=ko", {"definition": bad})
        assert answer.status_code == 400 and f'data-field="{field}"' in answer.text, bad
        assert not _text_problems(answer.text, korean=True)
    assert client.get("/dashboard/experiments").text.count("data-experiment=") == before
    assert _post(clients["viewer"], "/dashboard/experiments/new", {"definition": GOOD}).status_code == 403
    assert _post(client, "/dashboard/experiments/new", {"definition": GOOD}, csrf=False).status_code == 403


def test_save_start_and_stop_from_the_page(
    shop: tuple[Server, dict[str, DashboardClient], dict[str, Any]],
) -> None:
    server, clients, _ = shop
    client = clients["marketer"]
    client.get("/dashboard/experiments?lang=ko")  # the language sticks: another test may have chosen English
    saved = _post(client, "/dashboard/experiments/new", {"definition": GOOD})
    assert saved.status_code == 303 and saved.headers["location"].startswith(
        "/dashboard/experiments/banner-strategy"
    )
    page = client.get(saved.headers["location"]).text
    assert (
        "실험을 초안으로 저장했습니다" in page
        and 'id="start-experiment"' in page
        and 'id="no-results"' in page
    )
    started = _post(client, "/dashboard/experiments/banner-strategy/start", {})
    assert started.status_code == 303 and "done=started" in started.headers["location"]
    page = client.get("/dashboard/experiments/banner-strategy").text
    assert 'data-state="running"' in page and 'id="start-experiment"' not in page
    wrong = _post(client, "/dashboard/experiments/banner-strategy/stop", {"winner": "nope"})
    assert "problem=winner" in wrong.headers["location"]
    assert "채택할 변형은 이 실험의 변형 가운데 하나여야 합니다" in client.get(wrong.headers["location"]).text
    stopped = _post(client, "/dashboard/experiments/banner-strategy/stop", {"winner": "popular"})
    assert "done=stopped" in stopped.headers["location"]
    page = client.get("/dashboard/experiments/banner-strategy").text
    assert (
        'data-state="stopped"' in page
        and "채택한 변형: popular" in page
        and 'id="stop-experiment"' not in page
    )
    again = _post(client, "/dashboard/experiments/banner-strategy/start", {})
    assert "problem=state" in again.headers["location"]
    with server.client(server.secret_key) as c:
        found = c.get("/v1/experiments/banner-strategy").json()
    assert found["state"] == "stopped" and found["winner"] == "popular"


def test_a_bandits_page_reads_per_decision_with_its_policy_values_and_traffic(
    shop: tuple[Server, dict[str, DashboardClient], dict[str, Any]],
) -> None:
    _, clients, facts = shop
    bandit = facts["bandit"]
    assert bandit.decisions == 400 and bandit.winner == "free-shipping"
    page = clients["viewer"].get("/dashboard/experiments/popup-bandit?lang=en").text
    assert 'id="policy-values"' in page and 'data-decisions="400"' in page
    assert 'data-winner="free-shipping"' in page and "The bandit&#39;s winner: free-shipping" in page
    for v in bandit.policy_values:
        assert v.value is not None and v.rate is not None
        row = re.search(
            rf'<tr data-variant="{v.variant}"[^>]*>(.*?)</tr>', page.split('id="policy-values"')[1], re.S
        )
        assert row is not None, v.variant
        cells = row.group(1)
        assert f'data-k="decisions">{v.decisions:,}<' in cells
        assert f'data-k="rewards">{v.rewards:,}<' in cells
        assert f"{100 * v.value.estimate:.2f}%" in cells and f"{100 * v.rate.estimate:.2f}%" in cells
    assert 'id="policy-values-chart"' in page and 'id="traffic-chart"' in page
    # no sample-ratio check, no "met more than one variant", no per-unit metric cards
    assert 'id="srm' not in page and "more than one variant" not in page
    assert 'class="card metric"' not in page
    assert "per decision" in page
    # the variants table counts decisions, not units' first variants
    assert f'data-units="{bandit.policy_values[0].decisions}"' in page
    korean = clients["viewer"].get("/dashboard/experiments/popup-bandit?lang=ko").text
    for said in (
        "결정 단위",
        "항상 보여 줄 때의 예상 성과",
        "밴딧이 고른 변형: free-shipping",
        "현재 트래픽 비율",
    ):
        assert said in korean, said
    assert "고객 40명은" not in korean and "변형 두 개 이상에 노출" not in korean


def test_a_count_metrics_chart_has_no_currency() -> None:
    """Clicks per unit are a count: the estimates chart's axis said "(원)" for every non-rate."""
    from shopmind.experiments import Interval, MetricResult, VariantSummary, parse_experiment
    from shopmind.web._experiment_views import metric_view

    definition = experiment_rows.popup("clicky", "클릭")
    definition["metrics"] = [{"name": "clicks", "kind": "clicks"}]
    experiment = parse_experiment(definition)
    metric = MetricResult(
        "clicks",
        "clicks",
        False,
        [
            VariantSummary("control", 10, 0.5, Interval(0.5, 0.2, 0.8)),
            VariantSummary("free-shipping", 10, 0.7, Interval(0.7, 0.4, 1.0)),
        ],
        [],
    )
    for lang in ("ko", "en"):
        chart = metric_view(metric, 0, experiment, lang)["estimate_chart"]
        title = str(chart["layout"]["xaxis"]["title"])
        assert "원" not in title and "₩" not in title and "()" not in title, title


def test_a_drafts_definition_is_changed_in_the_form_until_it_starts(
    shop: tuple[Server, dict[str, DashboardClient], dict[str, Any]],
) -> None:
    """The list links a draft's form (only a draft's, for marketers); the form holds the stored
    definition; saving changes it (the id cannot change; a wrong field is named and nothing
    changes); once started, the form is refused and the page says why."""
    server, clients, _ = shop
    client = clients["marketer"]
    draft = GOOD.replace("banner-strategy", "draft-to-edit").replace("배너 추천 방식", "고칠 초안")
    assert _post(client, "/dashboard/experiments/new", {"definition": draft}).status_code == 303
    listed = client.get("/dashboard/experiments").text
    assert 'href="/dashboard/experiments/draft-to-edit/edit"' in listed
    assert 'href="/dashboard/experiments/popup-copy/edit"' not in listed  # running: no form
    assert "/edit" not in clients["viewer"].get("/dashboard/experiments").text

    form = client.get("/dashboard/experiments/draft-to-edit/edit?lang=ko")
    assert form.status_code == 200 and "실험 초안 수정" in form.text and "고칠 초안" in form.text
    assert 'action="/dashboard/experiments/draft-to-edit/edit?lang=ko"' in form.text
    assert not _readable(client, "/dashboard/experiments/draft-to-edit/edit")

    renamed = _post(
        client,
        "/dashboard/experiments/draft-to-edit/edit?lang=ko",
        {"definition": draft.replace("고칠 초안", "고친 초안").replace("window_days: 3", "window_days: 5")},
    )
    assert renamed.status_code == 303 and "done=edited" in renamed.headers["location"]
    assert "실험 초안을 수정했습니다" in client.get(renamed.headers["location"]).text
    with server.client(server.secret_key) as c:
        found = c.get("/v1/experiments/draft-to-edit").json()
    assert found["name"] == "고친 초안" and found["definition"]["metrics"][0]["window_days"] == 5

    moved = _post(
        client,
        "/dashboard/experiments/draft-to-edit/edit?lang=ko",
        {"definition": draft.replace("id: draft-to-edit", "id: another-id")},
    )
    assert moved.status_code == 400 and 'data-field="id"' in moved.text
    assert "실험 ID는 바꿀 수 없습니다" in moved.text
    broken = _post(
        client,
        "/dashboard/experiments/draft-to-edit/edit?lang=en",
        {"definition": draft.replace("kind: clicks", "kind: joy")},
    )
    assert broken.status_code == 400 and 'data-field="metrics[0].kind"' in broken.text
    with server.client(server.secret_key) as c:
        assert c.get("/v1/experiments/draft-to-edit").json()["name"] == "고친 초안"
        assert c.get("/v1/experiments/another-id").status_code == 404

    assert (
        _post(
            clients["viewer"], "/dashboard/experiments/draft-to-edit/edit", {"definition": draft}
        ).status_code
        == 403
    )
    assert (
        _post(
            client, "/dashboard/experiments/draft-to-edit/edit", {"definition": draft}, csrf=False
        ).status_code
        == 403
    )
    assert _post(client, "/dashboard/experiments/draft-to-edit/start", {}).status_code == 303
    late = client.get("/dashboard/experiments/draft-to-edit/edit", follow_redirects=False)
    assert late.status_code == 303 and "problem=state" in late.headers["location"]
    refused = _post(client, "/dashboard/experiments/draft-to-edit/edit", {"definition": draft})
    assert refused.status_code == 303 and "problem=state" in refused.headers["location"]
    assert client.get("/dashboard/experiments/no-such-draft/edit").status_code == 404

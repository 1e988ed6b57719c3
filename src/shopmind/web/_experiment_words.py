"""The experiment pages' words in Korean and English (merged into ``_i18n.MESSAGES``).

One Korean word per concept: 실험 (experiment), 변형 (variant), 기준안 (the control: the first
variant, the one the others are compared with), 대조군 (a variant that shows nothing, as the
campaigns' holdout), 노출 고객 (a unit: a customer or visitor who met
the experiment), 지표 (metric), 목표 지표 / 보조 지표 / 가드레일 지표, 구간 (interval, as the campaign
pages say it), 순차 검정 구간 (the always-valid interval), 채택 (the variant kept at the end)."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    "nav.experiments": ("실험", "Experiments"),
    "ex.intro": (
        "팝업, 추천 방식, 캠페인 메시지, 발송 시각을 변형별로 나눠 시험하고, 기준안과 비교해 효과를 잽니다. "
        "매일 결과를 봐도 결론이 틀어지지 않도록 순차 검정 구간을 함께 보여 줍니다.",
        "Test popups, recommendation strategies, campaign messages and send times variant by variant, "
        "measured against the control. Sequential intervals stay valid however often you look.",
    ),
    "ex.new": ("새 실험 만들기", "New experiment"),
    "ex.list": ("실험 목록", "All experiments"),
    "ex.none": ("아직 실험이 없습니다. 첫 실험을 만들어 보세요.", "No experiments yet: make the first one."),
    "ex.name": ("이름", "Name"),
    "ex.state": ("상태", "State"),
    "ex.point": ("결정 지점", "Decision point"),
    "ex.variants_n": ("변형 수", "Variants"),
    "ex.policy": ("배분 방식", "Traffic split"),
    "ex.units": ("노출 고객", "Exposed units"),
    "ex.kept": ("채택한 변형: {winner}", "Kept: {winner}"),
    "ex.back": ("실험 목록", "All experiments"),
    "ex.form": ("새 실험", "New experiment"),
    "ex.page": ("실험", "Experiment"),
    "ex.form_note": (
        "실험을 YAML이나 JSON으로 적으세요. 저장하면 초안이 되고, 시작하기 전까지는 누구에게도 변형이 배정되지 않습니다. "
        "항목마다 자세한 설명은 다음 문서에 있습니다:",
        "Write the experiment as YAML or JSON. Saving keeps it as a draft: nobody is assigned a variant "
        "until it starts. Every field is described in",
    ),
    "ex.definition": ("실험 정의", "Definition"),
    "ex.fix": ("아래 항목을 고쳐 주세요.", "Please fix these fields."),
    "ex.fields_title": ("주요 항목", "The main fields"),
    "ex.field.id": (
        "실험 ID: 영문 소문자, 숫자, 하이픈, 밑줄로 짓고 한 번 정하면 바뀌지 않습니다.",
        "the experiment's id (lower-case letters, digits, - and _); it never changes",
    ),
    "ex.field.name": ("화면에 보일 이름", "the name the pages show"),
    "ex.field.point": (
        "결정 지점: 온사이트 자리(팝업, 배너), 추천 방식, 캠페인 메시지, 발송 시각 가운데 하나",
        "where it decides: an on-site placement, the recommendation strategy, a campaign's message or its send time",
    ),
    "ex.field.variants": (
        "변형 목록: 첫 번째가 기준안입니다. 비율을 적지 않으면 똑같이 나누고, 적으면 합이 100%여야 합니다.",
        "the variants, the first is the control; no share means equal shares; shares must add up to 100%",
    ),
    "ex.field.traffic": (
        "실험에 참여시킬 비율 (0보다 크고 1 이하)",
        "the share of eligible units that take part (above 0, at most 1)",
    ),
    "ex.field.metrics": (
        "지표 목록: 첫 번째가 목표 지표이고, 나빠지면 안 되는 지표는 가드레일 지표로 표시합니다.",
        "the metrics, the first is the goal; guardrail: true marks a guardrail",
    ),
    "ex.field.policy": (
        "배분 방식: 고정 비율, 톰슨 샘플링, 맥락 밴딧 가운데 하나",
        "how traffic is split: fixed, thompson (Thompson sampling) or contextual (a contextual bandit)",
    ),
    "ex.field.analysis": (
        "분석 설정: 유의수준, 순차 검정 사용 여부, CUPED 보정 사용 여부",
        "the analysis: alpha, sequential testing, CUPED",
    ),
    "ex.save": ("초안으로 저장", "Save as a draft"),
    "ex.edit": ("수정", "Edit"),
    "ex.back_to_one": ("실험으로 돌아가기", "Back to the experiment"),
    "ex.edit_form": ("실험 초안 수정", "Edit the draft"),
    "ex.save_edit": ("변경 내용 저장", "Save the changes"),
    "ex.done.edited": ("실험 초안을 수정했습니다.", "The draft is changed."),
    "ex.err.id_changed": (
        "실험 ID는 바꿀 수 없습니다. 처음 정한 ID를 그대로 두세요.",
        "The id cannot change: keep the experiment's own id.",
    ),
    "ex.marketer_only": (
        "실험 저장, 시작, 종료는 마케터와 소유자만 할 수 있습니다.",
        "Saving, starting and stopping experiments need the marketer or owner role.",
    ),
    "ex.not_found": ("그런 실험이 없습니다.", "No such experiment."),
    "ex.traffic_of": ("참여 비율 {share}%", "{share}% of traffic"),
    "ex.created": ("{at}에 {who} 님이 만듦", "Made by {who} on {at}"),
    "ex.started_at": ("{at} 시작", "started {at}"),
    "ex.stopped_at": ("{at} 종료", "stopped {at}"),
    "ex.start": ("실험 시작", "Start the experiment"),
    "ex.stop": ("실험 종료", "Stop the experiment"),
    "ex.keep": ("계속 쓸 변형", "Keep"),
    "ex.keep_none": ("정하지 않음", "none yet"),
    "ex.variants": ("변형", "Variants"),
    "ex.variant": ("변형", "Variant"),
    "ex.does": ("내용", "What it does"),
    "ex.share": ("비율", "Share"),
    "ex.control": ("기준안", "control"),
    "ex.metrics": ("지표", "Metrics"),
    "ex.metric": ("지표", "Metric"),
    "ex.kind": ("종류", "Kind"),
    "ex.role": ("역할", "Role"),
    "ex.window": ("측정 기간", "Window"),
    "ex.days": ("{n}일", "{n} day(s)"),
    "ex.goal": ("목표 지표", "goal"),
    "ex.guardrail": ("가드레일 지표", "guardrail"),
    "ex.secondary": ("보조 지표", "secondary"),
    "ex.sequential_note": (
        "순차 검정 구간은 매일 결과를 확인해도 유효합니다. 판정은 이 구간을 기준으로 합니다.",
        "The sequential intervals stay valid however often you look; the decision follows them.",
    ),
    "ex.fixed_note": (
        "고정 표본 검정입니다. 결과를 여러 번 보고 멈추면 {level} 구간의 보장이 깨집니다.",
        "A fixed-horizon test: stopping early after many looks breaks the {level} intervals' promise.",
    ),
    "ex.draft_note": (
        "초안입니다. 실험을 시작하면 노출된 고객이 쌓이고 여기에 결과가 나옵니다.",
        "A draft: once started, exposed units accumulate and the results appear here.",
    ),
    "ex.results": ("결과", "Results"),
    "ex.as_of": ("{at} 기준 · 노출 고객 {n}명", "As of {at} · {n} exposed units"),
    "ex.srm_flagged": (
        "표본 비율 불일치(SRM): 결과를 숨겼습니다",
        "Sample ratio mismatch (SRM): the results are hidden",
    ),
    "ex.srm_flagged_why": (
        "변형별 노출 고객 수가 정한 비율과 크게 다릅니다 ({p}). 배정이나 노출 기록에 문제가 있다는 뜻이므로, "
        "원인을 고치기 전에는 어떤 결과도 믿을 수 없습니다.",
        "The units per variant differ from the shares asked for ({p}): the assignment or the "
        "exposure logging is broken, and no result can be trusted until it is fixed.",
    ),
    "ex.srm_ok": (
        "표본 비율 검사 통과: 변형별 노출 고객 수가 정한 비율과 맞습니다 ({p}).",
        "Sample ratio check passed: the units per variant match the shares ({p}).",
    ),
    "ex.observed_share": ("실제 비율", "Observed share"),
    "ex.expected_share": ("정한 비율", "Expected share"),
    "ex.per_variant": ("변형별 값 ({level} 구간)", "Per variant ({level} intervals)"),
    "ex.value": ("값", "Value"),
    "ex.interval": ("{level} 구간", "{level} interval"),
    "ex.adjusted": ("CUPED 보정 값", "CUPED-adjusted"),
    "ex.versus_control": ("기준안 대비", "Against the control"),
    "ex.lift_note": (
        "파란 점은 고정 표본 구간, 주황 마름모는 순차 검정 구간입니다. 구간에 0이 들어 있으면 아직 두 변형의 차이를 말할 수 없습니다.",
        "Blue dots: the fixed-horizon interval; orange diamonds: the sequential (always valid) one. "
        "An interval that crosses 0 cannot tell the variants apart yet.",
    ),
    "ex.relative": ("변화율 ({level} 구간)", "Lift ({level} interval)"),
    "ex.sequential": ("순차 검정 구간", "Sequential interval"),
    "ex.p_value": ("p값 (Holm 보정)", "p (Holm-adjusted)"),
    "ex.chance": ("기준안보다 나을 확률", "Chance to beat the control"),
    "ex.decision": ("판정", "Decision"),
    "ex.decision.better": ("기준안보다 좋음", "Better than the control"),
    "ex.decision.worse": ("기준안보다 나쁨", "Worse than the control"),
    "ex.decision.inconclusive": ("아직 판단할 수 없음", "Not yet distinguishable"),
    "ex.decision.not_enough": ("데이터 부족", "Not enough data"),
    "ex.cuped_cut": ("(CUPED로 분산 {share}% 감소)", "(CUPED removed {share}% of the variance)"),
    "ex.lift_axis": ("기준안 대비 변화율", "Lift over the control"),
    "ex.fixed_interval": ("고정 표본 {level} 구간", "Fixed-horizon {level} interval"),
    "ex.sequential_interval": ("순차 검정 구간", "Sequential interval"),
    "ex.traffic": ("날짜별 트래픽", "Traffic per day"),
    "ex.traffic_share": ("트래픽 비율", "Share of traffic"),
    "ex.traffic_note": (
        "날마다 각 변형이 받은 노출 고객의 비율입니다. 밴딧 실험은 성과가 좋은 변형으로 트래픽을 옮겨 갑니다.",
        "Each variant's share of the day's units; a bandit moves traffic towards the variants that work.",
    ),
    "ex.note.no_units": (
        "아직 노출된 고객이 없습니다. 결과는 첫 노출 뒤에 나옵니다.",
        "No exposures yet: results appear after the first units are exposed.",
    ),
    "ex.note.crossed": (
        "고객 {n}명은 변형을 두 개 이상 만났습니다(나중에 계정이 합쳐졌거나, 밴딧이 방문할 때마다 다르게 골랐기 때문입니다). "
        "이 고객들은 처음 노출된 변형에만 셉니다.",
        "{n} unit(s) met more than one variant (identities merged later, or a bandit choosing per visit): "
        "each counts in its first variant only.",
    ),
    "ex.note.bandit": (
        "밴딧은 결정할 때마다 변형을 새로 고르므로, 결과를 고객 단위가 아니라 결정 단위로 셉니다. "
        "단순 비율은 밴딧이 배우는 동안 트래픽을 옮겼기 때문에 변형끼리 비교하면 치우칩니다. "
        "‘항상 보여 줄 때의 예상 성과’는 기록된 모든 결정과 각 결정의 선택 확률로 역확률 가중(SNIPS)해 추정한 값입니다. "
        "밴딧은 일부러 트래픽을 옮기므로 표본 비율 검사는 하지 않습니다.",
        "A bandit chooses anew on each decision, so its results count decisions, not units. The plain "
        "rate is biased as a comparison (the bandit moved traffic while it learned); the value of "
        "always showing a variant is estimated from every logged decision and its propensity by "
        "inverse propensity weighting (SNIPS). No sample-ratio check: a bandit moves traffic on purpose.",
    ),
    "ex.policy_values": (
        "변형별 성과 (결정 단위, {level} 구간)",
        "Per variant, per decision ({level} intervals)",
    ),
    "ex.decisions": ("결정 수", "Decisions"),
    "ex.rewards.clicked": ("클릭 수", "Clicks"),
    "ex.rewards.converted": ("구매 전환 수", "Conversions"),
    "ex.plain_rate": ("단순 비율", "Plain rate"),
    "ex.policy_value": ("항상 보여 줄 때의 예상 성과", "Value if always shown"),
    "ex.ips_value": ("IPS 추정", "IPS estimate"),
    "ex.current_share": ("현재 트래픽 비율", "Share now"),
    "ex.value_axis.clicked": ("항상 보여 줄 때의 클릭률", "Click rate if always shown"),
    "ex.value_axis.converted": ("항상 보여 줄 때의 구매 전환율", "Conversion rate if always shown"),
    "ex.bandit_winner": ("밴딧이 고른 변형: {winner}", "The bandit's winner: {winner}"),
    "ex.bandit_no_winner": (
        "밴딧이 아직 한 변형으로 정하지 않았습니다.",
        "The bandit has not settled on one variant yet.",
    ),
    "ex.as_of_decisions": (
        "{at} 기준 · 결정 {d}건 · 노출 고객 {n}명",
        "As of {at} · {d} decisions · {n} exposed units",
    ),
    "ex.note.never_shown": ("한 번도 보여 주지 않았습니다.", "Never shown yet."),
    "ex.note.no_rewards": ("아직 보상이 없어 추정할 수 없습니다.", "No rewards yet: nothing to estimate."),
    "ex.traffic_note_bandit": (
        "날마다 밴딧이 각 변형에 준 트래픽 비율입니다 (그날 마지막으로 저장된 밴딧 상태 기준). "
        "성과가 좋은 변형으로 트래픽이 옮겨 가는 모습을 볼 수 있습니다.",
        "The share of traffic the bandit gave each variant, day by day (its last stored state each "
        "day): it moves traffic towards the variants that work.",
    ),
    "ex.note.not_enough": (
        "아직 데이터가 부족해 이 지표는 계산할 수 없습니다.",
        "Not enough data to compute this metric yet.",
    ),
    "ex.state.draft": ("초안", "Draft"),
    "ex.state.running": ("진행 중", "Running"),
    "ex.state.stopped": ("종료", "Stopped"),
    "ex.policy.fixed": ("고정 비율", "Fixed shares"),
    "ex.policy.thompson": ("톰슨 샘플링", "Thompson sampling"),
    "ex.policy.contextual": ("맥락 밴딧", "Contextual bandit"),
    "ex.kind.conversion": ("구매 전환율", "conversion rate"),
    "ex.kind.orders": ("고객당 주문 수", "orders per unit"),
    "ex.kind.revenue": ("고객당 매출", "revenue per unit"),
    "ex.kind.order_value": ("평균 주문 금액", "average order value"),
    "ex.kind.clicks": ("고객당 클릭 수", "clicks per unit"),
    "ex.kind.unsubscribes": ("수신 거부", "unsubscribes"),
    "ex.kind.bounces": ("반송", "bounces"),
    "ex.point.placement": ("{placement} 자리의 {trigger} 트리거", "{placement}: trigger {trigger}"),
    "ex.point.recommendations": ("{placement} 추천 방식", "recommendations ({placement})"),
    "ex.every_placement": ("모든 자리의", "every placement"),
    "ex.point.campaign_message": ("캠페인 {campaign}의 메시지", "campaign {campaign}: message"),
    "ex.point.send_time": ("캠페인 {campaign}의 발송 시각", "campaign {campaign}: send time"),
    "ex.shows_trigger": ("{trigger} 트리거를 보여 줌", "shows trigger {trigger}"),
    "ex.point.placement_named": (
        "{placement} 자리의 ‘{trigger}’ 트리거",
        "{placement}: the trigger ‘{trigger}’",
    ),
    "ex.shows_trigger_named": ("‘{trigger}’ 트리거를 보여 줌", "shows the trigger ‘{trigger}’"),
    "ex.shows_nothing": ("아무것도 보여 주지 않음 (대조군)", "shows nothing (a holdout)"),
    "ex.strategy": ("추천 방식: {strategy}", "strategy: {strategy}"),
    "ex.best_hour": ("고객별 최적 시각에 발송", "at each customer's best hour"),
    "ex.at_hour": ("{hour}에 발송", "at {hour}"),
    "ex.done.created": ("실험을 초안으로 저장했습니다.", "The experiment is saved as a draft."),
    "ex.done.started": (
        "실험을 시작했습니다. 지금부터 고객에게 변형이 배정됩니다.",
        "The experiment started: units are assigned from now on.",
    ),
    "ex.done.stopped": ("실험을 종료했습니다.", "The experiment is stopped."),
    "ex.err.action.state": (
        "지금 상태에서는 할 수 없는 작업입니다. 페이지를 새로 고치세요.",
        "The experiment's state does not allow this now: reload the page.",
    ),
    "ex.err.action.winner": (
        "채택할 변형은 이 실험의 변형 가운데 하나여야 합니다.",
        "The variant to keep must be one of the experiment's variants.",
    ),
    "ex.err.shares_above": (
        "변형 비율의 합이 {total}로 100%를 넘습니다. 합이 100%가 되게 하세요.",
        "The shares add up to {total}, above 100%: they must add up to 100%.",
    ),
    "ex.err.shares_below": (
        "변형 비율의 합이 {total}로 100%에 못 미칩니다. 합이 100%가 되게 하세요.",
        "The shares add up to {total}, below 100%: they must add up to 100%.",
    ),
    "ex.err.shares_some": (
        "모든 변형에 비율을 적거나, 하나도 적지 마세요 (똑같이 나눔).",
        "Give every variant a share, or none (equal shares).",
    ),
    "ex.err.share_positive": ("각 변형의 비율은 0보다 커야 합니다.", "Each share must be above 0."),
    "ex.err.traffic": (
        "참여 비율은 0보다 크고 1 이하여야 합니다 (0.2는 대상의 5분의 1).",
        "A share above 0 and at most 1 (0.2 is a fifth of the eligible units).",
    ),
    "ex.err.two_variants": (
        "변형을 두 개 이상 적으세요 (첫 번째가 기준안).",
        "Name at least two variants (the first is the control).",
    ),
    "ex.err.one_metric": (
        "지표를 하나 이상 적으세요 (첫 번째가 목표 지표).",
        "Name at least one metric (the first is the goal).",
    ),
    "ex.err.slug": (
        "영문 소문자, 숫자, 하이픈, 밑줄만 쓸 수 있습니다.",
        "Lower-case letters, digits, - and _ only (e.g. exit-popup-copy).",
    ),
    "ex.err.duplicate": ("같은 이름을 두 번 쓸 수 없습니다.", "This name is used twice."),
    "ex.err.id_taken": (
        "같은 ID의 실험이 이미 있습니다. 다른 ID를 쓰세요.",
        "An experiment with this id exists already.",
    ),
    "ex.err.empty": ("비워 둘 수 없습니다.", "Must not be empty."),
    "ex.err.required": ("꼭 필요한 항목입니다.", "Required."),
    "ex.err.unknown_field": (
        "알 수 없는 항목입니다. 철자를 확인하세요.",
        "Unknown field: check its spelling.",
    ),
    "ex.err.choices": ("다음 중 하나여야 합니다: {choices}", "Expected one of {choices}."),
    "ex.err.type": ("값의 형식이 맞지 않습니다 ({type} 형식이어야 합니다).", "Expected a {type}."),
    "ex.err.no_text": ("실험 정의를 적으세요.", "Write the experiment."),
    "ex.err.yaml": ("YAML 문법이 맞지 않습니다.", "Not valid YAML."),
    "ex.err.json": ("JSON 문법이 맞지 않습니다.", "Not valid JSON."),
    "ex.err.mapping": (
        "id, name, point 같은 항목으로 이루어진 정의여야 합니다.",
        "Expected a mapping of fields (id, name, point, ...).",
    ),
    "ex.err.days": ("기간은 1일에서 365일 사이여야 합니다.", "Days from 1 to 365."),
    "ex.err.bandit_point": (
        "밴딧은 온사이트 자리와 캠페인 메시지에만 쓸 수 있습니다.",
        "Bandits serve on-site placements and campaign messages.",
    ),
    "ex.err.contextual_point": (
        "맥락 밴딧은 온사이트 자리에만 쓸 수 있습니다.",
        "A contextual bandit serves on-site placements only.",
    ),
    "ex.err.winner": (
        "채택할 변형은 이 실험의 변형 가운데 하나여야 합니다.",
        "The variant to keep must be one of the experiment's variants.",
    ),
    "ex.err.other": (
        "값이 맞지 않습니다. 실험 설명서에서 이 항목의 설명을 확인하세요.",
        "This value cannot be used: docs/experiments.md describes the field.",
    ),
}

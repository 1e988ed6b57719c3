"""The dashboard's words in Korean (the default) and English. A page names a message by its key;
a key without a translation is a bug the tests catch (every template's keys are looked up)."""

from __future__ import annotations

from shopmind.core import GLOSSARY, LABELS
from shopmind.segments import SEGMENTS

LANGS = ("ko", "en")
DEFAULT_LANG = "ko"

MESSAGES: dict[str, tuple[str, str]] = {
    # navigation and frame
    "app.title": ("shopmind 대시보드", "shopmind dashboard"),
    "nav.overview": ("개요", "Overview"),
    "nav.customers": ("고객 세그먼트", "Customers"),
    "nav.predictions": ("예측", "Predictions"),
    "nav.customer": ("고객 360", "Customer 360"),
    "nav.products": ("상품", "Products"),
    "nav.onsite": ("온사이트", "On-site"),
    "lang.switch": ("English", "한국어"),
    "logout": ("로그아웃", "Log out"),
    "nav.users": ("사용자", "Users"),
    "login.title": ("대시보드 로그인", "Dashboard login"),
    "login.login": ("아이디", "Login name"),
    "login.password": ("비밀번호", "Password"),
    "login.help": (
        "계정은 소유자가 '사용자' 화면에서 만들거나, 서버 관리자가 'shopmind users create'로 만듭니다.",
        "An owner makes accounts on the Users page; the server's admin with 'shopmind users create'.",
    ),
    "login.submit": ("로그인", "Log in"),
    "login.wrong": ("아이디 또는 비밀번호가 맞지 않습니다.", "Wrong login name or password."),
    "login.expired": (
        "로그인 양식이 만료되었거나 다른 사이트에서 보낸 요청입니다. 다시 로그인하세요.",
        "The sign-in form expired or was sent from another site: please sign in again.",
    ),
    "forbidden.title": ("허용되지 않은 요청", "Not allowed"),
    "forbidden.role": (
        "지금 역할로는 할 수 없는 작업입니다. 소유자에게 역할 변경을 요청하세요.",
        "Your role does not allow this: ask an owner to change it.",
    ),
    "forbidden.csrf": (
        "요청을 확인할 수 없습니다(오래된 페이지이거나 다른 사이트에서 보낸 요청). 페이지를 새로 고친 뒤 다시 시도하세요.",
        "This request could not be verified (an old page, or sent from another site): reload the page and try again.",
    ),
    "back": ("돌아가기", "Go back"),
    "role.viewer": ("열람자", "Viewer"),
    "role.marketer": ("마케터", "Marketer"),
    "role.owner": ("소유자", "Owner"),
    "empty.no_run": (
        "아직 분석 결과가 없습니다. 'shopmind run --workspace …'을 먼저 실행하세요.",
        "No results yet: run 'shopmind run --workspace …' first.",
    ),
    "as_of": ("기준 시점", "as of"),
    "page.prev": ("이전", "Previous"),
    "page.next": ("다음", "Next"),
    "page.of": ("전체", "of"),
    "search": ("검색", "Search"),
    "show": ("보기", "Show"),
    "none": ("없음", "none"),
    # overview
    "ov.members": ("회원", "Members"),
    "ov.anonymous": ("비회원 방문자", "Anonymous visitors"),
    "ov.buyers": ("구매 고객", "Buyers"),
    "ov.orders": ("주문", "Orders"),
    "ov.revenue": ("매출", "Revenue"),
    "ov.unverified": (
        "브라우저가 보낸 미확인 주문 {n}건({revenue})은 위 수치에 넣지 않았습니다. 쇼핑몰 서버(비밀 키 API)나 "
        "주문 가져오기로 확인되면 반영됩니다.",
        "Orders reported by browsers but not yet verified ({n}, {revenue}) are left out of the figures above; "
        "they count once the shop's server (secret-key API) or an order import confirms them.",
    ),
    "ov.trend": ("일별 매출과 주문", "Revenue and orders by day"),
    "ov.pareto": ("파레토 곡선 (80/20)", "Pareto curve (80/20)"),
    "ov.pareto_note": (
        "매출 상위 {top}의 구매 고객이 매출의 {share}를 만듭니다. CLV VIP(예상 12개월 CLV 상위 20%) {vips}명이 매출의 "
        "{vip_share}를 만듭니다. 고객 세그먼트의 RFM VIP는 R, F, M 점수 규칙으로 정하므로 수가 다릅니다.",
        "The top {top} of buyers by revenue bring {share} of revenue. The CLV VIPs ({vips}: the top 20% by "
        "predicted 12-month CLV) bring {vip_share}. The RFM VIP segment on the Customers page is a rule on R, F and M "
        "scores, so its count differs.",
    ),
    "ov.share_buyers": ("고객 비율 (매출 순)", "Share of buyers (by revenue)"),
    "ov.share_revenue": ("누적 매출 비율", "Cumulative share of revenue"),
    "ov.freshness": ("데이터 신선도", "Data freshness"),
    "ov.job": ("작업", "Job"),
    "ov.finished": ("완료", "Finished"),
    "ov.last_event": ("마지막 이벤트 수신", "Last event received"),
    "ov.last_import": ("마지막 가져오기", "Last import"),
    # the jobs' names are the glossary's (added below)
    "ov.jobs": ("분석 실행", "Analysis runs"),
    "ov.run_now": ("지금 분석 실행", "Run the analysis now"),
    "ov.next_run": ("다음 예약 실행", "Next scheduled run"),
    "ov.no_schedule": ("예약 없음", "none scheduled"),
    "ov.running_since": ("{at}부터 분석을 실행하고 있습니다.", "An analysis has been running since {at}."),
    "ov.run_started": (
        "분석을 시작했습니다. 끝나면 아래 기록에 나타납니다.",
        "The analysis has started; it appears in the history below when it ends.",
    ),
    "ov.run_busy": (
        "이미 분석이 실행 중입니다. 끝난 뒤에 다시 시도하세요.",
        "An analysis is already running; try again when it has finished.",
    ),
    "ov.requested": ("요청 시각", "Requested"),
    "ov.trigger": ("요청한 곳", "Asked by"),
    "ov.status": ("상태", "Status"),
    "ov.result": ("결과", "Result"),
    "ov.run_facts": (
        "고객 {profiles}명 · 구매 고객 {buyers}명 · CLV VIP {vips}명",
        "{profiles} customer(s) · {buyers} buyer(s) · {vips} CLV VIP(s)",
    ),
    "ov.skipped": ("건너뜀", "skipped"),
    "ov.run_failed": ("실패했습니다 (서버 로그 참고)", "Failed (see the server's log)"),
    "ov.no_jobs": ("아직 실행한 분석이 없습니다.", "No analysis has run yet."),
    "trigger.schedule": ("예약", "Schedule"),
    "trigger.cli": ("명령줄", "Command line"),
    "trigger.api": ("API", "API"),
    "trigger.dashboard": ("대시보드", "Dashboard"),
    "status.queued": ("대기 중", "Queued"),
    "status.running": ("실행 중", "Running"),
    "status.ok": ("완료", "Done"),
    "status.failed": ("실패", "Failed"),
    "status.interrupted": ("중단됨", "Interrupted"),
    # overview KPIs for a picked range (issue 17, point 3)
    "kpi.title": ("핵심 지표", "Key figures"),
    "kpi.start": ("시작일", "From"),
    "kpi.end": ("종료일", "To"),
    "kpi.within": ("재구매 기준 일수", "Second-purchase window (days)"),
    "kpi.apply": ("적용", "Apply"),
    "kpi.compare": (
        "바로 앞 같은 길이의 기간({start} ~ {end})과 비교합니다.",
        "Compared with the period just before, {start} – {end}.",
    ),
    "kpi.before": ("이전", "before"),
    "kpi.repurchase_rate": ("재구매율", "Repurchase rate"),
    "kpi.second_purchase": ("첫 구매 후 {n}일 내 재구매", "Second purchase within {n} day(s)"),
    "kpi.average_order_value": ("평균 주문 금액", "Average order value"),
    "kpi.visit_conversion": ("방문 구매 전환율", "Visit conversion rate"),
    "kpi.revenue_per_visitor": ("방문자당 매출", "Revenue per visitor"),
    "kpi.help.repurchase_rate": (
        "기간 중 구매한 고객 가운데 서로 다른 날에 두 번 이상 구매한 고객의 비율",
        "Of the range's buyers, the share who have bought on two or more days",
    ),
    "kpi.help.second_purchase": (
        "첫 구매 후 {n}일이 이 기간 안에 끝난 신규 고객 가운데 그 {n}일 안에 다시 산 고객의 비율",
        "Of the new buyers whose first {n} day(s) after their first purchase ended in the range, the share who bought again within them",
    ),
    "kpi.help.average_order_value": (
        "매출 ÷ 주문 수 (확인된 주문, 반품 제외)",
        "Revenue ÷ orders (verified orders, returns left out)",
    ),
    "kpi.help.visit_conversion": (
        "주문으로 이어진 방문(세션)의 비율",
        "Share of visits (sessions) that ended in an order",
    ),
    "kpi.help.revenue_per_visitor": (
        "매출 ÷ 방문자 수 (방문자는 하루에 한 번 셉니다)",
        "Revenue ÷ visitors (a visitor counted once per day)",
    ),
    "kpi.no_visits": (
        "방문 지표는 고객 분석을 한 번 실행한 뒤에 나옵니다 (shopmind run).",
        "The visit figures appear once the customer analysis has run (shopmind run).",
    ),
    "kpi.visits_as_of": (
        "방문 지표는 마지막 고객 분석이 집계한 {day}까지의 방문입니다.",
        "The visit figures count visits up to {day}, as the last customer analysis counted them.",
    ),
    "kpi.err.start": (
        "시작일을 읽을 수 없거나 종료일보다 늦습니다. 기본 기간(최근 30일)을 보여 드립니다.",
        "The start date is not a date or is after the end: showing the default range (last 30 days).",
    ),
    "kpi.err.end": (
        "종료일을 읽을 수 없거나 기간이 너무 깁니다(최대 3,660일). 기본 기간(최근 30일)을 보여 드립니다.",
        "The end date is not a date or the range is too long (3,660 days at most): showing the default range.",
    ),
    "kpi.err.within": (
        "재구매 기준 일수는 1에서 365 사이여야 합니다. 기본 기간과 30일로 보여 드립니다.",
        "The second-purchase window must be 1 to 365 days: showing the default range and 30 days.",
    ),
    # customer 360: orders, consent, taste and drivers in words (issue 17, point 4)
    "c3x.guest": ("비회원", "Guest"),
    "c3x.order_list": ("주문 내역", "Orders"),
    "c3x.order": ("주문번호", "Order"),
    "c3x.items": ("수량", "Items"),
    "c3x.amount": ("금액", "Amount"),
    "c3x.return": ("반품", "return"),
    "c3x.no_orders": ("확인된 주문이 없습니다.", "No verified orders."),
    "c3x.consent": (GLOSSARY["consent.advertising"][0], "Advertising consent"),
    "c3x.channel": ("채널", "Channel"),
    "c3x.advertising": ("광고 수신", "Advertising"),
    "c3x.night": ("야간 수신 (21시~08시)", "At night (21:00-08:00)"),
    "c3x.granted": ("동의", "granted"),
    "c3x.refused": ("거부", "refused"),
    "c3x.not_recorded": ("기록 없음", "not recorded"),
    "c3x.night_exempt": ("야간 제한 없음", "no night-time rule"),
    "c3x.no_consent": (
        "광고성 정보 수신 동의 기록이 없습니다. 광고성 메시지는 보낼 수 없습니다.",
        "No advertising consent recorded: no advertising messages may be sent.",
    ),
    "c3x.notice": (
        f"{GLOSSARY['consent.notice'][0]} (2년마다)",
        f"{GLOSSARY['consent.notice'][1].capitalize()} (every two years)",
    ),
    "c3x.notice_last": ("마지막 안내 {date}", "last sent {date}"),
    "c3x.notice_never": ("보낸 적 없음", "never sent"),
    "c3x.notice_due": ("다음 안내 기한 {date}", "next due by {date}"),
    "c3x.consent_note": (
        "카카오톡 광고는 친구톡으로 보냅니다(알림톡으로는 정보성 메시지만 보낼 수 있습니다). 주문 확인이나 배송 안내 같은 "
        "정보성 메시지는 광고 수신 동의와 관계없이 보낼 수 있습니다.",
        "Advertising on KakaoTalk goes out as FriendTalk (AlimTalk carries informational messages only). "
        "Informational messages, such as an order confirmation or a delivery notice, need no advertising consent.",
    ),
    "c3x.categories": ("즐겨 찾는 카테고리", "Favourite categories"),
    "c3x.brands": ("즐겨 찾는 브랜드", "Favourite brands"),
    "c3x.interests": ("관심 키워드", "Interests"),
    "c3x.price_band": ("가격대", "Price band"),
    "c3x.band.low": ("저가 상품 위주", "mostly lower-priced products"),
    "c3x.band.mid": ("중간 가격대", "mid-priced products"),
    "c3x.band.high": ("고가 상품 위주", "mostly higher-priced products"),
    "c3x.band_bought": ("구매 평균 {price}", "bought at {price} on average"),
    "c3x.band_viewed": ("본 상품 평균 {price}", "viewed at {price} on average"),
    "c3x.lookalike_drivers": ("VIP 유사도를 높인 요인", "What makes them look like a VIP"),
    "c3x.clv_inputs": ("생애 가치 모델이 본 구매 기록", "The purchase history the lifetime-value model read"),
    # the models' inputs in words: core.LABELS["feature"] (added below), one catalogue for every surface
    # customers
    "cu.map": ("RFM 세그먼트 지도", "RFM segment map"),
    "cu.map_note": (
        "크기는 고객 수, 색은 매출입니다. 세그먼트를 누르면 고객 목록이 열립니다. RFM VIP는 R, F, M 점수 규칙으로 "
        "정한 세그먼트이고, 개요와 예측의 CLV VIP는 예상 12개월 CLV 상위 20%여서 수가 다릅니다.",
        "Size is customers, colour is revenue. Click a segment to open its customers. RFM VIP is a rule on the "
        "R, F and M scores; the CLV VIPs of the overview and predictions are the top 20% by predicted 12-month "
        "CLV, so the counts differ.",
    ),
    "cu.segment": ("세그먼트", "Segment"),
    "cu.rule": ("규칙", "Rule"),
    "cu.customers": ("고객 수", "Customers"),
    "cu.revenue_share": ("매출 비중", "Share of revenue"),
    "cu.movement": ("세그먼트 이동", "Movement between segments"),
    "cu.movement_from": ("이전", "From"),
    "cu.movement_to": ("이후", "To"),
    "cu.movement_need_two": (
        "이동을 보려면 두 시점의 분석이 필요합니다: 'shopmind run --as-of 이전날짜'를 한 번 더 실행하세요.",
        "Movement needs two runs: run 'shopmind run --as-of EARLIER-DATE' once more.",
    ),
    "cu.moved": ("이동한 고객 {n}명", "{n} customer(s) moved"),
    "cu.new": ("신규", "new"),
    "cu.list": ("고객 목록", "Customers"),
    "cu.member": ("회원 ID", "Member id"),
    "cu.profile": ("고객 ID", "Customer id"),
    # scores
    "sc.revenue": ("누적 매출", "Revenue so far"),
    "sc.clv_12m": ("12개월 CLV", "12-month CLV"),
    "sc.p_alive": ("활성 확률", "P(alive)"),
    "sc.churn_risk": ("이탈 위험", "Churn risk"),
    "sc.purchase_probability_7d": ("7일 내 구매 확률", "P(buy within 7 days)"),
    "sc.purchase_probability": ("구매 확률", "Purchase probability"),
    "sc.vip_lookalike": GLOSSARY["score.vip_lookalike"],
    # predictions
    "pr.clv": ("CLV 분포 (12개월)", "CLV distribution (12 months)"),
    "pr.clv_note": (
        "구매 고객 {n}명 · 평균 {mean} · 중앙값 {median}",
        "{n} buyer(s) · mean {mean} · median {median}",
    ),
    "pr.purchase": ("구매 확률 구간", "Purchase probability in bands"),
    "pr.purchase_note": (
        "막대를 눌러 구간을 고르거나 범위를 입력하세요.",
        "Click a bar to pick a band, or type a range.",
    ),
    "pr.low": ("최소", "From"),
    "pr.high": ("최대", "To"),
    "pr.selected": ("선택한 고객", "Selected customers"),
    "pr.expected": ("예상 구매자", "Expected buyers"),
    "pr.audience_name": ("오디언스 이름", "Audience name"),
    "pr.save": ("오디언스 저장", "Save audience"),
    "pr.saved": ("저장했습니다", "Saved"),
    "pr.export": ("CSV 내보내기", "Export CSV"),
    "pr.audiences": ("저장한 오디언스", "Saved audiences"),
    "pr.churn": ("이탈 위험 분포", "Churn risk"),
    "pr.vip_at_risk": ("이탈 위험 VIP", "VIPs at risk"),
    "pr.dormant_vip": GLOSSARY["segment.dormant_vip"],
    "pr.could_become_vip": GLOSSARY["list.could_become_vip"],
    "pr.cards": ("모델 카드", "Model cards"),
    "pr.calibration": ("보정 곡선", "Calibration"),
    "pr.predicted": ("예측 확률", "Predicted"),
    "pr.observed": ("실제 비율", "Observed"),
    "pr.sample": ("표본", "n ="),
    "pr.lift": ("십분위 리프트", "Lift by decile"),
    "pr.decile": ("십분위", "Decile"),
    "pr.backtest": ("백테스트 (구간별 예상 vs 실제)", "Backtest (expected vs actual per band)"),
    "pr.actual": ("실제", "Actual"),
    "pr.band": ("구간", "Band"),
    "pr.profiles": ("고객 수", "Customers"),
    "pr.metrics": (
        "AUC {auc} · Brier {brier} · ECE {ece} · 표본 {n}",
        "AUC {auc} · Brier {brier} · ECE {ece} · n {n}",
    ),
    "card.churn_risk": ("이탈 위험", "Churn risk"),
    "card.purchase_probability_7d": ("7일 내 구매 확률", "Purchase within 7 days"),
    "card.vip_lookalike": GLOSSARY["list.could_become_vip"],
    # customer 360
    "c3.find": (
        "휴대폰 번호, 이메일, 회원 ID, 익명 ID 또는 고객 ID",
        "Phone number, e-mail, member id, anonymous id or customer id",
    ),
    "c3.not_found": ("그런 고객이 없습니다: {id}", "No such customer: {id}"),
    "c3.identities": ("식별자", "Identifiers"),
    "c3.devices": ("기기", "Devices"),
    "c3.scores": ("점수", "Scores"),
    "c3.drivers": ("주요 요인", "Drivers"),
    "c3.taste": ("취향", "Taste"),
    "c3.best_time": ("최적 시간과 채널", "Best time and channel"),
    "c3.timeline": ("최근 행동", "Timeline"),
    "c3.recommendations": ("지금 추천 (이유 포함)", "Recommendations now, with reasons"),
    "c3.recommender_wait": ("추천 모델 준비 중: {note}", "Recommender not ready: {note}"),
    "c3.orders": ("주문 {n}건 · 매출 {revenue}", "{n} order(s) · revenue {revenue}"),
    "c3.segments": ("세그먼트", "Segments"),
    "c3.vip": ("CLV VIP", "CLV VIP"),
    "c3.events": ("이벤트", "Events"),
    "c3.last_seen": ("마지막 방문", "Last seen"),
    "c3.when": ("시각", "When"),
    "c3.what": ("행동", "What"),
    "c3.detail": ("상세", "Detail"),
    "c3.hour": ("시간대", "Hour"),
    "c3.channel": ("채널", "Channel"),
    "c3.device": ("기기", "Device"),
    # products
    "pd.list": ("상품 (매출 순)", "Products by revenue"),
    "pd.name": ("상품명", "Name"),
    "pd.category": ("카테고리", "Category"),
    "pd.price": ("가격", "Price"),
    "pd.orders": ("주문", "Orders"),
    "pd.units": ("수량", "Units"),
    "pd.complements": ("함께 구매한 상품", "Bought together"),
    "pd.alternatives": ("비슷한 상품", "Similar items"),
    "pd.rules": ("연관 규칙", "Association rules"),
    "pd.rule": ("규칙", "Rule"),
    "pd.support": ("지지도", "Support"),
    "pd.confidence": ("신뢰도", "Confidence"),
    "pd.lift": ("향상도", "Lift"),
    "pd.no_rules": ("이 상품의 규칙이 없습니다.", "No rules for this product."),
    "pd.explorer": ("추천 탐색기", "Recommendation explorer"),
    "pd.explorer_note": (
        "지역, 날씨, 시간을 바꾸어 추천이 어떻게 달라지는지 보세요.",
        "Change the region, weather and time to see how the recommendations change.",
    ),
    "pd.user": ("고객 (비우면 새 방문자)", "Customer (empty: a new visitor)"),
    "pd.region": ("지역", "Region"),
    "pd.temp": ("기온 (°C)", "Temperature (°C)"),
    "pd.precip": ("강수 (mm)", "Rain (mm)"),
    "pd.hour": ("시각 (0-23시)", "Hour (0-23)"),
    "pd.bad_number": (
        "{field}: 입력한 값('{text}')이 {low}~{high} 사이의 숫자가 아니어서 빼고 보여 줍니다. 고쳐서 다시 누르세요.",
        "{field}: '{text}' is not a number from {low} to {high}, so it is left out. Correct it and press again.",
    ),
    "pd.any": ("(상관없음)", "(any)"),
    "pd.with_context": ("이 맥락에서", "In this context"),
    "pd.reason": ("이유", "Reason"),
    # on-site
    "os.triggers": ("트리거와 성과", "Triggers and their performance"),
    "os.trigger": ("트리거", "Trigger"),
    "os.action": ("형태", "Action"),
    "os.placement": ("위치", "Placement"),
    "os.priority": ("우선순위", "Priority"),
    "os.served": ("노출 결정", "Served"),
    "os.shown": ("표시", "Shown"),
    "os.clicked": ("클릭", "Clicked"),
    "os.dismissed": ("닫음", "Dismissed"),
    "os.converted": ("전환", "Converted"),
    "os.ctr": ("클릭률", "Click rate"),
    "os.cvr": ("전환율", "Conversion rate"),
    "os.revenue": ("전환 매출 (확인된 주문)", "Converted revenue (verified orders)"),
    "os.unverified_revenue": ("미확인 주문", "Unverified orders"),
    "os.revenue_note": (
        "전환 매출은 확인된 주문(쇼핑몰 서버가 비밀 키로 보냈거나 주문 가져오기로 들여온 주문)의 금액만 셉니다. "
        "브라우저만 알린 주문은 확인될 때까지 '미확인 주문'에 따로 표시됩니다.",
        "Converted revenue counts only orders the shop's server (secret-key API) or an order import "
        "confirmed, at their confirmed amount. Orders only a browser reported show apart, under "
        "'Unverified orders', until they are confirmed.",
    ),
    "os.title": ("문구", "Message"),
    # users
    "us.roles_note": (
        "열람자는 화면을 볼 수 있고, 마케터는 오디언스를 저장하고 CSV로 내보낼 수도 있으며, 소유자는 계정까지 관리합니다.",
        "Viewers read the pages; marketers also save audiences and export CSV; owners also manage the accounts.",
    ),
    "us.list": ("계정", "Accounts"),
    "us.login": ("아이디", "Login name"),
    "us.name": ("이름", "Display name"),
    "us.role": ("역할", "Role"),
    "us.state": ("상태", "State"),
    "us.active": ("사용 중", "Active"),
    "us.disabled": ("사용 중지됨", "Disabled"),
    "us.sessions": ("열린 세션", "Open sessions"),
    "us.created": ("만든 날", "Created"),
    "us.you": ("나", "you"),
    "us.change_role": ("역할 변경", "Change role"),
    "us.disable": ("사용 중지", "Disable"),
    "us.enable": ("다시 사용", "Enable"),
    "us.revoke": ("모든 세션 끊기", "End all sessions"),
    "us.create": ("새 계정", "New account"),
    "us.password": ("비밀번호 (8자 이상)", "Password (8 characters or more)"),
    "us.submit_create": ("계정 만들기", "Create account"),
    "us.done.created": ("계정을 만들었습니다.", "Account created."),
    "us.done.role": ("역할을 바꿨습니다. 바로 적용됩니다.", "Role changed; it applies at once."),
    "us.done.disabled": (
        "계정을 사용 중지하고 열린 세션을 모두 끊었습니다.",
        "Account disabled; its open sessions have ended.",
    ),
    "us.done.enabled": ("계정을 다시 사용할 수 있게 했습니다.", "Account enabled again."),
    "us.done.revoked": ("이 계정의 세션을 모두 끊었습니다.", "Every session of that account has ended."),
    "us.err.bad_login": (
        "아이디는 공백 없이 1~64자의 글자, 숫자, . _ @ + - 로 입력하세요.",
        "A login name is 1 to 64 letters, digits or . _ @ + - (no spaces).",
    ),
    "us.err.login_taken": ("이미 쓰고 있는 아이디입니다.", "That login name is taken."),
    "us.err.bad_name": ("이름은 1~100자로 입력하세요.", "A display name is 1 to 100 characters."),
    "us.err.bad_role": (
        "역할을 고르세요: 열람자, 마케터, 소유자.",
        "Pick a role: viewer, marketer or owner.",
    ),
    "us.err.short_password": ("비밀번호는 8자 이상이어야 합니다.", "A password needs at least 8 characters."),
    "us.err.long_password": (
        "비밀번호가 너무 깁니다 (최대 1,024자).",
        "That password is too long (1,024 characters at most).",
    ),
    "us.err.no_user": ("그런 계정이 없습니다.", "No such account."),
    "us.err.last_owner": (
        "마지막 소유자는 역할을 바꾸거나 사용 중지할 수 없습니다. 먼저 다른 소유자를 만드세요.",
        "The last active owner cannot be demoted or disabled: make another owner first.",
    ),
    "pr.marketer_only": (
        "오디언스 저장과 CSV 내보내기는 마케터와 소유자만 할 수 있습니다.",
        "Saving audiences and exporting CSV need the marketer or owner role.",
    ),
}

#: the segments' rules in Korean where words are needed (the formulas read the same in both)
_RULES_KO = {
    "new": "R ≥ 4, 아직 구매일 하루",
    "promising": "R ≥ 4 (그 외)",
    "needs_attention": "R = 3 (그 외)",
    "hibernating": "R = 2 (그 외)",
    "lost": "R = 1 (그 외)",
    "engaged_visitor": "구매 없음; 3일 이상 방문, 마지막 방문 14일 이내",
    "new_visitor": "구매 없음; 첫 방문 7일 이내",
    "passing_visitor": "구매 없음 (그 외)",
}
MESSAGES.update({key: names for key, names in GLOSSARY.items() if key.startswith("job.")})
MESSAGES.update({f"feat.{code}": names for code, names in LABELS["feature"].items()})
MESSAGES.update({f"rule.{key}": (_RULES_KO.get(key, s.rule), s.rule) for key, s in SEGMENTS.items()})


def message(key: str, lang: str) -> str:
    """The text of ``key`` in ``lang`` (KeyError for an unknown key: a missing translation)."""
    ko, en = MESSAGES[key]
    return en if lang == "en" else ko

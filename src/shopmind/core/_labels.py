"""The words people read for the codes the product stores: event types, devices, channels, on-site
actions and placements, built-in triggers, model inputs, and the names of the customer groups.

One catalogue, every surface (dashboard, CLI, API labels, README) takes its words from here, so one
concept has one Korean and one English name (issue 17). A code without an entry is shown as it is
(a shop's own event name, a trigger it wrote): the Korean-text test lists the codes the product
itself produces and fails when one of them reaches a Korean screen untranslated."""

from __future__ import annotations

__all__ = ["GLOSSARY", "LABELS", "label", "term"]

#: kind → code → (Korean, English)
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "event": {
        "page_view": ("페이지 조회", "page view"),
        "product_view": ("상품 조회", "product view"),
        "search": ("검색", "search"),
        "cart_add": ("장바구니 담기", "added to cart"),
        "cart_remove": ("장바구니 빼기", "removed from cart"),
        "checkout_start": ("결제 시작", "checkout started"),
        "order_completed": ("주문 완료", "order completed"),
        "banner_impression": ("배너 노출", "banner shown"),
        "banner_click": ("배너 클릭", "banner clicked"),
        "message_open": ("메시지 열람", "message opened"),
        "message_click": ("메시지 클릭", "message clicked"),
        "identify": ("회원 확인", "identified"),
        "alias": ("식별자 연결", "identifiers linked"),
        "custom": ("사용자 정의 이벤트", "custom event"),
    },
    "device": {
        "mobile": ("모바일", "mobile"),
        "desktop": ("데스크톱", "desktop"),
        "tablet": ("태블릿", "tablet"),
        "other": ("기타 기기", "other device"),
    },
    # where an event happened (web or app) and how a message is sent
    "channel": {
        "web": ("웹", "web"),
        "app": ("앱", "app"),
        "app_push": ("앱 푸시", "app push"),
        "web_push": ("웹 푸시", "web push"),
        "sms": ("문자", "text message"),
        "email": ("이메일", "email"),
        # advertising on KakaoTalk goes out as 친구톡 (FriendTalk); 알림톡 carries informational
        # messages only, so the channel is named for the app, not for either kind of message
        "kakao": ("카카오톡", "KakaoTalk"),
        "push": ("앱 푸시", "app push"),  # what runs before the consent ledger stored for app_push
    },
    # how a customer gave or withdrew advertising consent (the consent ledger's methods)
    "consent_method": {
        "signup_form": ("회원 가입", "sign-up form"),
        "checkout": ("주문 결제", "checkout"),
        "reply_080": ("080 수신거부 전화", "080 opt-out call"),
        "unsubscribe_link": ("수신거부 링크", "unsubscribe link"),
        "import": ("파일 가져오기", "file import"),
        "api": ("쇼핑몰 서버 연동", "the shop's server (API)"),
        "tracker": ("웹사이트 스크립트", "website tracker"),
        "admin": ("관리자 입력", "entered by an admin"),
    },
    # what a consent is for (the glossary's names of the two consents)
    "consent_purpose": {
        "advertising": ("광고성 정보 수신 동의", "advertising consent"),
        "night_advertising": ("야간 광고성 정보 수신 동의", "night-time advertising consent"),
        "informational": ("정보성 메시지 수신 동의", "informational-message consent"),
    },
    # why an advertising message may or may not be sent now
    "consent_reason": {
        "allowed": ("보낼 수 있음", "may be sent"),
        "no_consent": ("수신 동의 없음", "no consent"),
        "withdrawn": ("수신 거부", "consent refused or withdrawn"),
        "night_without_consent": ("야간 수신 동의 없음", "night time, without night-time consent"),
        "informational": ("정보성 메시지: 동의 필요 없음", "informational: no consent needed"),
    },
    "action": {
        "popup": ("팝업", "popup"),
        "banner": ("배너", "banner"),
        "slide_in": ("슬라이드 인", "slide-in"),
        "recommendations": ("추천 상품", "recommendations"),
    },
    "placement": {
        "popup": ("팝업", "popup"),
        "top": ("상단", "top"),
        "bottom": ("하단", "bottom"),
        "side": ("측면", "side"),
        "inline": ("본문", "inline"),
    },
    "page_type": {
        "home": ("홈", "home"),
        "category": ("카테고리", "category"),
        "product": ("상품", "product"),
        "search": ("검색", "search"),
        "cart": ("장바구니", "cart"),
        "checkout": ("결제", "checkout"),
        "account": ("내 정보", "account"),
        "careers": ("채용", "careers"),
        "other": ("기타", "other"),
    },
    # the inputs of the models, as a marketer reads a driver ("최근 30일 장바구니 담기 (+1.37)")
    "feature": {
        "frequency": ("재구매한 날 수", "repeat purchase days"),
        "recency_weeks": ("첫 구매부터 마지막 구매까지 (주)", "weeks from the first to the last purchase"),
        "T_weeks": ("첫 구매 후 지난 기간 (주)", "weeks since the first purchase"),
        "monetary_value": ("재구매 평균 금액", "mean repeat purchase value"),
        "recency": ("첫 구매~마지막 구매", "time from first to last purchase"),
        "T": ("첫 구매 후 경과", "time since first purchase"),
        "is_member": ("회원 가입", "being a member"),
        "days_since_last_visit": ("마지막 방문 시점", "time since the last visit"),
        "days_since_first_seen": ("처음 방문한 뒤 지난 기간", "time since the first visit"),
        "visit_days_7": ("최근 7일 방문일 수", "days visited in the last 7 days"),
        "visit_days_30": ("최근 30일 방문일 수", "days visited in the last 30 days"),
        "sessions_30": ("최근 30일 방문 횟수", "visits in the last 30 days"),
        "events_30": ("최근 30일 활동량", "activity in the last 30 days"),
        "product_views_7": ("최근 7일 상품 조회", "product views in the last 7 days"),
        "product_views_30": ("최근 30일 상품 조회", "product views in the last 30 days"),
        "cart_adds_7": ("최근 7일 장바구니 담기", "cart additions in the last 7 days"),
        "cart_adds_30": ("최근 30일 장바구니 담기", "cart additions in the last 30 days"),
        "checkouts_30": ("최근 30일 결제 시도", "checkouts started in the last 30 days"),
        "searches_30": ("최근 30일 검색", "searches in the last 30 days"),
        "categories_viewed_30": ("최근 30일 둘러본 카테고리 수", "categories browsed in the last 30 days"),
        "viewed_price_mean_30": ("최근 본 상품의 평균 가격", "mean price of the products viewed lately"),
        "viewed_price_max_30": ("최근 본 상품의 최고 가격", "highest price viewed lately"),
        "mobile_share": ("모바일 이용 비중", "share of mobile use"),
        "app_share": ("앱 이용 비중", "share of app use"),
        "evening_share": ("저녁(18~24시) 이용 비중", "share of evening use (6 pm to midnight)"),
        "morning_share": ("아침(6~10시) 이용 비중", "share of morning use (6 to 10 am)"),
        "days_since_last_purchase": ("마지막 구매 시점", "time since the last purchase"),
        "orders_30": ("최근 30일 구매 횟수", "purchases in the last 30 days"),
        "orders_90": ("최근 90일 구매 횟수", "purchases in the last 90 days"),
        "orders_all": ("누적 구매 횟수", "purchases ever"),
        "revenue_all": ("누적 구매액", "lifetime spend"),
        "average_order_value": ("평균 주문 금액", "average order value"),
        "p_alive": ("활성 확률", "P(alive)"),
        "expected_purchases": ("예상 구매 횟수", "expected purchases"),
        "p_no_purchase": ("무구매 확률", "P(no purchase)"),
        "shop_orders_7_vs_90": ("쇼핑몰 최근 7일 주문 추세", "shop orders, 7 vs 90 days"),
        "shop_orders_30_vs_90": ("쇼핑몰 최근 30일 주문 추세", "shop orders, 30 vs 90 days"),
    },
    # the scores a run stores per customer (the model inputs above are scores too)
    "score": {
        "revenue": ("누적 매출", "revenue so far"),
        "clv_12m": ("12개월 CLV", "12-month CLV"),
        "is_vip": ("CLV VIP 여부", "is a CLV VIP"),
        "r_score": ("R 점수", "R score"),
        "f_score": ("F 점수", "F score"),
        "m_score": ("M 점수", "M score"),
        "expected_purchases_90d": ("90일 예상 구매 횟수", "expected purchases, 90 days"),
        "expected_average_spend": ("예상 평균 구매액", "expected average spend"),
        "churn_risk": ("이탈 위험", "churn risk"),
        "churn_risk_p_alive": ("이탈 위험 (활성 확률 기반)", "churn risk (from P(alive))"),
        "churn_risk_supervised": ("이탈 위험 (지도 학습)", "churn risk (supervised)"),
        "purchase_probability_7d": ("7일 내 구매 확률", "P(buy within 7 days)"),
        "vip_lookalike": ("VIP 유사도", "VIP look-alike score"),
    },
    # what a customer's profile says of them (segment conditions on traits, taste and habits)
    "gender": {
        "female": ("여성", "female"),
        "male": ("남성", "male"),
        "other": ("기타", "other"),
    },
    "age_band": {
        "10s": ("10대", "teens"),
        "20s": ("20대", "20s"),
        "30s": ("30대", "30s"),
        "40s": ("40대", "40s"),
        "50s": ("50대", "50s"),
        "60s+": ("60대 이상", "60 and over"),
    },
    # where the prices a customer pays (else looks at) sit among the catalogue's
    "price_band": {
        "low": ("저가 상품 위주", "mostly lower-priced products"),
        "mid": ("중간 가격대", "mid-priced products"),
        "high": ("고가 상품 위주", "mostly higher-priced products"),
    },
    # the facts of a customer a segment condition may test (the scores are named under "score")
    "profile_field": {
        "member": ("회원 여부", "member"),
        "buyer": ("구매 여부", "buyer"),
        "gender": ("성별", "gender"),
        "age_band": ("연령대", "age band"),
        "region": ("지역", "region"),
        "signed_up": ("가입일", "sign-up date"),
        "top_category": ("가장 좋아하는 카테고리", "favourite category"),
        "top_brand": ("가장 좋아하는 브랜드", "favourite brand"),
        "price_band": ("가격대", "price band"),
        "device": ("주로 쓰는 기기", "usual device"),
        "hour": ("주로 방문하는 시각", "usual hour of visit"),
        "buy_device": ("구매할 때 쓰는 기기", "device used to buy"),
        "buy_hour": ("주로 구매하는 시각", "usual hour of purchase"),
        "send_channel": ("메시지에 가장 잘 반응하는 채널", "channel that works best"),
        "send_hour": ("메시지를 보내기 좋은 시각", "best hour to send"),
    },
    # the columns of an event (and of a purchase) a segment condition may compare
    "event_field": {
        "type": ("이벤트 종류", "event type"),
        "name": ("이벤트 이름", "event name"),
        "session_id": ("세션 ID", "session ID"),
        "device_type": ("기기", "device"),
        "os": ("OS", "OS"),
        "channel": ("접속 채널", "channel"),
        "region": ("지역", "region"),
        "city": ("도시", "city"),
        "locale": ("언어 설정", "locale"),
        "page_url": ("페이지 주소", "page address"),
        "referrer": ("이전 페이지", "referring page"),
        "utm_source": ("유입 소스", "traffic source"),
        "utm_medium": ("유입 매체", "traffic medium"),
        "utm_campaign": ("유입 캠페인", "traffic campaign"),
        "utm_term": ("유입 키워드", "traffic keyword"),
        "utm_content": ("유입 콘텐츠", "traffic content"),
        "product_id": ("상품", "product"),
        "category": ("카테고리", "category"),
        "brand": ("브랜드", "brand"),
        "query": ("검색어", "search words"),
        "quantity": ("수량", "quantity"),
        "price": ("가격", "price"),
        "order_id": ("주문번호", "order number"),
        "revenue": ("주문 금액", "order value"),
        "currency": ("통화", "currency"),
        "banner_id": ("배너", "banner"),
        "campaign_id": ("캠페인", "campaign"),
        "message_id": ("메시지 ID", "message ID"),
    },
    # campaigns (shopmind.activation): a campaign's state, why the plan leaves a customer out (or
    # moves their message), the format a message goes in and its kind under the law
    "campaign_state": {
        "draft": ("초안", "draft"),
        "scheduled": ("예약됨", "scheduled"),
        "running": ("발송 중", "sending"),
        "paused": ("일시 중지", "paused"),
        "finished": ("종료", "finished"),
    },
    "exclusion": {
        "unreachable": ("연락처 없음", "no address"),
        "opted_out": ("수신 거부", "opted out"),
        "no_consent": ("수신 동의 없음", "no consent"),
        "after_end": ("캠페인 종료 뒤", "after the campaign's end"),
        "cap_day": ("하루 발송 한도 초과", "over the daily cap"),
        "cap_week": ("주간 발송 한도 초과", "over the weekly cap"),
        "night_deferred": ("야간이라 오전 8시로 미룸", "moved out of the night to 08:00"),
    },
    "message_format": {
        "email": ("이메일", "email"),
        "sms": ("단문 문자", "SMS"),
        "lms": ("장문 문자", "LMS"),
        "mms": ("사진 문자", "MMS"),
        "alimtalk": ("알림톡", "AlimTalk"),
        "brand": ("브랜드 메시지", "brand message"),
        "app_push": ("앱 푸시", "app push"),
        "web_push": ("웹 푸시", "web push"),
    },
    "message_kind": {
        "advertising": ("광고성 메시지", "advertising"),
        "informational": ("정보성 메시지", "informational"),
    },
    # which churn model a run chose
    "model": {
        "supervised": ("지도 학습 모델", "supervised model"),
        "p_alive": ("활성 확률 (BG/NBD)", "P(alive) (BG/NBD)"),
    },
}
for _code, _names in LABELS["feature"].items():  # a model input is also a stored score
    LABELS["score"].setdefault(_code, _names)

#: one name per concept, in both languages: the customer groups (RFM segments and model lists), the
#: jobs and the counts every surface shows. RFM rules and model lists that sound alike are named
#: apart: the RFM "vip" segment (a rule on R, F, M scores) is not the CLV top 20% ("clv_vip"), and
#: the RFM "potential_vip" rule is not the look-alike model's "could_become_vip".
GLOSSARY: dict[str, tuple[str, str]] = {
    # RFM segments (segments.SEGMENTS takes its names from here)
    "segment.vip": ("RFM VIP", "RFM VIP"),
    "segment.dormant_vip": ("휴면 VIP", "dormant VIP"),
    "segment.loyal": ("충성 고객", "loyal"),
    "segment.about_to_churn": ("이탈 우려", "about to churn"),
    "segment.potential_vip": ("VIP 후보", "VIP candidate"),
    "segment.new": ("신규", "new"),
    "segment.promising": ("유망", "promising"),
    "segment.needs_attention": ("관심 필요", "needs attention"),
    "segment.hibernating": ("휴면", "hibernating"),
    "segment.lost": ("이탈", "lost"),
    "segment.engaged_visitor": ("관심 방문자", "engaged visitor"),
    "segment.new_visitor": ("신규 방문자", "new visitor"),
    "segment.passing_visitor": ("스쳐간 방문자", "passing visitor"),
    # the model lists
    "list.clv_vip": ("CLV VIP (상위 20%)", "CLV VIP (top 20%)"),
    "list.vip_at_risk": ("이탈 위험 VIP", "VIP at risk"),
    "list.could_become_vip": ("VIP 유사 고객", "VIP look-alike"),
    # the jobs
    "job.customer_intelligence": ("고객 분석 (RFM, CLV, VIP)", "Customer intelligence (RFM, CLV, VIP)"),
    "job.churn_risk": ("이탈 위험", "Churn risk"),
    "job.purchase_probability": ("구매 확률", "Purchase probability"),
    "job.vip_lookalike": ("VIP 유사 고객", "VIP look-alike"),
    "job.preferences": ("취향과 최적 시간", "Taste and best time"),
    "job.recommender": ("추천 모델", "Recommender"),
    # counts: a customer is a profile (one person, however many identifiers); a buyer is a
    # customer with an order, guests included
    "count.customers": ("고객", "customers"),
    "count.members": ("회원", "members"),
    "count.buyers": ("구매 고객", "buyers"),
    "count.identifiers": ("식별자", "identifiers"),
    "count.orders": ("주문", "orders"),
    "score.vip_lookalike": ("VIP 유사도", "VIP look-alike score"),
    # advertising consent (정보통신망법 제50조): the consent, its night-time twin (21:00-08:00), the
    # two-yearly notice of consent status (§50⑧) and the ledger's record of every change
    "consent.advertising": LABELS["consent_purpose"]["advertising"],
    "consent.night": LABELS["consent_purpose"]["night_advertising"],
    "consent.notice": ("수신 동의 여부 안내", "consent-status notice"),
    "consent.history": ("수신 동의 이력", "consent history"),
    # campaigns: who gets the messages and who is kept back to measure them against
    "campaign.treated": ("발송 그룹", "treated group"),
    "campaign.holdout": ("대조군", "holdout"),
    "campaign.uplift": ("증분 효과", "uplift"),
}


def label(kind: str, code: str | None, lang: str) -> str:
    """The word for ``code`` of ``kind`` ("event", "device", "channel", "consent_method",
    "consent_purpose", "consent_reason", "action", "placement", "page_type", "gender", "age_band",
    "price_band", "profile_field", "event_field", "feature", "score", "model") in ``lang``; an
    unknown code as it is ("–" for none)."""
    if code is None or code == "":
        return "–"
    found = LABELS.get(kind, {}).get(code)
    if found is None and kind == "score" and code.startswith("purchase_probability_") and code.endswith("d"):
        days = code.removeprefix("purchase_probability_").removesuffix("d")  # any horizon a run used
        found = (f"{days}일 내 구매 확률", f"P(buy within {days} days)")
    if found is None:
        return code
    return found[1] if lang == "en" else found[0]


def term(key: str, lang: str) -> str:
    """The one name of a concept of :data:`GLOSSARY` in ``lang`` (KeyError for an unknown one)."""
    ko, en = GLOSSARY[key]
    return en if lang == "en" else ko

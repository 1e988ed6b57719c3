"""The demo shop's catalogue: categories, Korean product names, brands, prices and colours.

The product list (ids, names, categories, brands) is fixed; prices, stock and popularity are
drawn from the generator, so a seed gives one shop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from shopmind.events import PRODUCT_SCHEMA

CURRENCY = "KRW"


@dataclass(frozen=True)
class _Item:
    name: str
    brands: tuple[str, ...]
    price: int  # typical price of the first variant, KRW
    variants: tuple[tuple[str, float], ...] = (("", 1.0),)  # (label, price multiplier)
    region: str | None = None  # a local speciality
    colours: bool = False  # variants are colours


@dataclass(frozen=True)
class _Category:
    name: str
    slug: str
    weight: float  # share of order lines before weather, taste and VIP effects
    items: tuple[_Item, ...]
    queries: tuple[str, ...]
    keywords: tuple[str, ...]  # external interest keywords that signal this category


_COLOURS = (
    ("블랙", 1.0),
    ("네이비", 1.0),
    ("베이지", 1.0),
    ("그레이", 1.0),
    ("카멜", 1.05),
    ("아이보리", 1.0),
)

CATEGORIES: tuple[_Category, ...] = (
    _Category(
        "라면",
        "ramen",
        8.0,
        (
            _Item("신라면", ("농심",), 4_900, (("멀티팩 5입", 1.0), ("컵 6입", 1.4), ("박스 40입", 6.2))),
            _Item("진라면 매운맛", ("오뚜기",), 3_900, (("멀티팩 5입", 1.0), ("박스 40입", 6.0))),
            _Item("짜파게티", ("농심",), 5_200, (("멀티팩 5입", 1.0), ("박스 40입", 6.1))),
            _Item("안성탕면", ("농심",), 4_300, (("멀티팩 5입", 1.0),)),
            _Item("너구리", ("농심",), 5_100, (("멀티팩 5입", 1.0), ("컵 6입", 1.4))),
            _Item("불닭볶음면", ("삼양",), 5_900, (("멀티팩 5입", 1.0), ("컵 6입", 1.3))),
            _Item("삼양라면", ("삼양",), 4_200, (("멀티팩 5입", 1.0),)),
            _Item("팔도비빔면", ("팔도",), 4_800, (("멀티팩 5입", 1.0),)),
        ),
        ("라면", "신라면", "짜파게티", "컵라면", "불닭볶음면", "라면 박스"),
        ("자취", "야식"),
    ),
    _Category(
        "김치",
        "kimchi",
        1.5,
        (
            _Item("포기김치", ("종가", "비비고"), 12_900, (("1kg", 1.0), ("3kg", 2.6))),
            _Item("총각김치", ("종가", "비비고"), 13_900, (("1kg", 1.0),)),
            _Item("깍두기", ("종가", "비비고"), 9_900, (("900g", 1.0),)),
            _Item("열무김치", ("종가",), 11_900, (("1kg", 1.0),)),
        ),
        ("김치", "포기김치", "총각김치", "깍두기"),
        ("김장",),
    ),
    _Category(
        "정육",
        "meat",
        5.0,
        (
            _Item("한돈 삼겹살", ("도드람", "한돈농가"), 15_900, (("500g", 1.0), ("1kg", 1.9))),
            _Item("한돈 목살", ("도드람",), 14_900, (("500g", 1.0),)),
            _Item("한우 등심 1++", ("농협안심한우",), 59_000, (("300g", 1.0),)),
            _Item("차돌박이", ("농협안심한우",), 24_900, (("300g", 1.0),)),
            _Item("양념 LA갈비", ("푸드장",), 39_900, (("1.5kg", 1.0),)),
        ),
        ("삼겹살", "한우", "목살", "차돌박이", "캠핑 고기"),
        ("고기", "홈파티"),
    ),
    _Category(
        "소스/장류",
        "sauce",
        2.5,
        (
            _Item("쌈장", ("해찬들", "청정원"), 4_500, (("500g", 1.0),)),
            _Item("태양초 고추장", ("해찬들", "청정원"), 8_900, (("1kg", 1.0),)),
            _Item("재래식 된장", ("해찬들",), 7_900, (("1kg", 1.0),)),
            _Item("진간장", ("샘표",), 6_900, (("1.7L", 1.0),)),
            _Item("참기름", ("오뚜기",), 9_900, (("320ml", 1.0),)),
        ),
        ("쌈장", "고추장", "된장", "참기름"),
        ("집밥",),
    ),
    _Category(
        "과일",
        "fruit",
        5.0,
        (
            _Item("제주 감귤", ("제주농협",), 19_900, (("3kg", 1.0), ("5kg", 1.5)), region="제주"),
            _Item("한라봉 선물세트", ("제주농협",), 39_000, (("3kg", 1.0),), region="제주"),
            _Item("부사 사과", ("청송농협",), 24_900, (("3kg", 1.0), ("5kg", 1.6))),
            _Item("설향 딸기", ("논산농협",), 16_900, (("500g", 1.0), ("1kg", 1.9))),
            _Item("샤인머스캣", ("김천농협",), 22_900, (("1kg", 1.0),)),
            _Item("강원 햇감자", ("강원농협",), 15_900, (("5kg", 1.0),), region="강원"),
        ),
        ("사과", "귤", "한라봉", "딸기", "샤인머스캣"),
        ("다이어트", "제철과일"),
    ),
    _Category(
        "생수/음료",
        "drinks",
        6.0,
        (
            _Item("제주 삼다수", ("광동",), 12_900, (("2L 12병", 1.0), ("500ml 40병", 1.5))),
            _Item("아이시스 8.0", ("롯데칠성",), 10_900, (("2L 12병", 1.0),)),
            _Item("트레비 탄산수", ("롯데칠성",), 14_900, (("500ml 20병", 1.0),)),
            _Item("카누 아메리카노", ("맥심",), 24_900, (("100T", 1.0),)),
            _Item("부산 어묵탕 세트", ("고래사",), 18_900, (("6인분", 1.0),), region="부산"),
        ),
        ("생수", "삼다수", "탄산수", "커피", "카누"),
        ("홈카페",),
    ),
    _Category(
        "아우터",
        "outer",
        1.5,
        (
            _Item("울 롱코트", ("무신사 스탠다드", "탑텐"), 189_000, _COLOURS, colours=True),
            _Item("구스다운 롱패딩", ("노스페이스", "디스커버리"), 329_000, _COLOURS[:4], colours=True),
            _Item("숏패딩", ("노스페이스", "탑텐"), 159_000, _COLOURS[:4], colours=True),
            _Item("경량패딩 조끼", ("유니클로", "탑텐"), 49_900, _COLOURS[:3], colours=True),
            _Item(
                "트렌치코트", ("무신사 스탠다드",), 139_000, (("베이지", 1.0), ("블랙", 1.0)), colours=True
            ),
        ),
        ("겨울 코트", "롱패딩", "패딩", "코트", "경량패딩"),
        ("겨울패션",),
    ),
    _Category(
        "상의",
        "tops",
        6.0,
        (
            _Item("울 니트", ("무신사 스탠다드", "스파오"), 39_900, _COLOURS[:4], colours=True),
            _Item("오버핏 맨투맨", ("스파오", "탑텐"), 29_900, _COLOURS[:4], colours=True),
            _Item("옥스포드 셔츠", ("스파오",), 32_900, (("화이트", 1.0), ("블루", 1.0)), colours=True),
            _Item("코튼 반팔 티셔츠", ("유니클로", "탑텐"), 14_900, _COLOURS[:3], colours=True),
        ),
        ("니트", "맨투맨", "셔츠", "반팔티"),
        ("데일리룩",),
    ),
    _Category(
        "하의",
        "bottoms",
        4.5,
        (
            _Item(
                "와이드 데님 팬츠",
                ("스파오", "리바이스"),
                49_900,
                (("블루", 1.0), ("블랙", 1.0)),
                colours=True,
            ),
            _Item("세미와이드 슬랙스", ("무신사 스탠다드",), 39_900, _COLOURS[:3], colours=True),
            _Item("조거 팬츠", ("나이키",), 69_000, (("블랙", 1.0), ("그레이", 1.0)), colours=True),
        ),
        ("청바지", "슬랙스", "조거팬츠"),
        ("출근룩",),
    ),
    _Category(
        "신발",
        "shoes",
        3.5,
        (
            _Item(
                "러닝화",
                ("나이키", "아디다스", "뉴발란스"),
                119_000,
                (("블랙", 1.0), ("화이트", 1.0)),
                colours=True,
            ),
            _Item("첼시 부츠", ("닥터마틴",), 239_000, (("블랙", 1.0),), colours=True),
            _Item("슬리퍼", ("크록스",), 39_900, (("블랙", 1.0), ("베이지", 1.0)), colours=True),
        ),
        ("운동화", "러닝화", "부츠", "슬리퍼"),
        ("러닝",),
    ),
    _Category(
        "뷰티",
        "beauty",
        8.0,
        (
            _Item("선크림 SPF50+", ("라운드랩", "닥터지"), 19_800, (("50ml", 1.0), ("1+1", 1.7))),
            _Item("수분 토너", ("라운드랩", "아누아"), 17_900, (("200ml", 1.0),)),
            _Item("쿠션 팩트", ("클리오", "에스쁘아"), 32_000, (("21호", 1.0), ("23호", 1.0))),
            _Item("시트 마스크팩", ("메디힐",), 15_900, (("10매", 1.0),)),
            _Item("립밤", ("버츠비",), 8_900, (("1개", 1.0),)),
        ),
        ("선크림", "토너", "쿠션", "마스크팩"),
        ("뷰티", "스킨케어"),
    ),
    _Category(
        "디지털",
        "digital",
        3.5,
        (
            _Item("잉크젯 프린터", ("HP", "캐논", "엡손"), 129_000, (("복합기", 1.0),)),
            _Item("정품 잉크 카트리지", ("HP", "캐논", "엡손"), 24_900, (("검정", 1.0), ("컬러", 1.2))),
            _Item("무선 이어폰", ("삼성", "애플"), 179_000, (("화이트", 1.0),)),
            _Item("보조배터리 20000mAh", ("샤오미", "삼성"), 35_900, (("1개", 1.0),)),
            _Item("가습기", ("샤오미", "미로"), 89_000, (("1개", 1.0),)),
        ),
        ("프린터", "잉크", "무선 이어폰", "보조배터리", "가습기"),
        ("재택근무", "IT"),
    ),
    _Category(
        "생활용품",
        "living",
        8.5,
        (
            _Item("물티슈", ("베베숲", "몽드드"), 13_900, (("100매 10팩", 1.0),)),
            _Item("3겹 화장지", ("깨끗한나라", "잘풀리는집"), 21_900, (("30롤", 1.0),)),
            _Item("액체 세제", ("퍼실", "테크"), 19_900, (("3L", 1.0),)),
            _Item("주방세제", ("자연퐁", "트리오"), 7_900, (("1L", 1.0),)),
        ),
        ("물티슈", "휴지", "세제", "주방세제"),
        ("살림",),
    ),
    _Category(
        "레인용품",
        "rain",
        0.8,
        (
            _Item(
                "자동 장우산", ("우산공방", "락앤락"), 19_900, (("블랙", 1.0), ("네이비", 1.0)), colours=True
            ),
            _Item("3단 접이식 우산", ("우산공방",), 14_900, (("블랙", 1.0), ("베이지", 1.0)), colours=True),
            _Item("레인부츠", ("헌터",), 129_000, (("블랙", 1.0),), colours=True),
        ),
        ("우산", "장우산", "우비", "레인부츠"),
        ("장마",),
    ),
    _Category(
        "유아동",
        "kids",
        4.0,
        (
            _Item("팬티형 기저귀", ("하기스", "보솜이"), 32_900, (("대형 4팩", 1.0), ("특대형 4팩", 1.05))),
            _Item("분유", ("앱솔루트", "임페리얼"), 29_900, (("800g 3캔", 1.0),)),
            _Item("유아 내복", ("블루독",), 24_900, (("90", 1.0), ("100", 1.0))),
        ),
        ("기저귀", "분유", "아기 내복"),
        ("육아",),
    ),
    _Category(
        "캠핑",
        "camping",
        2.0,
        (
            _Item("캠핑 텐트", ("코베아", "스노우피크"), 289_000, (("4인용", 1.0),)),
            _Item("캠핑 의자", ("헬리녹스", "코베아"), 69_000, (("1개", 1.0),)),
            _Item("캠핑 랜턴", ("코베아",), 39_900, (("1개", 1.0),)),
        ),
        ("텐트", "캠핑의자", "캠핑 랜턴", "캠핑"),
        ("캠핑", "차박"),
    ),
)

CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
CATEGORY_SLUGS: tuple[str, ...] = tuple(c.slug for c in CATEGORIES)
CATEGORY_WEIGHTS = np.array([c.weight for c in CATEGORIES], dtype=np.float64)

COAT_CATEGORY = "아우터"
RAIN_CATEGORY = "레인용품"

#: Item names whose products trigger a complementary item, and how the partner is found.
#: (antecedent category or item, consequent item, same brand?)
_PAIR_RULES: tuple[tuple[str, str, str, bool], ...] = (
    ("category", "라면", "포기김치", False),
    ("item", "한돈 삼겹살", "쌈장", False),
    ("item", "잉크젯 프린터", "정품 잉크 카트리지", True),
    ("item", "캠핑 텐트", "캠핑 의자", False),
)


@dataclass(frozen=True)
class Catalogue:
    """The products as arrays (index = row of ``table``) plus the table itself."""

    table: pa.Table
    product_ids: tuple[str, ...]
    category: np.ndarray  # int index into CATEGORIES
    price: np.ndarray  # float64 KRW
    popularity: np.ndarray  # float64, relative within a category
    region: tuple[str | None, ...]
    pairs: tuple[tuple[int, int], ...]  # (antecedent row, consequent row)

    @property
    def size(self) -> int:
        return len(self.product_ids)


def _shop_price(raw: float) -> float:
    """A price as Korean shops write it: 12,900 rather than 12,873."""
    if raw < 5_000:
        return float(max(100, round(raw / 100) * 100))
    return float(np.ceil(raw / 1_000) * 1_000 - 100)


@dataclass(frozen=True)
class _Listing:
    """One product before the generator prices it."""

    category: int
    item: _Item
    brand: str
    variant: str
    base_price: float

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.brand, self.item.name, self.variant) if part)

    @property
    def description(self) -> str:
        return f"{self.name} - {CATEGORIES[self.category].name} 카테고리 인기 상품"


def _listings() -> list[_Listing]:
    return [
        _Listing(c_index, item, brand, label, item.price * multiplier)
        for c_index, cat in enumerate(CATEGORIES)
        for item in cat.items
        for brand in item.brands
        for label, multiplier in item.variants
    ]


def _pairs(listings: list[_Listing]) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    for kind, antecedent, consequent, same_brand in _PAIR_RULES:
        targets = [i for i, x in enumerate(listings) if x.item.name == consequent]
        for i, x in enumerate(listings):
            hit = (
                CATEGORIES[x.category].name == antecedent if kind == "category" else x.item.name == antecedent
            )
            if hit:
                choices = [t for t in targets if listings[t].brand == x.brand] if same_brand else targets
                # the first (best-known) variant of the partner item, of the same brand where asked
                pairs.append((i, choices[0]))
    return pairs


def build_catalogue(rng: np.random.Generator) -> Catalogue:
    """Every product of the demo shop, with seed-dependent prices, stock and popularity."""
    listings = _listings()
    n = len(listings)
    jitter = rng.uniform(0.92, 1.08, size=n)
    prices = np.array([_shop_price(x.base_price * j) for x, j in zip(listings, jitter, strict=True)])
    stock = rng.integers(0, 800, size=n)
    category = np.array([x.category for x in listings], dtype=np.int64)
    popularity = np.empty(n)
    for c in range(len(CATEGORIES)):
        members = np.flatnonzero(category == c)
        ranks = rng.permutation(members.size)
        popularity[members] = 1.0 / (ranks + 1.0) ** 0.8
    ids = tuple(f"P{i + 1:05d}" for i in range(n))
    regions = tuple(x.item.region for x in listings)
    table = pa.table(
        {
            "product_id": pa.array(ids, pa.string()),
            "name": pa.array([x.name for x in listings], pa.string()),
            "category": pa.array([CATEGORIES[x.category].name for x in listings], pa.string()),
            "brand": pa.array([x.brand for x in listings], pa.string()),
            "price": pa.array(prices, pa.float64()),
            "currency": pa.array([CURRENCY] * n, pa.string()),
            "colour": pa.array([x.variant if x.item.colours else None for x in listings], pa.string()),
            "description": pa.array([x.description for x in listings], pa.string()),
            "stock": pa.array(stock, pa.int64()),
            "region": pa.array(regions, pa.string()),
            "is_product": pa.array([True] * n, pa.bool_()),
        },
        schema=PRODUCT_SCHEMA,
    )
    return Catalogue(
        table=table,
        product_ids=ids,
        category=category,
        price=prices,
        popularity=popularity,
        region=regions,
        pairs=tuple(_pairs(listings)),
    )

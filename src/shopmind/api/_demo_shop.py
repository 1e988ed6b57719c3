"""A small shop served by ``shopmind serve --demo`` at ``/demo/``, built from the workspace's own
catalogue, that exercises the tracker end to end: page views, product views, add to cart, exit
intent and scroll, the decided popup/banner and its outcomes, and an order (a conversion)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shopmind.api._errors import ApiError
from shopmind.store import KeyRing, Store

router = APIRouter(prefix="/demo", tags=["demo shop"], include_in_schema=False)
KEY_FILE = "demo_write_key"
PER_CATEGORY = 8


def demo_write_key(workspace: Path, keys: KeyRing) -> str:
    """The demo page's write key: kept in the workspace (0600) and reused while it is valid."""
    path = workspace / KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if keys.check(key) == "write":
            return key
    _, key = keys.create("write")
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def demo_catalogue(store: Store) -> dict[str, Any]:
    """Up to eight products of each category, for the demo pages."""
    rows = store.sql(
        """SELECT product_id, name, category, brand, price FROM (
            SELECT *, row_number() OVER (PARTITION BY category ORDER BY product_id) AS n
            FROM products WHERE is_product AND price IS NOT NULL AND category IS NOT NULL
        ) WHERE n <= ? ORDER BY category, product_id""",
        [PER_CATEGORY],
    )
    products = {
        r[0]: {"id": r[0], "name": r[1] or r[0], "category": r[2], "brand": r[3], "price": r[4]} for r in rows
    }
    categories: dict[str, list[str]] = {}
    for p in products.values():
        categories.setdefault(p["category"], []).append(p["id"])
    return {"products": products, "categories": categories}


_e = html.escape


def _won(price: float | None) -> str:
    return "" if price is None else f"{price:,.0f}원"


def _page(
    request: Request, title: str, page_type: str, body: str, category: str | None = None
) -> HTMLResponse:
    key = request.app.state.demo_key
    meta = f'<meta name="shopmind:page-type" content="{page_type}">'
    if category:
        meta += f'<meta name="shopmind:category" content="{_e(category)}">'
    text = f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · 숍마인드 데모 상점</title>{meta}
<style>
body{{margin:0;font:15px/1.5 'Noto Sans KR',system-ui,sans-serif;color:#222}}
header{{display:flex;gap:18px;align-items:center;padding:12px 20px;border-bottom:1px solid #ddd}}
header a{{color:#222;text-decoration:none}} main{{padding:20px;max-width:960px;margin:auto;min-height:1400px}}
.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:14px;list-style:none;padding:0}}
.card{{border:1px solid #ddd;border-radius:8px;padding:12px}} .buy{{display:inline-block;text-decoration:none;background:#1f4fd8;color:#fff;border:0;border-radius:6px;padding:10px 16px;font-size:15px;cursor:pointer}}
</style>
<link rel="icon" href="data:,">
<script>
function cart() {{ return JSON.parse(localStorage.getItem("demo:cart") || "{{}}"); }}
function saveCart(c) {{ localStorage.setItem("demo:cart", JSON.stringify(c)); }}
</script>
<script src="/sdk.js" data-write-key="{_e(key)}" data-link-base="/demo" defer></script></head>
<body><header><a href="/demo/"><b>숍마인드 데모 상점</b></a><a href="/demo/cart" id="cart-link">장바구니</a></header>
<div data-shopmind-placement="top"></div>
<main>{body}</main>
</body></html>"""
    return HTMLResponse(text)


def _card(p: dict[str, Any]) -> str:
    return (
        f'<li class="card"><a href="/demo/product/{_e(p["id"])}">{_e(p["name"])}</a>'
        f"<div>{_e(p['brand'] or '')}</div><div>{_won(p['price'])}</div></li>"
    )


def _shop(request: Request) -> dict[str, Any]:
    shop: dict[str, Any] | None = request.app.state.demo_shop
    if shop is None:
        raise ApiError(404, "not_found", "the demo shop is off: start the server with --demo")
    return shop


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    shop = _shop(request)
    links = "".join(
        f'<li class="card"><a href="/demo/category/{_e(c)}">{_e(c)}</a> ({len(ids)})</li>'
        for c, ids in shop["categories"].items()
    )
    return _page(request, "홈", "home", f'<h1>어서 오세요</h1><ul class="grid">{links}</ul>')


@router.get("/category/{name}", response_class=HTMLResponse)
async def category(request: Request, name: str) -> HTMLResponse:
    shop = _shop(request)
    ids = shop["categories"].get(name)
    if ids is None:
        raise ApiError(404, "not_found", f"no category {name!r} in the demo shop")
    cards = "".join(_card(shop["products"][i]) for i in ids)
    return _page(
        request, name, "category", f'<h1>{_e(name)}</h1><ul class="grid">{cards}</ul>', category=name
    )


@router.get("/product/{product_id:path}", response_class=HTMLResponse)
async def product(request: Request, product_id: str) -> HTMLResponse:
    shop = _shop(request)
    p = shop["products"].get(product_id)
    if p is None:
        raise ApiError(404, "not_found", f"no product {product_id!r} in the demo shop")
    data = {"product_id": p["id"], "category": p["category"], "price": p["price"]}
    props = _e(json.dumps(data, ensure_ascii=False))
    body = f"""<h1 id="product-name">{_e(p["name"])}</h1><p>{_e(p["brand"] or "")} · {_e(p["category"])}</p>
<p class="price">{_won(p["price"])}</p>
<button class="buy" id="add-to-cart" data-product="{props}">장바구니 담기</button> <span id="added"></span>
<div data-shopmind-placement="product"></div>
<script>
document.addEventListener("DOMContentLoaded", function () {{
  var props = JSON.parse(document.getElementById("add-to-cart").dataset.product);
  shopmind.track("Product Viewed", props);
  document.getElementById("add-to-cart").addEventListener("click", function () {{
    var c = cart(); c[props.product_id] = {{quantity: ((c[props.product_id] || {{}}).quantity || 0) + 1, price: props.price, category: props.category}};
    saveCart(c);
    shopmind.track("Product Added", Object.assign({{quantity: 1}}, props)).then(function () {{
      document.getElementById("added").textContent = "담았습니다";
    }});
  }});
}});
</script>"""
    return _page(request, p["name"], "product", body)


@router.get("/cart", response_class=HTMLResponse)
async def cart(request: Request) -> HTMLResponse:
    _shop(request)
    body = """<h1>장바구니</h1><ul id="cart-lines"></ul>
<a class="buy" href="/demo/checkout" id="to-checkout">주문하기</a>
<script>
var lines = document.getElementById("cart-lines");
Object.entries(cart()).forEach(function (e) {
  var li = document.createElement("li"); li.textContent = e[0] + " × " + e[1].quantity; lines.appendChild(li);
});
</script>"""
    return _page(request, "장바구니", "cart", body)


@router.get("/checkout", response_class=HTMLResponse)
async def checkout(request: Request) -> HTMLResponse:
    _shop(request)
    body = """<h1>주문/결제</h1><button class="buy" id="place-order">결제하기</button> <span id="ordered"></span>
<script>
document.getElementById("place-order").addEventListener("click", function () {
  var c = cart();
  var products = Object.entries(c).map(function (e) {
    return {product_id: e[0], quantity: e[1].quantity, price: e[1].price, category: e[1].category};
  });
  if (!products.length) { document.getElementById("ordered").textContent = "장바구니가 비어 있어요"; return; }
  var revenue = products.reduce(function (s, p) { return s + p.price * p.quantity; }, 0);
  var orderId = "demo-" + shopmind.anonymousId().slice(0, 8) + "-" + Date.now();
  shopmind.track("Order Completed", {order_id: orderId, products: products, revenue: revenue}).then(function () {
    saveCart({}); document.getElementById("ordered").textContent = "주문 완료: " + orderId;
  });
});
</script>"""
    return _page(request, "주문/결제", "checkout", body)

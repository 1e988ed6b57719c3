"""Next-basket recommendation: shopmind's recommenders beside TIFU-KNN and the top-frequency
baselines, on Online Retail and on the demo shop, measured in the same run.

Protocol (the next-basket literature's, e.g. Hu et al. 2020; Li et al. 2023 "A next basket
recommendation reality check"), shopmind's ``next_basket_split`` and ``evaluate_next_basket``: a
basket is one invoice (Online Retail) or order (the demo shop). Every customer with at least two
baskets has the last one held out; everything else (every other basket of every customer, whenever
it happened) is the training data. Each recommender, fitted once on the training data, ranks K
items for each held-out customer (``Context()``: no time, cart or region given, as
``evaluate_next_basket`` asks; the peers know no time either). The truth is the whole basket,
items bought before included:

- ``recall@K`` = hits / min(K, |basket|); ``ndcg@K`` = DCG / ideal DCG with min(K, |basket|)
  hits on top (binary relevance; ``shopmind.recommend.ranking_metrics`` for the peers too);
- ``repeats@10``: the share of the top 10 the customer had bought before; the held-out baskets'
  own share of such items is printed with the data;
- ``fit s``: fitting time; for TIFU-KNN the user vectors and the neighbour search (its tuning on
  the validation split is printed apart).

Peers, written here from their papers:

- **global top-frequency**: the items in most baskets, the same list for everyone;
- **personal top-frequency**: each customer's own items by the number of their baskets holding
  them (ties: the more recent first), then the global list;
- **TIFU-KNN** (Hu, He, Gao, Zhang, SIGIR 2020, "Modeling personalized item frequency
  information for next-basket recommendation"): a customer's baskets (binary item vectors), oldest
  first, are split into ``groups`` contiguous groups of (nearly) equal size (fewer baskets than
  groups: one basket a group); inside a group basket j of m is weighted ``r_b ** (m - j)`` and the
  group averaged, the groups weighted ``r_g ** (last - g)`` and averaged: the personal item
  frequency vector. Scores are ``alpha * own vector + (1 - alpha) * mean vector of the k nearest
  customers`` (Euclidean, over every training customer, the customer included as in the authors'
  code). Its hyper-parameters are tuned per data set on a validation split (each held-out
  customer's second-last basket, trained without the last two), over the grid of ``TIFU_GRID``,
  by NDCG@10: the peer at its best, as the paper tuned it.

shopmind's recommenders are built with ``exclude_seen=False`` where they take it (a repurchase
may be recommended), the rest as defaults.

Run with ``python -m bench.bench_next_basket`` (``--data online_retail`` or ``demo`` for one;
``--demo-customers/--demo-days/--demo-seed`` for another demo shop; default the ``make demo`` shop:
5,000 customers, 90 days, seed 42).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from shopmind.recommend import NextBasketSplit

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KS = (10, 20)
DEMO = {"customers": 5_000, "days": 90, "seed": 42}  # the ``make demo`` shop

#: TIFU-KNN's grid: (groups, r_b, r_g, neighbours, alpha); the paper's defaults are in it
TIFU_GRID = {
    "groups": (3, 7),
    "r_b": (0.9, 1.0),
    "r_g": (0.6, 0.8),
    "neighbours": (100, 300),
    "alpha": (0.5, 0.7, 0.9),
}


# -- data ---------------------------------------------------------------------------------------


def online_retail() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Online Retail's purchase lines of known customers (cancellations, returns and the shop's
    non-product codes such as POST, DOT, M, BANK CHARGES left out): user, item, time, basket
    (the invoice), kind; and the catalogue (item, name, median price)."""
    frame = pd.read_parquet(DATA / "online_retail" / "online_retail.parquet")
    frame = frame[~frame.InvoiceNo.astype(str).str.startswith("C") & (frame.Quantity > 0)]
    frame = frame.dropna(subset=["CustomerID"])
    code = frame.StockCode.astype(str)
    frame = frame[code.str[0].str.isdigit()]  # products have numeric codes (85123A, 22423...)
    rows = pd.DataFrame(
        {
            "user": frame.CustomerID.astype(int).astype(str),
            "item": frame.StockCode.astype(str),
            "time": pd.to_datetime(frame.InvoiceDate).dt.tz_localize("UTC"),
            "basket": frame.InvoiceNo.astype(str),
            "kind": "purchase",
        }
    )
    named = frame.assign(item=frame.StockCode.astype(str), name=frame.Description.str.strip())
    catalogue = (
        named.groupby("item")
        .agg(
            name=("name", lambda s: s.mode().iat[0] if s.notna().any() else None),
            price=("UnitPrice", "median"),
        )
        .reset_index()
    )
    return rows.drop_duplicates().reset_index(drop=True), catalogue


def demo_shop(customers: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo shop's members' order lines (user, item, time) and its catalogue."""
    from shopmind.demo import generate_shop

    shop = generate_shop(customers=customers, days=days, seed=seed)
    orders = shop.orders.select(["order_id", "ordered_at", "customer_id"]).to_pandas()
    lines = shop.order_lines.select(["order_id", "product_id"]).to_pandas()
    rows = lines.merge(orders, on="order_id").dropna(subset=["customer_id"])
    frame = pd.DataFrame(
        {
            "user": rows.customer_id,
            "item": rows.product_id,
            "time": rows.ordered_at,
            "basket": rows.order_id,
            "kind": "purchase",
        }
    )
    products = shop.products.to_pandas()
    catalogue = products[["product_id", "name", "category", "brand", "price", "colour", "description"]]
    return frame.drop_duplicates().reset_index(drop=True), catalogue.rename(columns={"product_id": "item"})


# -- the split and the metrics --------------------------------------------------------------------


def basket_metrics(lists: Mapping[str, list[str]], split: NextBasketSplit) -> dict[str, float]:
    """Recall and NDCG at each K of ``KS`` (``shopmind.recommend.ranking_metrics``, as
    ``evaluate_next_basket`` measures shopmind's recommenders) and the repeat share of the top K."""
    from shopmind.recommend import ranking_metrics

    users = sorted(split.relevant)
    had = _seen(split.train)
    popularity = {item: 1.0 for item in split.train["item"].unique()}
    metrics: dict[str, float] = {}
    for k in KS:
        got = ranking_metrics({u: lists.get(u, [])[:k] for u in users}, split.relevant, k, popularity)
        metrics[f"recall@{k}"], metrics[f"ndcg@{k}"] = got["recall"], got["ndcg"]
        shown = [(u, item) for u in users for item in lists.get(u, [])[:k]]
        metrics[f"repeat_share@{k}"] = (
            float(np.mean([i in had.get(u, ()) for u, i in shown])) if shown else 0.0
        )
    return metrics


def _seen(train: pd.DataFrame) -> dict[str, set[str]]:
    return {str(u): set(items) for u, items in train.groupby("user")["item"]}


# -- the peers ------------------------------------------------------------------------------------


class _Coded:
    """Users and items of a training frame as codes, and each (user, basket) as a row."""

    def __init__(self, train: pd.DataFrame) -> None:
        self.users, user_codes = np.unique(train["user"].to_numpy(dtype=str), return_inverse=True)
        self.items, item_codes = np.unique(train["item"].to_numpy(dtype=str), return_inverse=True)
        key = train["basket"] if "basket" in train.columns else train["time"]
        frame = pd.DataFrame(
            {"u": user_codes, "i": item_codes, "t": train["time"].to_numpy(), "key": key.to_numpy()}
        )
        # baskets numbered per user, oldest first (0-based), and how many each user has
        stamps = frame.groupby(["u", "key"], sort=False)["t"].min().reset_index()
        stamps = stamps.sort_values(["u", "t", "key"], kind="stable")
        stamps["b"] = stamps.groupby("u").cumcount()
        frame = frame.drop(columns="t").drop_duplicates(["u", "i", "key"])
        self.rows = frame.merge(stamps, on=["u", "key"])
        self.n_baskets = np.bincount(stamps["u"].to_numpy(), minlength=self.users.size)
        self.user_index = {u: i for i, u in enumerate(self.users.tolist())}

    def basket_counts(self) -> sparse.csr_matrix:
        """users × items: the number of the user's baskets holding the item."""
        r = self.rows
        return sparse.csr_matrix(
            (np.ones(len(r)), (r["u"].to_numpy(), r["i"].to_numpy())),
            shape=(self.users.size, self.items.size),
        )


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best columns of each row of ``scores``, best first (ties: lower column first)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -picked), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _with_unknown(users: list[str], lists: dict[str, list[str]], coded: _Coded) -> dict[str, list[str]]:
    """``lists`` plus the most popular items for the customers the training data does not know
    (all of whose baskets were at the held-out basket's time)."""
    popular = coded.items[
        np.argsort(-np.bincount(coded.rows["i"], minlength=coded.items.size), kind="stable")
    ]
    return {u: lists.get(u, popular[: max(KS)].tolist()) for u in users}


class GlobalTopFrequency:
    name = "global top-frequency"

    def fit(self, train: pd.DataFrame) -> GlobalTopFrequency:
        key = "basket" if "basket" in train.columns else "time"
        counts = train.drop_duplicates(["user", "item", key])["item"].value_counts()
        self.ranked_ = sorted(counts.index, key=lambda i: (-counts[i], i))[: max(KS)]
        return self

    def lists(self, users: list[str]) -> dict[str, list[str]]:
        return {u: list(self.ranked_) for u in users}


class PersonalTopFrequency:
    name = "personal top-frequency"

    def fit(self, train: pd.DataFrame) -> PersonalTopFrequency:
        self.coded_ = coded = _Coded(train)
        per = coded.rows.groupby(["u", "i"])["b"].agg(["size", "max"]).reset_index()
        # own items score their basket count (>= 1) plus a fraction for recency (ties: the more
        # recent first); the global list fills in below them
        own = per["size"].to_numpy() + (per["max"].to_numpy() + 1.0) / (coded.n_baskets.max() + 2.0)
        shape = (coded.users.size, coded.items.size)
        self.score_ = sparse.csr_matrix((own, (per["u"].to_numpy(), per["i"].to_numpy())), shape=shape)
        popularity = np.bincount(coded.rows["i"].to_numpy(), minlength=coded.items.size).astype(float)
        self.global_ = popularity / (popularity.max() + 1.0)
        return self

    def lists(self, users: list[str]) -> dict[str, list[str]]:
        coded = self.coded_
        known = [u for u in users if u in coded.user_index]
        rows = np.array([coded.user_index[u] for u in known], dtype=np.int64)
        scores = self.score_[rows].toarray() + self.global_[None, :]
        top = _top(scores, max(KS))
        return _with_unknown(
            users, {u: coded.items[t].tolist() for u, t in zip(known, top, strict=True)}, coded
        )


class TifuKnn:
    name = "TIFU-KNN"

    def __init__(
        self, groups: int = 7, r_b: float = 0.9, r_g: float = 0.7, neighbours: int = 300, alpha: float = 0.7
    ) -> None:
        self.groups, self.r_b, self.r_g, self.neighbours, self.alpha = groups, r_b, r_g, neighbours, alpha

    def params(self) -> dict[str, float]:
        return {
            "groups": self.groups,
            "r_b": self.r_b,
            "r_g": self.r_g,
            "k": self.neighbours,
            "alpha": self.alpha,
        }

    def fit(self, train: pd.DataFrame, coded: _Coded | None = None) -> TifuKnn:
        self.coded_ = coded if coded is not None else _Coded(train)
        self.vectors_ = self._vectors()
        self._near: dict[int, np.ndarray] = {}
        return self

    def _vectors(self) -> sparse.csr_matrix:
        """The personal item frequency vectors (users × items)."""
        coded = self.coded_
        r = coded.rows
        u, b = r["u"].to_numpy(), r["b"].to_numpy()
        n = coded.n_baskets[u]
        g_count = np.minimum(n, self.groups)
        base = n // g_count
        extra = n - base * g_count  # the last ``extra`` groups hold one basket more
        small = (g_count - extra) * base  # baskets in the smaller groups
        in_small = b < small
        group = np.where(in_small, b // np.maximum(base, 1), (g_count - extra) + (b - small) // (base + 1))
        size = np.where(in_small, base, base + 1)
        start = np.where(in_small, group * base, small + (group - (g_count - extra)) * (base + 1))
        position = b - start  # 0-based inside the group
        weight = (self.r_b ** (size - 1 - position)) / size * (self.r_g ** (g_count - 1 - group)) / g_count
        vectors = sparse.csr_matrix(
            (weight, (u, r["i"].to_numpy())), shape=(coded.users.size, coded.items.size)
        )
        vectors.sum_duplicates()
        return vectors

    def neighbours_of(self, rows: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` nearest users (Euclidean over the vectors) of each of ``rows``, nearest first."""
        vectors = self.vectors_
        norms = np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()
        k = min(k, vectors.shape[0])
        out = np.empty((rows.size, k), dtype=np.int64)
        for start in range(0, rows.size, 1000):
            chunk = rows[start : start + 1000]
            dots = (vectors[chunk] @ vectors.T).toarray()
            dist = norms[chunk][:, None] + norms[None, :] - 2.0 * dots
            out[start : start + chunk.size] = _top(-dist, k)
        return out

    def scores(self, rows: np.ndarray) -> np.ndarray:
        near = self.neighbours_of(rows, self.neighbours)
        return self.alpha * self.vectors_[rows].toarray() + (1.0 - self.alpha) * self.neighbour_mean(near)

    def neighbour_mean(self, near: np.ndarray) -> np.ndarray:
        """The mean vector of each row's neighbours (``near``: users × k)."""
        k = near.shape[1]
        pick = sparse.csr_matrix(
            (np.full(near.size, 1.0 / k), near.ravel(), np.arange(0, near.size + 1, k)),
            shape=(near.shape[0], self.vectors_.shape[0]),
        )
        return (pick @ self.vectors_).toarray()

    def lists(self, users: list[str]) -> dict[str, list[str]]:
        coded = self.coded_
        known = [u for u in users if u in coded.user_index]
        rows = np.array([coded.user_index[u] for u in known], dtype=np.int64)
        top = _top(self.scores(rows), max(KS))
        return _with_unknown(
            users, {u: coded.items[t].tolist() for u, t in zip(known, top, strict=True)}, coded
        )


def tune_tifu(train: pd.DataFrame) -> tuple[TifuKnn, list[tuple[dict[str, float], float]]]:
    """TIFU-KNN with the grid's best NDCG@10 on the validation split of ``train`` (each tested
    customer's last training basket held out)."""
    from shopmind.recommend import next_basket_split

    valid = next_basket_split(train)
    users = sorted(u for u in valid.relevant if u in set(valid.train["user"]))
    tried = []
    best: tuple[float, dict[str, float]] | None = None
    coded = _Coded(valid.train)
    for groups, r_b, r_g in itertools.product(TIFU_GRID["groups"], TIFU_GRID["r_b"], TIFU_GRID["r_g"]):
        model = TifuKnn(groups, r_b, r_g).fit(valid.train, coded)
        rows = np.array([coded.user_index[u] for u in users])
        own = model.vectors_[rows].toarray()
        near = model.neighbours_of(rows, max(TIFU_GRID["neighbours"]))
        for k in TIFU_GRID["neighbours"]:
            mean = model.neighbour_mean(near[:, :k])
            for alpha in TIFU_GRID["alpha"]:
                model.neighbours, model.alpha = k, alpha
                top = _top(alpha * own + (1.0 - alpha) * mean, max(KS))
                lists = {u: coded.items[t].tolist() for u, t in zip(users, top, strict=True)}
                ndcg = _ndcg10(lists, valid.relevant)
                tried.append((model.params(), ndcg))
                if best is None or ndcg > best[0]:
                    best = (ndcg, model.params())
    assert best is not None
    p = best[1]
    chosen = TifuKnn(int(p["groups"]), p["r_b"], p["r_g"], int(p["k"]), p["alpha"])
    return chosen, tried


def _ndcg10(lists: Mapping[str, list[str]], relevant: Mapping[str, frozenset[str]]) -> float:
    from shopmind.recommend import ranking_metrics

    truth = {u: relevant[u] for u in lists}
    return ranking_metrics(lists, truth, 10, {})["ndcg"]


# -- shopmind's recommenders ------------------------------------------------------------------------


def shopmind_models() -> dict[str, Callable[[], object]]:
    """shopmind's recommenders, repurchases allowed where the model takes ``exclude_seen``."""
    import shopmind.recommend as rec
    from shopmind.pipeline import ALGORITHMS

    made: dict[str, Callable[[], object]] = {}
    extra = {
        "personal_top_frequency": getattr(rec, "PersonalTopFrequency", None),
        "repurchase": getattr(rec, "RepurchaseRecommender", None),
    }
    for name, make in {**{k: v for k, v in extra.items() if v is not None}, **ALGORITHMS}.items():
        probe = make()
        if "exclude_seen" in probe.get_params():
            made[name] = lambda make=make: make().set_params(exclude_seen=False)
        else:
            made[name] = make
    return made


#: shopmind's recommenders that read ``Context.now``; also measured asked at the basket's time
TIMED = ("repurchase", "hybrid")


class AtBasketTime:
    """A recommender asked with ``Context(now=...)`` at each tested customer's held-out basket
    time (``evaluate_next_basket`` asks with ``Context()``): how a live request, which knows the
    time, sees it. Not a peer-comparable figure (the peers know no time), so printed apart."""

    def __init__(self, model, split: NextBasketSplit) -> None:
        self.model, self.split = model, split

    def fit(self, interactions: pd.DataFrame, catalogue: pd.DataFrame | None = None) -> AtBasketTime:
        self.model.fit(interactions, catalogue)
        return self

    def recommend(self, user: str, context=None, n: int = 10):
        from shopmind.recommend import Context

        at = self.split.basket_time.get(user)
        return self.model.recommend(user, Context(now=None if at is None else at.to_pydatetime()), n=n)


# -- the run --------------------------------------------------------------------------------------


def evaluate(
    label: str,
    frame: pd.DataFrame,
    catalogue: pd.DataFrame | None,
    only: list[str] | None = None,
    tifu_params: list[float] | None = None,
) -> pd.DataFrame:
    """The peers and shopmind's recommenders on one split; prints a line each, then the ratios."""
    from shopmind.recommend import evaluate_next_basket, next_basket_split

    split = next_basket_split(frame)
    users = sorted(split.relevant)
    sizes = [len(b) for b in split.relevant.values()]
    repeats = sum(len(split.repeats[u]) for u in users) / sum(sizes)
    print(
        f"\n== {label}: {len(frame):,} lines, {frame.user.nunique():,} customers, "
        f"{frame.item.nunique():,} items; {len(users):,} held-out baskets (mean {np.mean(sizes):.1f} items, "
        f"{repeats:.1%} of their items bought before by the same customer)",
        flush=True,
    )
    rows = []

    def record(name: str, kind: str, metrics: Mapping[str, float], fit_s: float, note: str = "") -> None:
        m = dict(metrics)
        rows.append({"data": label, "model": name, "kind": kind, **m, "fit_s": fit_s, "note": note})
        print(
            f"{name:<24} {kind:<5} R@10 {m['recall@10']:.4f} N@10 {m['ndcg@10']:.4f} "
            f"R@20 {m['recall@20']:.4f} N@20 {m['ndcg@20']:.4f} repeats@10 {m['repeat_share@10']:.2f} "
            f"fit {fit_s:7.2f} s {note}",
            flush=True,
        )

    peers: list[GlobalTopFrequency | PersonalTopFrequency] = [GlobalTopFrequency(), PersonalTopFrequency()]
    for peer in peers:
        t0 = time.perf_counter()
        peer.fit(split.train)
        fit_s = time.perf_counter() - t0
        record(peer.name, "peer", basket_metrics(peer.lists(users), split), fit_s)
    t0 = time.perf_counter()
    if tifu_params is None:
        tifu, tried = tune_tifu(split.train)
    else:
        tifu, tried = TifuKnn(int(tifu_params[0]), *tifu_params[1:3], int(tifu_params[3]), tifu_params[4]), []
    tuning = time.perf_counter() - t0
    t0 = time.perf_counter()
    tifu.fit(split.train)
    lists = tifu.lists(users)
    fit_s = time.perf_counter() - t0
    params = ", ".join(f"{k}={v:g}" for k, v in tifu.params().items())
    note = (
        f"({params}; best of {len(tried)} on the validation split, tuned in {tuning:.0f} s)"
        if tried
        else f"({params}: given, not tuned)"
    )
    record(tifu.name, "peer", basket_metrics(lists, split), fit_s, note)

    for name, make in shopmind_models().items():
        if only and name not in only:
            continue
        table = evaluate_next_basket({name: make()}, split, KS, catalogue=catalogue)
        got = table.iloc[0]
        record(name, "ours", {c: float(got[c]) for c in table.columns if "@" in c}, float(got["fit_s"]))
        if name in TIMED:  # asked when the customer comes back: what a live request knows
            table = evaluate_next_basket({name: AtBasketTime(make(), split)}, split, KS, catalogue=catalogue)
            got = table.iloc[0]
            metrics = {c: float(got[c]) for c in table.columns if "@" in c}
            record(f"{name} (now=basket)", "timed", metrics, float(got["fit_s"]))
    table = pd.DataFrame(rows)
    _ratios(table)
    return table


def _ratios(table: pd.DataFrame) -> None:
    peers = table[table.kind == "peer"].set_index("model")
    ours = table[table.kind == "ours"]  # the "timed" rows know more than the peers: not compared
    if ours.empty:
        return
    best = ours.loc[ours["ndcg@10"].idxmax()]
    print(f"best of ours by NDCG@10: {best.model}")
    for peer in ("personal top-frequency", "TIFU-KNN"):
        for metric in ("recall@10", "ndcg@10"):
            value, theirs = best[metric], peers.loc[peer, metric]
            verdict = "beats" if value > theirs else "does NOT beat"
            print(
                f"  {metric:<9} ours ({best.model}) {value:.4f} vs {peer} {theirs:.4f}: "
                f"ratio {value / theirs:.3f} ({verdict})"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("all", "online_retail", "demo"), default="all")
    parser.add_argument("--demo-customers", type=int, default=DEMO["customers"])
    parser.add_argument("--demo-days", type=int, default=DEMO["days"])
    parser.add_argument("--demo-seed", type=int, default=DEMO["seed"])
    parser.add_argument("--only", nargs="*", help="shopmind models to run (default all)")
    parser.add_argument(
        "--tifu",
        nargs=5,
        type=float,
        metavar=("GROUPS", "R_B", "R_G", "K", "ALPHA"),
        help="TIFU-KNN's hyper-parameters, not tuned (default: tuned on the validation split)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if args.data in ("all", "demo"):
        frame, catalogue = demo_shop(args.demo_customers, args.demo_days, args.demo_seed)
        label = f"demo shop ({args.demo_customers:,} customers, {args.demo_days} days, seed {args.demo_seed})"
        evaluate(label, frame, catalogue, args.only, args.tifu)
    if args.data in ("all", "online_retail"):
        if not (DATA / "online_retail").is_dir():
            print(f"Online Retail skipped: {DATA / 'online_retail'} is absent")
        else:
            frame, catalogue = online_retail()
            evaluate(
                "Online Retail (each customer's last invoice held out)",
                frame,
                catalogue,
                args.only,
                args.tifu,
            )


if __name__ == "__main__":
    main()

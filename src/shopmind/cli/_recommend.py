"""``shopmind evaluate recommendations`` (every algorithm on a temporal split, one table),
``shopmind evaluate next-basket`` (each customer's last order held out, repeats included) and
``shopmind recommend`` (rules, items for a customer, complements and alternatives of a product)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from shopmind.cli._common import (
    IN_SERVER,
    WorkspaceOpt,
    app,
    console,
    err_console,
    fail,
    open_workspace,
    parse_as_of,
    progress_bars,
)
from shopmind.cli._format import local_date, local_time
from shopmind.core import InvalidInputError, counted, to_utc

if TYPE_CHECKING:  # the models are imported when a command runs: ``shopmind --help`` stays quick
    from shopmind.recommend import HybridRecommender, Recommendation
    from shopmind.store import Store

#: the keys of ``shopmind.pipeline.ALGORITHMS``, for the help (a test keeps them equal)
ALGORITHM_NAMES = ("popularity", "trending", "item_cf", "user_cf", "content", "als", "bpr", "hybrid")
#: the keys of ``shopmind.pipeline.NEXT_BASKET_ALGORITHMS`` (a test keeps them equal)
NEXT_BASKET_NAMES = ("global_top", "personal_top", "repurchase", "item_cf", "hybrid")

EXIT_INPUT = 4
evaluate_app = typer.Typer(help="Measure models offline on the shop's own past.", no_args_is_help=True)
recommend_app = typer.Typer(
    help="Cross-sell: association rules, items for a customer, complements and alternatives.",
    no_args_is_help=True,
)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(recommend_app, name="recommend")

PERCENT = ("recall", "ndcg", "map", "hit_rate", "coverage", "long_tail")
#: the evaluation table's headers, short enough for an 80-column terminal (the CSV keeps the names)
HEADERS = {
    "ndcg": "NDCG",
    "map": "MAP",
    "hit_rate": "hit",
    "coverage": "cover",
    "long_tail": "tail",
    "popularity_bias": "pop bias",
    "fit_s": "fit s",
    "latency_ms_p50": "p50 ms",
    "latency_ms_p99": "p99 ms",
}


def _write_table(path: Path, table: Any) -> None:
    """A pandas table as CSV, its text cells safe to open in a spreadsheet (product names come
    from the shop's catalogue)."""
    from shopmind.segments import write_csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        write_csv(fh, [str(c) for c in table.columns], table.itertuples(index=False, name=None))


@evaluate_app.command("recommendations")
def evaluate_recommendations_cmd(
    split_at: Annotated[
        str, typer.Option("--split-at", help="Train on purchases before this date (YYYY-MM-DD), test after.")
    ],
    until: Annotated[
        str | None, typer.Option("--until", help="End of the test period (default: the latest purchase).")
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Length of each recommendation list.")] = 10,
    algorithms: Annotated[
        str | None,
        typer.Option("--algorithms", "-a", help=f"Comma-separated subset of: {', '.join(ALGORITHM_NAMES)}."),
    ] = None,
    max_users: Annotated[
        int | None, typer.Option("--max-users", min=1, help="Evaluate a seeded sample of the test customers.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the table as CSV.")
    ] = None,
    zone: Annotated[
        str | None,
        typer.Option("--zone", help="The shop's time zone, for the dates (default: the workspace's)."),
    ] = None,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Fit every algorithm on the purchases before --split-at and compare its top-K with what the
    customers active before bought, new to them, from --split-at to --until: Recall, NDCG, MAP and
    hit rate at K, catalogue coverage, popularity bias (mean share of customers who bought a
    recommended item) and long-tail share, fit time and latency per customer. Popularity is the
    baseline; `als` is the `implicit` library's ALS.

    Example: shopmind evaluate recommendations --split-at 2011-10-01 --until 2011-12-10
    """
    from shopmind.pipeline import evaluate_recommendations

    names = [n.strip() for n in algorithms.split(",") if n.strip()] if algorithms else None
    start = parse_as_of(split_at, zone)
    end = parse_as_of(until, zone) if until else None
    with open_workspace(workspace) as (_, store):
        try:
            with console.status("evaluating") as status:
                table = evaluate_recommendations(
                    store,
                    start,
                    end,
                    k=k,
                    algorithms=names,
                    max_users=max_users,
                    on_step=lambda name: status.update(f"fitting and measuring {name}"),
                )
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_INPUT, "check --split-at/--until against the orders' dates") from None
    view = Table(
        title=f"Recommendations @ {k} · {counted(table.attrs['users'], 'customer')} · "
        f"train < {local_date(start, zone)}, test until {local_date(datetime.fromisoformat(table.attrs['until']), zone)}"
    )
    columns = ["algorithm", *PERCENT, "popularity_bias", "fit_s", "latency_ms_p50", "latency_ms_p99"]
    for col in columns:  # short headers that fold rather than cut: the table fits 80 columns
        view.add_column(
            HEADERS.get(col, col), justify="left" if col == "algorithm" else "right", overflow="fold"
        )
    best = {col: table[col].max() for col in ("recall", "ndcg", "map", "hit_rate")}
    for row in table.to_dict("records"):
        cells = [str(row["algorithm"])]
        for col in columns[1:]:
            value = float(row[col])
            text = (
                f"{value:.1%}"
                if col in PERCENT
                else f"{value:.3f}"
                if col == "popularity_bias"
                else f"{value:.2f}"
            )
            cells.append(f"[bold green]{text}[/]" if best.get(col) == value else text)
        view.add_row(*cells)
    console.print(view)
    if output is not None:
        _write_table(output, table)
        console.print(f"wrote {output}")


@evaluate_app.command("next-basket")
def evaluate_next_basket_cmd(
    k: Annotated[
        list[int] | None,
        typer.Option("--k", "-k", min=1, help="Length of the lists (repeat the option: -k 10 -k 20)."),
    ] = None,
    algorithms: Annotated[
        str | None,
        typer.Option(
            "--algorithms", "-a", help=f"Comma-separated subset of: {', '.join(NEXT_BASKET_NAMES)}."
        ),
    ] = None,
    max_users: Annotated[
        int | None, typer.Option("--max-users", min=1, help="Evaluate a seeded sample of the customers.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the table as CSV.")
    ] = None,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Hold out each customer's last order (customers with two orders or more), fit every
    algorithm on the rest and compare its top-K with that order, every item counted, repeat
    purchases too: Recall and NDCG at K, the share of repeats among the recommended, the recall
    of the order's repeat and new items, fit time. global_top (the most popular items) and
    personal_top (each customer's own most frequent items) are the baselines; repurchase,
    item_cf and hybrid may recommend what the customer bought before.

    Example: shopmind evaluate next-basket -k 10 -k 20
    """
    from shopmind.pipeline import evaluate_next_baskets

    names = [n.strip() for n in algorithms.split(",") if n.strip()] if algorithms else None
    ks = sorted(set(k)) if k else [10, 20]
    with open_workspace(workspace) as (_, store), progress_bars() as progress:
        current = {"name": ""}

        def step(name: str) -> None:
            current["name"] = name
            progress(name, 0, 1)

        try:
            table = evaluate_next_baskets(
                store,
                k=ks,
                algorithms=names,
                max_users=max_users,
                on_step=step,
                on_user=lambda done, total: progress(current["name"], done, total),
            )
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_INPUT, "import orders with at least two orders per customer") from None
    shares = f"{table.attrs['repeat_share_of_baskets']:.0%} of the held-out items were bought before"
    view = Table(
        title=f"Next basket · {counted(table.attrs['users'], 'customer')} (their last order held out) · {shares}",
        caption=f"repeats: the share of the top {ks[0]} the customer had bought before",
    )
    columns = ["algorithm"]
    for cut in ks:
        columns += [f"recall@{cut}", f"ndcg@{cut}"]
    columns += [f"repeat_share@{ks[0]}", "fit_s"]  # the CSV has every column
    short = {"repeat_share": "repeats", "fit_s": "fit s", "ndcg": "NDCG"}
    for col in columns:
        name, _, at = col.partition("@")
        header = f"{short.get(name, name)}@{at}" if at and name != "repeat_share" else short.get(name, name)
        if col == "algorithm":
            view.add_column(header, justify="left", no_wrap=True)
        else:
            view.add_column(header, justify="right", overflow="fold")
    best = {col: table[col].max() for col in columns if col.startswith(("recall", "ndcg"))}
    for row in table.to_dict("records"):
        cells = [str(row["algorithm"])]
        for col in columns[1:]:
            value = float(row[col])
            text = f"{value:.2f}" if col == "fit_s" else f"{value:.1%}"
            cells.append(f"[bold green]{text}[/]" if best.get(col) == value else text)
        view.add_row(*cells)
    console.print(view)
    if output is not None:
        _write_table(output, table)
        console.print(f"wrote {output}")


@recommend_app.command("rules")
def recommend_rules(
    min_support: Annotated[
        float, typer.Option(help="Share of orders that hold all the rule's items.")
    ] = 0.01,
    min_confidence: Annotated[float, typer.Option(help="P(right-hand side | left-hand side).")] = 0.3,
    max_length: Annotated[int, typer.Option(help="Items in a rule at most.")] = 3,
    limit: Annotated[int, typer.Option(help="Rules to show.")] = 20,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write all rules as CSV.")] = None,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Association rules "A → B" mined from the orders (one basket per order), by lift."""
    from shopmind.pipeline import order_baskets
    from shopmind.recommend import AssociationRules

    with open_workspace(workspace) as (_, store):
        baskets = order_baskets(store)
        names = dict(store.sql("SELECT product_id, name FROM products WHERE name IS NOT NULL"))
    try:
        rules = AssociationRules(
            min_support=min_support, min_confidence=min_confidence, max_length=max_length
        )
        table = rules.fit(baskets).rules_.to_pandas()
    except InvalidInputError as exc:
        raise fail(str(exc), EXIT_INPUT, "raise --min-support") from None
    if output is not None:
        _write_table(output, table)
        console.print(f"wrote {counted(len(table), 'rule')} to {output}")
    view = Table(
        title=f"{counted(len(table), 'rule')} from {counted(rules.n_baskets_, 'order')} (support ≥ {min_support:g})"
    )
    for col in ("if bought · 구매하면", "then · 함께 구매", "support", "confidence", "lift"):
        view.add_column(col, justify="right" if col in ("support", "confidence", "lift") else "left")
    for row in table.head(limit).to_dict("records"):
        lhs = ", ".join(names.get(i, i) for i in row["lhs"])
        view.add_row(
            lhs,
            names.get(row["rhs"], row["rhs"]),
            f"{row['support']:.2%}",
            f"{row['confidence']:.0%}",
            f"{row['lift']:.1f}",
        )
    console.print(view)


def _show(title: str, got: list[Recommendation], names: dict[str, str], english: bool, scores: bool) -> None:
    """Rank, product and reason; the model's raw score only on request: it is a ranking value on
    the model's own scale (often negative), not a probability a marketer can read."""
    view = Table(title=title)
    for col in ("#", "product", *(("model score",) if scores else ()), "why · 이유"):
        view.add_column(col, justify="right" if col in ("#", "model score") else "left")
    for i, rec in enumerate(got, 1):
        product = f"{names[rec.item]} ({rec.item})" if rec.item in names else rec.item
        reason = rec.reason.en if english else rec.reason.ko
        view.add_row(str(i), product, *((f"{rec.score:.3f}",) if scores else ()), reason)
    console.print(view)


@recommend_app.command("for")
def recommend_for(
    profile: Annotated[
        str, typer.Argument(help="Profile id (see shopmind customers list), or a new visitor's.")
    ],
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="How many items.")] = 10,
    region: Annotated[str | None, typer.Option(help="The visitor's region, e.g. 부산.")] = None,
    session: Annotated[
        str | None, typer.Option(help="Comma-separated product ids in the cart/session.")
    ] = None,
    temp_c: Annotated[float | None, typer.Option(help="Temperature now (else the weather table's).")] = None,
    precip_mm: Annotated[float | None, typer.Option(help="Rain now in mm.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Learn from the signals before this date instead (fits a recommender now, several "
            "seconds, unless the stored one is as of that moment).",
        ),
    ] = None,
    english: Annotated[bool, typer.Option("--english", help="Reasons in English.")] = False,
    scores: Annotated[
        bool, typer.Option("--scores", help="Also show the model's raw ranking score (its own scale).")
    ] = False,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """The items for one customer or visitor, with reasons, from the hybrid recommender, answered
    as /v1/recommendations answers (the session's items are not offered again; a region without
    a temperature brings today's weather there and the hour).

    Which recommender answers: while 'shopmind serve' owns the workspace, the server's own (the
    one its API answers with, learned again after each run); otherwise the one the last
    'shopmind run' stored in the workspace (models/recommender.json; read in well under a
    second). With --as-of, or with no usable stored recommender (no run yet, one stored by an
    older shopmind, or removed by a customer's erasure), one is fitted now on the shop's signals
    (several seconds, with a progress bar and a note: 'shopmind run' makes the next call fast)."""
    from shopmind.recommend import request_context

    moment = parse_as_of(as_of) if as_of else None
    with open_workspace(workspace) as (_, store):
        names: dict[str, str] = dict(store.sql("SELECT product_id, coalesce(name, product_id) FROM products"))
        model = _recommender(store, moment)
    context = request_context(
        moment or datetime.now(UTC),
        region=region,
        session=(s.strip() for s in session.split(",") if s.strip()) if session else (),
        temp_c=temp_c,
        precip_mm=precip_mm,
    )
    _show(f"for {profile}", model.recommend(profile, context, n), names, english, scores)


def _recommender(store: Store, moment: datetime | None) -> HybridRecommender:
    """The server's live recommender, else the stored one, else one fitted now (see
    ``recommend_for``), saying which on stderr."""
    from shopmind.pipeline import stored_recommender
    from shopmind.recommend import HybridRecommender, StoredModelError

    here = IN_SERVER.get()
    live = None if here is None else here.recommender
    if moment is None and live is not None:
        if live.ready and isinstance(live.model, HybridRecommender):
            err_console.print("[dim]answered by the server's recommender (the one its API answers with)[/]")
            return live.model
        err_console.print(
            f"[dim]the server's recommender is {live.status} ({live.note}): using the stored one[/]"
        )
    try:
        stored = stored_recommender(store)
    except StoredModelError as exc:
        why = str(exc)
    else:
        about = stored.about
        try:
            stored_at = to_utc(datetime.fromisoformat(str(about["as_of"])))
        except (KeyError, ValueError):
            stored_at = None
        if not isinstance(stored.model, HybridRecommender):
            why = f"the stored model is a {type(stored.model).__name__}, not the hybrid recommender"
        elif moment is None or moment == stored_at:
            _say_stored(store, about, stored_at)
            return stored.model
        else:
            why = ""  # --as-of asked for another moment: fitting is what was asked for
    return _fit_now(store, moment, why)


def _say_stored(store: Store, about: dict[str, Any], as_of: datetime | None) -> None:
    """Which run stored the recommender, on what, and whether orders came after it."""
    when = local_time(as_of) if as_of else "an unknown date"
    facts = (
        f"learned from {int(about.get('buyers') or 0):,} buyers, {int(about.get('products') or 0):,} products"
    )
    err_console.print(f"[dim]answered by the recommender stored by the run as of {when} ({facts})[/]")
    if as_of is not None:
        newer = int(store.scalar("SELECT count(*) FROM orders WHERE ordered_at >= ?", [as_of]) or 0)
        if newer:
            err_console.print(
                f"[dim]{newer:,} orders came after it: 'shopmind run' learns them (and stores a new one)[/]"
            )


def _fit_now(store: Store, moment: datetime | None, why: str) -> HybridRecommender:
    from shopmind.pipeline import recommender_data
    from shopmind.recommend import HybridRecommender

    before = moment or datetime.now(UTC)
    with progress_bars() as progress:
        progress("recommender", 0, 2)
        try:
            data = recommender_data(store, before=before)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_INPUT) from None
        progress("recommender", 1, 2)
        model = HybridRecommender(index_size=0).fit(  # one answer: no index
            data.interactions, data.catalogue, weather=data.weather
        )
    err_console.print(f"[dim]fitted now on the signals before {local_time(before)}: {model.ranker_note_}[/]")
    if moment is None:
        err_console.print(
            f"[yellow]note:[/] {why}; 'shopmind run' stores one, and then this answers in well under a second"
        )
    return model

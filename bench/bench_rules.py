"""Association-rule mining vs mlxtend (TransactionEncoder + fpgrowth + association_rules, the
usual Python route), each in a fresh process, best of ``REPEATS``: on Groceries (9,835 baskets,
support 0.001, confidence 0.5: the acceptance setting, 5,668 rules) and on Online Retail
invoices (20,728 baskets of 3,941 stock codes; support 0.01 and 0.005, confidence 0.5). The
timed work starts from the same list of baskets on both sides, and each side mines once untimed
before the timed run (steady state: library code loaded, memory pages touched); the rule counts are printed
beside each other (mlxtend's rules are cut to one item on the right, as ours).

The acceptance setting (Groceries) is measured on a quiet machine and again beside ``--hog N``
processes spinning on the CPU (one per core by default), medians of 5 fresh processes per side
taking turns, against both of mlxtend's miners (fpgrowth, and apriori with ``low_memory=True``,
its faster apriori here); the verdict is against the faster of the two.

Run with ``python -m bench.bench_rules`` (``make bench`` installs mlxtend, the peer);
``--acceptance`` runs the Groceries acceptance only.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench._measure import best_of, cpu_hog, load_note, paired_medians, row, spread

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPEATS = 3

GROCERIES = f"""
path = {str(DATA / "groceries" / "groceries.csv")!r}
baskets = [line.rstrip("\\r\\n").split(",") for line in open(path, encoding="utf-8") if line.strip()]
"""
RETAIL = f"""
import pandas as pd
frame = pd.read_parquet({str(DATA / "online_retail" / "online_retail.parquet")!r})
frame = frame[~frame.InvoiceNo.astype(str).str.startswith("C") & (frame.Quantity > 0)]
baskets = frame.groupby("InvoiceNo").StockCode.apply(lambda s: [str(v) for v in s]).tolist()
"""
OURS = """
from shopmind.recommend import AssociationRules

def mine(support, data=None):
    data = baskets if data is None else data
    return AssociationRules(min_support=support, min_confidence=0.5, max_length=10).fit(data).rules_.num_rows
"""
PEER = """
import warnings
import pandas as pd
from mlxtend.frequent_patterns import association_rules, fpgrowth
from mlxtend.preprocessing import TransactionEncoder
warnings.simplefilter("ignore")

def mine(support, data=None, miner=fpgrowth, **options):
    data = baskets if data is None else data
    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(data).transform(data), columns=encoder.columns_)
    itemsets = miner(onehot, min_support=support, use_colnames=True, max_len=10, **options)
    rules = association_rules(itemsets, metric="confidence", min_threshold=0.5)
    return int((rules.consequents.map(len) == 1).sum())
"""
APRIORI = "from mlxtend.frequent_patterns import apriori\n"
ACCEPTANCE_REPEATS = 5
ACCEPTANCE_RATIO = 10.0  # mlxtend's time (its faster miner) / ours, under load


def _acceptance(hog: int) -> None:
    """Groceries at support 0.001: ours beside mlxtend's fpgrowth and apriori, quiet and under load."""
    support = 0.001
    print(
        f"acceptance: Groceries, support {support}, confidence 0.5; medians of {ACCEPTANCE_REPEATS} "
        "fresh processes per side, taking turns"
    )
    peer_mine = f"mine({support}, miner=apriori, low_memory=True)"
    verdict = ""
    conditions = [("quiet", 0)] + ([(f"beside {hog} busy processes", hog)] if hog else [])
    for label, processes in conditions:
        before = load_note()
        with cpu_hog(processes):
            (ours, fp, ap), times = paired_medians(
                ACCEPTANCE_REPEATS,
                (f"{GROCERIES}{OURS}\nmine({support})", f"mine({support})"),
                (f"{GROCERIES}{PEER}\nmine({support})", f"mine({support})"),
                (f"{GROCERIES}{PEER}{APRIORI}\n{peer_mine}", peer_mine),
            )
            after = load_note()
        print(f"  {label}: {before} before, {after} at the end")
        print(row(f"rules, Groceries, {label}, vs fpgrowth", ours.seconds, fp.seconds, "s"))
        print(row(f"rules, Groceries, {label}, vs apriori", ours.seconds, ap.seconds, "s"))
        print(
            f"    ours: {spread(times[0])}\n    fpgrowth: {spread(times[1])}\n    apriori: {spread(times[2])}"
        )
        print(f"    rules: ours {ours.result}, fpgrowth {fp.result}, apriori {ap.result}")
        ratio = min(fp.seconds, ap.seconds) / ours.seconds
        verdict = "PASS" if ratio >= ACCEPTANCE_RATIO else "FAIL"
    under = "under load" if hog else "quiet (no --hog)"
    print(f"    acceptance (>= {ACCEPTANCE_RATIO:g}x mlxtend's faster miner {under}): {verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--hog",
        type=int,
        default=os.cpu_count() or 1,
        help="busy processes beside the acceptance run under load (default: one per core; 0: quiet only)",
    )
    parser.add_argument("--acceptance", action="store_true", help="only the Groceries acceptance run")
    args = parser.parse_args(argv)
    if not DATA.exists():
        print(f"skipped: the data sets are not in {DATA}")
        return
    _acceptance(max(args.hog, 0))
    if args.acceptance:
        return
    for label, data, support in (
        ("Online Retail invoices, support 0.01", RETAIL, 0.01),
        ("Online Retail invoices, support 0.005", RETAIL, 0.005),
    ):
        ours = best_of(REPEATS, f"{data}{OURS}\nmine({support})", f"mine({support})")
        peer = best_of(REPEATS, f"{data}{PEER}\nmine({support})", f"mine({support})")
        print(row(f"rules, {label}", ours.seconds, peer.seconds, "s"))
        print(
            f"{'':<52} rules: ours {ours.result}, mlxtend {peer.result}; peak MB ours {ours.peak_mb:.0f}, mlxtend {peer.peak_mb:.0f}"
        )


if __name__ == "__main__":
    main()

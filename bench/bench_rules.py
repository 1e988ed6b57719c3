"""Association-rule mining vs mlxtend (TransactionEncoder + fpgrowth + association_rules, the
usual Python route), each in a fresh process, best of ``REPEATS``: on Groceries (9,835 baskets,
support 0.001, confidence 0.5: the acceptance setting, 5,668 rules) and on Online Retail
invoices (20,728 baskets of 3,941 stock codes; support 0.01 and 0.005, confidence 0.5). The
timed work starts from the same list of baskets on both sides, and each side mines once untimed
before the timed run (steady state: library code loaded, memory pages touched); the rule counts are printed
beside each other (mlxtend's rules are cut to one item on the right, as ours).

Run with ``python -m bench.bench_rules`` (``make bench`` installs mlxtend, the peer).
"""

from __future__ import annotations

from pathlib import Path

from bench._measure import best_of, row

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

def mine(support, data=None):
    data = baskets if data is None else data
    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(data).transform(data), columns=encoder.columns_)
    itemsets = fpgrowth(onehot, min_support=support, use_colnames=True, max_len=10)
    rules = association_rules(itemsets, metric="confidence", min_threshold=0.5)
    return int((rules.consequents.map(len) == 1).sum())
"""


def main() -> None:
    if not DATA.exists():
        print(f"skipped: the data sets are not in {DATA}")
        return
    for label, data, support in (
        ("Groceries, support 0.001", GROCERIES, 0.001),
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

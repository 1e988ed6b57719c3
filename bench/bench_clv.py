"""Lifetime-value models vs lifetimes (BetaGeoFitter, ParetoNBDFitter, GammaGammaFitter), each in
a fresh process: fitting on CDNOW (2,357 customers, the papers' data) and on simulated BG/NBD
populations of 100,000 and 1,000,000 customers, and scoring 1,000,000 customers (P(alive),
expected purchases over 13 weeks and 12-month CLV). The fitted parameters are printed beside each
other so that speed is not bought with accuracy.

Run with ``python -m bench.bench_clv`` (``make bench`` installs lifetimes, the peer).
"""

from __future__ import annotations

from bench._measure import measure, row

CDNOW = "../shared/data/cdnow/CDNOW_sample.txt"

SIMULATE = """
import numpy as np, pandas as pd, warnings
warnings.simplefilter("ignore")


def simulate(n, seed=0, r=0.243, alpha=4.414, a=0.793, b=2.426):
    # BG/NBD generative process (FHL 2005 section 2), weeks; T spread over a 13-week cohort
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = 39 - rng.uniform(0, 13, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        t[idx] += rng.exponential(1 / np.maximum(lam[idx], 1e-12))
        bought = t[idx] < T[idx]
        done = idx[~bought]
        alive[done] = False
        buy = idx[bought]
        x[buy] += 1
        tx[buy] = t[buy]
        alive[buy[rng.random(buy.size) < p[buy]]] = False
    m = np.where(x > 0, rng.gamma(6.25, 1 / 3.74, n) * rng.gamma(15.44, 1.0, n) / 5, 0.0)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T, "monetary_value": m})
"""

CDNOW_SETUP = f"""
import numpy as np, pandas as pd, warnings
warnings.simplefilter("ignore")
raw = pd.read_csv("{CDNOW}", sep=r"\\s+", header=None, names=["c", "cohort", "date", "cds", "value"])
raw["day"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
cal = raw[raw.day < "1997-10-01"].groupby(["c", "day"], as_index=False)["value"].sum()
end = pd.Timestamp("1997-09-30")  # the papers' T: 38.86 weeks for a customer of 1997-01-01
g = cal.groupby("c")
first, last, n = g.day.min(), g.day.max(), g.day.count()
data = pd.DataFrame({{
    "frequency": (n - 1).astype(float),
    "recency": (last - first).dt.days / 7,
    "T": (end - first).dt.days / 7,
}})
rest = cal.merge(first.rename("first"), left_on="c", right_index=True)
data["monetary_value"] = rest[rest.day > rest["first"]].groupby("c").value.mean().reindex(data.index).fillna(0.0)
"""

OURS_IMPORT = "from shopmind.models import BetaGeoModel, ParetoNBDModel, GammaGammaModel"
PEER_IMPORT = "from lifetimes import BetaGeoFitter, ParetoNBDFitter, GammaGammaFitter"

FITS = {
    "BG/NBD": (
        "BetaGeoModel().fit(data.frequency, data.recency, data['T']).params_",
        "BetaGeoFitter().fit(data.frequency, data.recency, data['T']).params_.to_dict()",
    ),
    "Pareto/NBD": (
        "ParetoNBDModel().fit(data.frequency, data.recency, data['T']).params_",
        "ParetoNBDFitter().fit(data.frequency, data.recency, data['T']).params_.to_dict()",
    ),
    "Gamma-Gamma": (
        "GammaGammaModel().fit(rep.frequency, rep.monetary_value).params_",
        "GammaGammaFitter().fit(rep.frequency, rep.monetary_value).params_.to_dict()",
    ),
}

SCORE_OURS = """(
    bg.conditional_probability_alive(x, tx, T).sum(),
    bg.conditional_expected_number_of_purchases_up_to_time(13, x, tx, T).sum(),
    gg.customer_lifetime_value(bg, x, tx, T, m, time_unit_per_month=4.345).sum(),
)"""
SCORE_PEER = """(
    bg.conditional_probability_alive(x, tx, T).sum(),
    bg.conditional_expected_number_of_purchases_up_to_time(13, x, tx, T).sum(),
    gg.customer_lifetime_value(bg, x, tx, T, m, time=12, freq="W", discount_rate=0.01).sum(),
)"""


def _params(values: object) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in dict(values).items())  # type: ignore[call-overload]


def _fit_rows(label: str, data_setup: str) -> None:
    setup_rep = "\nrep = data[data.frequency > 0]"
    for model, (ours_body, peer_body) in FITS.items():
        ours = measure(f"{data_setup}{setup_rep}\n{OURS_IMPORT}", ours_body)
        peer = measure(f"{data_setup}{setup_rep}\n{PEER_IMPORT}", peer_body)
        print(row(f"{model} fit, {label}", ours.seconds, peer.seconds, "s"))
        print(f"    ours: {_params(ours.result)}\n    peer: {_params(peer.result)}")


def main() -> None:
    print("CLV models: shopmind (numpy/scipy maximum likelihood) vs lifetimes 0.11 (autograd)")
    _fit_rows("CDNOW 2,357 customers", CDNOW_SETUP)
    for n in (100_000, 1_000_000):
        _fit_rows(f"simulated {n:,} customers", f"{SIMULATE}\ndata = simulate({n})")

    n = 1_000_000
    fit_setup = f"""{SIMULATE}
data = simulate({n}, seed=1)
x, tx, T, m = (data[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
rep = data[data.frequency > 0]
"""
    ours = measure(
        f"{fit_setup}{OURS_IMPORT}\nbg = BetaGeoModel().fit(x, tx, T)\n"
        "gg = GammaGammaModel().fit(rep.frequency, rep.monetary_value)",
        SCORE_OURS,
    )
    peer = measure(
        f"{fit_setup}{PEER_IMPORT}\nbg = BetaGeoFitter().fit(x, tx, T)\n"
        "gg = GammaGammaFitter().fit(rep.frequency, rep.monetary_value)",
        SCORE_PEER,
    )
    print(row(f"score {n:,} customers (P(alive), E[Y(13)], CLV 12m)", ours.seconds, peer.seconds, "s"))
    print(row("  peak RSS of that process", ours.peak_mb, peer.peak_mb, "MB"))
    print(f"    sums ours: {[round(v, 1) for v in ours.result]}")  # type: ignore[attr-defined]
    print(f"    sums peer: {[round(v, 1) for v in peer.result]}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

"""Export of 1M hashed customers to Google Customer Match: a store with 1,000,000 members and
their ad consents (e-mail and SMS, from the consents table), and the shop's contact file of
1,000,000 synthetic members (seeded). shopmind's ``export_for_platform`` (match by member id,
consent per channel, normalise, SHA-256, stream) vs a plain Python script doing the same with the
``csv`` module and ``hashlib``, each in a fresh process, with wall time and peak memory."""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bench._measure import measure, row

CUSTOMERS = 1_000_000
SEED = 18


def make_shop(folder: Path, n: int) -> tuple[Path, Path]:
    """A workspace with ``n`` member profiles and consents, and a contact file for them."""
    from shopmind.store import Workspace

    rng = np.random.default_rng(SEED)
    ws = Workspace.init(folder / "shop")
    with ws.open_store() as store:
        store.sql(
            "INSERT INTO profiles SELECT 'user:m' || lpad(i::VARCHAR, 7, '0'), 'user:m' || lpad(i::VARCHAR, 7, '0'), "
            "'user' FROM range(?) t(i)",
            [n],
        )
        grants = rng.random((2, n)) < 0.9  # 90% gave each ad consent
        ids = [f"user:m{i:07d}" for i in range(n)]
        consents = pa.table(
            {
                "identifier": ids + ids,
                "channel": ["email"] * n + ["sms"] * n,
                "purpose": ["marketing"] * (2 * n),
                "granted": np.concatenate(grants),
            }
        )
        with store.staged("_bench_consents", consents):
            store.sql("INSERT INTO consents SELECT *, now(), 'bench' FROM _bench_consents")
    domains = np.array(["gmail.com", "naver.com", "daum.net", "kakao.com", "example.co.kr"])
    first = np.array(["kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim"])
    pick_domain = rng.integers(0, len(domains), n)
    pick_first = rng.integers(0, len(first), n)
    digits = rng.integers(0, 10_000_0000, n)
    emails = [
        f" {first[f].capitalize()}.{i}@{domains[d]}" if i % 7 == 0 else f"{first[f]}{i}@{domains[d]}"
        for i, (f, d) in enumerate(zip(pick_first, pick_domain, strict=True))
    ]
    phones = [f"010-{d // 10000:04d}-{d % 10000:04d}" for d in digits]
    contacts = folder / "members.csv"
    pacsv.write_csv(
        pa.table({"아이디": [f"m{i:07d}" for i in range(n)], "이메일": emails, "휴대폰": phones}),
        contacts,
        write_options=pacsv.WriteOptions(quoting_style="needed"),
    )
    return ws.path, contacts


OURS_SETUP = """
from pathlib import Path
from shopmind.audiences import audience_from_ids, export_for_platform
from shopmind.store import Workspace
ws = Workspace(Path({ws!r}))
store = ws.open_store()
audience = audience_from_ids(store.query_arrow("SELECT profile_id FROM profiles").column(0))
"""
OURS = (
    "export_for_platform(store, audience, 'google', Path({contacts!r}), Path({out!r}), hasher=ws.hasher(), "
    "actor='bench').members"
)

#: the peer: what a shop's developer would write with the standard library (same rules)
PEER_SETUP = """
import csv, hashlib, re
import duckdb
con = duckdb.connect({store!r}, read_only=True)
members = {{p for (p,) in con.execute("SELECT profile_id FROM profiles").fetchall()}}
ok = {{}}
for channel in ("email", "sms"):
    ok[channel] = {{i for (i,) in con.execute(
        "SELECT identifier FROM consents WHERE channel = ? GROUP BY 1 HAVING arg_max(granted, recorded_at)",
        [channel]).fetchall()}}
con.close()
NON_DIGITS = re.compile(r"[^0-9]")
def email(raw):
    value = raw.strip().lower()
    local, at, domain = value.partition("@")
    if not at or "." not in domain:
        return None
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return local + "@" + domain
def phone(raw):
    d = NON_DIGITS.sub("", raw)
    full = "82" + d[1:] if d.startswith("0") else d
    return "+" + full if 8 <= len(full) <= 15 else None
def run():
    n = 0
    seen = set()
    with open({contacts!r}, newline="", encoding="utf-8") as src, open({out!r}, "w", newline="") as dst:
        reader, writer = csv.DictReader(src), csv.writer(dst)
        writer.writerow(["Email", "Phone"])
        for r in reader:
            pid = "user:" + r["아이디"].strip()
            if pid not in members or pid in seen:
                continue
            e = email(r["이메일"]) if pid in ok["email"] else None
            p = phone(r["휴대폰"]) if pid in ok["sms"] else None
            if e is None and p is None:
                continue
            seen.add(pid)
            writer.writerow([hashlib.sha256(e.encode()).hexdigest() if e else "",
                             hashlib.sha256(p.encode()).hexdigest() if p else ""])
            n += 1
    return n
"""


def main(n: int = CUSTOMERS) -> None:
    with tempfile.TemporaryDirectory(prefix="shopmind-bench-exports-") as tmp:
        folder = Path(tmp)
        ws, contacts = make_shop(folder, n)
        ours_out, peer_out = folder / "ours.csv", folder / "peer.csv"
        ours = measure(
            OURS_SETUP.format(ws=str(ws)),
            OURS.format(contacts=str(contacts), out=str(ours_out)),
        )
        peer = measure(
            PEER_SETUP.format(store=str(ws / "shop.duckdb"), contacts=str(contacts), out=str(peer_out)),
            "run()",
        )
        assert ours.result == peer.result, (ours.result, peer.result)
        same = _sorted_digest(ours_out) == _sorted_digest(peer_out)
    print(
        f"Google Customer Match export of {n:,} members, {ours.result:,} with consent "
        f"(peer: Python csv + hashlib, same rules; identical output: {same})"
    )
    print(row("wall time", ours.seconds, peer.seconds, "s"))
    print(row("peak memory (RSS of the process)", ours.peak_mb, peer.peak_mb, "MB"))
    print(
        row(
            "customers per second",
            ours.result / ours.seconds,
            peer.result / peer.seconds,
            "c/s",
            lower_is_better=False,
        )
    )


def _sorted_digest(path: Path) -> str:
    lines = path.read_text().splitlines()
    return hashlib.sha256("\n".join([lines[0], *sorted(lines[1:])]).encode()).hexdigest()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS)

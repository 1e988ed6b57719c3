"""An erased customer never appears in a later export — not through a score band, a segment, a
list that still names them, nor the shop's contact file that still holds their row — and the
export log holds no identifier of anyone (counts, columns and a keyed digest only)."""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import sys
from pathlib import Path

import orjson

from shopmind.audiences import (
    audience_from_ids,
    export_file,
    export_for_platform,
    normalise_email_for,
    phone_e164,
    score_band_audience,
    sha256_hex,
)
from shopmind.store import erase_profile, export_log
from tests.exports_shop import PEOPLE, build

KIM = PEOPLE[0]  # m001: in the 0.3-0.5 band, a VIP, both ad consents given


def _kim_needles(hasher_email: str, hasher_phone: str) -> list[str]:
    return [
        "m001",
        KIM.email.strip().lower(),
        "1234-0001",
        "01012340001",
        hasher_email,
        hasher_phone,
        sha256_hex(normalise_email_for(KIM.email, gmail_dots=True) or ""),
        sha256_hex(normalise_email_for(KIM.email) or ""),
        sha256_hex(phone_e164(KIM.phone) or ""),
        sha256_hex(phone_e164(KIM.phone, plus=False) or ""),
    ]


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


def test_an_erased_customer_is_in_no_later_export_and_the_log_names_no_one(tmp_path: Path) -> None:
    shop = build(tmp_path)
    hasher = shop.ws.hasher()
    needles = _kim_needles(str(hasher.email(KIM.email)), str(hasher.phone(KIM.phone)))
    everyone = [p.profile_id for p in PEOPLE]
    with shop.ws.open_store() as store:
        before = export_for_platform(
            store,
            score_band_audience(store, "purchase_probability_7d", 0.3, 0.5),
            "google",
            shop.contacts,
            tmp_path / "before.csv",
            hasher=hasher,
            actor="test",
        )
        assert needles[6] in _text(tmp_path / "before.csv")  # Kim left before the erasure (the oracle)
        export_file(
            store,
            audience_from_ids(everyone),
            "csv",
            tmp_path / "before-members.csv",
            hasher=hasher,
            actor="t",
        )
        assert "m001" in _text(tmp_path / "before-members.csv")

        erased = erase_profile(store, KIM.profile_id, hasher)
        assert erased.erasure_id is not None

        outputs = {}
        band = score_band_audience(store, "purchase_probability_7d", 0.3, 0.5)
        assert KIM.profile_id not in band.profile_ids.to_pylist()
        stale = audience_from_ids(everyone)  # a list made before the erasure still names Kim
        for key in ("google", "meta", "kakao", "naver"):
            outputs[key] = tmp_path / f"after-{key}.csv"
            export_for_platform(store, stale, key, shop.contacts, outputs[key], hasher=hasher, actor="test")
        for fmt in ("csv", "parquet"):
            outputs[fmt] = tmp_path / f"after.{fmt}"
            record = export_file(store, stale, fmt, outputs[fmt], hasher=hasher, actor="test")
            assert orjson.loads(record.detail)["unknown"] == 1
        log = [r.to_dict() for r in export_log(store)]
        rows = store.sql("SELECT * FROM export_log")
    for name, path in outputs.items():
        text = _text(path) if name != "parquet" else path.read_bytes().decode("latin-1")
        for needle in needles:
            assert needle not in text, (name, needle)
    assert needles[6] not in _text(outputs["google"])
    google = list(csv.DictReader(io.StringIO(_text(outputs["google"]))))
    assert len(google) == 4  # the others with a consent still leave
    assert before.members == 4 and len(log) == 8
    # the log: no profile id, member id, contact value or hash of anyone, before or after
    stored = orjson.dumps([list(map(str, r)) for r in rows]).decode()
    for p in PEOPLE:
        for needle in (p.profile_id, f'"{p.member}"', p.email.strip().lower(), p.phone):
            assert needle not in stored, needle
    for needle in needles:
        assert needle not in stored, needle
    assert all(r["members_digest"] and len(r["members_digest"]) == 64 for r in log)
    # the digest is keyed: no one can confirm a list by hashing guessed ids
    assert log[0]["members_digest"] != hashlib.sha256("\n".join(sorted(everyone)).encode()).hexdigest()


def test_erased_through_the_cli_then_exported_through_the_cli(tmp_path: Path) -> None:
    shop = build(tmp_path)
    ws = str(shop.ws.path)

    def shopmind(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shopmind", *args, "-w", ws], capture_output=True, text=True, timeout=120
        )

    erased = shopmind("customers", "erase", KIM.profile_id, "--yes", "--json")
    assert erased.returncode == 0, erased.stderr
    out = tmp_path / "vip.csv"
    done = shopmind("export", "csv", "--segment", "vip", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "m001" not in _text(out) and "m002" in _text(out)
    meta = tmp_path / "meta.csv"
    done = shopmind("export", "meta", "--segment", "vip", "--contacts", str(shop.contacts), "-o", str(meta))
    assert done.returncode == 0, done.stderr
    assert sha256_hex("kim.minji@gmail.com") not in _text(meta)
    listed = shopmind("export", "log", "--json")
    assert listed.returncode == 0 and "m001" not in listed.stdout
    entries = orjson.loads(listed.stdout)
    assert [e["format"] for e in entries] == ["meta", "csv"] and entries[1]["members"] == 2

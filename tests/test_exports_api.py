"""Exports through the real server (secret key): files, an ad platform's list from contact rows in
the request, a webhook to a named destination on loopback; the log over HTTP; bad requests
answered in the one error shape; and the command line working through the running server."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from shopmind.audiences import SIGNATURE_HEADER, add_webhook, sha256_hex, verify_signature
from tests.exports_shop import PEOPLE, build
from tests.serving import Server
from tests.test_exports_webhook import SECRET, Receiver


def test_exports_through_the_api_and_the_cli_through_the_server(tmp_path: Path) -> None:
    shop = build(tmp_path)
    receiver = Receiver(fail_first=1)  # the first POST fails: the server retries
    with shop.ws.open_store() as store:
        add_webhook(store, "crm", receiver.url, created_by="test", secret=SECRET)
    server = Server(shop.ws.path).start()
    try:
        with server.client(server.secret_key) as c:
            band = {"band": "purchase_probability_7d:0.3-0.5"}
            answer = c.post("/v1/exports", json={"to": "csv", "audience": band})
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("text/csv")
            export_id = answer.headers["shopmind-export-id"]
            rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
            assert {r["member_id"] for r in rows} == {"m001", "m002", "'=cmd|' /C calc'!A0", ""}

            answer = c.post(
                "/v1/exports",
                json={"to": "google", "audience": band, "contacts_csv": shop.contacts.read_text()},
            )
            assert answer.status_code == 200, answer.text
            hashed = list(csv.DictReader(io.StringIO(answer.text)))
            assert {r["Email"] for r in hashed} >= {
                sha256_hex("kimminji@gmail.com"),
                sha256_hex("lee@example.co.kr"),
            }
            assert "kim" not in answer.text.lower()

            answer = c.post("/v1/exports", json={"to": "parquet", "audience": {"segment": "loyal"}})
            assert (
                answer.status_code == 200
                and answer.headers["content-type"] == "application/vnd.apache.parquet"
            )
            table = pq.read_table(io.BytesIO(answer.content))
            assert sorted(table.column("member_id").to_pylist()) == ["m003", "m004"]

            answer = c.post(
                "/v1/exports",
                json={
                    "to": "webhook",
                    "audience": {"profile_ids": ["user:m001", "user:m005"]},
                    "destination": "crm",
                },
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["members"] == 2 and answer.json()["destination"] == "webhook:crm"
            assert [a for _, _, a in receiver.got] == [503, 200]
            headers, body, _ = receiver.got[-1]
            assert verify_signature(SECRET, headers[SIGNATURE_HEADER], body)
            assert {m["member_id"] for m in orjson.loads(body)["members"]} == {"m001", "m005"}

            # bad requests: the one error shape, naming the field
            unknown = c.post(
                "/v1/exports",
                json={"to": "webhook", "audience": {"segment": "vip"}, "destination": "nowhere"},
            )
            assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "destination"
            bad_band = c.post("/v1/exports", json={"to": "csv", "audience": {"band": "clv_12m:9-1"}})
            assert bad_band.status_code == 400 and bad_band.json()["errors"][0]["field"] == "band"
            two = c.post("/v1/exports", json={"to": "csv", "audience": {"band": "x:0-1", "segment": "vip"}})
            assert two.status_code == 400 and "exactly one" in two.json()["message"]
            no_contacts = c.post("/v1/exports", json={"to": "meta", "audience": {"segment": "vip"}})
            assert no_contacts.status_code == 400 and "contacts_csv" in no_contacts.json()["message"]
            bad_csv = c.post(
                "/v1/exports",
                json={"to": "meta", "audience": {"segment": "vip"}, "contacts_csv": "이름\n김\n"},
            )
            assert bad_csv.status_code == 400 and bad_csv.json()["errors"][0]["field"] == "contacts"

            log = c.get("/v1/exports").json()["exports"]
            assert [(e["format"], e["status"]) for e in log[:5]] == [
                ("meta", "failed"),  # the contact rows without a contact column: failed, and logged so
                ("webhook", "ok"),
                ("parquet", "ok"),
                ("google", "ok"),
                ("csv", "ok"),
            ]
            assert log[4]["export_id"] == export_id and log[4]["actor"].startswith("api:")
            assert log[4]["destination"] == "api download" and log[4]["members"] == 4
        with server.client(server.write_key) as c:
            assert (
                c.post("/v1/exports", json={"to": "csv", "audience": {"segment": "vip"}}).status_code == 403
            )
            assert c.get("/v1/exports").status_code == 403

        # the command line, while the server owns the store, works through it
        out = tmp_path / "vip.parquet"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "shopmind",
                "export",
                "parquet",
                "--segment",
                "vip",
                "-o",
                str(out),
                "-w",
                str(shop.ws.path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "owns this workspace" in run.stderr
        assert sorted(pq.read_table(out).column("member_id").to_pylist()) == sorted(
            p.member for p in PEOPLE if p.segment == "vip"
        )
        listed = subprocess.run(
            [sys.executable, "-m", "shopmind", "export", "log", "--json", "-w", str(shop.ws.path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listed.returncode == 0, listed.stderr
        assert orjson.loads(listed.stdout)[0]["destination"] == str(out)
    finally:
        assert server.stop() == 0
        receiver.close()

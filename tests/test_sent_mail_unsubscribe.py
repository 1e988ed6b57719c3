"""An advertising e-mail sent by the worker carries a one-click unsubscribe link that the server
answers: ``shopmind serve --send`` hands an e-mail to a real SMTP server (aiosmtpd) with
``List-Unsubscribe`` on the server's own address, the link is used as a mail client does
(RFC 8058 POST) on the same running server, and the customer's next advertising e-mail is
suppressed at hand-over. ``shopmind worker --public-url`` puts its links on the address given."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shopmind.activation import read_token, workspace_link_key
from shopmind.store import ConsentEntry, OutboxRow, Workspace, enqueue, record_consents
from tests.serving import Server
from tests.smtp_server import SmtpServer
from tests.workers import SHOPMIND, shopmind_env, smtp_channels_toml, wait_for

_LINK = re.compile(r"^<(?P<url>[^>]+)>$")


def _row(key: str, who: str, due: datetime, kind: str = "advertising") -> OutboxRow:
    return OutboxRow(
        key,
        "c1",
        key.rsplit(":", 1)[1],
        f"user:{who}",
        "email",
        "email",
        kind,
        due,
        f"{who}님, 봄 신상품이 나왔어요",
        subject="(광고) 봄 신상품" if kind == "advertising" else "주문하신 상품이 출발했어요",
    )


def _seed(workspace: Path, smtp_port: int, now: datetime) -> Path:
    """a: an ad now, an order notice now, an ad tomorrow; b: an ad tomorrow. Both consented."""
    (workspace / "channels.toml").write_text(smtp_channels_toml(smtp_port))
    contacts = workspace.parent / "members.csv"
    contacts.write_text("아이디,이메일\na,a@shop.example\nb,b@shop.example\n")
    tomorrow = now + timedelta(days=1)
    with Workspace(workspace).open_store() as store:
        record_consents(
            store,
            [ConsentEntry(f"user:{w}", "email", True, now - timedelta(days=3), "signup_form") for w in "ab"],
        )
        enqueue(
            store,
            [
                _row("c1:a:s1", "a", now - timedelta(minutes=1)),
                _row("c1:a:n1", "a", now - timedelta(minutes=1), "informational"),
                _row("c1:a:s2", "a", tomorrow),
                _row("c1:b:s2", "b", tomorrow),
            ],
            at=now,
        )
    return contacts


def test_the_unsubscribe_link_of_a_sent_email_works_on_the_server_and_stops_the_next_ad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shift = tmp_path / "clock-shift"
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(shift))
    with SmtpServer() as smtp:
        server = Server(tmp_path / "shop")
        contacts = _seed(server.workspace, smtp.port, datetime.now(UTC))
        server.args = ("--send", "--contacts", str(contacts), "--no-recommender", "--run-at", "off")
        server.start()
        try:
            wait_for(lambda: len(smtp.mails) >= 2, "the ad and the notice were not sent")
            mails = {key: mail.parsed for key, mail in zip(smtp.keys(), list(smtp.mails), strict=True)}
            assert set(mails) == {"c1:a:s1", "c1:a:n1"}
            ad = mails["c1:a:s1"]
            assert ad["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            found = _LINK.match(str(ad["List-Unsubscribe"]))
            assert found is not None, ad["List-Unsubscribe"]
            url = found["url"]
            # no --public-url: the server's own address
            assert url.startswith(f"{server.url}/m/u/"), url
            assert mails["c1:a:n1"]["List-Unsubscribe"] is None  # an order notice has no ad to stop
            # the mail client's one-click unsubscribe (RFC 8058): a POST with this very body
            done = server.client().post(
                url.removeprefix(server.url),
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert done.status_code == 200, done.text
            shift.write_text(str(int(timedelta(days=1, minutes=1).total_seconds())))  # tomorrow comes
            wait_for(lambda: "c1:b:s2" in list(smtp.keys()), "b's ad was not sent when due")
        finally:
            assert server.stop() == 0, server.output()
        assert sorted(smtp.keys()) == ["c1:a:n1", "c1:a:s1", "c1:b:s2"]
    with Workspace(server.workspace).open_store(read_only=True) as store:
        states = dict(store.sql("SELECT message_key, state || ':' || coalesce(reason, '') FROM outbox"))
        events = store.sql("SELECT message_key, kind FROM message_events WHERE kind = 'unsubscribed'")
        methods = store.sql(
            "SELECT identifier, method FROM consent_ledger WHERE NOT granted AND channel = 'email'"
        )
    assert states["c1:a:s2"] == "suppressed:withdrawn"
    assert states["c1:b:s2"].startswith("sent") and states["c1:a:s1"].startswith("sent")
    assert events == [("c1:a:s1", "unsubscribed")]
    assert methods == [("user:a", "unsubscribe_link")]


def test_the_worker_puts_its_unsubscribe_links_on_the_public_url(tmp_path: Path) -> None:
    env = shopmind_env()
    env.pop("SHOPMIND_PUBLIC_URL", None)
    with SmtpServer() as smtp:
        workspace = tmp_path / "shop"
        Workspace.init(workspace)
        contacts = _seed(workspace, smtp.port, datetime.now(UTC))
        command = [
            *SHOPMIND,
            "worker",
            "-w",
            str(workspace),
            "--contacts",
            str(contacts),
        ]
        bad = subprocess.run(
            [*command, "--once", "--public-url", "crm.shop.example"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert bad.returncode == 2 and "--public-url" in bad.stderr, bad.stderr
        done = subprocess.run(
            [*command, "--once"],
            capture_output=True,
            text=True,
            env={**env, "SHOPMIND_PUBLIC_URL": "https://crm.shop.example/"},
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "unsubscribe links point at https://crm.shop.example" in done.stderr
        ad = next(m.parsed for k, m in zip(smtp.keys(), list(smtp.mails), strict=True) if k == "c1:a:s1")
    found = _LINK.match(str(ad["List-Unsubscribe"]))
    assert found is not None
    prefix = "https://crm.shop.example/m/u/"
    assert found["url"].startswith(prefix), found["url"]
    token = read_token(workspace_link_key(Workspace(workspace)), found["url"].removeprefix(prefix))
    assert (token.action, token.message_key) == ("unsubscribe", "c1:a:s1")

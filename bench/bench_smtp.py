"""Sending e-mail: messages per second from shopmind's SMTP channel to a local SMTP server
(aiosmtpd, in its own process, taking and discarding every message) beside a plain ``smtplib``
loop sending the same messages over one connection, measured in the same run.

Each of ``MESSAGES`` messages is a Korean advertising e-mail with a subject, a text and an HTML
part and a one-click unsubscribe link, built from scratch on each side (building the MIME message
is part of sending it). The peer is what a careful script would do: one ``smtplib.SMTP``
connection, ``email.message`` to build and ``send_message`` per message. Two more peers show
where the time goes: smtplib sending messages built before the clock starts (the wire alone, a
bound ours cannot beat), and smtplib opening a connection per message (what connection reuse is
worth).
Each side runs ``REPEATS`` times in fresh processes, the sides taking turns; medians reported.

Run with ``python -m bench.bench_smtp`` (about a minute).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import load_note, paired_medians, row, spread

MESSAGES, REPEATS = 2_000, 5

MESSAGES_SETUP = """
TEXT = "(광고) 봄날상점\\n김민지 고객님, 지난번에 보신 상품과 어울리는 봄 신상품을 골랐어요.\\n" * 6
HTML = "<html><body>" + "<p>(광고) 김민지 고객님께 추천하는 <b>봄 신상품</b>: 린넨 셔츠, 와이드 팬츠</p>" * 12 + "</body></html>"
ROWS = [(f"spring.p{i}.s1", f"customer{i}@customer.example") for i in range(N)]
"""

OURS = (
    MESSAGES_SETUP
    + """
from shopmind.activation import Message, SmtpChannel

def run():
    channel = SmtpChannel(HOST, PORT, from_address="봄날상점 <news@shop.example>", security="none")
    sent = 0
    for key, to in ROWS:
        receipt = channel.send(Message(key, "email", to, TEXT, subject="(광고) 봄맞이 신상품 소식", html=HTML,
                                       unsubscribe_url=f"https://shop.example/m/u/{key}"))
        sent += receipt.outcome == "sent"
    channel.close()
    return sent
"""
)

PEER = (
    MESSAGES_SETUP
    + """
from shopmind.activation import Message, SmtpChannel
_builder = SmtpChannel(HOST, PORT, from_address="봄날상점 <news@shop.example>", security="none")
PREBUILT = [_builder.build(Message(key, "email", to, TEXT, subject="(광고) 봄맞이 신상품 소식", html=HTML,
                                   unsubscribe_url=f"https://shop.example/m/u/{key}"), to) for key, to in ROWS]
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

def build(key, to):
    mail = EmailMessage()
    mail["From"] = "봄날상점 <news@shop.example>"
    mail["To"] = to
    mail["Subject"] = "(광고) 봄맞이 신상품 소식"
    mail["Date"] = formatdate()
    mail["Message-ID"] = f"<{key}@shop.example>"
    mail["List-Unsubscribe"] = f"<https://shop.example/m/u/{key}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(TEXT)
    mail.add_alternative(HTML, subtype="html")
    return mail

def run():
    sent = 0
    with smtplib.SMTP(HOST, PORT) as smtp:
        for key, to in ROWS:
            smtp.send_message(build(key, to))
            sent += 1
    return sent

def run_prebuilt():
    sent = 0
    with smtplib.SMTP(HOST, PORT) as smtp:
        for (key, to), raw in zip(ROWS, PREBUILT):
            smtp.sendmail("news@shop.example", [to], raw)
            sent += 1
    return sent

def run_connection_per_message():
    sent = 0
    for key, to in ROWS:
        with smtplib.SMTP(HOST, PORT) as smtp:
            smtp.send_message(build(key, to))
            sent += 1
    return sent
"""
)


def _side(code: str, port: int, n: int) -> str:
    return f'HOST, PORT, N = "127.0.0.1", {port}, {n}\n' + code


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"220"):
                    return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the SMTP server did not start")


def main() -> None:
    port = _free_port()
    server = _start_server(port)
    try:
        ours_setup = _side(OURS, port, MESSAGES)
        peer_setup = _side(PEER, port, MESSAGES)
        (ours, peer, wire), (ours_s, peer_s, wire_s) = paired_medians(
            REPEATS, (ours_setup, "run()"), (peer_setup, "run()"), (peer_setup, "run_prebuilt()")
        )
        assert ours.result == peer.result == wire.result == MESSAGES, (ours.result, peer.result, wire.result)
        per_message = MESSAGES // 10  # a tenth as many: each costs a connection
        (naive,), (naive_s,) = paired_medians(
            3, (_side(PEER, port, per_message), "run_connection_per_message()")
        )
    finally:
        server.kill()
        server.wait()
    print(load_note())
    print(f"ours: {spread(ours_s)}")
    print(f"smtplib loop: {spread(peer_s)}")
    print(f"smtplib, messages built before the clock starts: {spread(wire_s)}")
    print(f"smtplib, a connection per message ({per_message:,} messages): {spread(naive_s)}")
    print(
        row(
            f"e-mails/s to a local SMTP server ({MESSAGES:,}, text+HTML)",
            MESSAGES / ours.seconds,
            MESSAGES / peer.seconds,
            "msg/s",
            lower_is_better=False,
        )
    )
    print(
        row(
            "  peer: smtplib sending pre-built messages (wire only)",
            MESSAGES / ours.seconds,
            MESSAGES / wire.seconds,
            "msg/s",
            lower_is_better=False,
        )
    )
    print(
        row(
            "  peer: smtplib, a connection per message",
            MESSAGES / ours.seconds,
            per_message / naive.seconds,
            "msg/s",
            lower_is_better=False,
        )
    )


if __name__ == "__main__":
    main()

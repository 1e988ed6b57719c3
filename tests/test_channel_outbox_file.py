"""The outbox-file channel (the embedded default): the channel contract, then what a file must
do to stand in for a provider — durable lines (fsync'd), Korean kept readable, owner-only
permissions, whole lines from processes appending at once, a torn last line neither read nor
allowed to spoil the next one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shopmind.activation import (
    ChannelError,
    Message,
    OutboxFileChannel,
    Sender,
    open_channel,
    read_outbox_file,
)
from tests.channel_contract import ChannelContract, Received

SENDER = Sender("봄날상점", "02-1234-5678")


class _File:
    def __init__(self, path: Path) -> None:
        self.path = path

    def received(self) -> list[Received]:
        return [
            Received(line["key"], line["to"], line["text"], line.get("subject"))
            for line in read_outbox_file(self.path)
        ]


class TestOutboxFileChannel(ChannelContract):
    formats = ("email", "sms", "lms")
    dedupes = False

    @pytest.fixture
    def channel(self, tmp_path: Path) -> Iterator[OutboxFileChannel]:
        channel = OutboxFileChannel(tmp_path / "outbox" / "all.jsonl", formats=frozenset(self.formats))
        yield channel
        channel.close()

    @pytest.fixture
    def provider(self, channel: OutboxFileChannel) -> _File:
        return _File(channel.path)

    @pytest.fixture
    def address(self) -> Callable[[str], str]:
        return lambda fmt: "kim@customer.example" if fmt == "email" else "01012345678"


def _message(key: str, **kw: object) -> Message:
    fields: dict[str, object] = {"format": "email", "to": "kim@customer.example", "text": "(광고) 봄 신상품"}
    fields.update(kw)
    return Message(key=key, **fields)  # type: ignore[arg-type]


def test_a_line_holds_the_whole_message_with_korean_readable(tmp_path: Path) -> None:
    channel = OutboxFileChannel(tmp_path / "email.jsonl")
    channel.send(
        _message(
            "c1.p1.s1",
            subject="봄맞이",
            html="<p>봄</p>",
            unsubscribe_url="https://shop.example/m/u/t",
            data={"coupon": "SPRING10"},
        )
    )
    channel.close()
    raw = (tmp_path / "email.jsonl").read_bytes()
    assert "봄 신상품".encode() in raw  # not \\uXXXX escapes: a person can read the file
    (line,) = read_outbox_file(tmp_path / "email.jsonl")
    assert line["key"] == "c1.p1.s1" and line["channel"] == "email" and line["kind"] == "advertising"
    assert line["subject"] == "봄맞이" and line["html"] == "<p>봄</p>"
    assert line["unsubscribe_url"] == "https://shop.example/m/u/t" and line["data"] == {"coupon": "SPRING10"}
    assert "written_at" in line and "image_url" not in line


def test_each_message_is_on_disk_before_the_receipt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    channel = OutboxFileChannel(tmp_path / "sms.jsonl", formats=frozenset({"sms"}))
    for i in range(3):
        channel.send(_message(f"c1.p{i}.s1", format="sms", to="01012345678"))
        assert len(synced) == i + 1 and synced[-1] == (tmp_path / "sms.jsonl").stat().st_size
    channel.close()


def test_the_file_is_its_owners_alone(tmp_path: Path) -> None:
    channel = OutboxFileChannel(tmp_path / "new" / "email.jsonl")
    channel.send(_message("c1.p1.s1"))
    channel.close()
    assert stat.S_IMODE((tmp_path / "new" / "email.jsonl").stat().st_mode) == 0o600  # it holds addresses


def test_processes_appending_at_once_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "email.jsonl"
    writer = textwrap.dedent(
        f"""
        import sys
        from shopmind.activation import Message, OutboxFileChannel
        channel = OutboxFileChannel({str(path)!r}, fsync=False)
        for i in range(300):
            channel.send(Message(key=f"w{{sys.argv[1]}}.{{i}}", format="email", to="kim@customer.example",
                                 text="가" * 3000 + sys.argv[1]))
        channel.close()
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(n)]) for n in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    lines = list(read_outbox_file(path))
    assert sorted(line["key"] for line in lines) == sorted(f"w{n}.{i}" for n in range(3) for i in range(300))
    assert all(line["text"] == "가" * 3000 + line["key"][1] for line in lines)


def test_a_torn_last_line_is_not_read_and_does_not_spoil_the_next(tmp_path: Path) -> None:
    path = tmp_path / "email.jsonl"
    first = OutboxFileChannel(path)
    first.send(_message("c1.p1.s1"))
    first.close()
    with open(path, "ab") as fh:  # a writer killed in the middle of a line
        fh.write(b'{"key": "c1.p2.s1", "to": "kim@cus')
    assert [line["key"] for line in read_outbox_file(path)] == ["c1.p1.s1"]
    again = OutboxFileChannel(path)
    again.send(_message("c1.p2.s1"))
    again.close()
    assert [line["key"] for line in read_outbox_file(path)] == ["c1.p1.s1", "c1.p2.s1"]


def test_a_folder_that_cannot_be_made_is_a_channel_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    channel = OutboxFileChannel(tmp_path / "taken" / "email.jsonl")
    with pytest.raises(ChannelError, match="cannot open the outbox file"):
        channel.send(_message("c1.p1.s1"))


def test_opened_from_a_url_it_takes_the_formats_of_its_channel(tmp_path: Path) -> None:
    channel = open_channel("file:outbox/sms.jsonl", channel="sms", sender=SENDER, base=tmp_path)
    assert isinstance(channel, OutboxFileChannel)
    assert channel.formats == {"sms", "lms", "mms"}
    assert channel.path == tmp_path / "outbox" / "sms.jsonl"
    with pytest.raises(ChannelError):
        channel.send(_message("c1.p1.s1"))  # e-mail is not an SMS
    absolute = open_channel(f"file://{tmp_path}/x.jsonl", channel="email", sender=SENDER)
    assert isinstance(absolute, OutboxFileChannel) and absolute.path == tmp_path / "x.jsonl"


@pytest.mark.parametrize(
    ("url", "options", "said"),
    [
        ("file:outbox/sms.jsonl", {}, "no workspace"),
        ("file://elsewhere/sms.jsonl", {}, "expected file:"),
        ("file:sms.jsonl", {"fsync": "no"}, "fsync"),
        ("file:sms.jsonl", {"speed": 3}, "fsync"),
    ],
)
def test_a_bad_outbox_url_says_what_is_expected(url: str, options: dict[str, object], said: str) -> None:
    base = None if said == "no workspace" else Path("/tmp")
    with pytest.raises(ChannelError, match=said):
        open_channel(url, channel="sms", sender=SENDER, base=base, options=options)


def test_lines_are_json_objects_one_per_message(tmp_path: Path) -> None:
    channel = OutboxFileChannel(tmp_path / "email.jsonl")
    for i in range(5):
        channel.send(_message(f"c1.p{i}.s1", text=f"줄바꿈도\n그대로 {i}"))
    channel.close()
    raw_lines = (tmp_path / "email.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(raw_lines) == 5
    assert [json.loads(r)["text"] for r in raw_lines] == [f"줄바꿈도\n그대로 {i}" for i in range(5)]

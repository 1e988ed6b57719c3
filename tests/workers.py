"""The sender's tests run ``shopmind worker`` and ``shopmind serve --send`` as the shop would: in
a subprocess with this checkout's sources first on the path. What those tests share: that
environment, the command, a wait with a hang guard, and a ``channels.toml`` whose e-mail goes to
a local SMTP server (``tests/smtp_server.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOPMIND = (sys.executable, "-m", "shopmind")


def shopmind_env(**extra: str) -> dict[str, str]:
    """The process environment with this checkout's ``src`` first on PYTHONPATH (and ``extra``)."""
    path = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def run_shopmind(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``shopmind ARGS`` to its end (at most 5 minutes), its output captured as text."""
    return subprocess.run(
        [*SHOPMIND, *args], capture_output=True, text=True, env=env or shopmind_env(), timeout=300
    )


def wait_for(check: Callable[[], bool], what: str, seconds: float = 120) -> None:
    """Until ``check()`` holds; fails saying ``what`` after ``seconds`` (a hang guard, not a speed check)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def smtp_channels_toml(port: int) -> str:
    """A ``channels.toml``: the shop 봄날상점, its e-mail to the SMTP server on ``port`` of this machine."""
    return (
        '[sender]\nname = "봄날상점"\ncontact = "02-123-4567"\nemail_from = "봄날상점 <news@shop.example>"\n'
        f'[channels.email]\nurl = "smtp://127.0.0.1:{port}?starttls=false"\n'
    )

"""Run a piece of code in a fresh process and report its wall time and peak memory (RSS)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_mb: float
    result: object


_WRAPPER = """
import json, resource, time
{setup}
t0 = time.perf_counter()
result = (lambda: ({body}))()
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("@@" + json.dumps({{"seconds": elapsed, "peak_mb": peak, "result": result}}, default=str))
"""


def measure(setup: str, body: str) -> Measurement:
    """``setup`` runs untimed; ``body`` is one expression whose value is reported as ``result``."""
    code = _WRAPPER.format(setup=textwrap.dedent(setup), body=body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    data = json.loads(line[2:])
    return Measurement(data["seconds"], data["peak_mb"], data["result"])


def best_of(repeats: int, setup: str, body: str) -> Measurement:
    """The fastest of ``repeats`` fresh-process measurements: for sub-second work on a shared
    machine, where one run is easily slowed several-fold by other processes."""
    return min((measure(setup, body) for _ in range(repeats)), key=lambda m: m.seconds)


def paired_medians(
    repeats: int, *sides: tuple[str, str]
) -> tuple[tuple[Measurement, ...], tuple[list[float], ...]]:
    """Each ``(setup, body)`` side measured ``repeats`` times in fresh processes, the sides taking
    turns (so a slow spell of a shared machine falls on all of them): per side the measurement of
    median time and all the times."""
    runs: list[list[Measurement]] = [[] for _ in sides]
    for _ in range(repeats):
        for kept, (setup, body) in zip(runs, sides, strict=True):
            kept.append(measure(setup, body))
    medians = tuple(sorted(kept, key=lambda m: m.seconds)[(len(kept) - 1) // 2] for kept in runs)
    return medians, tuple([m.seconds for m in kept] for kept in runs)


@contextmanager
def cpu_hog(processes: int) -> Iterator[None]:
    """``processes`` Python processes spinning on the CPU while the block runs (a busy machine:
    with one per core, every thread of the measured process waits for its turn), killed after."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.5)  # started and spinning before the first measurement
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def load_note() -> str:
    """The machine's load average, to print beside figures measured on a shared machine."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min, {os.cpu_count()} cores)"


def spread(seconds: list[float]) -> str:
    """The times of the repeats, in order, for the record beside a median."""
    return f"median {statistics.median(seconds):.3f} s of " + ", ".join(f"{s:.3f}" for s in seconds)


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory of a running process so far (Linux's VmHWM), in MB."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            line = next(ln for ln in fh if ln.startswith("VmHWM"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return float("nan")


def wait_until_ready(url: str, seconds: float = 60.0) -> None:
    """Poll ``url`` until it answers 200 (a peer server starting up)."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f} s")


def row(label: str, ours: float, peer: float, unit: str, lower_is_better: bool = True) -> str:
    """One figure beside its peer's; the ratio is how many times better ours is (above 1: ours wins),
    whichever way the unit points (seconds: lower is better; messages per second: higher is)."""
    ratio = peer / ours if lower_is_better else ours / peer
    told = "peer/ours" if lower_is_better else "ours/peer"
    return f"{label:<52} ours {ours:10.2f} {unit:<6} peer {peer:10.2f} {unit:<6} ratio ({told}) {ratio:6.2f}x"


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    peak_mb: float  # highest RSS sampled while the stage ran (the process's, so it includes what came before)


@dataclass(frozen=True)
class StagedMeasurement:
    stages: tuple[Stage, ...]
    peak_mb: float  # the process's high-water RSS (getrusage), interpreter and imports included
    result: object
    process_seconds: float = float("nan")  # the whole process: interpreter, imports, work, exit

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    def seconds_of(self, *prefixes: str) -> float:
        return sum(s.seconds for s in self.stages if s.name.startswith(prefixes))


_STAGES_PRELUDE = '''
import json, os, resource, threading, time


class Stages:
    """Wall time and peak RSS per stage. ``end(name)`` closes the stage running since the previous
    ``end`` (or since construction); ``progress(prefix)`` is a ``progress(phase, done, total)``
    callback that does ``end(prefix + label)`` on every report, so the time up to each report is
    counted in the phase that reports it; ``labels`` maps "phase done" or "phase" to the label
    (default: the phase). RSS is sampled every 5 ms by a thread."""

    def __init__(self):
        self.rows = {}
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._lock = threading.Lock()
        self._peak = self._rss()
        self._t = time.perf_counter()
        threading.Thread(target=self._sample, daemon=True).start()

    def _rss(self):
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _sample(self):
        while True:
            rss = self._rss()
            with self._lock:
                self._peak = max(self._peak, rss)
            time.sleep(0.005)

    def end(self, name):
        now, rss = time.perf_counter(), self._rss()
        with self._lock:
            peak, self._peak = max(self._peak, rss), rss
        seconds, mb = self.rows.get(name, (0.0, 0.0))
        self.rows[name] = (seconds + now - self._t, max(mb, peak / 2**20))
        self._t = now

    def progress(self, prefix="", labels=None):
        labels = labels or {}

        def report(phase, done, total):
            self.end(prefix + labels.get(f"{phase} {done}", labels.get(phase, phase)))

        return report

    def report(self, result):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        stages = [[k, s, mb] for k, (s, mb) in self.rows.items()]
        print("@@" + json.dumps({"stages": stages, "peak_mb": peak, "result": result}, default=str), flush=True)
'''


def measure_stages(script: str, timeout: float | None = None) -> StagedMeasurement:
    """Run ``script`` in a fresh process; it gets a ``Stages`` class and must end with
    ``stages.report(result)``. Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
    code = _STAGES_PRELUDE + textwrap.dedent(script)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=timeout
    )
    process_seconds = time.perf_counter() - started
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"exit code {proc.returncode}: {proc.stderr[-2000:]}")
    data = json.loads(line[2:])
    stages = tuple(Stage(name, seconds, mb) for name, seconds, mb in data["stages"])
    return StagedMeasurement(stages, data["peak_mb"], data["result"], process_seconds)


def taking_turns(
    sources: Sequence[str], repeats: int, run: Callable[[], T], *, also: Sequence[str] = ()
) -> dict[str, list[T]]:
    """``run()`` ``repeats`` times with each of ``sources`` (e.g. this checkout's ``src`` and
    ``../main/src``) first on ``PYTHONPATH`` (then ``also``), the sources taking turns so that a
    slow spell of a shared machine falls on all of them: what a change gained. The fresh
    processes ``run`` starts inherit the path; it is restored after."""
    runs: dict[str, list[T]] = {src: [] for src in sources}
    saved = os.environ.get("PYTHONPATH")
    try:
        for _ in range(repeats):
            for src, kept in runs.items():
                os.environ["PYTHONPATH"] = os.pathsep.join([src, *also])
                kept.append(run())
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    return runs

"""Run a piece of code in a fresh process and report its wall time and peak memory (RSS)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass


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
        raise RuntimeError(proc.stderr[-2000:])
    data = json.loads(line[2:])
    return Measurement(data["seconds"], data["peak_mb"], data["result"])


def row(label: str, ours: float, peer: float, unit: str, lower_is_better: bool = True) -> str:
    ratio = peer / ours if lower_is_better else ours / peer
    return (
        f"{label:<44} ours {ours:10.2f} {unit:<6} peer {peer:10.2f} {unit:<6} ratio (peer/ours) {ratio:6.2f}x"
    )

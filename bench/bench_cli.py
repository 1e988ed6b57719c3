"""CLI start-up: the wall time of whole ``shopmind`` commands, each in a fresh process, beside a
bare ``python -c pass`` measured in the same run (the machine is shared: the ratio is the figure).

Commands: ``shopmind --help`` (target under 0.5 s), ``shopmind status`` and ``shopmind customers
show`` (read commands, target under 1 s) on a demo shop (400 customers, 60 days, understood as of
its last day). Each figure is the median of ``ROUNDS`` runs, the runs interleaved so that a busy
moment of the neighbours hits every command alike.

Run with ``python -m bench.bench_cli`` (about half a minute).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.shops import demo_workspace

ROUNDS = 7
TARGETS = {"shopmind --help": 0.5, "shopmind status": 1.0, "shopmind customers show": 1.0}


def _wall(argv: list[str]) -> float:
    env = dict(os.environ)
    env.pop("SHOPMIND_WORKSPACE", None)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="shopmind-bench-cli-") as tmp:
        folder = Path(tmp) / "shop"
        shop = demo_workspace(folder)
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "shopmind --help": [python, "-m", "shopmind", "--help"],
            "shopmind status": [python, "-m", "shopmind", "status", "-w", str(folder)],
            "shopmind customers show": [
                python, "-m", "shopmind", "customers", "show", f"user:{shop.vip}", "-w", str(folder),
            ],
        }  # fmt: skip
        for argv in commands.values():  # warm the file cache once
            _wall(argv)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(ROUNDS):
            for name, argv in commands.items():
                times[name].append(_wall(argv))
    base = median(times["python -c pass"])
    print(f"CLI start-up, median of {ROUNDS} fresh processes (python {sys.version.split()[0]})")
    print(f"  {'command':<26} {'seconds':>8} {'× python -c pass':>17}  target")
    for name, values in times.items():
        secs = median(values)
        target = TARGETS.get(name)
        verdict = "" if target is None else f"< {target:.1f} s {'ok' if secs < target else 'MISSED'}"
        print(f"  {name:<26} {secs:>8.3f} {secs / base:>17.1f}  {verdict}")


if __name__ == "__main__":
    main()

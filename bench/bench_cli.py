"""CLI start-up: the wall time of whole ``shopmind`` commands, each in a fresh process, beside a
bare ``python -c pass`` measured in the same run (the machine is shared: the ratio is the figure).

Commands: ``shopmind --help`` (target under 0.5 s), ``shopmind status`` and ``shopmind customers
show`` (read commands, target under 1 s) on a demo shop (400 customers, 60 days, understood as of
its last day). Each figure is the median of ``ROUNDS`` runs, the runs interleaved so that a busy
moment of the neighbours hits every command alike.

Then ``shopmind recommend for`` on the shop ``make demo`` builds (5,000 customers, 90 days, seed
42; its recommender stored as ``shopmind run --as-of 2026-04-01`` stores it) before and after it
answered from the stored model: "refit" is the same command in a copy of the workspace without
the stored model (it fits the hybrid, as every call did before), "stored" reads the model the run
stored. Printed with their ratio, and the model work alone in this process (fitting against
reading the stored files, medians of ``MODEL_ROUNDS``).

Each start-up figure is given as wall time and as CPU time (user + system of the child): on a
machine shared with other work the CPU time moves less than the wall time.

Run with ``python -m bench.bench_cli`` (about two minutes); ``--startup`` measures only the
start-up, and ``--before SRC`` runs every start-up command a second time with ``PYTHONPATH=SRC``
(another checkout's ``src``), interleaved in the same run, to compare a change with what it
replaces: ``python -m bench.bench_cli --startup --before /work/main/src``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.shops import demo_workspace

ROUNDS = 7
RECOMMEND_ROUNDS = 5
MODEL_ROUNDS = 3
TARGETS = {
    "shopmind --help": 0.5,
    "shopmind customers --help": 0.5,
    "shopmind status": 1.0,
    "shopmind customers show": 1.0,
}
DEMO_AS_OF = datetime(2026, 4, 1, tzinfo=ZoneInfo("Asia/Seoul")).astimezone(UTC)  # make demo's --as-of


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_timed(argv: list[str], pythonpath: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process (its CPU is what the waited-for children gained)."""
    env = dict(os.environ)
    env.pop("SHOPMIND_WORKSPACE", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    cpu0, t0 = _child_cpu(), time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0, _child_cpu() - cpu0


def _wall(argv: list[str]) -> float:
    return _run_timed(argv)[0]


def _interleaved(commands: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    for argv in commands.values():  # warm the file cache once
        _wall(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            times[name].append(_wall(argv))
    return times


def _startup(python: str, tmp: Path, before: str | None = None) -> None:
    folder = tmp / "shop"
    shop = demo_workspace(folder)
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "shopmind --help": [python, "-m", "shopmind", "--help"],
        "shopmind customers --help": [python, "-m", "shopmind", "customers", "--help"],
        "shopmind status": [python, "-m", "shopmind", "status", "-w", str(folder)],
        "shopmind customers show": [
            python, "-m", "shopmind", "customers", "show", f"user:{shop.vip}", "-w", str(folder),
        ],
    }  # fmt: skip
    runs: dict[str, tuple[list[str], str | None]] = {}
    for name, argv in commands.items():
        if before is not None and name != "python -c pass":
            runs[f"{name} (before)"] = (argv, before)
        runs[name] = (argv, None)
    for argv, pythonpath in runs.values():  # warm the file cache once
        _run_timed(argv, pythonpath)
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):  # interleaved: a busy moment of the neighbours hits every command alike
        for name, (argv, pythonpath) in runs.items():
            wall, cpu = _run_timed(argv, pythonpath)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base = median(walls["python -c pass"])
    print(f"CLI start-up, median of {ROUNDS} fresh processes (python {sys.version.split()[0]})")
    if before is not None:
        print(f"  (before) = PYTHONPATH={before}")
    print(f"  {'command':<36} {'wall s':>7} {'CPU s':>7} {'× python -c pass':>17}  target (wall)")
    for name in runs:
        secs, cpu = median(walls[name]), median(cpus[name])
        target = TARGETS.get(name.removesuffix(" (before)"))
        verdict = "" if target is None else f"< {target:.1f} s {'ok' if secs < target else 'MISSED'}"
        print(f"  {name:<36} {secs:>7.3f} {cpu:>7.3f} {secs / base:>17.1f}  {verdict}")


def _recommend_for(python: str, tmp: Path) -> None:
    from shopmind.pipeline import load_demo_shop, recommender_data, run_recommender, stored_recommender
    from shopmind.recommend import HybridRecommender
    from shopmind.store import Workspace

    stored = tmp / "demo"
    ws = Workspace.init(stored)
    with ws.open_store() as store:
        load_demo_shop(store, customers=5000, days=90, seed=42, hasher=ws.hasher())
        report = run_recommender(store, DEMO_AS_OF)
    refit = tmp / "demo-without-model"
    shutil.copytree(stored, refit)
    shutil.rmtree(refit / "models")
    ask = ["recommend", "for", "user:m003412", "--region", "부산", "--temp-c", "-5"]
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "recommend for, refit": [python, "-m", "shopmind", *ask, "-w", str(refit)],
        "recommend for, stored": [python, "-m", "shopmind", *ask, "-w", str(stored)],
    }
    times = _interleaved(commands, RECOMMEND_ROUNDS)
    fits, loads = [], []
    with ws.open_store(read_only=True) as store:
        data = recommender_data(store, before=DEMO_AS_OF)
        for _ in range(MODEL_ROUNDS):
            t0 = time.perf_counter()
            HybridRecommender(index_size=0).fit(data.interactions, data.catalogue, weather=data.weather)
            fits.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            stored_recommender(store)
            loads.append(time.perf_counter() - t0)
    base = median(times["python -c pass"])
    before, after = median(times["recommend for, refit"]), median(times["recommend for, stored"])
    print(
        f"\nrecommend for on the make-demo shop ({report.buyers:,} buyers, {report.products:,} products), "
        f"median of {RECOMMEND_ROUNDS} fresh processes"
    )
    print(f"  {'command':<26} {'seconds':>8} {'× python -c pass':>17}")
    for name, values in times.items():
        print(f"  {name:<26} {median(values):>8.3f} {median(values) / base:>17.1f}")
    print(f"  refit / stored: {before / after:.1f}× (the whole command, start-up included)")
    fit, load = median(fits), median(loads)
    print(
        f"  model work in one process, median of {MODEL_ROUNDS}: fitting {fit:.2f} s, reading the stored "
        f"model {load:.3f} s ({fit / load:.0f}×)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--startup", action="store_true", help="measure only the start-up")
    parser.add_argument("--before", metavar="SRC", help="also run the start-up commands with PYTHONPATH=SRC")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="shopmind-bench-cli-") as tmp:
        _startup(python, Path(tmp), args.before)
        if not args.startup:
            _recommend_for(python, Path(tmp))


if __name__ == "__main__":
    main()

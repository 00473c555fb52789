"""Start-up cost of the command line: `fate-registry --help` and `fate-registry server list` (on
SQLite, 100 servers) next to `python -c pass`, the bare interpreter, in the same run.

    python benchmarks/bench_cli.py [--rounds 30] [--servers 100]

Each round runs the three commands once, one after the other, so that the machine's load falls
on all three alike. Prints, for wall-clock time and for CPU time (user + system, of the process
alone: less disturbed by other work on a shared machine), the median of each command, its ratio
to the bare interpreter's median, and the spread of the per-round ratios (10th to 90th
percentile).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_args import positive_int

LIMITS = {"--help": 6.0, "server list": 12.0}  # issue 11's goals, as multiples of the baseline


def command() -> list[str]:
    """The installed console script beside this interpreter, as an operator runs it."""
    script = shutil.which("fate-registry", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "fate_registry.cli"]


def populate(db_url: str, servers: int) -> None:
    from fate_registry import Registry

    with Registry(db_url) as registry:
        for n in range(servers):
            registry.register_server(f"server-{n:03d}", f"10.0.{n // 256}.{n % 256}", 8000 + n)


def timed(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run; its output goes to a file, as in a script."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if process.returncode != 0 or (argv[1:] != ["-c", "pass"] and not text):
        raise SystemExit(f"{' '.join(argv)} failed: {text}")
    return elapsed, usage.ru_utime + usage.ru_stime


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=30)
    parser.add_argument("--servers", type=positive_int, default=100)
    args = parser.parse_args()

    # No settings from the developer's shell, and a working directory without a config file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'registry.db'}"
        populate(db_url, args.servers)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "--help": [*command(), "--help"],
            "server list": [*command(), "--db", db_url, "server", "list"],
        }
        for argv in cases.values():  # warm the file cache and the .pyc files
            timed(argv, env, tmp)
        wall: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, argv in cases.items():
                elapsed, used = timed(argv, env, tmp)
                wall[name].append(elapsed)
                cpu[name].append(used)

    load = os.getloadavg()[0]
    print(f"{args.rounds} rounds, {args.servers} servers, Python {sys.version.split()[0]}, "
          f"load average {load:.1f} at the end")  # fmt: skip
    print(f"{'command':<16} {'time':<5} {'median':>9} {'ratio':>7} {'p10-p90':>11} {'goal':>6}")
    for name in cases:
        for kind, samples in (("wall", wall), ("cpu", cpu)):
            base = samples["python -c pass"]
            ratios = [t / b for t, b in zip(samples[name], base, strict=True)]
            goal = f"{LIMITS[name]:.0f}x" if name in LIMITS else ""
            spread = f"{percentile(ratios, 0.1):.1f}-{percentile(ratios, 0.9):.1f}x"
            median = statistics.median(samples[name])
            ratio = median / statistics.median(base)
            figures = f"{median * 1000:>7.0f}ms {ratio:>6.1f}x {spread:>11} {goal:>6}"
            print(f"{name:<16} {kind:<5} {figures}")


if __name__ == "__main__":
    main()

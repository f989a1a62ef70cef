"""Start-up time of the command line: `leanamp --help`, a command's `--help` and a usage error.

Each command runs `--runs` times as a fresh process; the table gives the median wall time and the
median CPU time (user + system of the child, from getrusage), which a busy machine inflates less
than the wall clock. Compare two installs by giving each one's `leanamp` executable:

    python benchmarks/bench_startup.py --leanamp old/.venv/bin/leanamp --leanamp .venv/bin/leanamp
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["train", "--help"], ["train"])  # the last is a usage error (exit 2)


def measure(executable: str, args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `executable args`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leanamp", action="append", help="leanamp executable(s) to time")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    default = Path(sys.executable).with_name("leanamp")
    executables = args.leanamp or [str(default if default.exists() else shutil.which("leanamp"))]
    print("| executable | command | median wall s | median CPU s | runs |")
    print("|---|---|---|---|---|")
    for executable in executables:
        for command in COMMANDS:
            measure(executable, command)  # warm the file cache
            runs = [measure(executable, command) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"| {executable} | leanamp {' '.join(command)} | {wall:.2f} | {cpu:.2f} | "
                  f"{args.runs} |")  # fmt: skip


if __name__ == "__main__":
    main()

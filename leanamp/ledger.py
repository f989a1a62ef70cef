"""The CPU time a run used over every attempt: a killed run's earlier attempts count too.

The process writes `cpu_ledger.json` in the run's folder every `interval` seconds and when the
attempt ends: one entry per attempt, the process CPU seconds it has used so far. A resumed run
adds an entry, so the total is the sum over attempts; a kill loses at most the last `interval`
seconds of the attempt it ended. Used by sweep runs and shrink candidates: without it, a run
resumed in a later session was charged only its last attempt. Each attempt also records the CPU
it ran on (`cpu_name`): a CPU-second, and so a CPU-time cap, buys different work on different
machines, and a run resumed on a new machine has attempts on two.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from pathlib import Path

from leanamp.files import write_text_atomic

LEDGER_FILE = "cpu_ledger.json"


def cpu_name() -> str:
    """The CPU's model name ("AMD EPYC"); CPU seconds and real-time factors compare on one only."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class CpuLedger:
    """`with CpuLedger(run_dir) as ledger: ...; ledger.total()`"""

    def __init__(self, run_dir: str | Path, interval: float = 30.0) -> None:
        self.path = Path(run_dir) / LEDGER_FILE
        self.interval = interval
        previous = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.earlier = [float(s) for s in previous.get("attempts", [])]
        # the CPU of each earlier attempt; None for attempts of ledgers that did not record it
        recorded = previous.get("cpus", [])
        self.earlier_cpus = [*recorded, *[None] * (len(self.earlier) - len(recorded))]
        self.cpu = cpu_name()
        self._started = time.process_time()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._keep, daemon=True)
        self._ended: float | None = None  # this attempt's CPU seconds once it has ended

    def current(self) -> float:
        if self._ended is not None:
            return self._ended
        return time.process_time() - self._started

    def total(self) -> float:
        """CPU seconds of every attempt, this one up to now."""
        return sum(self.earlier) + self.current()

    def cpus(self) -> list[str | None]:
        """The CPU each attempt ran on, this one last (None: not recorded)."""
        return [*self.earlier_cpus, self.cpu]

    def write(self) -> None:
        with self._lock:
            attempts = [*self.earlier, self.current()]
            write_text_atomic(self.path, json.dumps({"attempts": attempts, "cpus": self.cpus()}))

    def _keep(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def __enter__(self) -> CpuLedger:
        self.write()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._ended = self.current()
        self.write()

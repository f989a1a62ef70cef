"""The CPU ledger of a sweep run: every attempt counts, a kill loses at most one interval."""

import json
import time

from leanamp.ledger import LEDGER_FILE, CpuLedger, cpu_name


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_killed_attempt_is_kept_and_the_next_attempt_adds_to_it(tmp_path):
    killed = CpuLedger(tmp_path, interval=0.05)
    killed.__enter__()
    burn(0.3)
    time.sleep(0.1)  # the keeper writes while the attempt runs
    kept = json.loads((tmp_path / LEDGER_FILE).read_text())["attempts"]
    assert len(kept) == 1 and 0.2 < kept[0] <= killed.current()
    killed._stop.set()  # the process dies: no final write

    with CpuLedger(tmp_path, interval=10.0) as resumed:
        burn(0.2)
    assert resumed.earlier == kept
    attempts = json.loads((tmp_path / LEDGER_FILE).read_text())["attempts"]
    assert len(attempts) == 2 and attempts[1] >= 0.2
    assert resumed.total() >= sum(attempts) - 1e-6


def test_a_first_attempt_has_no_earlier_ones(tmp_path):
    with CpuLedger(tmp_path) as ledger:
        burn(0.05)
    assert ledger.earlier == [] and ledger.total() >= 0.05
    assert len(json.loads((tmp_path / LEDGER_FILE).read_text())["attempts"]) == 1


def test_each_attempt_records_its_cpu_and_an_older_ledger_reads_as_unknown(tmp_path):
    (tmp_path / LEDGER_FILE).write_text(json.dumps({"attempts": [1.5]}))  # before CPUs were kept
    with CpuLedger(tmp_path) as second:
        burn(0.01)
    assert second.cpus() == [None, cpu_name()] and cpu_name()
    with CpuLedger(tmp_path) as third:  # resumed again, on this machine
        pass
    kept = json.loads((tmp_path / LEDGER_FILE).read_text())
    assert kept["cpus"] == [None, cpu_name(), cpu_name()] and len(kept["attempts"]) == 3
    assert third.total() >= 1.5

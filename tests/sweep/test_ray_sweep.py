"""Sweeps on a local Ray instance: failures recorded without stopping the others, and a killed
sweep resumed without redoing finished runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from leanamp.errors import LeanampError
from leanamp.sweep import load_sweep_config, open_results, read_run_ids, run_sweep, sweep_table
from leanamp.sweep.runner import progress_text


def test_a_failing_run_does_not_stop_the_sweep(write_config, tmp_path, ray_address):
    config = write_config(
        devices=[{"name": "od", "device": "overdrive"},
                 {"name": "broken", "input": "missing_dry.wav", "target": "missing_wet.wav"}],
        sizes=[3], methods=["train"],
    )
    sweep_dir = tmp_path / "out"
    lines = []
    summary = run_sweep(config, sweep_dir, address=ray_address, log=lines.append)
    assert summary.done == ["od-lstm3-train-s0"]
    ended = [line for line in lines if line.startswith(("finished", "failed"))]
    assert "1 runs left" in ended[0] and "to go" in ended[0]  # a failure counts as an end too
    assert ended[1].endswith("elapsed)") and "0 runs left" in ended[1]
    assert list(summary.failed) == ["broken-lstm3-train-s0"]
    assert "missing_dry.wav" in summary.failed["broken-lstm3-train-s0"]
    rows = {r["name"]: r for r in open_results(sweep_dir).rows()}
    assert rows["od-lstm3-train-s0"]["status"] == "done"
    assert rows["od-lstm3-train-s0"]["test_esr"] > 0
    broken = rows["broken-lstm3-train-s0"]
    assert broken["status"] == "failed" and "DataError" in broken["error"]
    assert "Traceback" in (sweep_dir / broken["run_dir"] / "error.txt").read_text()
    assert "failed" in sweep_table(sweep_dir)
    # Again: the done run is skipped, the failed one is tried again (and fails again).
    again = run_sweep(config, sweep_dir, address=ray_address, log=lambda line: None)
    assert again.skipped == ["od-lstm3-train-s0"] and again.done == []
    rows = {r["name"]: r for r in open_results(sweep_dir).rows()}
    assert rows["od-lstm3-train-s0"]["attempts"] == 1
    assert rows["broken-lstm3-train-s0"]["attempts"] == 2


def test_killed_sweep_resumes_without_redoing_finished_runs(write_config, tmp_path, ray_address):
    # Two CPUs per run on a two-CPU Ray: the runs go one after another, so the driver can be
    # killed with one run finished and the other one still training. 40 s of audio make a run
    # last about 3 s: with TINY's 2 s one took 0.2-0.4 s in a warm worker, about the poll's
    # 0.3 s, and the second run could finish before the kill (it did once in CI).
    config = write_config(
        devices=["overdrive"], sizes=[3, 4], methods=["train"], data_seconds=40,
        resources={"cpus_per_run": 2},
        train={"max_epochs": 4, "segment_seconds": 0.2, "batch_size": 4, "validate_every": 1,
               "warmup_samples": 200, "tbptt_samples": 400, "learning_rate": 0.004},
    )
    sweep_dir = tmp_path / "out"
    driver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            from leanamp.sweep import run_sweep
            run_sweep({str(config)!r}, {str(sweep_dir)!r}, address={ray_address!r})
        """)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        # A fresh Ray worker imports torch and loads the kernels: 20 s on a quiet machine, but
        # measured at 100 s with both cores busy; the loop leaves as soon as a run is done.
        deadline = time.monotonic() + 400
        done = []
        while not done and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.3)
            if (sweep_dir / "results.sqlite").exists():
                done = open_results(sweep_dir).rows("done")
        assert done, "the first run never finished"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver's own session: nothing else
        driver.wait()
    statuses = {r["name"]: r["status"] for r in open_results(sweep_dir).rows()}
    assert sorted(statuses.values()) == ["done", "running"], statuses
    finished_first = done[0]["name"]
    summary = run_sweep(config, sweep_dir, address=ray_address, log=lambda line: None)
    assert summary.skipped == [finished_first]
    assert len(summary.done) == 1 and not summary.failed
    rows = open_results(sweep_dir).rows()
    assert all(r["status"] == "done" for r in rows)
    assert {r["name"]: r["attempts"] for r in rows}[finished_first] == 1


def test_the_sweep_folder_defaults_to_the_config_name(write_config, tmp_path, ray_address,
                                                      monkeypatch):
    config = write_config(name="tiny", sizes=[3], methods=["train"],
                          devices=[{"name": "broken", "input": "no.wav", "target": "no.wav"}])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LeanampError, match="--num-cpus must be at least 1"):
        run_sweep(config, num_cpus=0)
    summary = run_sweep(config, address=ray_address, log=lambda line: None)
    assert summary.sweep_dir == (tmp_path / "sweeps" / "tiny").resolve()
    assert list(summary.failed) == ["broken-lstm3-train-s0"]  # the run went into that folder
    assert open_results(summary.sweep_dir).rows()[0]["status"] == "failed"


def test_runs_finished_elsewhere_are_left_out(write_config, tmp_path, ray_address, run_cli):
    config = write_config(sizes=[3, 4], methods=["train"],
                          devices=[{"name": "broken", "input": "no.wav", "target": "no.wav"}])
    ids = tmp_path / "recorded.txt"
    ids.write_text("# finished on another machine\n\nbroken-lstm3-train-s0-0000  # not this one\n")
    finished = {spec.run_id for spec in load_sweep_config(config).runs if spec.size == 3}
    ids.write_text(ids.read_text() + "".join(f"{run_id}\n" for run_id in finished))
    assert read_run_ids(ids) == {"broken-lstm3-train-s0-0000", *finished}
    summary = run_sweep(config, tmp_path / "out", address=ray_address, log=lambda line: None,
                        skip=read_run_ids(ids))
    assert summary.elsewhere == ["broken-lstm3-train-s0"]
    assert list(summary.failed) == ["broken-lstm4-train-s0"]  # the other one ran
    assert [r["name"] for r in open_results(tmp_path / "out").rows()] == ["broken-lstm4-train-s0"]
    assert "1 finished elsewhere" in summary.describe()
    code, _, err = run_cli(["sweep", str(config), "--skip", str(tmp_path / "none.txt")])
    assert code == 2 and "none.txt: no such file of run ids to skip" in err
    every = tmp_path / "every.txt"
    every.write_text("".join(f"{spec.run_id}\n" for spec in load_sweep_config(config).runs))
    code, out, _ = run_cli(["sweep", str(config), "--out", str(tmp_path / "done"), "--skip",
                            str(every)])
    assert code == 0 and "0 runs finished now" in out and "2 finished elsewhere" in out


def test_the_time_to_go_assumes_the_runs_left_take_as_long_as_those_ended():
    assert progress_text(3, 2, 1200.0) == "3 runs left; 20:00 elapsed, about 30:00 to go"
    assert progress_text(0, 4, 3725.0) == "0 runs left; 1:02:05 elapsed"

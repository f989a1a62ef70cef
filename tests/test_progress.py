"""The progress display: redrawn on a terminal, plain lines in a log; ETA from budget and pace."""

from __future__ import annotations

import io
import itertools

from leanamp.progress import Progress, clock_text, print_plan


def fake_clock(step: float):
    readings = itertools.count(0.0, step)
    return lambda: next(readings)


def test_a_log_gets_one_plain_line_per_finished_step_and_no_redraws():
    stream = io.StringIO()
    progress = Progress("train", 10, "epoch", budget_seconds=600, clock=fake_clock(30.0),
                        stream=stream)  # fmt: skip
    for epoch in range(1, 4):
        progress.update(epoch - 0.5, "loss 0.1")  # batches: nothing in a log
        progress.update(epoch)
        progress.line("validation ESR 0.1")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    # elapsed / budget and the ETA in every line
    assert lines[0].startswith("train: epoch 1/10  validation ESR 0.1  [")
    assert "/10:00 ETA" in lines[0]


def test_a_terminal_line_is_redrawn_in_place():
    stream = io.StringIO()
    progress = Progress("prune level 2/5", 4, "epoch", stream=stream, terminal=True)
    progress.update(1, "loss 0.2")
    progress.line("mask distance 0.05")
    progress.close()
    text = stream.getvalue()
    assert text.count("\r") >= 2 and "prune level 2/5: epoch 1/4" in text
    assert "mask distance 0.05" in text and text.endswith("\r")


def test_eta_is_the_earlier_of_budget_and_pace():
    progress = Progress("train", 100, budget_seconds=120, clock=fake_clock(10.0), enabled=False)
    progress.update(50)  # pace: 50 done in the time so far, 50 to go
    elapsed = progress.elapsed  # reading the fake clock advances it
    assert progress.eta() <= 120 - elapsed + 10
    unbounded = Progress("train", 4, clock=fake_clock(10.0), enabled=False)
    unbounded.update(1)
    assert unbounded.eta() > 0


def test_disabled_prints_nothing_and_plan_lines_align():
    stream = io.StringIO()
    Progress("x", 3, stream=stream, enabled=False).line("nothing")
    assert stream.getvalue() == ""
    print_plan({"data": "3 clips", "device": "cpu"}, stream)
    assert stream.getvalue() == "data:   3 clips\ndevice: cpu\n"
    assert clock_text(3725) == "1:02:05" and clock_text(65) == "1:05" and clock_text(None) == "?"

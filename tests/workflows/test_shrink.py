"""leanamp shrink: the choice, the up-front budget check, resuming, the command end to end."""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from leanamp.audio.io import write_audio
from leanamp.cli.shrink import shrink as shrink_command
from leanamp.data import load_device_data
from leanamp.devices.circuits import get_device
from leanamp.devices.signals import guitar_signal
from leanamp.errors import Interrupted, LeanampError
from leanamp.formats.native import load_model
from leanamp.ledger import cpu_name
from leanamp.models import LSTMModel
from leanamp.prune.structured import macs_per_sample
from leanamp.workflows import shrink as shrink_module
from leanamp.workflows.shrink import (
    LSTM_SIZES,
    ShrinkBudget,
    ShrinkConfig,
    busy_machine_note,
    choose_candidate,
    fitting_size,
    make_plan,
    run_shrink,
    teacher_size_for,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")

RATE = 16000
CLIPS = {"riff": 2.0, "chords": 0.6, "funk": 0.6}


def _result(name, validation_esr, macs=100, fits=True):
    return {"name": name, "validation_esr": validation_esr, "macs_per_sample": macs,
            "fits": fits, "misses": [] if fits else [f"{macs} multiply-adds per sample > 50"]}


def test_the_most_accurate_candidate_within_budget_wins():
    results = [_result("big", 0.001, 5000, fits=False), _result("dense", 0.03),
               _result("distill", 0.02), _result("pruned", 0.05)]
    assert choose_candidate(results)["name"] == "distill"


def test_ties_go_to_fewer_multiply_adds_then_to_the_earlier_candidate():
    assert choose_candidate([_result("a", 0.02, 300), _result("b", 0.02, 200)])["name"] == "b"
    assert choose_candidate([_result("a", 0.02, 200), _result("b", 0.02, 200)])["name"] == "a"


def test_a_diverged_candidate_never_wins():
    results = [_result("diverged", float("nan"), 10), _result("dense", 0.03, 300)]
    assert choose_candidate(results)["name"] == "dense"


def test_no_candidate_within_budget_is_a_clear_error():
    with pytest.raises(LeanampError, match="no candidate met the budget.*big: 5000"):
        choose_candidate([_result("big", 0.001, 5000, fits=False)])


@given(st.lists(st.tuples(st.sampled_from([0.01, 0.02, 0.5]), st.sampled_from([10, 20]),
                          st.booleans()), min_size=1, max_size=6))
def test_the_choice_is_never_beaten_by_a_fitting_candidate(entries):
    results = [_result(f"c{i}", esr, macs, fits) for i, (esr, macs, fits) in enumerate(entries)]
    fitting = [r for r in results if r["fits"]]
    if not fitting:
        with pytest.raises(LeanampError):
            choose_candidate(results)
        return
    chosen = choose_candidate(results)
    assert chosen["fits"]
    for r in fitting:
        key = (r["validation_esr"], r["macs_per_sample"])
        assert (chosen["validation_esr"], chosen["macs_per_sample"]) <= key
        if key == (chosen["validation_esr"], chosen["macs_per_sample"]):
            assert results.index(chosen) <= results.index(r)


def test_the_largest_lstm_that_fits_and_a_budget_below_the_smallest():
    macs = {h: macs_per_sample(LSTMModel(h)) for h in LSTM_SIZES}
    size, _ = fitting_size(ShrinkBudget.make(max_macs=macs[8]), 1, RATE, 0.1)
    assert size == 8
    with pytest.raises(LeanampError, match="no model can meet this budget"):
        fitting_size(ShrinkBudget.make(max_macs=macs[4] - 1), 1, RATE, 0.1)
    # a real-time factor budget: the measured RTF decides (here a stand-in proportional to MACs)
    fake_rtf = lambda model: macs_per_sample(model) / 1e6  # noqa: E731
    budget = ShrinkBudget.make(max_rtf=macs[16] / 1e6)  # with a margin for measurement noise
    size, tried = fitting_size(budget, 1, RATE, 0.1, fake_rtf)
    # the ladder stops at 12; the sizes between it and 16 are tried, the largest that fits wins
    assert size == 14 and {15, 14} <= set(tried) and 13 not in tried
    assert macs_per_sample(LSTMModel(15)) / 0.85 > macs[16] >= macs_per_sample(LSTMModel(14)) / 0.85
    assert fitting_size(ShrinkBudget.make(max_rtf=macs[4] / 1e6), 1, RATE, 0.1, fake_rtf)[0] == 4
    with pytest.raises(LeanampError, match="RTF"):
        fitting_size(ShrinkBudget.make(max_rtf=1e-9), 1, RATE, 0.1, fake_rtf)


def test_the_big_model_gets_a_larger_share_of_the_time(device, monkeypatch):
    shares = {}

    def instant(ctx, candidate, folder, seconds):
        shares[candidate.name] = seconds
        return LSTMModel(candidate.size), {}

    for method in shrink_module.RUNNERS:
        monkeypatch.setitem(shrink_module.RUNNERS, method, instant)
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    run_shrink(_data(device), device / "shares", budget, _config(minutes=10))
    weight = shrink_module.SHARE_WEIGHTS["big"]
    # big, dense, distill: the big model's weight against 1 each; the instant runs use ~no time
    assert shares["big-lstm16"] == pytest.approx(600 * weight / (weight + 2), rel=0.01)
    assert shares["dense-lstm4"] == pytest.approx(300, rel=0.02)
    assert shares["distill-lstm4"] == pytest.approx(600, rel=0.02)


def test_an_rtf_over_budget_is_forgiven_only_to_models_the_plan_measured_within_it():
    from leanamp.workflows.shrink import candidate_misses

    budget = ShrinkBudget.make(max_rtf=0.03, target="mcu-m7")
    planned = macs_per_sample(LSTMModel(10))

    def record(size, rtf):
        model = LSTMModel(size)
        return {"macs_per_sample": macs_per_sample(model), "rtf": rtf,
                "memory_bytes": shrink_module.model_memory_bytes(model)}

    assert candidate_misses(budget, record(10, 0.02), planned) == []
    assert candidate_misses(budget, record(8, 0.05), planned) == []  # timed under a heavier load
    assert candidate_misses(budget, record(12, 0.05), planned) == ["RTF 0.05 > 0.03"]
    assert candidate_misses(budget, record(12, 0.02), planned) == []  # measured within it
    huge = {"macs_per_sample": 10**6, "rtf": 0.01, "memory_bytes": 10}
    assert candidate_misses(budget, huge, 10**7) == ["1000000 multiply-adds per sample > 160000"]


def test_a_plan_made_on_a_busy_machine_says_its_rtfs_run_high():
    assert busy_machine_note(1.2, 2) is None
    note = busy_machine_note(2.6, 2)
    assert "load average 2.6 on 2 cores" in note and "--max-macs" in note


def test_budgets_are_checked_and_targets_bring_their_bounds():
    with pytest.raises(LeanampError, match="needs a budget"):
        ShrinkBudget.make()
    with pytest.raises(LeanampError, match="choose one of pi4, mcu-m7"):
        ShrinkBudget.make(target="pdp11")
    with pytest.raises(LeanampError, match="--rtf-mode 'turbo': choose exact or fast"):
        ShrinkBudget.make(max_rtf=0.01, rtf_mode="turbo")
    mcu = ShrinkBudget.make(target="mcu-m7", max_macs=1000)
    assert mcu.max_macs == 1000 and mcu.max_memory_bytes == 256 * 1024
    assert ShrinkBudget.make(target="mcu-m7").max_macs == 160_000


def test_the_plan_follows_the_method_order_table():
    plan = make_plan(8, shrink_module.METHOD_ORDER, None)
    assert [c.name for c in plan] == [
        "big-lstm32", "dense-lstm8", "restart-lstm8", "distill-lstm8", "structured-lstm8",
        "unitprune-lstm8", "trained-on-lstm8",
    ]
    help_text = inspect.signature(shrink_command).parameters["methods"].default.help
    assert ",".join(shrink_module.METHOD_ORDER) in help_text.replace(", ", ",")
    assert [c.method for c in make_plan(8, ("distill", "dense"), LSTMModel(24))] == [
        "distill", "dense"
    ]
    assert [c.method for c in make_plan(96, ("dense", "distill"), None)] == ["dense"]
    assert (teacher_size_for(8), teacher_size_for(16), teacher_size_for(64)) == (32, 32, 96)
    with pytest.raises(LeanampError, match="unknown shrink methods"):
        make_plan(8, ("dense", "magic"), None)


@pytest.fixture
def device(tmp_path):
    """A tiny virtual overdrive recorded as dry/ and wet/ folders: train, validation, test."""
    circuit = get_device("overdrive", sample_rate=RATE)
    for folder in ("dry", "wet"):
        (tmp_path / folder).mkdir()
    for seed, (name, seconds) in enumerate(CLIPS.items()):
        x = guitar_signal(seconds, RATE, seed + 1)
        write_audio(tmp_path / "dry" / f"{name}.wav", x, RATE)
        write_audio(tmp_path / "wet" / f"{name}.wav", circuit.render(x), RATE)
    return tmp_path


def _data(device):
    return load_device_data(device / "dry", device / "wet", validation=["chords"],
                            test=["funk"], align=False)


def _config(**overrides) -> ShrinkConfig:
    values = dict(minutes=5, max_epochs=2, rtf_seconds=0.05,
                  method_order=("dense", "distill"))
    return ShrinkConfig(**{**values, **overrides})


def test_a_killed_shrink_resumes_without_redoing_finished_candidates(device, monkeypatch):
    data = _data(device)
    out = device / "shrink"
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    calls = []
    real_dense, real_distill = shrink_module.RUNNERS["dense"], shrink_module.RUNNERS["distill"]

    def dense(ctx, candidate, folder, seconds):
        calls.append(candidate.name)
        return real_dense(ctx, candidate, folder, seconds)

    def killed(ctx, candidate, folder, seconds):
        raise KeyboardInterrupt  # the user stops the run during distillation

    monkeypatch.setitem(shrink_module.RUNNERS, "big", dense)
    monkeypatch.setitem(shrink_module.RUNNERS, "dense", dense)
    monkeypatch.setitem(shrink_module.RUNNERS, "distill", killed)
    with pytest.raises(Interrupted, match="during distill-lstm4, with 2 of 3 candidates") as e:
        run_shrink(data, out, budget, _config())
    assert e.value.exit_code == 130 and "Run the same command again" in str(e.value)
    assert calls == ["big-lstm16", "dense-lstm4"]
    finished = (out / "candidates" / "dense-lstm4" / "candidate.json").read_text()
    monkeypatch.setitem(shrink_module.RUNNERS, "distill", real_distill)
    messages = []
    summary = run_shrink(data, out, budget, _config(), say=messages.append)
    assert calls == ["big-lstm16", "dense-lstm4"]  # neither trained again
    assert (out / "candidates" / "dense-lstm4" / "candidate.json").read_text() == finished
    assert sum("done before, not redone" in m for m in messages) == 2
    assert [c["name"] for c in summary["candidates"]] == [
        "big-lstm16", "dense-lstm4", "distill-lstm4"
    ]
    assert summary["chosen"] in ("dense-lstm4", "distill-lstm4")  # the big one does not fit
    with pytest.raises(LeanampError, match="another budget or settings"):
        run_shrink(data, out, ShrinkBudget.make(max_macs=10**6), _config())


def test_a_shrink_killed_while_trimming_goes_on_from_the_trimmings_last_level(device,
                                                                              training_epochs):
    data = _data(device)
    out = device / "trimmed"
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    config = _config(method_order=("structured",))
    training_epochs.kill_at = "retrain after trim 2"
    with pytest.raises(Interrupted, match="during structured-lstm4"):
        run_shrink(data, out, budget, config)
    assert any(s.startswith("retrain after trim 1") for s in training_epochs.stages)
    training_epochs.kill_at = None
    training_epochs.stages.clear()
    summary = run_shrink(data, out, budget, config)
    stages = training_epochs.stages
    assert not any(s.startswith("retrain after trim 1") for s in stages)  # not redone
    assert any(s.startswith("retrain after trim 2") for s in stages)
    trimmed = next(c for c in summary["candidates"] if c["name"] == "structured-lstm4")
    assert trimmed["architecture"]["hidden_size"] <= 4


def test_a_shrink_with_progress_says_each_trim_as_it_goes(device):
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    messages = []
    run_shrink(_data(device), device / "said", budget,
               _config(method_order=("structured",), progress=True), LSTMModel(12),
               say=messages.append)  # fmt: skip
    assert any(m.startswith("trim 1/") for m in messages)  # minutes of trimming were silent
    assert any(m.startswith("iteration 1: units") for m in messages)


def test_a_restart_is_the_dense_model_from_the_next_seed(device):
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    summary = run_shrink(_data(device), device / "restart", budget,
                         _config(method_order=("dense", "restart")))  # fmt: skip
    dense, restart = (load_model(c["model"])[0] for c in summary["candidates"])
    assert [c["name"] for c in summary["candidates"]] == ["dense-lstm4", "restart-lstm4"]
    assert dense.config == restart.config
    assert not torch.equal(dense.lstm.weight_hh_l0, restart.lstm.weight_hh_l0)
    config = json.loads((device / "restart" / "candidates" / "restart-lstm4" / "train"
                         / "config.json").read_text())  # fmt: skip
    assert config["train"]["seed"] == 1  # the batch order is the next seed's too


def test_the_leader_is_trained_on_resumes_and_is_charged_its_whole_cost(device, monkeypatch):
    data = _data(device)
    out = device / "on"
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    config = _config(method_order=("dense", "restart", "train_on"))

    def killed(ctx, candidate, folder, seconds):
        raise KeyboardInterrupt

    real = shrink_module.RUNNERS["train_on"]
    monkeypatch.setitem(shrink_module.RUNNERS, "train_on", killed)
    with pytest.raises(Interrupted, match="during trained-on-lstm4, with 2 of 3 candidates"):
        run_shrink(data, out, budget, config)
    monkeypatch.setitem(shrink_module.RUNNERS, "train_on", real)
    messages = []
    summary = run_shrink(data, out, budget, config, say=messages.append)
    assert sum("done before, not redone" in m for m in messages) == 2
    records = {c["name"]: c for c in summary["candidates"]}
    on = records["trained-on-lstm4"]
    leader = records[choose_candidate([records["dense-lstm4"], records["restart-lstm4"]])["name"]]
    assert on["leader"] == leader["name"] and on["epochs"] >= 1
    assert on["cpus"] == [cpu_name(), cpu_name()]  # the killed attempt and the one that finished
    assert on["validation_esr"] <= leader["validation_esr"] * (1 + 1e-4)  # kept only if better
    if not on["improved"]:  # then it is the leader's model as it was
        trained, kept = load_model(on["model"])[0], load_model(leader["model"])[0]
        assert torch.equal(trained.lstm.weight_hh_l0, kept.lstm.weight_hh_l0)
    assert on["cpu_seconds_charged"] == pytest.approx(on["cpu_seconds"]
                                                      + leader["cpu_seconds_charged"])
    assert summary["cpu_seconds"] == pytest.approx(sum(r["cpu_seconds"] for r in records.values()))


def test_train_on_is_skipped_when_no_candidate_before_it_fits(device):
    messages = []
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    summary = run_shrink(_data(device), device / "first", budget,
                         _config(method_order=("train_on", "dense")), say=messages.append)
    assert summary["skipped"] == ["trained-on-lstm4"] and summary["chosen"] == "dense-lstm4"
    assert any("trained-on-lstm4: skipped, no candidate before it fits the budget" in m
               for m in messages)


def test_the_command_end_to_end_on_a_tiny_virtual_device(device, run_cli):
    out = device / "shrunk"
    budget = str(macs_per_sample(LSTMModel(4)))
    args = ["shrink", str(device / "dry"), str(device / "wet"), "--out", str(out),
            "--validation", "chords", "--test", "funk", "--no-align", "--max-macs", budget,
            "--minutes", "3", "--max-epochs", "2", "--rtf-seconds", "0.05"]
    code, stdout, err = run_cli(args)
    assert code == 0, err
    plan_at = stdout.index("plan: the largest dense LSTM that fits has 4 units")
    assert plan_at < stdout.index("[1/7] big-lstm16")
    for step in ("[2/7] dense-lstm4", "[3/7] restart-lstm4", "[4/7] distill-lstm4",
                 "[5/7] structured-lstm4", "[6/7] unitprune-lstm4", "[7/7] trained-on-lstm4"):
        assert step in stdout
    assert "CPU-min left in all" in stdout
    plan = json.loads((out / "plan.json").read_text())
    assert plan["load_average"] >= 0 and plan["cores"] >= 1 and plan["cpu"] == cpu_name()
    summary = json.loads((out / "shrink.json").read_text())
    assert summary["macs_per_sample"] <= int(budget)
    fitting = [c for c in summary["candidates"] if c["fits"]]
    assert summary["validation_esr"] == min(c["validation_esr"] for c in fitting)
    records = {c["name"]: c for c in summary["candidates"]}
    assert not records["big-lstm16"]["fits"]
    big = records["big-lstm16"]["cpu_seconds"]
    for name in ("distill-lstm4", "structured-lstm4", "unitprune-lstm4"):  # charged the big model
        own = records[name]["cpu_seconds"]
        assert records[name]["cpu_seconds_charged"] == pytest.approx(own + big)
    assert records["unitprune-lstm4"]["architecture"]["hidden_size"] <= 4  # compressed
    trimmed = records["structured-lstm4"]
    assert trimmed["converge"]["epochs"] >= 1  # the kept level trained on, kept only if better
    assert trimmed["validation_esr"] <= trimmed["validation_esr_trimmed"] * (1 + 1e-4)
    assert (out / "model.leanamp").exists() and (out / "pareto.png").exists()
    assert "Pareto" in (out / "report.md").read_text()
    assert f"export: leanamp export {out / 'model.leanamp'}" in stdout
    assert np.isfinite(summary["test_esr"])
    # run again: everything is done, nothing is trained
    code, stdout, _ = run_cli(args)
    assert code == 0 and stdout.count("done before, not redone") == 7


def test_the_command_refuses_an_impossible_budget_before_training(device, run_cli):
    out = device / "never"
    code, _, err = run_cli(["shrink", str(device / "dry"), str(device / "wet"), "--out", str(out),
                            "--no-align", "--max-macs", "10"])
    assert code == 2 and err.startswith("error: no model can meet this budget")
    assert not (out / "candidates").exists()
    code, _, err = run_cli(["shrink", str(device / "dry"), str(device / "wet"), "--out", str(out)])
    assert code == 2 and "needs a budget" in err
    code, _, err = run_cli(["shrink", str(device / "dry"), str(device / "wet"), "--out", str(out),
                            "--max-rtf", "0.01", "--rtf-mode", "turbo"])
    assert code == 2 and "choose exact or fast" in err
    code, _, err = run_cli(["shrink", str(device / "dry"), str(device / "wet"), "--out", str(out),
                            "--max-macs", "1000", "--from", str(device / "missing.leanamp")])
    assert code == 2 and "missing.leanamp" in err


def test_a_given_big_model_is_the_teacher_and_its_recorded_cost_is_charged(device):
    data = _data(device)
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    summary = run_shrink(data, device / "from", budget, _config(), LSTMModel(12),
                         from_model="big.leanamp", from_metadata={"training_cpu_seconds": 60.0})
    distilled = next(c for c in summary["candidates"] if c["method"] == "distill")
    assert [c["name"] for c in summary["candidates"]] == ["dense-lstm4", "distill-lstm4"]
    assert distilled["cpu_seconds_charged"] == pytest.approx(distilled["cpu_seconds"] + 60.0)


def test_trimmed_models_must_cost_no_more_than_the_dense_size_that_fits(device):
    from leanamp.workflows.shrink import _Context, _within_target

    six, eight = LSTMModel(6), LSTMModel(8)
    ctx = _Context(_data(device), device, _config(), ShrinkBudget.make(max_rtf=0.02), None,
                   print, planned_macs=macs_per_sample(six))  # fmt: skip
    # an RTF budget alone bounds no multiply-adds: the plan's size does
    assert _within_target(ctx, macs_per_sample(six), 1000)
    assert not _within_target(ctx, macs_per_sample(eight), 1000)


def test_the_report_says_why_a_candidate_timed_over_the_budget_still_fits():
    plan = {"budget": {"max_rtf": 0.035}, "minutes": 30.0, "method_order": ["dense", "restart"],
            "size": 9, "sizes_tried": {"9": {"macs": 369, "memory_bytes": 1, "rtf": 0.029}},
            "load_average": 1.8, "cores": 2}

    def candidate(name, rtf, fits):
        return {"name": name, "method": name, "validation_esr": 0.01, "test_esr": 0.01,
                "rtf": rtf, "macs_per_sample": 369, "fits": fits, "cpu_seconds": 60.0,
                "cpu_seconds_charged": 60.0}
    summary = {"candidates": [candidate("dense", 0.030, True), candidate("restart", 0.047, True),
                              candidate("big", 0.12, False)],
               "chosen": "restart", "test_esr": 0.01, "rtf": 0.047, "skipped": [], "export": "x"}
    report = shrink_module.shrink_report(plan, summary)
    rows = {line.split(" | ")[0].strip("| "): line for line in report.splitlines()
            if line.startswith("| ")}
    assert "| yes |" in rows["dense"] and "| yes* |" in rows["restart"] and "| no |" in rows["big"]
    assert "the plan's dense LSTM-9 (369), which the plan timed at RTF 0.029" in report
    summary["candidates"] = summary["candidates"][:1]
    assert "*:" not in shrink_module.shrink_report(plan, summary)  # nothing forgiven, no note


def test_the_candidates_are_timed_again_together_before_the_choice(device, monkeypatch):
    # every timing after a training as if the machine were swamped: the final one, all the
    # candidates interleaved, replaces it for the choice, the report and the front
    monkeypatch.setattr(shrink_module, "_rtf", lambda model, rate, seconds, mode: 9.0)
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    summary = run_shrink(_data(device), device / "retimed", budget, _config())
    for record in summary["candidates"]:
        assert record["rtf_after_training"] == 9.0 and 0 < record["rtf"] < 1
    assert summary["rtf"] < 1


def test_models_timed_together_keep_their_order_of_cost():
    models = {"small": LSTMModel(4), "big": LSTMModel(64), "small again": LSTMModel(4)}
    rtfs = shrink_module._rtfs_together(models, RATE, 0.1, "exact", rounds=3)
    assert set(rtfs) == set(models) and 0 < rtfs["small"] < rtfs["big"]
    assert rtfs["small again"] == rtfs["small"]  # one architecture, timed once


def test_an_rtf_budget_is_timed_in_its_kernel_mode(monkeypatch):
    # every size costs 0.005 in fast mode and 0.05 in exact mode (as leanamp's fast kernel is
    # flat below 16 units): a budget of 0.01 fits the largest LSTM in one, none in the other
    timed = []

    def bench(models, *, modes, **options):
        timed.extend(modes)
        timing = SimpleNamespace(rtf_cpu={"fast": 0.005, "exact": 0.05}[modes[0]])
        return [SimpleNamespace(timings={modes[0]: timing})]

    monkeypatch.setattr(shrink_module, "bench_models", bench)
    size, _ = fitting_size(ShrinkBudget.make(max_rtf=0.01, rtf_mode="fast"), 1, RATE, 0.1)
    assert size == max(LSTM_SIZES) and set(timed) == {"fast"}
    with pytest.raises(LeanampError, match="no model can meet this budget"):
        fitting_size(ShrinkBudget.make(max_rtf=0.01), 1, RATE, 0.1)
    assert "exact" in timed


def test_a_plan_from_before_the_rtf_mode_resumes_as_exact_mode(device):
    data, out = _data(device), device / "old-plan"
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    shrink_module.prepare_shrink(data, out, budget, _config())
    plan = json.loads((out / "plan.json").read_text())
    del plan["budget"]["rtf_mode"]
    (out / "plan.json").write_text(json.dumps(plan))
    assert shrink_module.prepare_shrink(data, out, budget, _config())["size"] == plan["size"]
    with pytest.raises(LeanampError, match="another budget"):
        fast = ShrinkBudget.make(max_macs=budget.max_macs, rtf_mode="fast")
        shrink_module.prepare_shrink(data, out, fast, _config())

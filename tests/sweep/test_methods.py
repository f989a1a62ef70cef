"""One run without Ray: what execute_run measures and writes, and that it never redoes a run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from leanamp.errors import DataError, LeanampError
from leanamp.formats.native import load_model
from leanamp.ledger import cpu_name
from leanamp.models.wavenet import WaveNet, preset
from leanamp.sweep import execute_run, load_sweep_config
from leanamp.sweep.methods import ARCHITECTURE_SIZES


def _runs(write_config, **keys):
    return {r.method: r for r in load_sweep_config(write_config(**keys)).runs}


def test_train_run_writes_model_audio_and_metrics(write_config, tmp_path):
    spec = _runs(write_config, devices=["overdrive"], sizes=[3], methods=["train"])["train"]
    run_dir = tmp_path / "run"
    result = execute_run(spec.to_dict(), str(run_dir))
    assert json.loads((run_dir / "result.json").read_text()) == result
    metrics, artefacts = result["metrics"], result["artefacts"]
    model, metadata = load_model(run_dir / artefacts["model"])
    assert model.hidden_size == 3 and metadata["sweep_run"] == spec.name
    assert metrics["parameters"] == sum(p.numel() for p in model.parameters())
    assert np.isfinite(metrics["test_esr"]) and metrics["test_esr"] > 0
    assert metrics["rtf"] > 0 and metrics["epochs"] == 1
    history = json.loads((run_dir / artefacts["history"]).read_text())
    assert history[-1]["epoch"] == 1 and "validation_loss" in history[-1]
    (clip,) = artefacts["audio"]
    for kind in ("input", "target", "model"):
        audio, rate = sf.read(run_dir / clip[kind])
        # The test clip (last 15% of 2 s) is shorter than render_seconds (0.5 s).
        assert rate == 16000 and len(audio) == 4800
    # A finished run is returned as it is, not trained again.
    stamp = (run_dir / "model.leanamp").stat().st_mtime_ns
    assert execute_run(spec.to_dict(), str(run_dir)) == result
    assert (run_dir / "model.leanamp").stat().st_mtime_ns == stamp


def test_a_killed_run_is_charged_every_attempt(write_config, tmp_path, monkeypatch):
    from leanamp.sweep import methods as methods_module

    spec = _runs(write_config, devices=["overdrive"], sizes=[3], methods=["train"])["train"]
    run_dir = tmp_path / "run"
    real_train = methods_module.METHODS["train"]

    def killed(ctx):
        burn_until = time.process_time() + 0.3
        while time.process_time() < burn_until:
            pass
        raise KeyboardInterrupt  # the session ends mid-run

    monkeypatch.setitem(methods_module.METHODS, "train", killed)
    with pytest.raises(KeyboardInterrupt):
        execute_run(spec.to_dict(), str(run_dir))
    monkeypatch.setitem(methods_module.METHODS, "train", real_train)
    result = execute_run(spec.to_dict(), str(run_dir))
    assert result["resumed"] and result["cpu_attempts"] == 2 and result["cpu_seconds_complete"]
    assert result["cpus"] == [cpu_name(), cpu_name()]  # where each attempt's seconds were spent
    attempts = json.loads((run_dir / "cpu_ledger.json").read_text())["attempts"]
    assert attempts[0] >= 0.3 and result["cpu_seconds"] == pytest.approx(sum(attempts))


def test_prune_run_reports_the_model_before_and_after(write_config, tmp_path):
    spec = _runs(write_config, devices=["overdrive"], sizes=[4], methods=["prune"])["prune"]
    result = execute_run(spec.to_dict(), str(tmp_path / "run"))
    m = result["metrics"]
    assert m["levels"] == 2 and m["chosen_level"] in (0, 1)
    assert m["parameters_unpruned"] == 4 * 4 * (1 + 4 + 2) + 4 + 1  # LSTM gates + linear head
    assert m["nonzero_parameters"] <= m["nonzero_parameters_unpruned"]
    assert m["hidden_size_unpruned"] == 4 and m["effective_hidden_size"] <= 4
    records = json.loads((tmp_path / "run" / result["artefacts"]["search_records"]).read_text())
    assert [r["level"] for r in records] == [0, 1] and records[1]["sparsity"] > 0


def test_structured_run_trims_whole_units(write_config, tmp_path):
    spec = _runs(write_config, devices=["overdrive"], sizes=[4], methods=["structured"],
                 structured={"iterations": 2, "pretrain_epochs": 1, "epochs_per_iteration": 1,
                             "fraction": 0.25, "measure_rtf": False,
                             "choose_tolerance": 100.0})["structured"]
    result = execute_run(spec.to_dict(), str(tmp_path / "run"))
    model, _ = load_model(tmp_path / "run" / result["artefacts"]["model"])
    assert result["metrics"]["chosen_iteration"] == 2  # the most trimmed within the tolerance
    assert model.hidden_size == 2  # 4 -> 3 -> 2 units


def test_unknown_structured_options_are_named_before_the_sweep_starts(write_config):
    with pytest.raises(LeanampError, match="criterio"):
        _runs(write_config, devices=["overdrive"], sizes=[3], methods=["structured"],
              structured={"criterio": "gradient"})


def test_transfer_run_starts_from_a_model_file(write_config, tmp_path):
    from leanamp.formats.native import save_model
    from leanamp.models import LSTMModel

    save_model(LSTMModel(2), tmp_path / "start.leanamp", {"sample_rate": 16000})
    spec = _runs(write_config, devices=["overdrive"], sizes=[3], methods=["transfer"],
                 transfer={"init_from": "start.leanamp"})["transfer"]
    result = execute_run(spec.to_dict(), str(tmp_path / "run"))
    model, _ = load_model(tmp_path / "run" / result["artefacts"]["model"])
    assert model.hidden_size == 3
    assert result["metrics"]["start"]["path"].endswith("start.leanamp")


def test_transfer_needs_a_start(write_config):
    with pytest.raises(LeanampError, match="init_from"):
        _runs(write_config, devices=["overdrive"], sizes=[3], methods=["transfer"])


def test_slim_run_reports_test_esr_at_every_width(write_config, tmp_path):
    spec = _runs(write_config, devices=["overdrive"], architectures=["wavenet"], sizes=[2],
                 methods=["slim"],
                 train={"max_epochs": 1, "segment_seconds": 0.5, "batch_size": 4})["slim"]
    result = execute_run(spec.to_dict(), str(tmp_path / "run"))
    by_width = result["metrics"]["test_esr_by_width"]
    assert sorted(by_width) == ["1", "2"] and all(np.isfinite(v) for v in by_width.values())
    rtf = result["metrics"]["rtf_by_width"]
    assert sorted(rtf) == ["1", "2"] and all(v > 0 for v in rtf.values())


def test_missing_recordings_name_the_file(write_config, tmp_path):
    spec = _runs(write_config, devices=[{"name": "pedal", "input": "dry.wav",
                                         "target": "wet.wav"}], sizes=[3],
                 methods=["train"])["train"]
    with pytest.raises(DataError, match=str(Path(tmp_path) / "dry.wav")):
        execute_run(spec.to_dict(), str(tmp_path / "run"))


def test_wavenet_runs_take_their_size_as_channels(write_config, tmp_path):
    spec = _runs(write_config, devices=["overdrive"], architectures=["wavenet"], sizes=[2],
                 methods=["train"],
                 train={"max_epochs": 1, "segment_seconds": 0.5, "batch_size": 4})["train"]
    result = execute_run(spec.to_dict(), str(tmp_path / "run"))
    model, _ = load_model(tmp_path / "run" / result["artefacts"]["model"])
    assert model.channels[0] == 2 and result["metrics"]["hidden_size"] is None
    assert np.isfinite(result["metrics"]["test_esr"])


def test_nam_preset_sizes_build_nams_presets_as_they_are():
    for size, name in ((4, "nano"), (8, "feather"), (12, "lite"), (16, "standard")):
        model = ARCHITECTURE_SIZES["nam_preset"](size, 1)
        expected = WaveNet(preset(name, 1))
        assert model.config["layers"] == expected.config["layers"]
        assert model.receptive_field == expected.receptive_field


def test_recorded_devices_take_latency_and_polarity_by_hand(write_config, tmp_path):
    from leanamp.sweep.methods import build_device_data

    rng = np.random.default_rng(0)
    x = 0.3 * rng.standard_normal(32000)
    y = -np.concatenate([np.zeros(7), np.tanh(3 * x)[:-7]])
    sf.write(tmp_path / "dry.wav", x, 16000, subtype="FLOAT")
    sf.write(tmp_path / "wet.wav", y, 16000, subtype="FLOAT")
    device = {"name": "pedal", "input": "dry.wav", "target": "wet.wav", "latency": 5,
              "polarity": -1}
    spec = _runs(write_config, devices=[device], sizes=[3], methods=["train"])["train"]
    alignment = build_device_data(spec).alignment
    assert (alignment.latency, alignment.polarity, alignment.method) == (5, -1, "given")
    assert alignment.estimate.latency == 7


def test_slim_run_takes_the_width_rule(write_config, tmp_path):
    spec = _runs(write_config, devices=["overdrive"], architectures=["wavenet"], sizes=[3],
                 methods=["slim"], slim={"rule": "sandwich"},
                 train={"max_epochs": 1, "segment_seconds": 0.5, "batch_size": 4})["slim"]
    metrics = execute_run(spec.to_dict(), str(tmp_path / "run"))["metrics"]
    assert metrics["slim_rule"] == "sandwich"
    draws = metrics["width_counts"]  # every step trains the largest and the smallest width
    assert draws["3"] == draws["1"] > 0 and draws["2"] == 2 * draws["3"]
    with pytest.raises(LeanampError, match="uniform"):
        _runs(write_config, devices=["overdrive"], architectures=["wavenet"], sizes=[3],
              methods=["slim"], slim={"rule": "biggest"})


def test_prune_run_takes_unit_aware_options_and_charges_each_phase(write_config, tmp_path):
    spec = _runs(write_config, devices=["overdrive"], sizes=[6], methods=["prune"],
                 prune={"iterations": 1, "max_epochs_per_iteration": 1, "pretrain_epochs": 1,
                        "distance_window": 1, "prune_fraction": 0.4, "unit_aware": True,
                        "protect_head": True, "choose_tolerance": 100.0})["prune"]
    m = execute_run(spec.to_dict(), str(tmp_path / "run"))["metrics"]
    assert m["unit_aware"] and m["protect_head"] and m["chosen_level"] == 1
    assert m["effective_hidden_size"] < 6  # whole units went
    assert m["cpu_seconds_pretrain"] > 0 and m["cpu_seconds_search"] > 0


def test_distill_run_trains_a_teacher_and_charges_both_phases(write_config, tmp_path):
    spec = _runs(write_config, devices=["overdrive"], sizes=[2], methods=["distill"],
                 distill={"teacher_size": 4, "alpha": 0.3})["distill"]
    run_dir = tmp_path / "run"
    result = execute_run(spec.to_dict(), str(run_dir))
    m = result["metrics"]
    assert m["hidden_size"] == 2 and m["teacher"]["hidden_size"] == 4 and m["alpha"] == 0.3
    assert m["cpu_seconds_teacher"] > 0 and m["cpu_seconds_student"] > 0
    assert m["cpu_seconds_charged"] == pytest.approx(m["cpu_seconds_teacher"]
                                                     + m["cpu_seconds_student"])
    assert np.isfinite(m["test_esr_teacher"])  # the teacher is measured beside the student
    assert (run_dir / "teacher" / "best.leanamp").exists()


def test_distill_run_from_a_model_file_charges_its_recorded_cost(write_config, tmp_path):
    from leanamp.formats.native import save_model
    from leanamp.models import LSTMModel

    save_model(LSTMModel(4), tmp_path / "teacher.leanamp",
               {"sample_rate": 16000, "training_cpu_seconds": 123.0})
    spec = _runs(write_config, devices=["overdrive"], sizes=[2], methods=["distill"],
                 distill={"teacher_model": "teacher.leanamp"})["distill"]
    m = execute_run(spec.to_dict(), str(tmp_path / "run"))["metrics"]
    assert m["cpu_seconds_teacher"] == 123.0 and m["cpu_seconds_charged"] > 123.0
    save_model(LSTMModel(4), tmp_path / "unknown.leanamp", {"sample_rate": 16000})
    spec = _runs(write_config, devices=["overdrive"], sizes=[2], methods=["distill"],
                 distill={"teacher_model": "unknown.leanamp"})["distill"]
    with pytest.raises(LeanampError, match="teacher_cpu_seconds"):
        execute_run(spec.to_dict(), str(tmp_path / "run2"))
    with pytest.raises(LeanampError, match="not both"):
        _runs(write_config, devices=["overdrive"], sizes=[2], methods=["distill"],
              distill={"teacher_size": 4, "teacher_model": "unknown.leanamp"})


def test_distill_run_takes_its_teacher_from_a_sibling_sweeps_finished_run(write_config, tmp_path):
    teacher_spec = _runs(write_config, devices=["overdrive"], sizes=[4], methods=["train"])["train"]
    teacher_dir = tmp_path / "overdrive-front" / "runs" / teacher_spec.run_id
    teacher = execute_run(teacher_spec.to_dict(), str(teacher_dir))
    options = {"teacher_sweep": "../{device}-front", "teacher_size": 4}
    spec = _runs(write_config, devices=["overdrive"], sizes=[2], methods=["distill"],
                 distill=options)["distill"]
    m = execute_run(spec.to_dict(), str(tmp_path / "distill" / "runs" / spec.run_id))["metrics"]
    assert m["teacher"]["hidden_size"] == 4
    assert m["cpu_seconds_teacher"] == teacher["cpu_seconds"]  # charged, not trained again
    assert m["cpu_seconds_charged"] > teacher["cpu_seconds"]
    assert m["test_esr_teacher"] == pytest.approx(teacher["metrics"]["test_esr"], rel=1e-5)
    other_seed = _runs(write_config, devices=["overdrive"], sizes=[2], methods=["distill"],
                       seeds=[1], distill=options)["distill"]
    with pytest.raises(LeanampError, match="seed 1, and it needs exactly one, found none"):
        execute_run(other_seed.to_dict(), str(tmp_path / "distill" / "runs" / "s1"))
    with pytest.raises(LeanampError, match="not both"):
        _runs(write_config, devices=["overdrive"], sizes=[2], methods=["distill"],
              distill={"teacher_model": "t.leanamp", "teacher_sweep": "x"})


@pytest.mark.parametrize("method", ["prune", "structured"])
def test_pruning_runs_start_from_a_sibling_sweeps_model_and_are_charged_its_cost(
        write_config, tmp_path, method):  # fmt: skip
    front = _runs(write_config, devices=["overdrive"], sizes=[6], methods=["train"])["train"]
    trained = execute_run(front.to_dict(), str(tmp_path / "front" / "runs" / front.run_id))
    options = {"prune": {"iterations": 1, "max_epochs_per_iteration": 1, "distance_window": 1,
                         "unit_aware": True, "start_sweep": "../front"},
               "structured": {"iterations": 1, "epochs_per_iteration": 1, "rewind": "finetune",
                              "probe_seconds": 0.2, "measure_rtf": False,
                              "start_sweep": "../front"}}[method]
    spec = _runs(write_config, devices=["overdrive"], sizes=[6], methods=[method],
                 **{method: options})[method]
    result = execute_run(spec.to_dict(), str(tmp_path / "lean" / "runs" / spec.run_id))
    assert result["cpu_seconds_borrowed"] == trained["cpu_seconds"]
    front_model, _ = load_model(tmp_path / "front" / "runs" / front.run_id / "model.leanamp")
    if method == "prune":  # the front's model itself, not trained again, is level 0
        assert result["metrics"]["test_esr_unpruned"] == pytest.approx(
            trained["metrics"]["test_esr"], rel=1e-5)
    else:
        level_0, _ = load_model(tmp_path / "lean" / "runs" / spec.run_id / "structured"
                                / "iteration_00" / "model.leanamp")
        for key, value in level_0.state_dict().items():
            torch.testing.assert_close(value, front_model.state_dict()[key])

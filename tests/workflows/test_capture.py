"""`leanamp capture` and its workflow: a reamp of leanamp's capture signal through virtual rigs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.audio.io import read_audio, write_audio
from leanamp.data import load_device_data
from leanamp.devices.circuits import get_device
from leanamp.devices.file_tools import write_capture_file
from leanamp.errors import LeanampError
from leanamp.formats import load_any
from leanamp.models import LSTMModel
from leanamp.prune.structured import macs_per_sample
from leanamp.workflows.capture import GearInfo, capture
from leanamp.workflows.shrink import ShrinkBudget

RATE = 48000


def reamp(tmp_path, device: str, latency: int, seconds: float = 12.0):
    """leanamp's capture signal (with its layout file) and a rig's recorded output of it."""
    input_path, _ = write_capture_file(tmp_path / "input.wav", seconds, RATE, seed=0)
    x = read_audio(input_path).samples
    y = get_device(device, latency=latency, sample_rate=RATE).render(x)
    output_path = write_audio(tmp_path / f"{device}_{latency}.wav", y, RATE, subtype="PCM_24")
    return input_path, output_path


@pytest.mark.slow
def test_cabinet_rig_with_long_latency_trains_as_well_as_without(tmp_path):
    # One rig (the overdrive into a cabinet), recorded once through an interface with 300
    # samples of latency and once with none (given by hand: the reference). The latency is
    # measured on the capture signal's blips. Same model, seed and epochs: test ESRs within 2x.
    torch.set_num_threads(1)
    (tmp_path / "late").mkdir()
    inp, on_time = reamp(tmp_path, "overdrive-cab", 0)
    _, late = reamp(tmp_path / "late", "overdrive-cab", 300)
    reference = load_device_data(inp, on_time, latency=0, polarity=1)
    measured = load_device_data(inp, late)
    assert measured.alignment.method == "blips"
    assert measured.alignment.latency == 300 and measured.alignment.polarity == 1
    # Aligned, the two recordings are the same audio (up to 24-bit rounding).
    np.testing.assert_allclose(measured.train[0].target, reference.train[0].target, atol=1e-6)
    results = {
        name: capture(inp, out, tmp_path / f"run-{name}", "nam", minutes=10, hidden_size=8,
                      max_epochs=12, progress=False, **given)
        for name, out, given in (("on_time", on_time, {"latency": 0, "polarity": 1}),
                                 ("late", late, {}))
    }
    esr_late, esr_on_time = results["late"]["test_esr"], results["on_time"]["test_esr"]
    assert esr_late <= 2 * esr_on_time and esr_on_time <= 2 * esr_late, (esr_late, esr_on_time)


def test_capture_exports_the_players_file_with_metadata(tmp_path):
    inp, out = reamp(tmp_path, "overdrive", 40, seconds=10.0)
    gear = GearInfo(name="Test OD", gear_type="pedal", tone_type="overdrive",
                    input_level_dbu=12.0)
    summary = capture(inp, out, tmp_path / "run", "nam", minutes=1, gear=gear, hidden_size=4,
                      max_epochs=1, progress=False)
    nam = json.loads(open(summary["plugin_file"]).read())
    assert summary["plugin_file"].endswith("Test_OD.nam")
    assert nam["architecture"] == "LSTM"
    metadata = nam["metadata"]
    assert (metadata["name"], metadata["gear_type"], metadata["tone_type"]) == (
        "Test OD", "pedal", "overdrive")
    assert metadata["input_level_dbu"] == 12.0
    assert metadata["training"]["validation_esr"] == pytest.approx(summary["validation_esr"])
    assert "leanamp capture signal" in summary["captures"][0]
    model, _ = load_any(summary["plugin_file"])
    assert model.hidden_size == 4
    proteus = capture(inp, out, tmp_path / "proteus", "proteus", minutes=1, hidden_size=4,
                      max_epochs=1, progress=False)
    assert load_any(proteus["plugin_file"])[0].hidden_size == 40  # padded for the player


def test_a_budget_lets_shrink_choose_the_model(tmp_path):
    inp, out = reamp(tmp_path, "overdrive", 40, seconds=10.0)
    budget = ShrinkBudget.make(max_macs=macs_per_sample(LSTMModel(4)))
    summary = capture(inp, out, tmp_path / "run", "aidax", minutes=0.3, budget=budget,
                      max_epochs=1, progress=False)
    chosen, _ = load_any(summary["model"])
    assert summary["shrink"] and macs_per_sample(chosen) <= budget.max_macs
    assert load_any(summary["plugin_file"])[0].hidden_size == 8  # AIDA-X's smallest, padded
    assert (tmp_path / "run" / "shrink" / "report.md").exists()
    with pytest.raises(LeanampError, match="residual path.*--for aidax"):
        capture(inp, out, tmp_path / "nam", "nam", budget=budget)


def test_capture_refuses_bad_options_before_loading(tmp_path):
    with pytest.raises(LeanampError, match="--for 'helix'"):
        capture("missing.wav", "missing.wav", tmp_path, "helix")
    with pytest.raises(LeanampError, match="tone type 'loud'"):
        capture("missing.wav", "missing.wav", tmp_path, gear=GearInfo(tone_type="loud"))


def test_cli_latency_overrides_and_shows_the_estimate(tmp_path, run_cli):
    inp, out = reamp(tmp_path, "overdrive", 40, seconds=10.0)
    code, text, _ = run_cli(["check-data", str(inp), str(out), "--latency", "35"])
    assert code == 0
    assert "latency 35 samples" in text
    assert "given by hand; the estimate (blips) is latency 39" in text
    assert "leanamp capture signal" in text
    code, text, _ = run_cli(["check-data", str(inp), str(out), "--latency", "39"])
    assert "the estimate agrees" in text
    code, _, err = run_cli(["check-data", str(inp), str(out), "--polarity", "2"])
    assert code == 2 and err.startswith("error: polarity must be +1 or -1")


def test_cli_capture_prints_where_everything_is(tmp_path, run_cli):
    inp, out = reamp(tmp_path, "overdrive", 40, seconds=10.0)
    code, text, _ = run_cli([
        "capture", str(inp), str(out), "--out", str(tmp_path / "run"), "--for", "aidax",
        "--minutes", "0.05", "--hidden-size", "4", "--name", "My OD", "--latency", "38",
    ])
    assert code == 0
    assert f"plugin file:    {tmp_path / 'run' / 'My_OD.aidax'}  (for AIDA-X)" in text
    assert (tmp_path / "run" / "My_OD.aidax").exists()
    assert (tmp_path / "run" / "capture.json").exists()
    assert "latency 38 samples" in text

"""The plugin engine's RTF beside leanamp's kernel: `leanamp bench --engine` and the timing API."""

from __future__ import annotations

import json

import pytest
import torch

from leanamp.engines.timing import engine_timing, player_engine
from leanamp.formats import save_model
from leanamp.models.lstm import LSTMModel
from leanamp.models.wavenet import WaveNet, preset

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_player_engine_follows_what_plays_the_model():
    assert player_engine(LSTMModel(16, 1, residual=True)) == "rtneural"
    assert player_engine(LSTMModel(96, 1, residual=False)) == "nam"  # beyond AIDA-X's 80
    assert player_engine(LSTMModel(8, 1, residual=False, num_layers=2)) == "nam"
    assert player_engine(WaveNet(layers=preset("nano"))) == "nam"


def test_engine_timing_of_a_wavenet_in_nam_core(nam_core):
    torch.manual_seed(0)
    timed = engine_timing(WaveNet(layers=preset("nano")), 48000, seconds=0.2, repeats=2,
                          native=False)  # fmt: skip
    assert timed.engine == "nam" and timed.label == "NAM Core" and not timed.native
    assert 0 < timed.timing.rtf_cpu < 10 and timed.timing.repeats == 2


def test_bench_command_adds_the_engine_row(rtneural, run_cli, tmp_path):
    torch.manual_seed(0)
    path = save_model(LSTMModel(12, 1, residual=True), tmp_path / "m.leanamp")
    code, out, _ = run_cli(["bench", str(path), "--engine", "--engine-o3", "--seconds", "0.2",
                            "--repeats", "2", "--json"])  # fmt: skip
    assert code == 0, out
    (result,) = json.loads(out)
    assert result["engine"] == "RTNeural" and result["engine_build"] == "O3"
    assert result["timings"]["engine"]["rtf_cpu"] > 0
    assert set(result["timings"]) == {"fast", "torch", "engine"}

"""The plugin engine's RTF beside leanamp's kernel: `leanamp bench --engine` and the timing API."""

from __future__ import annotations

import json

import pytest
import torch

from leanamp.engines.timing import engine_rtf_metrics, engine_timing, player_engine
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


def test_sweep_metrics_hold_the_engine_rtf_or_why_there_is_none(rtneural):
    torch.manual_seed(0)
    timed = engine_rtf_metrics(LSTMModel(8, 1, residual=True), 48000, 0.2)
    assert timed["engine"] == "RTNeural" and timed["engine_rtf"] > 0 and timed["engine_rtf_cpu"] > 0
    # A residual LSTM too large for AIDA-X: NAM has no residual path, so no plugin plays it.
    unplayable = engine_rtf_metrics(LSTMModel(96, 1, residual=True), 48000, 0.2)
    assert unplayable["engine_rtf"] is None and "residual" in unplayable["engine_error"]


def test_report_shows_the_engine_rtf_column_and_pareto_series(tmp_path):
    from leanamp.report.html import ReportRun, _pareto_points, _runs_section, _widths_section

    def run(name, metrics):
        return ReportRun(name, "pedal", "train", "lstm", 8, 0, "done", tmp_path, 48000, metrics)

    runs = [
        run("a", {"test_esr": 0.1, "rtf": 0.01, "engine_rtf": 0.005, "engine": "RTNeural"}),
        run("b", {"test_esr": 0.05, "rtf": 0.02}),
        run("slim", {"test_esr": 0.2, "test_esr_by_width": {"2": 0.3, "4": 0.2},
                     "rtf_by_width": {"2": 0.01, "4": 0.02},
                     "engine_rtf_by_width": {"2": 0.004, "4": 0.008}}),
    ]  # fmt: skip
    assert "RTF in plugin engine" in _runs_section(runs) and "0.005 RTNeural" in _runs_section(runs)
    assert "RTF in plugin engine" in _widths_section(runs)
    in_engine = _pareto_points(runs, engine=True)
    assert sorted(p["rtf"] for p in in_engine) == [0.004, 0.005, 0.008]  # b has no engine RTF
    assert len(_pareto_points(runs)) == 4
    assert "RTF in plugin engine" not in _runs_section(runs[1:2])

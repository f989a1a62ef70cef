"""Capture files and rendering files through virtual circuits, from Python and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from leanamp.devices import capture_signal, get_device
from leanamp.devices.file_tools import (
    layout_path_for,
    read_capture_layout,
    render_circuit_file,
    write_capture_file,
)
from leanamp.errors import DataError, LeanampError


def test_capture_file_round_trip(tmp_path):
    audio_path, layout_path = write_capture_file(tmp_path / "capture.wav", 12.0, 44100, seed=5)
    assert layout_path == layout_path_for(audio_path) == tmp_path / "capture.layout.json"
    samples, rate = sf.read(audio_path, dtype="float64")
    assert rate == 44100 and sf.info(audio_path).subtype == "PCM_24"
    expected, expected_layout = capture_signal(12.0, 44100, seed=5)
    np.testing.assert_allclose(samples, expected, atol=2 ** -23)
    layout, layout_rate = read_capture_layout(layout_path)
    assert layout_rate == 44100 and layout == expected_layout


def test_bad_layout_files_are_explained(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_capture_layout(tmp_path / "missing.layout.json")
    broken = tmp_path / "broken.layout.json"
    broken.write_text("{not json")
    with pytest.raises(DataError, match="broken.layout.json"):
        read_capture_layout(broken)
    broken.write_text(json.dumps({"sections": {"train": [5, 1]}, "blips": [], "sample_rate": 1}))
    with pytest.raises(DataError, match="start > stop"):
        read_capture_layout(broken)


def test_render_circuit_file_matches_the_device(tmp_path, rng):
    x = (0.3 * rng.standard_normal((4000, 2))).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, 48000, subtype="FLOAT")
    render_circuit_file("amp", tmp_path / "in.wav", tmp_path / "out.wav", gain=0.7, latency=3)
    y, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    expected = get_device("amp", gain=0.7, latency=3).render(x[:, 0])
    assert rate == 48000
    np.testing.assert_array_equal(y, expected)
    sf.write(tmp_path / "low.wav", x, 8000, subtype="FLOAT")
    with pytest.raises(LeanampError, match="low.wav.*sample_rate 8000"):
        render_circuit_file("amp", tmp_path / "low.wav", tmp_path / "out2.wav")


def test_cli_commands(tmp_path, run_cli):
    code, out, _ = run_cli(["capture-signal", str(tmp_path / "cap.wav"), "--seconds", "10"])
    assert code == 0 and "cap.layout.json" in out
    code, out, _ = run_cli(["render-circuit", "overdrive", str(tmp_path / "cap.wav"),
                            str(tmp_path / "od.wav"), "--gain", "0.8", "--polarity", "-1"])
    assert code == 0 and "od.wav" in out
    x, _ = sf.read(tmp_path / "cap.wav", dtype="float32")
    y, _ = sf.read(tmp_path / "od.wav", dtype="float32")
    np.testing.assert_array_equal(y, get_device("overdrive", gain=0.8, polarity=-1).render(x))
    code, _, err = run_cli(["render-circuit", "fuzz", str(tmp_path / "cap.wav"),
                            str(tmp_path / "f.wav")])
    assert code == 2 and err.startswith("error:") and "diode-clipper, overdrive, amp" in err
    code, _, err = run_cli(["render-circuit", "amp", str(tmp_path / "cap.wav"),
                            str(tmp_path / "a.wav"), "--gain", "3"])
    assert code == 2 and "gain must be in 0..1" in err and "Traceback" not in err

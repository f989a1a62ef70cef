"""Every JSON file leanamp writes for AIDA-X, Proteus and NeuralPi plays in RTNeural (their
engine) as in `leanamp process`, on 10 s of real guitar fed sample by sample with the knob values
beside it, as the plugins do; and the GuitarML / AIDA-X reference files play as leanamp imports
them. Bound: max |engine - leanamp| <= EXACT_BOUND (1e-4)."""

from __future__ import annotations

import pytest
import torch

from leanamp.engines.verify import EXACT_BOUND, verify_model_file
from leanamp.formats import export_model
from leanamp.models.lstm import LSTMModel

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def random_lstm(hidden, input_size=1, residual=True, seed=0):
    torch.manual_seed(seed)
    model = LSTMModel(hidden, input_size, residual=residual)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.4, 0.4)
    return model.eval()


# (format, suffix, hidden, inputs, residual): padded sizes, knob inputs, with and without skip.
CASES = [
    ("aidax", ".json", 8, 1, False),
    ("aidax", ".aidax", 13, 1, True),  # padded up to 16
    ("aidax", ".json", 20, 2, True),  # one knob
    ("aidax", ".json", 40, 3, False),  # two knobs
    ("proteus", ".json", 40, 1, True),
    ("proteus", ".json", 17, 2, True),  # padded up to 40, one knob
    ("proteus", ".json", 24, 3, True),  # two knobs
    ("neuralpi", ".json", 20, 1, True),
    ("neuralpi", ".json", 9, 2, True),  # padded up to 20, one knob
]


def show(results, label):
    for r in results:
        print(f"\n{label}: max {r.max_difference:.3g} rms {r.rms_difference:.3g} "
              f"peak {r.output_peak:.3g}")  # fmt: skip
        assert r.bound == EXACT_BOUND
        assert r.output_peak > 1e-3, f"{label}: silent output proves nothing"
        assert r.passed, r.line()


@pytest.mark.parametrize(("fmt", "suffix", "hidden", "inputs", "residual"), CASES)
def test_exported_json_plays_the_same_in_rtneural(
    fmt, suffix, hidden, inputs, residual, rtneural, guitar, tmp_path
):
    model = random_lstm(hidden, inputs, residual, seed=hidden)
    path = export_model(model, tmp_path / f"model{suffix}", fmt=fmt)
    knobs = [0.3, 0.8][: inputs - 1]
    show(verify_model_file(path, guitar(44100 if fmt != "aidax" else 48000), knobs),
         f"{fmt} H{hidden} in{inputs} skip{int(residual)}")  # fmt: skip


def test_reference_files_play_as_leanamp_imports_them(rtneural, guitar, reference_models):
    for path in sorted(reference_models.glob("*.json")):
        show(verify_model_file(path, guitar(48000)), f"reference {path.name}")


def test_verify_command_prints_the_difference_and_a_verdict(rtneural, run_cli, tmp_path):
    path = export_model(random_lstm(8, 2), tmp_path / "knob.json", fmt="aidax")
    code, out, _ = run_cli(["verify", str(path), "--knob", "0.25"])
    assert code == 0, out
    assert "RTNeural vs leanamp: max |diff|" in out and "PASS" in out


def test_verify_command_refuses_files_no_engine_plays(run_cli, tmp_path):
    path = tmp_path / "model.leanamp"
    path.write_bytes(b"not a model")
    code, _, err = run_cli(["verify", str(path)])
    assert code == 2
    assert err.startswith(f"error: {path}: no plugin engine plays this kind of file")


def test_missing_peers_is_a_clear_error(monkeypatch, tmp_path):
    from leanamp.engines import build_driver
    from leanamp.errors import LeanampError

    monkeypatch.setenv("LEANAMP_PEERS", str(tmp_path))
    monkeypatch.setenv("LEANAMP_ENGINE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(LeanampError, match="no RTNeural-.*tar.gz source snapshot"):
        build_driver("rtneural")

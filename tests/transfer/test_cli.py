"""`leanamp suggest-start` and `leanamp compare-runs`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.audio.io import write_audio
from leanamp.formats import export_model, load_any, save_model
from leanamp.inference import run_model
from leanamp.models import LSTMModel

RATE = 16000


def driven_model(seed: int) -> LSTMModel:
    torch.manual_seed(seed)
    model = LSTMModel(5)
    with torch.no_grad():
        model.lstm.weight_ih_l0.mul_(8.0)
        model.head.weight.mul_(4.0)
    return model.eval()


@pytest.fixture
def recordings(tmp_path):
    """A library of two devices and recordings of the second one."""
    library = tmp_path / "library"
    save_model(driven_model(1), library / "first.leanamp", {"sample_rate": RATE})
    export_model(driven_model(2), library / "second.json", "aidax", {"sample_rate": RATE})
    device, _ = load_any(library / "second.json")
    t = np.arange(RATE) / RATE
    x = (0.4 * np.sin(2 * np.pi * 220 * t) * np.exp(-2 * t)).astype(np.float32)
    write_audio(tmp_path / "dry.wav", x, RATE)
    # Quieter than the model plays it (a level the gain fit must see through), and unclipped.
    write_audio(tmp_path / "wet.wav", 0.3 * run_model(device, x), RATE)
    return tmp_path, library


def test_suggest_start_names_the_device(recordings, run_cli):
    folder, library = recordings
    code, out, _ = run_cli(["suggest-start", "--input", str(folder / "dry.wav"), "--target",
                            str(folder / "wet.wav"), "--library", str(library), "--no-align"])
    assert code == 0
    assert "fitted ESR:" in out and "gain:" in out  # the columns explained first
    first = next(line for line in out.splitlines() if line.lstrip().startswith("1. "))
    assert "gain +0.30" in first and first.lstrip().startswith("1. second")
    assert out.strip().endswith(f"start from: {library / 'second.json'}")


def test_suggest_start_json(recordings, run_cli):
    folder, library = recordings
    code, out, _ = run_cli(["suggest-start", "--input", str(folder / "dry.wav"), "--target",
                            str(folder / "wet.wav"), "--library", str(library), "--no-align",
                            "--json"])
    assert code == 0
    ranking = json.loads(out)
    assert [r["name"] for r in ranking][0] == "second"
    assert ranking[0]["fitted_esr"] < 1e-6 < ranking[1]["fitted_esr"]


def test_suggest_start_reports_a_bad_library_without_traceback(recordings, run_cli):
    folder, _ = recordings
    code, _, err = run_cli(["suggest-start", "--input", str(folder / "dry.wav"), "--target",
                            str(folder / "wet.wav"), "--library", str(folder / "nowhere"),
                            "--no-align"])
    assert code == 2
    assert err.startswith("error:") and "nowhere" in err and "Traceback" not in err


def test_compare_runs_plots_histories_together(tmp_path, run_cli):
    for name, losses in (("scratch", [0.9, 0.5]), ("transfer", [0.2, 0.1])):
        run_dir = tmp_path / name / "run"
        run_dir.mkdir(parents=True)
        records = [{"epoch": k + 1, "train_loss": v, "validation_loss": v}
                   for k, v in enumerate(losses)]
        (run_dir / "history.json").write_text(json.dumps(records))
    out = tmp_path / "curves.png"
    code, _, _ = run_cli(["compare-runs", str(out), f"scratch={tmp_path / 'scratch'}",
                          f"transfer={tmp_path / 'transfer'}"])
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run_cli(["compare-runs", str(out), f"x={tmp_path / 'missing'}"])
    assert code == 2 and "no history.json" in err

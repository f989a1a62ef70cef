"""What long commands say: the plan, one plain line per validation in a log, the end summary;
and what a run leaves for later (the .nam's name and validation ESR, eval by clip role)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

RATE = 8000


@pytest.fixture
def recordings(tmp_path):
    rng = np.random.default_rng(5)
    for folder in ("dry", "wet"):
        (tmp_path / folder).mkdir()
    for name in ("one", "two", "three"):
        x = 0.3 * rng.standard_normal(RATE)
        y = np.concatenate([np.zeros(2), np.tanh(3 * x)[:-2]])
        sf.write(tmp_path / "dry" / f"{name}.wav", x, RATE, subtype="FLOAT")
        sf.write(tmp_path / "wet" / f"{name}.wav", y, RATE, subtype="FLOAT")
    return tmp_path


def test_train_shows_its_plan_progress_and_where_everything_is(recordings, run_cli):
    out = recordings / "zendrive"
    code, printed, err = run_cli([
        "train", str(recordings / "dry"), str(recordings / "wet"), "--out", str(out),
        "--validation", "two", "--test", "three", "--hidden-size", "3", "--epochs", "2",
        "--validate-every", "1", "--batch-size", "4", "--segment-seconds", "0.25",
        "--no-residual",
    ])  # fmt: skip
    assert code == 0, err
    # The plan before the work: data, device, model, budget.
    for item in ("data:", "device:", "model:", "budget:"):
        assert item in err
    # A log (not a terminal): one plain line per validation, no carriage-return redraws.
    assert "\r" not in err
    assert [line for line in err.splitlines() if "validation ESR" in line][1].startswith(
        "train: epoch 2/2  train loss")
    # The end: epochs, best epoch, time, and where model, curves, audio and summary are.
    assert "2 epochs in" in printed and "best at epoch" in printed
    for item in ("model:", "curves:", "audio:", "summary:"):
        assert item in printed

    # The exported .nam carries the run's name (its folder) and its validation ESR.
    code, _, err = run_cli(["export", str(out / "model.leanamp"), str(recordings / "z.nam")])
    assert code == 0, err
    nam = json.loads((recordings / "z.nam").read_text())
    assert nam["metadata"]["name"] == "zendrive"
    assert nam["metadata"]["training"]["validation_esr"] > 0
    code, _, err = run_cli(["export", str(out / "model.leanamp"), str(recordings / "n.nam"),
                            "--name", "ZenDrive g5"])  # fmt: skip
    assert json.loads((recordings / "n.nam").read_text())["metadata"]["name"] == "ZenDrive g5"

    # eval reports the held-out clips apart from the training clip.
    code, printed, err = run_cli(["eval", str(out / "model.leanamp"), str(recordings / "dry"),
                                  str(recordings / "wet")])  # fmt: skip
    assert code == 0, err
    roles = {line.split()[0]: line.split()[1] for line in printed.splitlines()[1:4]}
    assert roles == {"one": "train", "two": "validation", "three": "test"}
    assert "held-out clips" in printed and "training clips" in printed


def test_eval_and_check_data_say_when_they_resample(recordings, run_cli, tmp_path):
    from leanamp.formats import save_model
    from leanamp.models import LSTMModel

    model = save_model(LSTMModel(2), tmp_path / "m.leanamp", {"sample_rate": 2 * RATE})
    code, _, err = run_cli(["eval", str(model), str(recordings / "dry"), str(recordings / "wet")])
    assert code == 0, err
    assert f"evaluated at the model's {2 * RATE} Hz" in err

    x, _ = sf.read(recordings / "wet" / "one.wav")
    import soxr

    sf.write(tmp_path / "wet44.wav", soxr.resample(x, RATE, 11025), 11025, subtype="FLOAT")
    code, printed, err = run_cli(["check-data", str(recordings / "dry" / "one.wav"),
                                  str(tmp_path / "wet44.wav")])  # fmt: skip
    assert code == 0, err
    assert "resampled from 11025 Hz" in printed
    assert printed.count("\n") <= 4  # one line per pair, notes, one alignment line, ok

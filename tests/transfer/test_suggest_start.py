"""Choosing the start automatically, and starting `leanamp train` from model files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from leanamp.data import Clip, DeviceData
from leanamp.devices import guitar_signal
from leanamp.errors import LeanampError, ModelFileError
from leanamp.formats import export_model, load_any, save_model
from leanamp.inference import run_model
from leanamp.models import LSTMModel
from leanamp.transfer import initial_model, load_start_model, rank_start_models

RATE = 48000


def make_model(hidden: int, seed: int, input_size: int = 1, residual: bool = True) -> LSTMModel:
    torch.manual_seed(seed)
    model = LSTMModel(hidden, input_size=input_size, residual=residual)
    with torch.no_grad():
        # Driven hard and heard loudly: distinct distortions, not the residual path alone.
        model.lstm.weight_ih_l0.mul_(8.0)
        model.head.weight.mul_(4.0)
    return model.eval()


def clips_from(model: LSTMModel, gain: float = 1.0, knobs: tuple[float, ...] = (), n: int = 2):
    clips = []
    for k in range(n):
        audio = guitar_signal(1.0, RATE, seed=k)
        x = np.stack([audio] + [np.full_like(audio, v) for v in knobs], axis=1)
        y = gain * run_model(model, x)
        clips.append(Clip(f"clip{k}", audio[:, None], y.astype(np.float32), RATE))
    return clips


@pytest.fixture
def library(tmp_path):
    """Three LSTM devices in three formats, a knob-conditioned one, and a file that is no model."""
    folder = tmp_path / "library"
    models = {
        "alpha": make_model(6, 1),
        "beta": make_model(6, 2),
        "gamma": make_model(8, 3, residual=False),
        "knobbed": make_model(6, 4, input_size=2),
    }
    save_model(models["alpha"], folder / "alpha.leanamp", {"sample_rate": RATE, "name": "alpha"})
    export_model(models["beta"], folder / "beta.json", "aidax", {"sample_rate": RATE})
    export_model(models["gamma"], folder / "gamma.nam", "nam", {"sample_rate": RATE})
    save_model(models["knobbed"], folder / "sub" / "knobbed.leanamp", {"sample_rate": RATE})
    (folder / "notes.json").write_text('{"hello": "world"}')
    # What the files hold, as they load (the exporters round weights to float32 text).
    loaded = {name: load_any(next(folder.rglob(f"{name}.*")))[0] for name in models}
    return folder, loaded


def test_the_device_itself_ranks_first_even_with_gain_and_inverted_polarity(library):
    folder, models = library
    clips = clips_from(models["beta"], gain=-0.5)
    ranking = rank_start_models(clips, folder, seconds=1.5)
    assert ranking[0].path.endswith("beta.json")
    assert ranking[0].fitted_esr < 1e-6
    assert ranking[0].gain == pytest.approx(-0.5, rel=1e-3)
    # Without the gain fit it would not look like a match at all.
    assert ranking[0].esr > 1.0
    assert all(c.fitted_esr > 1e-3 for c in ranking[1:] if c.usable)
    # The file that is no model is listed last, unusable, with the reason.
    assert ranking[-1].path.endswith("notes.json")
    assert not ranking[-1].usable and "not loadable" in ranking[-1].note


def test_knob_setting_of_a_conditioned_candidate_is_found(library):
    folder, models = library
    clips = clips_from(models["knobbed"], knobs=(0.75,))
    ranking = rank_start_models(clips, folder, seconds=1.5)
    assert ranking[0].path.endswith("knobbed.leanamp")
    assert ranking[0].knob_values == (0.75,)
    assert ranking[0].fitted_esr < 1e-6


def test_the_closest_device_wins_when_none_is_exact(library):
    folder, models = library
    # The target is gamma with a slightly perturbed copy of its weights: a similar device.
    similar = make_model(8, 3, residual=False)
    with torch.no_grad():
        for p in similar.parameters():
            p.add_(0.03 * torch.randn_like(p))
    ranking = rank_start_models(clips_from(similar), folder, seconds=1.5)
    assert ranking[0].path.endswith("gamma.nam")
    assert 0 < ranking[0].fitted_esr < 0.5


def test_ranking_needs_model_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LeanampError, match="no model files"):
        rank_start_models(clips_from(make_model(4, 0)), tmp_path / "empty")
    with pytest.raises(LeanampError, match="no such folder"):
        rank_start_models(clips_from(make_model(4, 0)), tmp_path / "missing")



def test_suggest_start_refuses_no_seconds_before_reading_anything(tmp_path):
    from leanamp.transfer import suggest_start

    missing = tmp_path / "missing"
    with pytest.raises(LeanampError, match="--seconds must be positive, got 0"):
        suggest_start(missing, missing, missing, seconds=0)

def device_data(clips: list[Clip]) -> DeviceData:
    return DeviceData(clips[:1], clips[1:], [], RATE)


@pytest.mark.parametrize("name", ["alpha", "beta", "gamma"])
def test_init_from_any_format_loads_the_same_weights(library, name):
    folder, models = library
    path = next(folder.rglob(f"{name}.*"))
    data = device_data(clips_from(models[name]))
    model, info = initial_model(path, data)
    assert info.path == str(path) and info.hidden_size == models[name].hidden_size
    x = data.train[0].input
    np.testing.assert_allclose(run_model(model, x), run_model(models[name], x), atol=1e-6)


def test_init_from_auto_takes_the_best_and_fixes_its_knobs(library):
    folder, models = library
    data = device_data(clips_from(models["knobbed"], knobs=(0.25,)))
    model, info = initial_model("auto", data, hidden_size=10, library=folder)
    assert info.path.endswith("knobbed.leanamp")
    assert info.knob_values == (0.25,) and model.input_size == 1 and model.hidden_size == 10
    assert info.ranking and info.ranking[0]["path"] == info.path
    x = data.train[0].input
    np.testing.assert_allclose(run_model(model, x), data.train[0].target, atol=1e-5)


def test_init_from_refuses_what_cannot_start_a_run(library, tmp_path):
    folder, models = library
    data = device_data(clips_from(models["alpha"]))
    with pytest.raises(LeanampError, match="start-library"):
        initial_model("auto", data)
    with pytest.raises(ModelFileError, match="no such file"):
        initial_model(tmp_path / "missing.nam", data)
    with pytest.raises(ModelFileError):
        initial_model(folder / "notes.json", data)


def test_wavenet_files_rank_but_cannot_start_an_lstm(reference_models):
    path = reference_models / "nam" / "wavenet.nam"
    with pytest.raises(ModelFileError, match="only from an LSTM"):
        load_start_model(path)
    ranking = rank_start_models(clips_from(make_model(4, 0), n=1), [path], seconds=0.5)
    assert not ranking[0].usable and math.isfinite(ranking[0].fitted_esr)


def test_suggest_start_finds_the_reference_device_and_its_knob(reference_models):
    """The HT40 model with its gain knob at 0.75 renders the target: it and 0.75 must be found."""
    ht40, meta = load_any(reference_models / "neuralpi_HT40_Overdrive.json")
    rate = int(meta["sample_rate"])
    audio = guitar_signal(1.5, rate, seed=9)
    y = run_model(ht40, np.stack([audio, np.full_like(audio, 0.75)], axis=1))
    clips = [Clip("guitar", audio[:, None], y, rate)]
    library = [reference_models / n for n in (
        "neuralpi_HT40_Overdrive.json", "neuralpi_BluesJr.json", "neuralpi_TS9.json",
        "neuralpi_TS9_FullD.json", "aidax_tw40_california_clean_deerinkstudios.json",
    )]
    ranking = rank_start_models(clips, library, seconds=1.5)
    assert ranking[0].path.endswith("neuralpi_HT40_Overdrive.json")
    assert ranking[0].knob_values == (0.75,)
    assert ranking[0].fitted_esr < 1e-6
    assert ranking[1].fitted_esr > 0.05


def test_a_model_that_fits_only_after_a_huge_gain_is_not_ranked_first(library):
    folder, models = library
    # The target is alpha 26 times louder. alpha fits it exactly, but only through that gain;
    # "loud", a perturbed alpha with a 26 times louder head, fits less well at its own level.
    loud = make_model(6, 1)
    with torch.no_grad():
        for p in loud.parameters():
            p.add_(0.03 * torch.randn_like(p))
        loud.head.weight.mul_(26.0)
        loud.head.bias.mul_(26.0)
    save_model(loud, folder / "loud.leanamp", {"sample_rate": RATE})
    ranking = rank_start_models(clips_from(models["alpha"], gain=26.0), folder, seconds=1.5)
    alpha = next(c for c in ranking if c.path.endswith("alpha.leanamp"))
    assert alpha.fitted_esr < 1e-6 and alpha.needs_big_gain
    assert "fits only after a gain of 26" in alpha.note
    assert ranking[0].path.endswith("loud.leanamp") and not ranking[0].needs_big_gain
    assert ranking[0].fitted_esr > alpha.fitted_esr  # ranked first despite fitting less well

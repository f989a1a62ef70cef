"""Mapping a start model onto the model to train: knob inputs, hidden size, residual, freezing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leanamp.data import Clip
from leanamp.errors import LeanampError
from leanamp.inference import run_model
from leanamp.losses import esr
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig, Trainer
from leanamp.transfer import (
    adapt_input_size,
    adapt_model,
    freeze,
    grow_hidden,
    shrink_hidden,
    unit_importance,
)

RATE = 8000


def signal(seconds: float, seed: int, knobs: tuple[float, ...] = ()) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    audio = (0.4 * np.sin(2 * np.pi * 110 * t) * np.exp(-t % 0.5 * 3)).astype(np.float32)
    audio += 0.05 * rng.standard_normal(n).astype(np.float32)
    columns = [audio] + [np.full(n, k, np.float32) for k in knobs]
    return np.stack(columns, axis=1)


def random_model(hidden: int, input_size: int = 1, residual: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    model = LSTMModel(hidden, input_size=input_size, residual=residual)
    with torch.no_grad():
        model.head.weight.mul_(3.0)  # make every unit matter audibly
    return model


def test_grow_keeps_output_identical_and_new_units_learn():
    small = random_model(6)
    x = signal(0.5, 1)
    grown = grow_hidden(small, 10, seed=3)
    assert grown.hidden_size == 10
    np.testing.assert_allclose(run_model(grown, x), run_model(small, x), atol=1e-6)
    # The new units are not dead: their head weights and recurrent weights get gradient.
    y, _ = grown.train()(torch.from_numpy(x)[None])
    y.pow(2).mean().backward()
    assert grown.head.weight.grad[0, 6:].abs().min() > 0
    w_hh_grad = grown.lstm.weight_hh_l0.grad.reshape(4, 10, 10)
    assert w_hh_grad[:, :6, 6:].abs().sum() > 0


def test_grow_refuses_to_shrink():
    with pytest.raises(LeanampError, match="shrink_hidden"):
        grow_hidden(random_model(6), 4)


def test_knob_input_fixed_at_a_value_is_folded_exactly():
    model = random_model(5, input_size=3)
    x = signal(0.3, 2, knobs=(0.2, 0.7))
    folded = adapt_input_size(model, 2, knob_values=[0.7])
    assert folded.input_size == 2
    np.testing.assert_allclose(run_model(folded, x[:, :2]), run_model(model, x), atol=1e-5)
    mono = adapt_input_size(model, 1, knob_values=[0.2, 0.7])
    np.testing.assert_allclose(run_model(mono, x[:, :1]), run_model(model, x), atol=1e-5)


def test_added_knob_inputs_start_with_no_effect():
    model = random_model(5)
    x = signal(0.3, 3)
    widened = adapt_input_size(model, 3)
    with_knobs = np.concatenate([x, np.full((len(x), 2), 0.9, np.float32)], axis=1)
    np.testing.assert_array_equal(run_model(widened, with_knobs), run_model(model, x))


def test_knob_values_must_match_the_dropped_knobs():
    model = random_model(4, input_size=3)
    with pytest.raises(LeanampError, match="give 2 value"):
        adapt_input_size(model, 1, knob_values=[0.5])
    with pytest.raises(LeanampError, match="0..1"):
        adapt_input_size(model, 2, knob_values=[1.5])


def test_shrink_drops_dead_units_exactly():
    model = random_model(8)
    with torch.no_grad():
        # Units 2 and 5 reach nothing: no head weight, no recurrent weight out of them.
        for unit in (2, 5):
            model.head.weight[0, unit] = 0.0
            model.lstm.weight_hh_l0[:, unit] = 0.0
    x = signal(0.5, 4)
    small = shrink_hidden(model, 6, x)
    assert small.hidden_size == 6
    np.testing.assert_allclose(run_model(small, x), run_model(model, x), atol=1e-5)


def test_shrink_cuts_the_least_important_units():
    model = random_model(8, seed=5)
    with torch.no_grad():
        # Units 1, 4, 6 barely reach the output.
        for unit in (1, 4, 6):
            model.head.weight[0, unit] *= 1e-3
            model.lstm.weight_hh_l0[:, unit] *= 1e-3
    x = signal(0.5, 6)
    importance = unit_importance(model, x)
    assert set(np.argsort(importance)[:3].tolist()) == {1, 4, 6}
    small = shrink_hidden(model, 5, x)
    assert small.hidden_size == 5
    reference = run_model(model, x)
    assert esr(run_model(small, x), reference) < 1e-4
    # Cutting important units instead costs far more.
    crude = shrink_hidden(model, 2, x)
    assert esr(run_model(crude, x), reference) > 100 * esr(run_model(small, x), reference)


def test_adapt_model_keeps_the_start_residual_unless_asked_otherwise():
    model = random_model(4, residual=False)
    assert adapt_model(model, 1).residual is False
    with pytest.raises(LeanampError, match="residual"):
        adapt_model(model, 1, residual=True)


def test_adapt_model_changes_knobs_and_size_together():
    model = random_model(6, input_size=2)
    x = signal(0.4, 7, knobs=(0.25,))
    adapted = adapt_model(model, 1, hidden_size=9, knob_values=[0.25])
    assert (adapted.input_size, adapted.hidden_size) == (1, 9)
    np.testing.assert_allclose(run_model(adapted, x[:, :1]), run_model(model, x), atol=1e-5)


def test_frozen_parts_stay_exactly_as_loaded_during_training():
    model = random_model(4)
    frozen = freeze(model, ["lstm"])
    assert set(frozen) == {n for n, _ in model.named_parameters() if n.startswith("lstm.")}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x = signal(1.0, 8)
    y = np.tanh(3 * x[:, 0]).astype(np.float32)
    clip = Clip("a", x, y, RATE)
    config = TrainConfig(segment_seconds=0.25, batch_size=4, max_epochs=1, accelerator="cpu")
    Trainer(model, [clip], [clip], config, progress=False).fit()
    for name, param in model.named_parameters():
        if name in frozen:
            assert torch.equal(param, before[name]), name
        else:
            assert not torch.equal(param, before[name]), name


def test_freeze_rejects_unknown_parts_and_freezing_everything():
    with pytest.raises(LeanampError, match="choose among"):
        freeze(random_model(3), ["decoder"])
    with pytest.raises(LeanampError, match="nothing to train"):
        freeze(random_model(3), ["lstm", "head"])


def test_grow_and_shrink_keep_the_initial_state_of_the_kept_units():
    model = random_model(6)
    rng = np.random.default_rng(4)
    model.set_start_state(rng.uniform(-0.5, 0.5, (1, 6)), rng.uniform(-1, 1, (1, 6)))
    x = signal(0.3, 2)
    grown = grow_hidden(model, 9, seed=1)
    assert torch.equal(grown.initial_hidden[:, :6], model.initial_hidden)
    assert not grown.initial_hidden[:, 6:].any() and not grown.initial_cell[:, 6:].any()
    np.testing.assert_allclose(run_model(grown, x), run_model(model, x), atol=1e-6)
    with torch.no_grad():  # unit 3 can no longer reach the output: shrinking drops it exactly
        model.head.weight[0, 3] = 0
        model.lstm.weight_hh_l0[:, 3] = 0
    shrunk = shrink_hidden(model, 5, x)
    kept = [0, 1, 2, 4, 5]
    assert torch.equal(shrunk.initial_cell, model.initial_cell[:, kept])
    np.testing.assert_allclose(run_model(shrunk, x), run_model(model, x), atol=1e-5)

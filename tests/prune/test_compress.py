import numpy as np
import pytest
import torch

from leanamp.errors import LeanampError
from leanamp.inference import run_model
from leanamp.models import LSTMModel
from leanamp.prune import (
    PruningMasks,
    compress,
    constant_units,
    count_parameters,
    effective_hidden_size,
    removable_units,
    summarize,
)
from leanamp.prune.compress import constant_unit_trajectories

H = 10


def pruned_model(seed: int = 0, sparsity: float = 0.85) -> LSTMModel:
    torch.manual_seed(seed)
    model = LSTMModel(hidden_size=H)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # larger weights than the init: a lively, nonlinear network
    PruningMasks.full(model).prune(model, sparsity).apply(model)
    return model


def unit_rows(unit: int) -> list[int]:
    return [g * H + unit for g in range(4)]


def guitar_like(seconds: float, rate: int = 8000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.4 * np.sin(2 * np.pi * 110 * t) * np.exp(-3 * (t % 0.5))
    x = x + 0.05 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def test_dead_units_are_removed_exactly():
    model = pruned_model()
    with torch.no_grad():
        # unit 2: no head weight and no outgoing recurrent weight -> cannot reach the output
        model.head.weight[0, 2] = 0
        model.lstm.weight_hh_l0[:, 2] = 0
        # unit 5 reaches the output only through unit 7 (head weight 0, feeds unit 7)
        model.head.weight[0, 5] = 0
        model.lstm.weight_hh_l0[:, 5] = 0
        model.lstm.weight_hh_l0[7 + 2 * H, 5] = 0.8
        model.head.weight[0, 7] = 0.5
        # unit 9 is silent: candidate gate all zero, so c = h = 0 from the zero state
        model.lstm.weight_ih_l0[9 + 2 * H] = 0
        model.lstm.weight_hh_l0[9 + 2 * H] = 0
        model.lstm.bias_ih_l0[9 + 2 * H] = 0
        model.lstm.bias_hh_l0[9 + 2 * H] = 0
    removable = removable_units(model)
    assert removable[2] and removable[9] and not removable[5] and not removable[7]
    small = compress(model)
    assert small.hidden_size == effective_hidden_size(model) == H - int(removable.sum())
    x = guitar_like(2.0)
    assert np.max(np.abs(run_model(small, x) - run_model(model, x))) < 1e-5


def test_compression_keeps_the_pruned_weights_pruned():
    # The trap in the paper's code: compressing from the unpruned copy brings pruned weights back.
    model = pruned_model(seed=1, sparsity=0.9)
    with torch.no_grad():
        model.head.weight[0, 3] = 0
        model.lstm.weight_hh_l0[:, 3] = 0
    small = compress(model)
    keep = np.flatnonzero(~removable_units(model))
    dense_live = count_parameters(model)["nonzero_parameters"]
    assert count_parameters(small)["nonzero_parameters"] <= dense_live
    rows = [g * H + u for g in range(4) for u in keep]  # gate-major, as PyTorch stacks them
    expected = model.lstm.weight_hh_l0.detach()[rows][:, keep]
    assert torch.equal(small.lstm.weight_hh_l0.detach(), expected)
    summary = summarize(model, small)
    assert summary.compressed_hidden_size == len(keep)
    assert summary.compressed_parameters < summary.parameters


def test_compressed_model_matches_on_real_audio(morphdrive):
    from leanamp.audio.io import read_audio

    audio = read_audio(morphdrive / "dry" / "guitar-funk2.mp3")
    x = audio.samples[: 3 * audio.sample_rate, 0]  # three seconds of real guitar at 48 kHz
    model = pruned_model(seed=2, sparsity=0.93)
    small = compress(model)
    assert small.hidden_size < H
    assert np.max(np.abs(run_model(small, x) - run_model(model, x))) < 1e-5


def constant_unit_model() -> LSTMModel:
    model = pruned_model(seed=3, sparsity=0.6)
    with torch.no_grad():
        for unit in (1, 4):  # no incoming weights, but they feed others and the head
            model.lstm.weight_hh_l0[:, unit] = 0.7
            model.lstm.weight_ih_l0[unit_rows(unit)] = 0
        for unit in (1, 4):
            model.lstm.weight_hh_l0[unit_rows(unit)] = 0
            model.head.weight[0, unit] = 0.9
            model.lstm.bias_ih_l0[unit_rows(unit)] = torch.tensor([1.0, -1.0, 1.5, 0.5])
    return model


def test_constant_units_fold_into_biases_exactly_once_settled():
    model = constant_unit_model()
    assert constant_units(model)[[1, 4]].all()
    trajectories = {u.unit: u for u in constant_unit_trajectories(model)}
    settle = max(trajectories[1].settle_samples, trajectories[4].settle_samples)
    assert 0 < settle < 200

    exact = compress(model)  # without folding: nothing input-less is dropped
    assert exact.hidden_size == effective_hidden_size(model)
    folded = compress(model, fold_constant_units=True, max_settle_samples=200)
    assert folded.hidden_size == exact.hidden_size - 2

    x = guitar_like(1.0, seed=1)
    reference = run_model(model, x)
    difference = np.abs(run_model(folded, x) - reference)
    # Not exact from a reset: the folded constants are the settled values, the real units start
    # at c = h = 0. The transient also perturbs the units they feed, which forget it at the
    # network's own pace; after that the outputs agree to float rounding.
    assert difference[:5].max() > 1e-3
    assert difference[200:].max() < 1e-5  # measured: from sample 50 on
    assert np.max(np.abs(run_model(exact, x) - reference)) < 1e-5


def test_slow_constant_units_are_not_folded():
    model = constant_unit_model()
    with torch.no_grad():
        model.lstm.bias_ih_l0[H + 1] = 12.0  # forget gate ~ 1: settles over ~1e5 samples
    folded = compress(model, fold_constant_units=True, max_settle_samples=200)
    assert folded.hidden_size == compress(model).hidden_size - 1


def test_multi_layer_models_are_refused_clearly():
    with pytest.raises(LeanampError, match="single-layer"):
        compress(LSTMModel(hidden_size=4, num_layers=2))


def test_a_unit_whose_candidate_biases_cancel_is_removed_exactly(rng):
    """g = tanh(b_ih + b_hh) = 0 with no weights: c and h stay 0, whatever the other gates do."""
    torch.manual_seed(0)
    model = LSTMModel(hidden_size=5)
    H, unit = 5, 3
    with torch.no_grad():
        g = 2 * H + unit
        model.lstm.weight_ih_l0[g] = 0.0
        model.lstm.weight_hh_l0[g] = 0.0
        model.lstm.bias_ih_l0[g] = 0.7
        model.lstm.bias_hh_l0[g] = -0.7
    assert effective_hidden_size(model) == 4
    small = compress(model)
    x = (0.3 * rng.standard_normal(4800)).astype(np.float32)
    assert small.hidden_size == 4
    assert np.max(np.abs(run_model(small, x) - run_model(model, x))) < 1e-6


def test_compression_cuts_the_initial_state_with_the_units():
    """A model with its own start state (an imported NAM LSTM): kept units keep theirs, so the
    compressed model equals the original from sample 0; a silent unit with a non-zero start
    state speaks until it decays, so it is live."""
    model = pruned_model(seed=1)
    rng = np.random.default_rng(2)
    model.set_start_state(rng.uniform(-0.5, 0.5, (1, H)), rng.uniform(-1, 1, (1, H)))
    with torch.no_grad():
        model.head.weight[0, 2] = 0  # unit 2 is dead
        model.lstm.weight_hh_l0[:, 2] = 0
        for row in (9 + 2 * H,):  # unit 9: silent candidate gate, but c0 != 0
            model.lstm.weight_ih_l0[row] = 0
            model.lstm.weight_hh_l0[row] = 0
            model.lstm.bias_ih_l0[row] = 0
            model.lstm.bias_hh_l0[row] = 0
    removable = removable_units(model)
    assert removable[2] and not removable[9]
    small = compress(model)
    kept = np.flatnonzero(~removable)
    assert torch.equal(small.initial_hidden, model.initial_hidden[:, kept])
    assert torch.equal(small.initial_cell, model.initial_cell[:, kept])
    x = guitar_like(0.5)
    assert np.max(np.abs(run_model(small, x) - run_model(model, x))) < 1e-5


def test_constant_units_settle_from_the_initial_state():
    model = constant_unit_model()
    from_zero = {u.unit: u for u in constant_unit_trajectories(model)}
    cell = torch.zeros(1, H)
    cell[0, 1] = 50.0  # far from its fixed point: it takes longer to settle
    model.set_start_state(torch.zeros(1, H), cell)
    from_state = {u.unit: u for u in constant_unit_trajectories(model)}
    assert from_state[1].settled_h == from_zero[1].settled_h
    assert from_state[1].settle_samples > from_zero[1].settle_samples
    assert from_state[4].settle_samples == from_zero[4].settle_samples

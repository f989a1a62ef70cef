"""Streaming LSTM kernels against the torch model: exactness, blocks, reset, compaction, sparse."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from leanamp.errors import LeanampError
from leanamp.models.lstm import LSTMModel, effective_hidden_sizes, live_units
from leanamp.runtime import SparseStreamingLSTM, StreamingLSTM, make_processor
from leanamp.runtime.activations import (
    FAST_SIGMOID_MAX_ABS_ERROR,
    FAST_TANH_MAX_ABS_ERROR,
)
from leanamp.runtime.simd import measure_activation_errors

RATE = 48000
TOLERANCE = 1e-4


def make_model(hidden, knobs=0, residual=True, layers=1, seed=0):
    torch.manual_seed(seed)
    model = LSTMModel(hidden, input_size=1 + knobs, residual=residual, num_layers=layers).eval()
    with torch.no_grad():  # trained-like magnitudes: larger than the default init
        for p in model.parameters():
            p.mul_(2.0)
    return model


def guitar_like(n, knobs=0, seed=0):
    """Decaying plucks plus noise, with slowly moving knob values (knobs may change per sample)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    pluck = 0.6 * np.sin(2 * np.pi * 110 * t) * np.exp(-3 * (t % 0.5))
    audio = pluck + 0.05 * rng.standard_normal(n)
    columns = [audio] + [0.5 + 0.5 * np.sin(2 * np.pi * (k + 1) * t) for k in range(knobs)]
    return np.stack(columns, axis=1).astype(np.float32)


def torch_output(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)[None])[0][0].numpy()


def stream(processor, x, block_sizes):
    out, start, i = [], 0, 0
    while start < x.shape[0]:
        size = block_sizes[i % len(block_sizes)]
        out.append(processor.process(x[start : start + size]))
        start += size
        i += 1
    return np.concatenate(out)


@pytest.mark.parametrize(
    "hidden, knobs, residual, layers",
    [(1, 0, True, 1), (7, 2, False, 1), (20, 1, True, 1), (20, 0, False, 1), (7, 1, True, 2)],
)
def test_matches_torch_over_two_seconds_in_both_modes(hidden, knobs, residual, layers):
    model = make_model(hidden, knobs, residual, layers)
    x = guitar_like(2 * RATE, knobs)
    reference = torch_output(model, x)
    assert np.std(reference) > 1e-3  # the model is doing something
    for exact in (True, False):
        processor = StreamingLSTM.from_model(model, exact=exact)
        y = stream(processor, x if knobs else x[:, 0], [256, 37, 1000])
        assert y.dtype == np.float32 and y.shape == reference.shape
        assert np.max(np.abs(y - reference)) < TOLERANCE, (exact, np.max(np.abs(y - reference)))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=8))
def test_any_block_split_gives_the_torch_output(block_sizes):
    model = make_model(12, knobs=1, seed=3)
    x = guitar_like(3000, knobs=1, seed=1)
    reference = torch_output(model, x)
    processor = StreamingLSTM.from_model(model)
    assert np.max(np.abs(stream(processor, x, block_sizes) - reference)) < TOLERANCE


def test_empty_block_and_reset_reproduce_a_fresh_run():
    model = make_model(9, knobs=1)
    x = guitar_like(4000, knobs=1)
    processor = StreamingLSTM.from_model(model)
    first = stream(processor, x, [128])
    assert processor.process(np.zeros((0, 2), np.float32)).shape == (0,)
    processor.reset()
    assert np.array_equal(stream(processor, x, [333]), first)
    h, c = processor.state()
    assert h.shape == (1, 9) and np.any(h != 0) and np.any(c != 0)


def test_wrong_block_shape_is_a_clear_error():
    processor = StreamingLSTM.from_model(make_model(4, knobs=2))
    with pytest.raises(LeanampError, match="3 input channels"):
        processor.process(np.zeros(16, np.float32))
    with pytest.raises(LeanampError, match=r"shape \(n, 3\)"):
        processor.process(np.zeros((16, 2), np.float32))
    # float64 or strided input is converted, not rejected
    x = guitar_like(64, knobs=2).astype(np.float64)
    assert processor.process(np.asfortranarray(x)).shape == (64,)


def test_unknown_kernel_is_a_clear_error():
    with pytest.raises(LeanampError, match="no streaming kernel 'nope'"):
        make_processor(make_model(4), kernel="nope")


def prune_units(model, dead_outputs=(), silent=()):
    """Zero the head weight and outgoing recurrent weights of `dead_outputs` (last layer), and
    all incoming candidate-gate weights and biases of `silent` units."""
    hidden = model.hidden_size
    with torch.no_grad():
        w_hh = model.lstm.weight_hh_l0
        for unit in dead_outputs:
            model.head.weight[0, unit] = 0
            w_hh[:, unit] = 0
        for unit in silent:
            row = 2 * hidden + unit
            model.lstm.weight_ih_l0[row] = 0
            w_hh[row] = 0
            model.lstm.bias_ih_l0[row] = 0
            model.lstm.bias_hh_l0[row] = 0
    return model


def test_compaction_drops_dead_units_and_keeps_the_output():
    model = prune_units(make_model(16, knobs=1), dead_outputs=[0, 3, 4, 9], silent=[5, 11])
    # unit 2: no head weight, but it feeds unit 7 through the recurrence, so it stays live
    with torch.no_grad():
        model.head.weight[0, 2] = 0
    assert effective_hidden_sizes(model) == [10]
    assert not live_units(model)[0][[0, 3, 4, 9, 5, 11]].any() and live_units(model)[0][2]
    x = guitar_like(RATE // 2, knobs=1)
    reference = torch_output(model, x)
    compact = StreamingLSTM.from_model(model)
    full = StreamingLSTM.from_model(model, compact=False)
    assert compact.hidden_sizes == [10] and full.hidden_sizes == [16]
    assert compact.nonzero_parameters < full.nonzero_parameters
    for processor in (compact, full):
        assert np.max(np.abs(stream(processor, x, [256]) - reference)) < TOLERANCE


def test_liveness_crosses_layers():
    model = make_model(6, layers=2)
    with torch.no_grad():
        model.lstm.weight_ih_l1[:, 4] = 0  # layer-0 unit 4 feeds nothing in layer 1 ...
        model.lstm.weight_hh_l0[:, 4] = 0  # ... nor any layer-0 unit
        model.head.weight[0, 1] = 0
        model.lstm.weight_hh_l1[:, 1] = 0  # layer-1 unit 1 reaches nothing
    assert effective_hidden_sizes(model) == [5, 5]
    x = guitar_like(8000)
    processor = StreamingLSTM.from_model(model)
    assert processor.hidden_sizes == [5, 5]
    assert np.max(np.abs(stream(processor, x, [100]) - torch_output(model, x))) < TOLERANCE


def test_model_with_a_zero_head_is_its_bias_plus_residual():
    model = make_model(8)
    with torch.no_grad():
        model.head.weight.zero_()
    processor = StreamingLSTM.from_model(model)
    assert processor.hidden_sizes == [0]
    x = guitar_like(1000)
    y = processor.process(x[:, 0])
    assert np.allclose(y, x[:, 0] + model.head.bias.item(), atol=1e-6)
    assert np.max(np.abs(y - torch_output(model, x))) < TOLERANCE


def randomly_pruned(hidden, sparsity, layers=1, knobs=0, seed=0):
    model = make_model(hidden, knobs=knobs, layers=layers, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.lstm.named_parameters():
            if "weight" in name:
                p.mul_((torch.rand(p.shape, generator=generator) >= sparsity).float())
    return model


@pytest.mark.parametrize("sparsity, layers, knobs", [(0.0, 1, 0), (0.8, 1, 2), (0.95, 2, 0)])
def test_sparse_equals_dense_on_a_pruned_model(sparsity, layers, knobs):
    model = randomly_pruned(24, sparsity, layers, knobs)
    x = guitar_like(RATE // 2, knobs)
    reference = torch_output(model, x)
    for exact in (True, False):
        dense = stream(StreamingLSTM.from_model(model, exact=exact), x, [256])
        sparse_processor = SparseStreamingLSTM.from_model(model, exact=exact)
        sparse = stream(sparse_processor, x, [256, 7])
        assert np.max(np.abs(sparse - dense)) < 1e-5
        assert np.max(np.abs(sparse - reference)) < TOLERANCE
    stored = sparse_processor.stored_weights
    lstm_weights = sum(
        int(torch.count_nonzero(p)) for n, p in model.lstm.named_parameters() if "weight" in n
    )
    assert stored <= lstm_weights  # only non-zeros are stored (fewer if units were compacted)
    assert make_processor(model, kernel="lstm-sparse").hidden_sizes == sparse_processor.hidden_sizes


def test_fast_activations_are_within_their_stated_bounds():
    errors = measure_activation_errors(points=1 << 20)
    assert errors["tanh"] <= FAST_TANH_MAX_ABS_ERROR
    assert errors["sigmoid"] <= FAST_SIGMOID_MAX_ABS_ERROR
    assert errors["tanh"] > 0  # it is an approximation: the measurement sees it


def test_fast_mode_stays_close_to_exact_mode_on_a_large_model():
    model = make_model(64, knobs=1)
    x = guitar_like(RATE, knobs=1)
    exact = stream(StreamingLSTM.from_model(model, exact=True), x, [512])
    fast = stream(StreamingLSTM.from_model(model, exact=False), x, [512])
    difference = np.max(np.abs(fast - exact))
    assert 0 < difference < TOLERANCE


def test_the_models_initial_state_is_the_start_and_the_reset_state():
    model = prune_units(make_model(10, layers=1), dead_outputs=[1], silent=[6])
    rng = np.random.default_rng(5)
    h0 = torch.from_numpy(rng.uniform(-0.5, 0.5, (1, 10)).astype(np.float32))
    c0 = torch.from_numpy(rng.uniform(-1, 1, (1, 10)).astype(np.float32))
    x = guitar_like(6000)
    # unit 6 is silent only from a zero start: with c0 != 0 it decays but still speaks
    assert effective_hidden_sizes(model) == [8]
    model.set_start_state(h0, c0)
    assert effective_hidden_sizes(model) == [9]
    with torch.no_grad():
        reference = model(torch.from_numpy(x)[None])[0][0].numpy()
        given = model(torch.from_numpy(x)[None], (h0[:, None], c0[:, None]))[0][0].numpy()
    assert np.array_equal(reference, given)  # no state given: the model's own
    for kernel in ("lstm", "lstm-sparse"):
        processor = make_processor(model, kernel=kernel)
        assert processor.hidden_sizes == [9]
        first = stream(processor, x[:, 0], [300])
        assert np.max(np.abs(first - reference)) < TOLERANCE
        processor.reset()
        assert np.array_equal(stream(processor, x[:, 0], [77]), first)
    with pytest.raises(LeanampError, match="initial LSTM state"):
        model.set_start_state(np.zeros(3), np.zeros(10))


@pytest.mark.shared
@pytest.mark.parametrize(
    "name",
    ["neuralpi_HT40_Overdrive.json", "agm_DS1_parameterized_lstm20_in3.json", "nam/lstm.nam"],
)
def test_trained_reference_models_stream_like_torch(name, reference_models):
    from leanamp.formats import load_any

    model, _ = load_any(reference_models / name)
    x = guitar_like(2 * RATE, knobs=model.input_size - 1)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)[None])[0][0].numpy()
    for exact in (True, False):
        processor = make_processor(model, exact=exact)
        y = stream(processor, x if model.input_size > 1 else x[:, 0], [256, 64])
        assert np.max(np.abs(y - reference)) < TOLERANCE


@settings(max_examples=6, deadline=None)
@given(st.integers(min_value=1, max_value=136), st.sampled_from([True, False]))
def test_any_hidden_size_streams_like_torch_in_both_kernels(hidden, sparse):
    # every padded size compiles its own fast kernel (up to 128 units), with its own register
    # layout; the sparse kernel takes the same sizes by column
    model = make_model(hidden, seed=hidden)
    x = guitar_like(RATE // 10, seed=hidden)
    kernel = SparseStreamingLSTM if sparse else StreamingLSTM
    got = stream(kernel.from_model(model, exact=False), x[:, 0], [300, 1, 97])
    assert np.max(np.abs(got - torch_output(model, x))) < TOLERANCE


@pytest.mark.parametrize(
    "hidden, layers, knobs", [(3, 1, 0), (16, 1, 1), (21, 2, 0), (128, 1, 0), (131, 1, 0)]
)
def test_both_fast_kernels_match_torch(hidden, layers, knobs):
    # fast mode up to 128 units runs the kernel compiled per padded size (8, 16, 24 and 128
    # units here); 131 units, padded to 136, the per-block kernel
    model = make_model(hidden, knobs=knobs, layers=layers, seed=hidden)
    x = guitar_like(RATE // 2, knobs, seed=hidden)
    processor = StreamingLSTM.from_model(model, exact=False)
    got = stream(processor, x if knobs else x[:, 0], [256, 1, 777])
    assert np.max(np.abs(got - torch_output(model, x))) < TOLERANCE
    processor.reset()
    assert np.array_equal(stream(processor, x if knobs else x[:, 0], [64]), got)

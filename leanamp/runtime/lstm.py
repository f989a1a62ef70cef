"""Dense streaming LSTM: numba kernels that run a whole block per call, state carried across calls.

Per sample and layer: z = [input, h(t-1)], gates = b + W z with W = [W_ih | W_hh] (4H x (in+H)),
then the cell. Chosen for speed at the small sizes pruning produces: float32 throughout; the two
PyTorch biases pre-added; hidden units padded to a multiple of 8 (zero weights, never read); the
gate product is the register-blocked code of `leanamp.runtime.simd` (no per-element memory
traffic, no runtime overlap checks). In the fast mode the gate sums and the cells run in vector
registers (rational activations, `leanamp.runtime.activations`), up to 128 units in a kernel
compiled for the padded size, above it block by block of 8 units; in the exact mode the gates
are stored and the cell calls libm's tanhf/expf one unit at a time, which costs several times
more. State and scratch buffers are allocated once.

`compact=True` (the default) drops the hidden units that cannot affect the output (see
`live_units`), so a pruned model costs what its effective size costs; the output is unchanged.

Single-threaded by construction: the kernels use no prange, so numba's threading layer never
starts; one call uses one core, as a plugin's audio thread does. Kernels are compiled on first use
and cached on disk (numba cache=True), so later processes load them instead of compiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import literally, njit, typeof, types

from leanamp.errors import LeanampError
from leanamp.models.lstm import (
    LSTMModel,
    gate_rows,
    live_units,
    lstm_weights,
    start_state_arrays,
)
from leanamp.runtime.activations import exact_sigmoid, exact_tanh
from leanamp.runtime.base import as_input_block
from leanamp.runtime.simd import (
    LANES,
    MAX_SIZED_BLOCKS,
    block_gate_order,
    cache_aligned,
    fused_fast_step,
    fused_fast_step_sized,
    gate_matvec,
    pack_gate_weights,
    pack_gate_weights_by_input,
)

# meta columns, one row per layer
_N_IN, _HIDDEN = range(2)


@njit(cache=True, inline="always")
def _exact_cell(gates, h, c, layer, hidden):
    """LSTM cell from stored gate pre-activations gates[unit block, gate i/f/g/o, lane], libm
    functions (scalar)."""
    for u in range(hidden):
        b = u // LANES
        j = u % LANES
        i = exact_sigmoid(gates[b, 0, j])
        f = exact_sigmoid(gates[b, 1, j])
        g = exact_tanh(gates[b, 2, j])
        o = exact_sigmoid(gates[b, 3, j])
        cu = f * c[layer, u] + i * g
        c[layer, u] = cu
        h[layer, u] = o * exact_tanh(cu)


@njit(cache=True, inline="always")
def _dense_run(x, out, wt, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual, fast):
    """gates (4 Hp,) and gates3 (Hp / 8, 4, 8) are two views of one scratch buffer; z (R,)."""
    last = meta.shape[0] - 1
    for t in range(x.shape[0]):
        for layer in range(meta.shape[0]):
            n_in = meta[layer, _N_IN]
            hidden = meta[layer, _HIDDEN]
            # z = [layer input at t, own hidden state at t - 1]; Hp floats of room after the input
            # The layer's input at t: the frame for layer 0, else the layer below's h. Written
            # out in each kernel: as an inlined helper it made the kernels 1.3-1.4x slower
            # (LSTM-8 and -32, fast mode, interleaved runs).
            if layer == 0:
                for k in range(n_in):
                    z[k] = x[t, k]
            else:
                for k in range(n_in):
                    z[k] = h[layer - 1, k]
            if fast:  # copies h(t - 1) into z itself, as vectors
                fused_fast_step(bias, wt, layer, z, n_in + hidden, h, c, hidden)
            else:
                for k in range(hidden):
                    z[n_in + k] = h[layer, k]
                gate_matvec(gates, bias, wt, layer, z, n_in + hidden, hidden)
                _exact_cell(gates3, h, c, layer, hidden)
        out[t] = _head(x, t, head_w, head_b, h, last, meta[last, _HIDDEN], residual)


# Reassociation lets LLVM split the head's dot product over several vector accumulators instead
# of one serial chain of additions (which cost 4 cycles per unit).
@njit(cache=True, inline="never", fastmath={"reassoc", "nsz"})
def _head(x, t, head_w, head_b, h, last, hidden, residual):
    y = np.float32(0.0)
    for u in range(hidden):
        y += head_w[u] * h[last, u]
    y += head_b[0]
    if residual:
        y += x[t, 0]
    return y


@njit(cache=True, nogil=True)
def dense_lstm_exact(x, out, wt, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual):
    _dense_run(x, out, wt, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual, False)


@njit(cache=True, nogil=True)
def dense_lstm_fast(x, out, wt, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual):
    _dense_run(x, out, wt, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual, True)


@njit(cache=True, nogil=True)
def dense_lstm_fast_sized(x, out, wk, bias, head_w, head_b, h, c, z, meta, residual, n_blocks):
    """The fast mode compiled for one padded hidden size (n_blocks = Hp / 8, a compile-time
    constant: numba compiles and caches one kernel per size); every layer runs all Hp units
    (padding units have zero weights and stay at zero)."""
    padded = h.shape[1]
    last = meta.shape[0] - 1
    for t in range(x.shape[0]):
        for layer in range(meta.shape[0]):
            n_in = meta[layer, _N_IN]
            if layer == 0:  # the layer's input at t, written out (see _dense_run)
                for k in range(n_in):
                    z[k] = x[t, k]
            else:
                for k in range(n_in):
                    z[k] = h[layer - 1, k]
            fused_fast_step_sized(bias, wk, layer, z, n_in + padded, h, c, literally(n_blocks))
        out[t] = _head(x, t, head_w, head_b, h, last, meta[last, _HIDDEN], residual)


def _sized_entry_point(args):
    """The compiled `dense_lstm_fast_sized` for this size, to call without numba's dispatcher:
    a literal argument sends every dispatcher call through its slow compile-or-find path."""
    signature = tuple(typeof(a) for a in args[:-1]) + (types.literal(args[-1]),)
    dense_lstm_fast_sized.compile(signature)  # or loads it from numba's on-disk cache
    return dense_lstm_fast_sized.overloads[signature].entry_point


def _check_model(model) -> None:
    if not isinstance(model, LSTMModel):
        raise LeanampError(f"expected an LSTMModel, got {type(model).__name__}")
    lstm = model.lstm
    if lstm.bidirectional or getattr(lstm, "proj_size", 0) or not lstm.bias or not lstm.batch_first:
        raise LeanampError(
            "the streaming LSTM supports unidirectional, batch-first LSTMs with biases and no "
            "projection"
        )


@dataclass
class LSTMWeights:
    """What a streaming LSTM kernel needs, in float64: per layer (W_ih (4H, in), W_hh (4H, H),
    b_ih + b_hh (4H,)) in PyTorch gate order i, f, g, o; the head; the start state per layer."""

    layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    head_w: np.ndarray
    head_b: float
    h0: list[np.ndarray]
    c0: list[np.ndarray]
    input_size: int
    residual: bool

    @property
    def hidden_sizes(self) -> list[int]:
        return [int(w_hh.shape[1]) for _, w_hh, _ in self.layers]

    def parameter_counts(self) -> tuple[int, int]:
        """(all, non-zero) weights and biases, head included."""
        arrays = [a for layer in self.layers for a in layer] + [self.head_w]
        total = sum(a.size for a in arrays) + 1
        nonzero = sum(int(np.count_nonzero(a)) for a in arrays) + int(self.head_b != 0)
        return total, nonzero

    def check(self) -> None:
        n_in = self.input_size
        for index, (w_ih, w_hh, b) in enumerate(self.layers):
            hidden = w_hh.shape[1]
            if (
                w_ih.shape != (4 * hidden, n_in)
                or w_hh.shape != (4 * hidden, hidden)
                or b.shape != (4 * hidden,)
                or self.h0[index].shape != (hidden,)
                or self.c0[index].shape != (hidden,)
            ):
                raise LeanampError(
                    f"layer {index}: inconsistent LSTM weight shapes {w_ih.shape}, {w_hh.shape}"
                )
            n_in = hidden
        if self.head_w.shape != (n_in,):
            raise LeanampError(f"head weight of shape {self.head_w.shape}, expected ({n_in},)")

    @classmethod
    def from_model(cls, model: LSTMModel, compact: bool = True):
        """The model's weights and initial state, restricted to its live units when `compact`."""
        _check_model(model)
        layers = lstm_weights(model)
        h0, c0 = start_state_arrays(model)
        head_w = model.head.weight.detach().cpu().double().numpy().reshape(-1)
        head_b = float(model.head.bias.detach().cpu().double().numpy().reshape(-1)[0])
        if not compact:
            return cls(layers, head_w, head_b, list(h0), list(c0), model.input_size, model.residual)
        kept, kept_h0, kept_c0 = [], [], []
        previous = None
        for index, ((w_ih, w_hh, b), mask) in enumerate(
            zip(layers, live_units(model), strict=True)
        ):
            units = np.flatnonzero(mask)
            rows = gate_rows(units, w_hh.shape[1])
            w_ih = w_ih[rows]
            if previous is not None:
                w_ih = w_ih[:, previous]
            kept.append((w_ih, w_hh[np.ix_(rows, units)], b[rows]))
            kept_h0.append(h0[index, units])
            kept_c0.append(c0[index, units])
            previous = units
        return cls(
            kept, head_w[previous], head_b, kept_h0, kept_c0, model.input_size, model.residual
        )


class StreamingLSTMBase:
    """State, head and interface shared by the dense and sparse streaming LSTMs."""

    architecture = "lstm"

    def __init__(self, weights: LSTMWeights, exact: bool = True, sample_rate: float | None = None):
        weights.check()
        self.input_size = int(weights.input_size)
        self.residual = bool(weights.residual)
        self.exact = bool(exact)
        self.sample_rate = sample_rate
        self.hidden_sizes = weights.hidden_sizes
        self.parameters, self.nonzero_parameters = weights.parameter_counts()
        n_layers = len(weights.layers)
        # Hidden units padded to a multiple of 8 so the 4 Hp gates form whole groups of 32 for
        # gate_matvec; padding units have zero weights, biases and state, and stay at zero.
        self._padded = padded = -(-max(self.hidden_sizes + [1]) // LANES) * LANES
        self._meta = np.zeros((n_layers, 2), dtype=np.int64)
        self._bias = np.zeros((n_layers, 4, padded), dtype=np.float32)
        self._h0 = np.zeros((n_layers, padded), dtype=np.float32)
        self._c0 = np.zeros((n_layers, padded), dtype=np.float32)
        n_in = self.input_size
        for index, (_, _, b) in enumerate(weights.layers):
            hidden = self.hidden_sizes[index]
            self._meta[index] = (n_in, hidden)
            self._bias[index, :, :hidden] = b.reshape(4, hidden)
            self._h0[index, :hidden] = weights.h0[index]
            self._c0[index, :hidden] = weights.c0[index]
            n_in = hidden
        # gate rows in the kernels' unit-block layout (see leanamp.runtime.simd)
        self._gate_order = block_gate_order(padded)
        self._bias = np.ascontiguousarray(
            self._bias.reshape(n_layers, 4 * padded)[:, self._gate_order]
        )
        self._head_w = np.zeros(padded, dtype=np.float32)
        self._head_w[:n_in] = weights.head_w
        self._head_b = np.array([weights.head_b], dtype=np.float32)
        self._h = self._h0.copy()
        self._c = self._c0.copy()
        self._z = np.zeros(max(self.input_size, padded) + padded, dtype=np.float32)
        self._gates = np.zeros(4 * padded, dtype=np.float32)
        self._gates3 = self._gates.reshape(padded // LANES, 4, LANES)

    @classmethod
    def from_model(
        cls,
        model: LSTMModel,
        exact: bool = True,
        compact: bool = True,
        sample_rate: float | None = None,
    ):
        """Build from an `LSTMModel`. `compact` drops units that cannot affect the output; the
        model's initial state is the state at time 0 and after every reset."""
        weights = LSTMWeights.from_model(model, compact)
        return cls(weights, exact=exact, sample_rate=sample_rate)

    @property
    def hidden_size(self) -> int:
        """Hidden units the kernel computes in its last layer (the effective size if compacted)."""
        return self.hidden_sizes[-1]

    def reset(self) -> None:
        self._h[:] = self._h0
        self._c[:] = self._c0

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the (h, c) state, shape (layers, kernel hidden size)."""
        size = max(self.hidden_sizes)
        return self._h[:, :size].copy(), self._c[:, :size].copy()


class StreamingLSTM(StreamingLSTMBase):
    """Streaming dense LSTM (any hidden size, any number of layers, knobs, residual on or off).

    Matches the torch model to float32 rounding with `exact=True` (libm tanh and exp). With
    `exact=False` it uses the fast rational activations (see `leanamp.runtime.activations` for their
    stated error bounds); the kernel is otherwise the same.
    """

    def __init__(self, weights: LSTMWeights, exact: bool = True, sample_rate: float | None = None):
        super().__init__(weights, exact, sample_rate)
        padded, n_rows = self._padded, self._z.shape[0]
        dense = np.zeros((len(weights.layers), 4, padded, n_rows), dtype=np.float32)
        for index, (w_ih, w_hh, _) in enumerate(weights.layers):
            n_in, hidden = self._meta[index]
            dense[index, :, :hidden, :n_in] = w_ih.reshape(4, hidden, n_in)
            dense[index, :, :hidden, n_in : n_in + hidden] = w_hh.reshape(4, hidden, hidden)
        dense = dense.reshape(len(weights.layers), 4 * padded, n_rows)[:, self._gate_order]
        # the fast mode of up to MAX_SIZED_BLOCKS unit blocks runs a kernel compiled for its size
        sized = not self.exact and padded <= MAX_SIZED_BLOCKS * LANES
        self._n_blocks = padded // LANES if sized else 0
        pack = pack_gate_weights_by_input if self._n_blocks else pack_gate_weights
        self._wt = cache_aligned(np.stack([pack(w) for w in dense]))
        self._kernel = dense_lstm_exact if self.exact else dense_lstm_fast
        self._sized = None

    def process(self, block: np.ndarray) -> np.ndarray:
        x = as_input_block(block, self.input_size)
        out = np.empty(x.shape[0], dtype=np.float32)
        if self._n_blocks:
            args = (
                x, out, self._wt, self._bias, self._head_w, self._head_b, self._h, self._c,
                self._z, self._meta, self.residual, self._n_blocks,
            )  # fmt: skip
            if self._sized is None:
                self._sized = _sized_entry_point(args)
            self._sized(*args)
            return out
        self._kernel(
            x, out, self._wt, self._bias, self._head_w, self._head_b, self._h, self._c,
            self._z, self._gates, self._gates3, self._meta, self.residual,
        )  # fmt: skip
        return out


def build_processor(model, exact: bool = True, **options) -> StreamingLSTM:
    return StreamingLSTM.from_model(model, exact=exact, **options)


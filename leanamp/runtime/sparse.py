"""Sparse streaming LSTM: gate weights in compressed-sparse-row form, for the paper's Fig. 8.

Each layer's concatenated matrix [W_ih | W_hh] (4H rows, in + H columns) is stored as CSR: per gate
row, the non-zero weights and their column indices. The matrix-vector product then costs one
multiply-add per non-zero but gathers its inputs through an index, which is why a dense kernel
stays faster until most weights are zero (Südholt et al. 2022, Fig. 8). The cell, head and state
handling are those of the dense kernel; `compact` drops dead units as there.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from leanamp.runtime.base import as_input_block
from leanamp.runtime.lstm import (
    LSTMWeights,
    StreamingLSTMBase,
    _exact_cell,
    _head,
)
from leanamp.runtime.simd import GROUP, LANES, fast_cell

_ONE, _TWO, _THREE, _FOUR = (np.uint64(n) for n in (1, 2, 3, 4))


@njit(cache=True, inline="always")
def _sparse_run(
    x, out, data, indices, indptr, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual,
    fast,
):  # fmt: skip
    last = meta.shape[0] - 1
    for t in range(x.shape[0]):
        for layer in range(meta.shape[0]):
            n_in = meta[layer, 0]
            hidden = meta[layer, 1]
            if layer == 0:  # the layer's input at t, written out (see lstm._dense_run)
                for k in range(n_in):
                    z[k] = x[t, k]
            else:
                for k in range(n_in):
                    z[k] = h[layer - 1, k]
            for k in range(hidden):
                z[n_in + k] = h[layer, k]
            for r in range(GROUP * ((hidden + LANES - 1) // LANES)):
                # Four partial sums: independent add chains instead of one (an add waits for
                # the previous one otherwise). Unsigned positions and indices: numba adds no
                # negative-index handling.
                start = np.uint64(indptr[layer, r])
                end = np.uint64(indptr[layer, r + 1])
                a0 = a1 = a2 = a3 = np.float32(0.0)
                p = start
                while p + _FOUR <= end:
                    a0 += data[p] * z[indices[p]]
                    a1 += data[p + _ONE] * z[indices[p + _ONE]]
                    a2 += data[p + _TWO] * z[indices[p + _TWO]]
                    a3 += data[p + _THREE] * z[indices[p + _THREE]]
                    p += _FOUR
                while p < end:
                    a0 += data[p] * z[indices[p]]
                    p += _ONE
                gates[r] = bias[layer, r] + ((a0 + a1) + (a2 + a3))
            if fast:
                fast_cell(gates, h, c, layer, hidden)
            else:
                _exact_cell(gates3, h, c, layer, hidden)
        out[t] = _head(x, t, head_w, head_b, h, last, meta[last, 1], residual)


@njit(cache=True, nogil=True)
def sparse_lstm_exact(
    x, out, data, indices, indptr, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual
):
    _sparse_run(
        x, out, data, indices, indptr, bias, head_w, head_b, h, c, z, gates, gates3, meta,
        residual, False,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def sparse_lstm_fast(
    x, out, data, indices, indptr, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual
):
    _sparse_run(
        x, out, data, indices, indptr, bias, head_w, head_b, h, c, z, gates, gates3, meta,
        residual, True,
    )  # fmt: skip


class SparseStreamingLSTM(StreamingLSTMBase):
    """Streaming LSTM whose gate matrices are stored as CSR; same interface as StreamingLSTM."""

    def __init__(self, weights: LSTMWeights, exact: bool = True, sample_rate: float | None = None):
        super().__init__(weights, exact, sample_rate)
        padded = self._padded
        n_layers = len(weights.layers)
        self._indptr = np.zeros((n_layers, 4 * padded + 1), dtype=np.uint32)
        data, indices = [], []
        n_nonzero = 0
        for index, (w_ih, w_hh, _) in enumerate(weights.layers):
            n_in, hidden = self._meta[index]
            # Rows in the kernels' unit-block gate layout; padding rows are empty.
            full = np.zeros((4, padded, n_in + hidden), dtype=np.float32)
            full[:, :hidden] = np.concatenate([w_ih, w_hh], axis=1).reshape(4, hidden, -1)
            full = full.reshape(4 * padded, -1)[self._gate_order]
            rows, cols = np.nonzero(full)
            data.append(full[rows, cols])
            indices.append(cols.astype(np.uint32))
            self._indptr[index, 0] = n_nonzero
            self._indptr[index, 1:] = n_nonzero + np.cumsum(np.bincount(rows, minlength=4 * padded))
            n_nonzero += rows.size
        self.stored_weights = n_nonzero
        self._data = np.ascontiguousarray(np.concatenate(data), dtype=np.float32)
        self._indices = np.ascontiguousarray(np.concatenate(indices), dtype=np.uint32)
        self._kernel = sparse_lstm_exact if self.exact else sparse_lstm_fast

    def process(self, block: np.ndarray) -> np.ndarray:
        x = as_input_block(block, self.input_size)
        out = np.empty(x.shape[0], dtype=np.float32)
        self._kernel(
            x, out, self._data, self._indices, self._indptr, self._bias, self._head_w,
            self._head_b, self._h, self._c, self._z, self._gates, self._gates3, self._meta,
            self.residual,
        )  # fmt: skip
        return out


def build_processor(model, exact: bool = True, **options) -> SparseStreamingLSTM:
    return SparseStreamingLSTM.from_model(model, exact=exact, **options)


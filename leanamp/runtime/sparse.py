"""Sparse streaming LSTM: gate weights in compressed-sparse-column form, for the paper's Fig. 8.

Each layer's concatenated matrix [W_ih | W_hh] (4H rows, in + H columns) is stored as CSC: per
input column k, the non-zero weights and their gate rows. The matrix-vector product starts from
the biases and adds z[k] times column k into the gates, one multiply-add per non-zero scattered
through a row index, so it costs the non-zeros plus one step per column; a dense kernel stays
faster until most weights are zero (Südholt et al. 2022, Fig. 8). Why columns, not rows: the
kernel only pays at very high sparsity, where most gate rows are empty and a row-wise (CSR) loop
pays a step for each of the 4H rows but there are only in + H columns. Measured interleaved,
LSTM-64, fast mode, thread CPU: at 99% sparsity CSC 0.025, CSR 0.041, dense 0.040; at 95% 0.067,
0.053, 0.032; at 50% 0.47, 0.23, 0.038 (CSR's four register sums beat the scattered adds there,
but neither comes near the dense kernel); `bench_runtime.py` (2026-12-01 23:12) has CSC ahead of
the dense kernel from 99% in fast mode (0.023 against 0.033) and from 98% in exact mode. The cell,
head and state handling are those of the dense kernel; `compact` drops dead units as there.
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


@njit(cache=True, inline="always")
def _sparse_run(
    x, out, data, rows, colptr, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual, fast
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
                gates[r] = bias[layer, r]
            for k in range(n_in + hidden):
                zk = z[k]
                for p in range(colptr[layer, k], colptr[layer, k + 1]):
                    gates[rows[p]] += data[p] * zk
            if fast:
                fast_cell(gates, h, c, layer, hidden)
            else:
                _exact_cell(gates3, h, c, layer, hidden)
        out[t] = _head(x, t, head_w, head_b, h, last, meta[last, 1], residual)


@njit(cache=True, nogil=True)
def sparse_lstm_exact(
    x, out, data, rows, colptr, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual
):
    _sparse_run(
        x, out, data, rows, colptr, bias, head_w, head_b, h, c, z, gates, gates3, meta,
        residual, False,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def sparse_lstm_fast(
    x, out, data, rows, colptr, bias, head_w, head_b, h, c, z, gates, gates3, meta, residual
):
    _sparse_run(
        x, out, data, rows, colptr, bias, head_w, head_b, h, c, z, gates, gates3, meta,
        residual, True,
    )  # fmt: skip


class SparseStreamingLSTM(StreamingLSTMBase):
    """Streaming LSTM whose gate matrices are stored as CSC; same interface as StreamingLSTM."""

    def __init__(self, weights: LSTMWeights, exact: bool = True, sample_rate: float | None = None):
        super().__init__(weights, exact, sample_rate)
        padded = self._padded
        n_layers = len(weights.layers)
        n_columns = self._z.shape[0]
        self._colptr = np.zeros((n_layers, n_columns + 1), dtype=np.intp)
        data, rows = [], []
        n_nonzero = 0
        for index, (w_ih, w_hh, _) in enumerate(weights.layers):
            n_in, hidden = self._meta[index]
            # Rows in the kernels' unit-block gate layout; padding rows are empty.
            full = np.zeros((4, padded, n_in + hidden), dtype=np.float32)
            full[:, :hidden] = np.concatenate([w_ih, w_hh], axis=1).reshape(4, hidden, -1)
            full = full.reshape(4 * padded, -1)[self._gate_order]
            columns, gate_rows = np.nonzero(full.T)  # column by column, rows ascending in each
            data.append(full[gate_rows, columns])
            rows.append(gate_rows)
            counts = np.bincount(columns, minlength=n_columns)
            self._colptr[index, 0] = n_nonzero
            self._colptr[index, 1:] = n_nonzero + np.cumsum(counts)
            n_nonzero += gate_rows.size
        self.stored_weights = n_nonzero
        self._data = np.ascontiguousarray(np.concatenate(data), dtype=np.float32)
        self._rows = np.ascontiguousarray(np.concatenate(rows), dtype=np.intp)
        self._kernel = sparse_lstm_exact if self.exact else sparse_lstm_fast

    def process(self, block: np.ndarray) -> np.ndarray:
        x = as_input_block(block, self.input_size)
        out = np.empty(x.shape[0], dtype=np.float32)
        self._kernel(
            x, out, self._data, self._rows, self._colptr, self._bias, self._head_w,
            self._head_b, self._h, self._c, self._z, self._gates, self._gates3, self._meta,
            self.residual,
        )  # fmt: skip
        return out


def build_processor(model, exact: bool = True, **options) -> SparseStreamingLSTM:
    return SparseStreamingLSTM.from_model(model, exact=exact, **options)


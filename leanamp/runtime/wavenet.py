"""Streaming WaveNet (NAM layer arrays): a numba kernel with one ring buffer per dilated layer.

Every layer keeps the last dilation * (kernel_size - 1) values of its input (the residual stream
entering it) in a channel-major ring buffer, so any block size works. A block is processed layer
by layer, channel-major: the taps of a dilated conv are gathered into contiguous rows (from the
ring for times before the block, from the block itself after), and every inner loop runs over
the block's samples, which LLVM vectorizes; four source rows are accumulated per pass so each
load and store of the output row serves four multiply-adds. Weights are stored once, at full
width, in torch's layout; running at width c reads the first c rows and columns (the slicing of
`WaveNet.set_width`, including NAM's first-2c-rows rule for gated layers). Per-sample cost
falls with the block size until about 256 samples; a 1-sample block works but pays the loop
overheads on every sample.

Start and reset: the torch model sees zero input before time 0, so internal values before time 0
are the network's constant response to silence, not zeros. `reset` computes that steady state
in one pass (with constant input every tap of a dilated conv sees the same value) and fills the
ring buffers with it.

Width changes between blocks. Truncating the buffers is NOT exact: residual channel j of layer
l is a function of all channels of layer l - 1 through the 1x1 and dilated convolutions, so the
history a width-c' network would have computed differs from the history the width-c network
did compute, in every channel, not only in the added or removed ones. Two policies:
  * `recompute_history=True` (default): the kernel keeps the last receptive_field - 1 input
    samples and replays them at the new width from the steady state. Afterwards the state is
    exactly the one a model run at the new width from the start would have (the state at time t
    depends only on inputs t - R + 1 .. t - 1), so the output equals that model sample for sample.
    Cost: one-off compute of R - 1 samples at the new width inside `set_width`.
  * `recompute_history=False`: the buffers are reused as they are. The output is exact again
    once R - 1 samples have been processed after the switch; before that it mixes histories
    computed at the old width (a transient of up to R - 1 samples, about 85 ms for NAM's
    standard preset at 48 kHz). No extra compute.

Single-threaded by construction, as `leanamp.runtime.lstm`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numba import njit

from leanamp.errors import LeanampError
from leanamp.runtime.activations import exact_sigmoid, exact_tanh, fast_sigmoid, fast_tanh
from leanamp.runtime.base import as_input_block

ACTIVATION_CODES = {
    "Tanh": 0,
    "ReLU": 1,
    "Sigmoid": 2,
    "Hardtanh": 3,
    "LeakyReLU": 4,
    "SiLU": 5,
    "Softsign": 6,
}

# arr_meta columns
_C, _HEAD_FULL, _FIRST, _N_LAYERS, _OFF_RECH, _OFF_HEAD_W, _OFF_HEAD_B, _GATED, _ACT = range(9)
# lay_meta columns
_DIL, _K, _OFF_W, _OFF_B, _OFF_MIX, _OFF_1X1_W, _OFF_1X1_B, _RING_OFF, _RING_LEN = range(9)


@njit(cache=True, inline="always")
def _activate(v, code, fast):
    if code == 0:
        return fast_tanh(v) if fast else exact_tanh(v)
    if code == 1:
        return max(v, np.float32(0.0))
    if code == 2:
        return fast_sigmoid(v) if fast else exact_sigmoid(v)
    if code == 3:
        return min(max(v, np.float32(-1.0)), np.float32(1.0))
    if code == 4:
        return v if v >= 0 else np.float32(0.01) * v
    if code == 5:
        return v * (fast_sigmoid(v) if fast else exact_sigmoid(v))
    return v / (np.float32(1.0) + abs(v))


@njit(cache=True)
def _wavenet_block(
    xt, out, params, arr_meta, lay_meta, ring, ring_pos, widths, head_scale,
    z, z_prev, u, a, head, head_out, taps, fast,
):  # fmt: skip
    """Process a block: xt (input_size, n) channel-major input into out (n,).

    Layer by layer over the whole block, channel-major, so every inner loop runs over contiguous
    time samples (long, vectorizable) instead of over a handful of channels."""
    n_arrays = arr_meta.shape[0]
    n_in = xt.shape[0]
    n = xt.shape[1]
    for ai in range(n_arrays):
        c_full = arr_meta[ai, _C]
        c = widths[ai]
        gated = arr_meta[ai, _GATED] != 0
        act = arr_meta[ai, _ACT]
        c_mid = 2 * c if gated else c
        # rechannel (1x1, no bias) of the raw input or of the previous array's stream
        off = arr_meta[ai, _OFF_RECH]
        c_in = n_in if ai == 0 else widths[ai - 1]
        in_full = n_in if ai == 0 else arr_meta[ai - 1, _C]
        for o in range(c):
            for t in range(n):
                z[o, t] = 0.0
            for i in range(c_in):
                w = params[off + o * in_full + i]
                if ai == 0:
                    for t in range(n):
                        z[o, t] += w * xt[i, t]
                else:
                    for t in range(n):
                        z[o, t] += w * z_prev[i, t]
        for o in range(c):
            for t in range(n):
                head[o, t] = 0.0 if ai == 0 else head_out[o, t]
        first = arr_meta[ai, _FIRST]
        for li in range(first, first + arr_meta[ai, _N_LAYERS]):
            d = lay_meta[li, _DIL]
            k_size = lay_meta[li, _K]
            ring_off = lay_meta[li, _RING_OFF]
            ring_len = lay_meta[li, _RING_LEN]
            pos = ring_pos[li]  # column of the oldest remembered time
            off_w = lay_meta[li, _OFF_W]
            off_b = lay_meta[li, _OFF_B]
            off_mix = lay_meta[li, _OFF_MIX]
            # Gather every tap into contiguous source rows, row k * c + i = channel i delayed by
            # (K - 1 - k) * d, once per layer: time before the block comes from the ring (oldest
            # at column pos), the rest from z.
            for k in range(k_size):
                back = (k_size - 1 - k) * d
                n_old = min(back, n)
                col = pos + ring_len - back
                if col >= ring_len:
                    col -= ring_len
                first_run = min(n_old, ring_len - col)
                for i in range(c):
                    tap = taps[k * c + i]
                    if n_old > 0:
                        ring_row = ring[ring_off + i * ring_len : ring_off + (i + 1) * ring_len]
                        seg = ring_row[col : col + first_run]
                        for t in range(first_run):
                            tap[t] = seg[t]
                        wrapped = ring_row[: n_old - first_run]
                        tap_wrapped = tap[first_run:n_old]
                        for t in range(n_old - first_run):
                            tap_wrapped[t] = wrapped[t]
                    z_row = z[i]
                    tap_new = tap[n_old:]
                    for t in range(n - n_old):
                        tap_new[t] = z_row[t]
            # u = bias + mixer(x) + weighted sum of the source rows, four rows per pass so each
            # load/store of u serves four multiply-adds. Row views and loop counters from 0 keep
            # indices provably non-negative: no wraparound selects, vectorized time loops.
            n_src = k_size * c
            for o in range(c_mid):
                u_row = u[o]
                b = params[off_b + o]
                for t in range(n):
                    u_row[t] = b
                for j in range(n_in):
                    w = params[off_mix + o * n_in + j]
                    x_row = xt[j]
                    for t in range(n):
                        u_row[t] += w * x_row[t]
                w_row = off_w + o * c_full * k_size
                r = 0
                while r + 4 <= n_src:
                    w0 = params[w_row + (r % c) * k_size + r // c]
                    w1 = params[w_row + ((r + 1) % c) * k_size + (r + 1) // c]
                    w2 = params[w_row + ((r + 2) % c) * k_size + (r + 2) // c]
                    w3 = params[w_row + ((r + 3) % c) * k_size + (r + 3) // c]
                    s0, s1, s2, s3 = taps[r], taps[r + 1], taps[r + 2], taps[r + 3]
                    for t in range(n):
                        u_row[t] += w0 * s0[t] + w1 * s1[t] + w2 * s2[t] + w3 * s3[t]
                    r += 4
                while r < n_src:
                    w = params[w_row + (r % c) * k_size + r // c]
                    s0 = taps[r]
                    for t in range(n):
                        u_row[t] += w * s0[t]
                    r += 1
            for o in range(c):
                a_row, u_row, h_row = a[o], u[o], head[o]
                for t in range(n):
                    a_row[t] = _activate(u_row[t], act, fast)
                if gated:
                    g_row = u[c + o]
                    for t in range(n):
                        g = g_row[t]
                        a_row[t] *= fast_sigmoid(g) if fast else exact_sigmoid(g)
                for t in range(n):
                    h_row[t] += a_row[t]
            # remember this layer's input (the last ring_len samples), oldest first
            if ring_len > 0:
                n_keep = min(n, ring_len)
                start = pos if n < ring_len else 0
                for i in range(c):
                    row = ring_off + i * ring_len
                    if n >= ring_len:
                        for j in range(ring_len):
                            ring[row + j] = z[i, n - ring_len + j]
                    else:
                        col = start
                        for t in range(n):
                            ring[row + col] = z[i, t]
                            col += 1
                            if col == ring_len:
                                col = 0
                new_pos = 0 if n >= ring_len else (pos + n_keep) % ring_len
                ring_pos[li] = new_pos
            # residual stream update
            off_1 = lay_meta[li, _OFF_1X1_W]
            off_1b = lay_meta[li, _OFF_1X1_B]
            for o in range(c):
                z_row = z[o]
                b = params[off_1b + o]
                w_row = off_1 + o * c_full
                i = 0
                while i + 4 <= c:
                    w0, w1 = params[w_row + i], params[w_row + i + 1]
                    w2, w3 = params[w_row + i + 2], params[w_row + i + 3]
                    a0, a1, a2, a3 = a[i], a[i + 1], a[i + 2], a[i + 3]
                    for t in range(n):
                        z_row[t] += w0 * a0[t] + w1 * a1[t] + w2 * a2[t] + w3 * a3[t]
                    i += 4
                while i < c:
                    w0 = params[w_row + i]
                    a0 = a[i]
                    for t in range(n):
                        z_row[t] += w0 * a0[t]
                    i += 1
                for t in range(n):
                    z_row[t] += b
        # head rechannel: to the next array's head width, or to the single output channel
        h = widths[ai + 1] if ai + 1 < n_arrays else 1
        off_hw = arr_meta[ai, _OFF_HEAD_W]
        off_hb = arr_meta[ai, _OFF_HEAD_B]
        for o in range(h):
            b = params[off_hb + o] if off_hb >= 0 else np.float32(0.0)
            for t in range(n):
                head_out[o, t] = b
            for i in range(c):
                w = params[off_hw + o * c_full + i]
                for t in range(n):
                    head_out[o, t] += w * head[i, t]
        for o in range(c):
            for t in range(n):
                z_prev[o, t] = z[o, t]
    for t in range(n):
        out[t] = head_scale * head_out[0, t]


class StreamingWaveNet:
    """Streaming NAM WaveNet with a width that can change between blocks (slimmable models).

    `exact=True` uses libm tanh/exp (matches torch to float32 rounding); `exact=False` the fast
    rational activations of `leanamp.runtime.activations` (their stated error bounds apply).
    """

    architecture = "wavenet"
    latency_samples = 0

    def __init__(self, model, exact: bool = True, sample_rate: float | None = None):
        if getattr(model, "architecture", None) != "wavenet":
            raise LeanampError(
                f"StreamingWaveNet needs a WaveNet model, got {type(model).__name__}"
            )
        self.exact = bool(exact)
        self.sample_rate = sample_rate
        self.input_size = int(model.input_size)
        self.receptive_field = int(model.receptive_field)
        self.channels = tuple(int(c) for c in model.channels)
        self._array_widths = model.array_widths
        self._build(model)
        self._widths = np.array(model.width, dtype=np.int64)
        self._history = np.zeros((self.receptive_field - 1, self.input_size), dtype=np.float32)
        self.reset()

    @classmethod
    def from_model(cls, model, exact: bool = True, sample_rate: float | None = None):
        return cls(model, exact=exact, sample_rate=sample_rate)

    def _build(self, model) -> None:
        chunks: list[np.ndarray] = []
        size = 0

        def put(tensor) -> int:
            # torch layout, row-major: conv (out, in, k), 1x1 (out, in)
            nonlocal size
            flat = _w(tensor).reshape(-1)
            chunks.append(flat)
            size += flat.size
            return size - flat.size

        arrays = list(model.arrays)
        arr_meta = np.zeros((len(arrays), 9), dtype=np.int64)
        lay_rows = []
        ring_size = 0
        tap_rows = 0
        for ai, arr in enumerate(arrays):
            c = arr.channels
            hr = arr.head_rechannel
            arr_meta[ai, _C] = c
            arr_meta[ai, _HEAD_FULL] = hr.out_channels
            arr_meta[ai, _FIRST] = len(lay_rows)
            arr_meta[ai, _N_LAYERS] = len(arr.dilations)
            arr_meta[ai, _OFF_RECH] = put(arr.rechannel.weight)
            arr_meta[ai, _GATED] = int(arr.gated)
            arr_meta[ai, _ACT] = ACTIVATION_CODES[model.layer_configs[ai]["activation"]]
            for conv, mixer, one, d in zip(
                arr.convs, arr.mixers, arr.one_by_ones, arr.dilations, strict=True
            ):
                k = conv.kernel_size[0]
                row = np.zeros(9, dtype=np.int64)
                row[_DIL], row[_K] = d, k
                row[_OFF_W] = put(conv.weight)
                row[_OFF_B] = put(conv.bias)
                row[_OFF_MIX] = put(mixer.weight)
                row[_OFF_1X1_W] = put(one.weight)
                row[_OFF_1X1_B] = put(one.bias)
                row[_RING_OFF] = ring_size
                row[_RING_LEN] = d * (k - 1)
                ring_size += d * (k - 1) * c
                tap_rows = max(tap_rows, k * c)
                lay_rows.append(row)
            arr_meta[ai, _OFF_HEAD_W] = put(hr.weight)
            arr_meta[ai, _OFF_HEAD_B] = -1 if hr.bias is None else put(hr.bias)
        self._params = np.concatenate(chunks)
        self._arr_meta = arr_meta
        self._lay_meta = np.stack(lay_rows)
        self._ring = np.zeros(max(ring_size, 1), dtype=np.float32)
        self._ring_pos = np.zeros(len(lay_rows), dtype=np.int64)
        self._head_scale = np.float32(float(model.head_scale))
        self._rows = max(2 * c for c in self.channels)
        self._tap_rows = max(1, tap_rows)
        self._capacity = 0
        self._ensure_capacity(256)
        self.parameters = int(model.num_nam_weights())

    def _ensure_capacity(self, n: int) -> None:
        # Scratch buffers are (rows, capacity); grown only when a longer block arrives.
        if n <= self._capacity:
            return
        self._capacity = max(n, 2 * self._capacity)
        shape = (self._rows, self._capacity)
        self._z, self._z_prev, self._u, self._a, self._head, self._head_out = (
            np.zeros(shape, np.float32) for _ in range(6)
        )
        self._taps = np.zeros((self._tap_rows, self._capacity), np.float32)

    # ---- state -------------------------------------------------------------------------------
    def _run(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        out = np.empty(n, dtype=np.float32)
        if n == 0:
            return out
        self._ensure_capacity(n)
        xt = np.ascontiguousarray(x.T)
        _wavenet_block(
            xt, out, self._params, self._arr_meta, self._lay_meta, self._ring, self._ring_pos,
            self._widths, self._head_scale, self._z, self._z_prev, self._u, self._a, self._head,
            self._head_out, self._taps, not self.exact,
        )  # fmt: skip
        return out

    def _fill_steady_state(self) -> None:
        """Fill every ring with the layer's constant input under silence (at the current width).

        With constant input every tap of a dilated conv sees the same vector, so one pass of
        matrix-vector products gives each layer's steady input exactly."""
        p, act_fast = self._params, not self.exact
        z_prev = np.zeros(0, np.float32)
        for ai in range(len(self._arr_meta)):
            meta = self._arr_meta[ai]
            c_full, c = int(meta[_C]), int(self._widths[ai])
            gated = bool(meta[_GATED])
            c_mid_full, c_mid = (2 * c_full, 2 * c) if gated else (c_full, c)
            if ai == 0:
                z = np.zeros(c, np.float32)  # rechannel has no bias: silence maps to zero
            else:
                in_full = int(self._arr_meta[ai - 1, _C])
                rech = p[meta[_OFF_RECH] : meta[_OFF_RECH] + c_full * in_full]
                z = rech.reshape(c_full, in_full)[:c, : len(z_prev)] @ z_prev
            first = int(meta[_FIRST])
            for li in range(first, first + int(meta[_N_LAYERS])):
                row = self._lay_meta[li]
                k = int(row[_K])
                w = p[row[_OFF_W] : row[_OFF_W] + c_mid_full * c_full * k]
                w = w.reshape(c_mid_full, c_full, k)[:c_mid, :c].sum(axis=2)
                u = w @ z + p[row[_OFF_B] : row[_OFF_B] + c_mid]
                a = _activate_numpy(u[:c], int(meta[_ACT]), act_fast)
                if gated:
                    a = a * _activate_numpy(u[c:c_mid], 2, act_fast)
                ring_len = int(row[_RING_LEN])
                ring = self._ring[row[_RING_OFF] : row[_RING_OFF] + c_full * ring_len]
                ring.reshape(c_full, ring_len)[:c] = z[:, None]
                self._ring_pos[li] = 0
                w1 = p[row[_OFF_1X1_W] : row[_OFF_1X1_W] + c_full * c_full]
                z = z + w1.reshape(c_full, c_full)[:c, :c] @ a + p[
                    row[_OFF_1X1_B] : row[_OFF_1X1_B] + c
                ]
                z = z.astype(np.float32)
            z_prev = z

    def reset(self) -> None:
        """Back to silence before time 0, keeping the current width."""
        self._history.fill(0.0)
        self._fill_steady_state()

    @property
    def widths(self) -> tuple[int, ...]:
        """Current per-array widths."""
        return tuple(int(w) for w in self._widths)

    def set_width(
        self, c: int | Sequence[int] | None, recompute_history: bool = True
    ) -> None:
        """Run the following blocks at width `c` (as WaveNet.set_width; None = full width).

        With `recompute_history` the output from here on equals the model run at width `c` from
        the start; without it, it does so after receptive_field - 1 samples (see module doc).
        """
        try:
            widths = self._array_widths(c)
        except ValueError as e:
            raise LeanampError(f"width {c!r}: {e}") from None
        if widths == self.widths:
            return
        self._widths[:] = widths
        if recompute_history:
            self._fill_steady_state()
            self._run(self._history)

    def process(self, block: np.ndarray) -> np.ndarray:
        x = as_input_block(block, self.input_size)
        out = self._run(x)
        self._remember(x)
        return out

    def _remember(self, x: np.ndarray) -> None:
        keep = len(self._history)
        n = x.shape[0]
        if keep == 0 or n == 0:
            return
        if n >= keep:
            self._history[:] = x[n - keep :]
        else:
            self._history[: keep - n] = self._history[n:]
            self._history[keep - n :] = x

    @property
    def macs_per_sample(self) -> int:
        """Multiply-adds per sample at the current width (for the real-time-factor tables)."""
        total = 0
        n = len(self.channels)
        for ai in range(n):
            c = int(self._widths[ai])
            c_in = self.input_size if ai == 0 else int(self._widths[ai - 1])
            gated = bool(self._arr_meta[ai, _GATED])
            c_mid = 2 * c if gated else c
            h = int(self._widths[ai + 1]) if ai + 1 < n else 1
            first = int(self._arr_meta[ai, _FIRST])
            total += c_in * c + c * h
            for li in range(first, first + int(self._arr_meta[ai, _N_LAYERS])):
                k = int(self._lay_meta[li, _K])
                total += k * c * c_mid + self.input_size * c_mid + c * c
        return total


def _activate_numpy(v: np.ndarray, code: int, fast: bool) -> np.ndarray:
    out = np.empty_like(v)
    for i in range(v.shape[0]):
        out[i] = _activate(v[i], code, fast)
    return out


def _w(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", dtype=torch.float32).numpy()


def build_processor(model, exact: bool = True, **options) -> StreamingWaveNet:
    return StreamingWaveNet(model, exact=exact, **options)


__all__ = ["ACTIVATION_CODES", "StreamingWaveNet"]

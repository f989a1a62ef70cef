# long: one numba kernel for both WaveNet layouts (tiled block products, history buffers, widths).
"""Streaming NAM WaveNets (leanamp's WaveNet and NAM 0.7's NamWaveNet, e.g. A2): numba kernels
that compute every convolution of a block as one matrix product over the block's samples.

Per layer array (input x, condition c = the model input), as in NAM:
    z = rechannel(x);  head = previous array's head output (0 for the first array)
    per layer (kernel K, dilation d):  u = sum_j W_j z(t - (K - 1 - j) d) + b + mixer(c)
        a = act(u[:B])  or gated: act(u[:B]) * gate(u[B:2B])        (B: bottleneck, = channels)
        head += a;  z = z + layer1x1(a)
    head_out = head_rechannel over its K_h taps of the head sum;  output = head_scale * head_out.

Layout, chosen for speed: every layer keeps its input z in a linear history buffer (channels x
columns): the newest samples are written after the history, so each tap of the dilated conv is
a contiguous view of the buffer and a block needs no gathering; when a buffer fills, its last
d (K - 1) columns move to the front (amortised: at most one column copied per sample). The
residual update writes straight into the next layer's buffer. Weights are packed once per width,
row-major with the taps side by side (W[o, j * C + i]), and every product runs as 4 output rows x
4 source rows per pass over the samples: each loaded sample serves four multiply-adds and each
output row is loaded and stored once per four sources; the loops over samples are contiguous
and LLVM vectorizes them. Blocks longer than `CHUNK` samples are run in chunks (the output does
not depend on the split). The fast activations are the rational ones of
`leanamp.runtime.activations`, inlined so that the loops over samples vectorize.

Start and reset: the torch models see zero input before time 0, so the values before time 0 are
the network's constant response to silence, not zeros. `reset` computes that steady state in one
pass (with constant input every tap sees the same value) and fills the history buffers with it.

Width changes between blocks (slimmable WaveNets). Truncating the buffers is NOT exact: residual
channel j of layer l depends on all channels of layer l - 1, so the history a width-c' network
would have computed differs from the one the width-c network did compute, in every channel. Two
policies:
  * `recompute_history=True` (default): the processor keeps the last receptive_field - 1 input
    samples and replays them at the new width from the steady state. Afterwards the state is
    exactly the one a model run at the new width from the start would have, so the output equals
    that model sample for sample. Cost: one-off compute of R - 1 samples inside `set_width`.
  * `recompute_history=False`: the buffers (allocated at full width) are reused as they are. The
    output is exact again once R - 1 samples have passed; before that it mixes histories computed
    at the old width (a transient of up to R - 1 samples, about 85 ms for NAM's standard preset).
Weights at a width are NAM's slicing (`WaveNet.sliced`): first c rows and columns, the first 2c
rows of a gated conv.

Single-threaded by construction, as `leanamp.runtime.lstm`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from numba import njit

from leanamp.errors import LeanampError
from leanamp.models.nam_wavenet import FILM_KEYS
from leanamp.runtime.activations import exact_sigmoid, exact_tanh, fast_sigmoid, fast_tanh
from leanamp.runtime.base import as_input_block
from leanamp.runtime.simd import cache_aligned

ACTIVATION_CODES = {
    "Tanh": 0,
    "ReLU": 1,
    "Sigmoid": 2,
    "Hardtanh": 3,
    "LeakyReLU": 4,
    "SiLU": 5,
    "Softsign": 6,
}
NO_GATE = -1
CHUNK = 256  # samples per pass; longer blocks are split (scratch is CHUNK columns wide)

# arr_meta columns
(
    _C, _B, _HEAD_OUT, _HEAD_K, _C_IN, _FIRST, _N_LAYERS, _OFF_RECH, _OFF_HEAD_W, _OFF_HEAD_B,
    _HBUF_OFF, _HBUF_ROWS, _HBUF_COLS,
) = range(13)  # fmt: skip
# lay_meta columns
(
    _DIL, _K, _MID, _OFF_W, _OFF_B, _OFF_MIX, _OFF_1X1_W, _OFF_1X1_B, _BUF_OFF, _BUF_ROWS,
    _BUF_COLS, _ACT, _GATE,
) = range(13)  # fmt: skip


@njit(cache=True, inline="always", error_model="numpy")
def _activate(v, code, p0, p1, fast):
    """Activation `code` (ACTIVATION_CODES) of v; p0, p1: LeakyReLU slope, Hardtanh min/max."""
    if code == 0:
        return fast_tanh(v) if fast else exact_tanh(v)
    if code == 1:
        return max(v, np.float32(0.0))
    if code == 2:
        return fast_sigmoid(v) if fast else exact_sigmoid(v)
    if code == 3:
        return min(max(v, p0), p1)
    if code == 4:
        return v if v >= 0 else p0 * v
    if code == 5:
        return v * (fast_sigmoid(v) if fast else exact_sigmoid(v))
    return v / (np.float32(1.0) + abs(v))


@njit(cache=True, inline="always", error_model="numpy")
def _activate_row(src, dst, n, code, p0, p1, fast):
    # One loop per activation (the branch hoisted out of it) so that each loop vectorizes.
    if code == 0:
        if fast:
            for t in range(n):
                dst[t] = fast_tanh(src[t])
        else:
            for t in range(n):
                dst[t] = exact_tanh(src[t])
    elif code == 1:
        for t in range(n):
            dst[t] = max(src[t], np.float32(0.0))
    elif code == 4:
        for t in range(n):
            v = src[t]
            dst[t] = v if v >= 0 else p0 * v
    else:
        for t in range(n):
            dst[t] = _activate(src[t], code, p0, p1, fast)


@njit(cache=True, inline="always", error_model="numpy")
def _source_row(src, scol, src_rows, step, r, n):
    """Source row r of `_matmul_acc`: n samples of row r % src_rows from column
    scol + (r // src_rows) * step."""
    c = scol + (r // src_rows) * step
    return src[r % src_rows, c : c + n]


@njit(cache=True, inline="always", error_model="numpy")
def _source_rows4(src, scol, src_rows, step, r, n):
    """Source rows r .. r + 3 of `_matmul_acc` (one register tile's inputs)."""
    return (
        _source_row(src, scol, src_rows, step, r, n),
        _source_row(src, scol, src_rows, step, r + 1, n),
        _source_row(src, scol, src_rows, step, r + 2, n),
        _source_row(src, scol, src_rows, step, r + 3, n),
    )


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _matmul_acc(dst, dcol, n_out, w, w_off, src, scol, src_rows, step, n_src, n):
    """dst[o, dcol:dcol+n] += sum_r W[o, r] src_r for o < n_out, W row-major (n_out, n_src) at
    w[w_off:], source r = row r % src_rows of `src` from column scol + (r // src_rows) * step.

    4 x 4 register tiles: each pass over the samples does 16 multiply-adds per sample."""
    o = 0
    while o + 4 <= n_out:
        d0 = dst[o, dcol : dcol + n]
        d1 = dst[o + 1, dcol : dcol + n]
        d2 = dst[o + 2, dcol : dcol + n]
        d3 = dst[o + 3, dcol : dcol + n]
        r = 0
        while r + 4 <= n_src:
            s0, s1, s2, s3 = _source_rows4(src, scol, src_rows, step, r, n)
            k = w_off + o * n_src + r
            a0, a1, a2, a3 = w[k], w[k + 1], w[k + 2], w[k + 3]
            k += n_src
            b0, b1, b2, b3 = w[k], w[k + 1], w[k + 2], w[k + 3]
            k += n_src
            e0, e1, e2, e3 = w[k], w[k + 1], w[k + 2], w[k + 3]
            k += n_src
            f0, f1, f2, f3 = w[k], w[k + 1], w[k + 2], w[k + 3]
            for t in range(n):
                x0, x1, x2, x3 = s0[t], s1[t], s2[t], s3[t]
                d0[t] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                d1[t] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3
                d2[t] += e0 * x0 + e1 * x1 + e2 * x2 + e3 * x3
                d3[t] += f0 * x0 + f1 * x1 + f2 * x2 + f3 * x3
            r += 4
        while r < n_src:
            s0 = _source_row(src, scol, src_rows, step, r, n)
            k = w_off + o * n_src + r
            a0, b0, e0, f0 = w[k], w[k + n_src], w[k + 2 * n_src], w[k + 3 * n_src]
            for t in range(n):
                x0 = s0[t]
                d0[t] += a0 * x0
                d1[t] += b0 * x0
                d2[t] += e0 * x0
                d3[t] += f0 * x0
            r += 1
        o += 4
    while o < n_out:
        d0 = dst[o, dcol : dcol + n]
        r = 0
        while r + 4 <= n_src:
            s0, s1, s2, s3 = _source_rows4(src, scol, src_rows, step, r, n)
            k = w_off + o * n_src + r
            a0, a1, a2, a3 = w[k], w[k + 1], w[k + 2], w[k + 3]
            for t in range(n):
                d0[t] += a0 * s0[t] + a1 * s1[t] + a2 * s2[t] + a3 * s3[t]
            r += 4
        while r < n_src:
            s0 = _source_row(src, scol, src_rows, step, r, n)
            a0 = w[w_off + o * n_src + r]
            for t in range(n):
                d0[t] += a0 * s0[t]
            r += 1
        o += 1


@njit(cache=True, inline="always", error_model="numpy")
def _fill_rows(dst, dcol, rows, n, params, off):
    """dst[o, dcol:dcol+n] = params[off + o] (a bias; zero when off < 0)."""
    for o in range(rows):
        v = params[off + o] if off >= 0 else np.float32(0.0)
        row = dst[o, dcol : dcol + n]
        for t in range(n):
            row[t] = v


@njit(cache=True, inline="always", error_model="numpy")
def _make_room(buf, pos, i, off, rows, cols, keep, n):
    """Buffer i: (rows, cols) at buf[off:]; if n more columns do not fit after pos, move the last
    `keep` columns to the front. Returns the buffer as 2-D and the write position."""
    b2 = buf[off : off + rows * cols].reshape(rows, cols)
    p = pos[i]
    if p + n > cols:
        for row in range(rows):
            line = b2[row]
            for j in range(keep):
                line[j] = line[p - keep + j]
        p = keep
        pos[i] = p
    return b2, p


@njit(cache=True, error_model="numpy")
def _wavenet_chunk(
    xt, n, params, act_params, arr_meta, lay_meta, buf, pos, hpos, u, a, z_out, head_out, fast
):
    """One chunk (n <= CHUNK samples): xt (input_size, CHUNK) channel-major input; leaves the
    last array's head output in head_out[0, :n]."""
    n_in = xt.shape[0]
    for ai in range(arr_meta.shape[0]):
        c = arr_meta[ai, _C]
        bneck = arr_meta[ai, _B]
        c_in = arr_meta[ai, _C_IN]
        first = arr_meta[ai, _FIRST]
        last = first + arr_meta[ai, _N_LAYERS] - 1
        head_k = arr_meta[ai, _HEAD_K]
        hbuf, hp = _make_room(
            buf, hpos, ai, arr_meta[ai, _HBUF_OFF], arr_meta[ai, _HBUF_ROWS],
            arr_meta[ai, _HBUF_COLS], head_k - 1, n,
        )  # fmt: skip
        # head sum starts from the previous array's head output
        for o in range(bneck):
            row = hbuf[o, hp : hp + n]
            if ai == 0:
                for t in range(n):
                    row[t] = 0.0
            else:
                prev = head_out[o]
                for t in range(n):
                    row[t] = prev[t]
        # z of the first layer = rechannel(input), written into that layer's buffer
        zbuf, zp = _make_room(
            buf, pos, first, lay_meta[first, _BUF_OFF], lay_meta[first, _BUF_ROWS],
            lay_meta[first, _BUF_COLS], lay_meta[first, _DIL] * (lay_meta[first, _K] - 1), n,
        )  # fmt: skip
        _fill_rows(zbuf, zp, c, n, params, -1)
        if ai == 0:
            _matmul_acc(zbuf, zp, c, params, arr_meta[ai, _OFF_RECH], xt, 0, n_in, 0, c_in, n)
        else:
            _matmul_acc(zbuf, zp, c, params, arr_meta[ai, _OFF_RECH], z_out, 0, c_in, 0, c_in, n)
        for li in range(first, last + 1):
            d = lay_meta[li, _DIL]
            k_size = lay_meta[li, _K]
            mid = lay_meta[li, _MID]
            history = d * (k_size - 1)
            # u = bias + mixer(condition) + dilated conv over the taps (views of the buffer)
            _fill_rows(u, 0, mid, n, params, lay_meta[li, _OFF_B])
            _matmul_acc(u, 0, mid, params, lay_meta[li, _OFF_MIX], xt, 0, n_in, 0, n_in, n)
            _matmul_acc(
                u, 0, mid, params, lay_meta[li, _OFF_W], zbuf, zp - history, c, d, k_size * c, n
            )
            code = lay_meta[li, _ACT]
            gate = lay_meta[li, _GATE]
            p0, p1 = act_params[li, 0], act_params[li, 1]
            for o in range(bneck):
                a_row = a[o]
                _activate_row(u[o], a_row, n, code, p0, p1, fast)
                if gate != NO_GATE:
                    g_row = u[bneck + o]
                    _activate_row(g_row, g_row, n, gate, act_params[li, 2], act_params[li, 3],
                                  fast)  # fmt: skip
                    for t in range(n):
                        a_row[t] *= g_row[t]
                h_row = hbuf[o, hp : hp + n]
                for t in range(n):
                    h_row[t] += a_row[t]
            # residual: next layer's input (into its buffer) = z + layer1x1(a)
            if li < last:
                nbuf, np_ = _make_room(
                    buf, pos, li + 1, lay_meta[li + 1, _BUF_OFF], lay_meta[li + 1, _BUF_ROWS],
                    lay_meta[li + 1, _BUF_COLS],
                    lay_meta[li + 1, _DIL] * (lay_meta[li + 1, _K] - 1), n,
                )  # fmt: skip
            else:
                nbuf, np_ = z_out, 0
            off_b1 = lay_meta[li, _OFF_1X1_B]
            for o in range(c):
                src = zbuf[o, zp : zp + n]
                dst = nbuf[o, np_ : np_ + n]
                b1 = params[off_b1 + o]
                for t in range(n):
                    dst[t] = src[t] + b1
            _matmul_acc(nbuf, np_, c, params, lay_meta[li, _OFF_1X1_W], a, 0, bneck, 0, bneck, n)
            pos[li] = zp + n
            zbuf, zp = nbuf, np_
        # head output: head rechannel over its taps of the head sum
        h_out = arr_meta[ai, _HEAD_OUT]
        _fill_rows(head_out, 0, h_out, n, params, arr_meta[ai, _OFF_HEAD_B])
        _matmul_acc(
            head_out, 0, h_out, params, arr_meta[ai, _OFF_HEAD_W], hbuf, hp - (head_k - 1),
            bneck, 1, head_k * bneck, n,
        )  # fmt: skip
        hpos[ai] = hp + n


@njit(cache=True, nogil=True, error_model="numpy")
def wavenet_block(
    x, out, params, act_params, arr_meta, lay_meta, buf, pos, hpos, head_scale,
    xt, u, a, z_out, head_out, fast,
):  # fmt: skip
    """Process x (n, input_size) into out (n,), CHUNK samples at a time."""
    total = x.shape[0]
    n_in = x.shape[1]
    chunk = xt.shape[1]
    start = 0
    while start < total:
        n = min(chunk, total - start)
        for i in range(n_in):
            for t in range(n):
                xt[i, t] = x[start + t, i]
        _wavenet_chunk(
            xt, n, params, act_params, arr_meta, lay_meta, buf, pos, hpos, u, a, z_out,
            head_out, fast,
        )  # fmt: skip
        for t in range(n):
            out[start + t] = head_scale * head_out[0, t]
        start += n


def _activation_spec(spec) -> tuple[int, float, float]:
    """(code, p0, p1) of an activation name or NAM 0.7 spec {"type": name, **params}."""
    name, params = (spec, {}) if isinstance(spec, str) else (spec["type"], spec)
    if name not in ACTIVATION_CODES:
        raise LeanampError(f"activation {name!r} has no streaming kernel")
    if name == "LeakyReLU":
        return ACTIVATION_CODES[name], float(params.get("negative_slope", 0.01)), 0.0
    if name == "Hardtanh":
        return (ACTIVATION_CODES[name], float(params.get("min_val", -1.0)),
                float(params.get("max_val", 1.0)))  # fmt: skip
    return ACTIVATION_CODES[name], 0.0, 0.0


def _np(tensor: torch.Tensor | None) -> np.ndarray | None:
    if tensor is None:
        return None
    return tensor.detach().to("cpu", dtype=torch.float32).numpy()


def _describe(model) -> list[dict]:
    """Per layer array: weights as numpy float32 and activations, for either WaveNet class.

    Array: rechannel (C, C_in), head_w (H, B, K_h), head_b (H,) or None, layers. Layer: dilation,
    conv (mid, C, K), bias (mid,), mixer (mid, input_size), one_w (C, B), one_b (C,),
    act/gate (code, p0, p1) (gate None when not gated)."""
    arrays = []
    for ai, arr in enumerate(model.arrays):
        cfg = model.layer_configs[ai]
        layers = []
        if model.architecture == "wavenet":
            act = _activation_spec(cfg["activation"])
            gate = _activation_spec("Sigmoid") if arr.gated else None
            for conv, mixer, one, d in zip(
                arr.convs, arr.mixers, arr.one_by_ones, arr.dilations, strict=True
            ):
                layers.append({
                    "dilation": d, "conv": _np(conv.weight), "bias": _np(conv.bias),
                    "mixer": _np(mixer.weight)[:, :, 0], "one_w": _np(one.weight)[:, :, 0],
                    "one_b": _np(one.bias), "act": act, "gate": gate,
                })  # fmt: skip
        else:
            for k, layer in enumerate(arr.layers):
                gated = cfg["gating_mode"][k] == "gated"
                layers.append({
                    "dilation": layer.dilation, "conv": _np(layer.conv.weight),
                    "bias": _np(layer.conv.bias), "mixer": _np(layer.mixer.weight)[:, :, 0],
                    "one_w": _np(layer.layer1x1.weight)[:, :, 0], "one_b": _np(layer.layer1x1.bias),
                    "act": _activation_spec(cfg["activation"][k]),
                    "gate": _activation_spec(cfg["secondary_activation"][k]) if gated else None,
                })  # fmt: skip
        hr = arr.head_rechannel
        arrays.append({
            "rechannel": _np(arr.rechannel.weight)[:, :, 0], "head_w": _np(hr.weight),
            "head_b": _np(hr.bias), "layers": layers,
        })  # fmt: skip
    return arrays


def _beyond_kernel(model) -> list[str]:
    """The NAM 0.7 features of `model` this kernel does not run (empty for leanamp's WaveNet)."""
    if model.architecture != "nam_wavenet":
        return []
    found = ["a condition DSP"] if model.condition_dsp is not None else []
    for cfg in model.layer_configs:
        if any(cfg[key]["active"] for key in FILM_KEYS):
            found.append("FiLM")
        if cfg["head1x1"]["active"]:
            found.append("head1x1")
        if max(cfg["groups_input"], cfg["groups_input_mixin"], cfg["layer1x1"]["groups"]) > 1:
            found.append("grouped convolutions")
        if "blended" in cfg["gating_mode"]:
            found.append("blended gating")
        for spec in cfg["activation"] + [s for s in cfg["secondary_activation"] if s]:
            name = spec if isinstance(spec, str) else spec["type"]
            if name not in ACTIVATION_CODES:
                found.append(f"the {name} activation")
    return sorted(set(found))


class StreamingWaveNet:
    """Streaming NAM WaveNet with a width that can change between blocks (slimmable models).

    Takes leanamp's `WaveNet` (any width) and NAM 0.7's `NamWaveNet` (A2: per-layer kernel sizes,
    LeakyReLU, bottleneck, multi-tap head; fixed width). `exact=True` uses libm tanh/exp (matches
    torch to float32 rounding); `exact=False` the fast rational activations of
    `leanamp.runtime.activations` (their stated error bounds apply).
    """

    def __init__(self, model, exact: bool = True, sample_rate: float | None = None):
        self.architecture = getattr(model, "architecture", None)
        if self.architecture not in ("wavenet", "nam_wavenet"):
            raise LeanampError(
                f"StreamingWaveNet needs a WaveNet model, got {type(model).__name__}"
            )
        beyond = _beyond_kernel(model)
        if beyond:
            raise LeanampError(
                f"this NAM WaveNet uses {', '.join(beyond)}, which leanamp's streaming kernel "
                "does not run; `leanamp process` (torch) and NAM Core play it"
            )
        self.exact = bool(exact)
        self.sample_rate = sample_rate
        self.input_size = int(model.input_size)
        self.receptive_field = int(model.receptive_field)
        # a private CPU copy: later training of `model` does not change this processor
        self._model = copy.deepcopy(model).to("cpu").eval()
        full = _describe(self._model)
        self.channels = tuple(int(arr["rechannel"].shape[0]) for arr in full)
        self._head_scale = np.float32(float(model.head_scale))
        self._allocate(full)
        self._widths = self.channels
        self._pack(full)
        if self.architecture == "wavenet" and model.width != self.channels:
            self._widths = model.width
            self._pack(_describe(self._model.sliced(model.width)))
        self._history = np.zeros((self.receptive_field - 1, self.input_size), dtype=np.float32)
        self.parameters = int(model.num_nam_weights())
        self.reset()

    @classmethod
    def from_model(cls, model, exact: bool = True, sample_rate: float | None = None):
        return cls(model, exact=exact, sample_rate=sample_rate)

    def _allocate(self, arrays: list[dict]) -> None:
        """Metadata that does not depend on the width, history buffers (full width), scratch."""
        n_layers = sum(len(arr["layers"]) for arr in arrays)
        self._arr_meta = np.zeros((len(arrays), 13), dtype=np.int64)
        self._lay_meta = np.zeros((n_layers, 13), dtype=np.int64)
        size, li, rows, mids = 0, 0, [1], [1]
        for ai, arr in enumerate(arrays):
            meta = self._arr_meta[ai]
            head_rows, bneck, head_k = arr["head_w"].shape
            meta[_FIRST], meta[_N_LAYERS] = li, len(arr["layers"])
            meta[_HEAD_K] = head_k
            # columns: the history, then room for at least two chunks before a move
            meta[_HBUF_OFF], meta[_HBUF_ROWS] = size, bneck
            meta[_HBUF_COLS] = head_k - 1 + max(head_k - 1, 2 * CHUNK)
            size += bneck * meta[_HBUF_COLS]
            rows += [arr["rechannel"].shape[0], bneck, head_rows]
            for layer in arr["layers"]:
                row = self._lay_meta[li]
                mid, c, k = layer["conv"].shape
                history = layer["dilation"] * (k - 1)
                row[_DIL], row[_K] = layer["dilation"], k
                row[_BUF_OFF], row[_BUF_ROWS] = size, c
                row[_BUF_COLS] = history + max(history, 2 * CHUNK)
                size += c * row[_BUF_COLS]
                mids.append(mid)
                li += 1
        # history and scratch rows on cache lines: whole vectors per load in the sample loops
        self._buf = cache_aligned(np.zeros(size, dtype=np.float32))
        self._pos = np.zeros(n_layers, dtype=np.int64)
        self._hpos = np.zeros(len(arrays), dtype=np.int64)
        self._xt = cache_aligned(np.zeros((self.input_size, CHUNK), np.float32))
        self._u = cache_aligned(np.zeros((max(mids), CHUNK), np.float32))
        self._a, self._z_out, self._head_out = (
            cache_aligned(np.zeros((max(rows), CHUNK), np.float32)) for _ in range(3)
        )

    def _pack(self, arrays: list[dict]) -> None:
        """Weights at the current width into one flat array, offsets into the metadata."""
        chunks: list[np.ndarray] = []
        size = 0

        def put(matrix) -> int:
            nonlocal size
            flat = np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1)
            chunks.append(flat)
            size += flat.size
            return size - flat.size

        self._act_params = np.zeros((len(self._lay_meta), 4), dtype=np.float32)
        self.macs_per_sample = 0
        li = 0
        for ai, arr in enumerate(arrays):
            meta = self._arr_meta[ai]
            c, c_in = arr["rechannel"].shape
            head_rows, bneck, head_k = arr["head_w"].shape
            meta[_C], meta[_C_IN], meta[_B], meta[_HEAD_OUT] = c, c_in, bneck, head_rows
            meta[_OFF_RECH] = put(arr["rechannel"])
            # head taps side by side: W[o, j * B + i]
            meta[_OFF_HEAD_W] = put(arr["head_w"].transpose(0, 2, 1))
            meta[_OFF_HEAD_B] = -1 if arr["head_b"] is None else put(arr["head_b"])
            self.macs_per_sample += arr["rechannel"].size + arr["head_w"].size
            for layer in arr["layers"]:
                row = self._lay_meta[li]
                mid = layer["conv"].shape[0]
                row[_MID] = mid
                row[_OFF_W] = put(layer["conv"].transpose(0, 2, 1))  # W[o, j * C + i]
                row[_OFF_B] = put(layer["bias"])
                row[_OFF_MIX] = put(layer["mixer"])
                row[_OFF_1X1_W] = put(layer["one_w"])
                row[_OFF_1X1_B] = put(layer["one_b"])
                row[_ACT], self._act_params[li, 0], self._act_params[li, 1] = layer["act"]
                if layer["gate"] is None:
                    row[_GATE] = NO_GATE
                else:
                    row[_GATE], self._act_params[li, 2], self._act_params[li, 3] = layer["gate"]
                self.macs_per_sample += (
                    layer["conv"].size + layer["mixer"].size + layer["one_w"].size
                )
                li += 1
        self._params = np.concatenate(chunks)
        self._arrays = arrays

    # ---- state -------------------------------------------------------------------------------
    def _run(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape[0], dtype=np.float32)
        wavenet_block(
            x, out, self._params, self._act_params, self._arr_meta, self._lay_meta, self._buf,
            self._pos, self._hpos, self._head_scale, self._xt, self._u, self._a, self._z_out,
            self._head_out, not self.exact,
        )  # fmt: skip
        return out

    def _fill_steady_state(self) -> None:
        """Fill every history buffer with its constant value under silence (current width).

        With constant input every tap of a dilated conv sees the same vector, so one pass of
        matrix-vector products gives each layer's steady input exactly."""
        fast = not self.exact
        z = np.zeros(self.input_size, np.float32)
        head_out = None
        li = 0
        for ai, arr in enumerate(self._arrays):
            meta = self._arr_meta[ai]
            z = (arr["rechannel"] @ z).astype(np.float32)
            head = np.zeros(meta[_B], np.float32) if head_out is None else head_out
            for layer in arr["layers"]:
                row = self._lay_meta[li]
                self._buffer(row[_BUF_OFF], row[_BUF_ROWS], row[_BUF_COLS])[: len(z)] = z[:, None]
                self._pos[li] = layer["dilation"] * (row[_K] - 1)
                u = layer["conv"].sum(axis=2) @ z + layer["bias"]  # silence: mixer adds 0
                b = int(meta[_B])
                a = _activate_vector(u[:b], *layer["act"], fast)
                if layer["gate"] is not None:
                    a = a * _activate_vector(u[b : 2 * b], *layer["gate"], fast)
                head = (head + a).astype(np.float32)
                z = (z + layer["one_w"] @ a + layer["one_b"]).astype(np.float32)
                li += 1
            hbuf = self._buffer(meta[_HBUF_OFF], meta[_HBUF_ROWS], meta[_HBUF_COLS])
            hbuf[: len(head)] = head[:, None]
            self._hpos[ai] = meta[_HEAD_K] - 1
            head_out = arr["head_w"].sum(axis=2) @ head
            if arr["head_b"] is not None:
                head_out = head_out + arr["head_b"]
            head_out = head_out.astype(np.float32)

    def _buffer(self, offset, rows, cols) -> np.ndarray:
        return self._buf[offset : offset + rows * cols].reshape(rows, cols)

    def reset(self) -> None:
        """Back to silence before time 0, keeping the current width."""
        self._history.fill(0.0)
        self._fill_steady_state()

    @property
    def widths(self) -> tuple[int, ...]:
        """Current per-array widths."""
        return tuple(int(w) for w in self._widths)

    def set_width(self, c: int | Sequence[int] | None, recompute_history: bool = True) -> None:
        """Run the following blocks at width `c` (as WaveNet.set_width; None = full width).

        With `recompute_history` the output from here on equals the model run at width `c` from
        the start; without it, it does so after receptive_field - 1 samples (see module doc).
        """
        if self.architecture != "wavenet":
            if c is None or c == self.channels[0] or c == self.channels:
                return
            raise LeanampError(f"width {c!r}: this {self.architecture} model has a fixed width")
        try:
            widths = self._model.array_widths(c)
        except ValueError as e:
            raise LeanampError(f"width {c!r}: {e}") from None
        if widths == self.widths:
            return
        self._widths = widths
        self._pack(_describe(self._model.sliced(widths)))
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


@njit(cache=True, error_model="numpy")
def _activate_vector_kernel(v, out, code, p0, p1, fast):
    _activate_row(v, out, v.shape[0], code, p0, p1, fast)


def _activate_vector(v: np.ndarray, code: int, p0: float, p1: float, fast: bool) -> np.ndarray:
    v = np.ascontiguousarray(v, dtype=np.float32)
    out = np.empty_like(v)
    _activate_vector_kernel(v, out, code, np.float32(p0), np.float32(p1), fast)
    return out


def build_processor(model, exact: bool = True, **options) -> StreamingWaveNet:
    return StreamingWaveNet(model, exact=exact, **options)


__all__ = ["ACTIVATION_CODES", "StreamingWaveNet"]

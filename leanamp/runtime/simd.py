# long: the fast LSTM cell, its unit-block variants and the activation approximations they share.
"""Vector code for the LSTM kernels, written as numba intrinsics (LLVM IR).

Why intrinsics: numba does not tell LLVM that two array arguments never overlap, so a plain
`gates[i] += w[k, i] * z[k]` loop keeps every partial sum in memory behind a runtime overlap
check, which costs more than the arithmetic at the hidden sizes pruning produces; and a numba loop
calling the rational activations is not vectorized either. Here the vectors are explicit.

Gate layout ("unit blocks"): hidden units are padded to a multiple of 8 and taken 8 at a time;
block b holds the 32 gates [i, f, g, o] x units 8b..8b+7, so gate q of unit u is at index
(u // 8) * 32 + q * 8 + u % 8. `block_gate_order` maps PyTorch's order (q * Hp + u) to it.

Gate sums: for one block, the 32 gate pre-activations are accumulated over all inputs k in
16-lane registers (two per block: one AVX-512 register each, or two AVX2 ones where AVX-512 is
absent), even and odd k in separate registers (independent fused multiply-add chains), starting
from the bias. Each gate's value is the float32 sum of its even-k and odd-k partial sums,
whatever the vector width. (Measured on the Zen 4 machine it was first tuned on: 16-lane
accumulators about 8 % faster than 8-lane ones at H = 20..32; four partial sums instead of two,
no faster.)

numba's on-disk cache is keyed on each kernel's own source file: after editing this file or
`activations.py`, delete leanamp/runtime/__pycache__/*.nbi and *.nbc so the kernels in
`lstm.py` and `sparse.py` are recompiled.

`fused_fast_step_sized` (fast mode up to `MAX_SIZED_BLOCKS` unit blocks) sums the gates of all
blocks at once in registers, then runs the cells. Above that size `fused_fast_step` goes on,
still in registers, to the fast-mode cell, two blocks (16 units, one AVX-512 vector per gate) at
a time, so the gates never touch memory (16-unit cells measured 8-25 % faster than 8-unit ones at
H = 24..40, interleaved); `gate_matvec` stores the gates for the exact (libm, scalar) cell;
`fast_cell` is the vector cell on stored gates (the sparse kernel's fast mode).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from leanamp.runtime import activations as act

LANES = 8  # float32 lanes per vector: one AVX2 register, half an AVX-512 one
GROUP = 4 * LANES  # gates in one unit block: i, f, g, o of 8 units
WIDE = 16  # lanes per accumulator: two gate vectors in one AVX-512 register
SPLIT = 2  # partial sums per gate vector (inputs k mod SPLIT): 2 x 4 independent FMA chains
# Largest hidden size (in unit blocks) run by the size-compiled fast kernel; above it, the per-block
# kernel (its weights no longer fit the registers and L1 the sized one relies on). Measured
# interleaved on this Xeon (AVX-512, 2 loaded cores, thread CPU, median of 11), sized against
# per-block: H 20 0.0085 vs 0.0123, H 24 0.0093 vs 0.0147, H 32 0.0117 vs 0.0158, H 48 0.0186 vs
# 0.0301, H 64 0.041 vs 0.053, H 96 0.083 vs 0.103, H 128 0.148 vs 0.170, H 136 0.159 vs 0.194,
# H 160 0.272 vs 0.283 (a tie), H 192 0.329 vs 0.292. (An earlier machine had the per-block
# kernel ahead from 24 units, which is why this once stopped at 16.)
MAX_SIZED_BLOCKS = 16


CACHE_LINE = 64  # bytes


def cache_aligned(array: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `array` starting on a cache line, so that no 64-byte vector load
    of a row that starts on a multiple of 16 floats straddles two lines (numpy only promises 16
    bytes). Measured interleaved, fast LSTM, thread CPU: H 64 RTF 0.031 aligned against 0.040
    at a 16-byte offset, H 96 0.062 against 0.082, H 32 0.0090 against 0.0104."""
    raw = np.empty(array.nbytes + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    out = raw[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
    out[...] = array
    return out


def block_gate_order(padded: int) -> np.ndarray:
    """Index array p such that gates_in_block_layout = gates_in_pytorch_order[p] (4 * padded)."""
    if padded % LANES:
        raise ValueError(f"padded hidden size {padded} is not a multiple of {LANES}")
    return np.arange(4 * padded).reshape(4, padded // LANES, LANES).transpose(1, 0, 2).reshape(-1)


def pack_gate_weights(matrix: np.ndarray) -> np.ndarray:
    """(G, R) gate-by-input matrix, rows in block layout -> (G / 32, R, 32) for the intrinsics."""
    n_gates, n_rows = matrix.shape
    if n_gates % GROUP:
        raise ValueError(f"gate count {n_gates} is not a multiple of {GROUP}")
    packed = matrix.reshape(n_gates // GROUP, GROUP, n_rows).transpose(0, 2, 1)
    return np.ascontiguousarray(packed, dtype=np.float32)


def _check_arrays(name, *arrays):
    for arg in arrays:
        if not (isinstance(arg, types.Array) and arg.dtype == types.float32 and arg.layout == "C"):
            raise TypeError(f"{name} needs C-contiguous float32 arrays")


# Argument positions of bias, weights, z, h, c in the fused step intrinsics.
_STEP_ARRAYS = (0, 1, 3, 5, 6)


def _arrays(context, builder, signature, args, positions):
    """Codegen: the array structures (data pointer, shape) of the arguments at `positions`."""
    return [context.make_array(signature.args[i])(context, builder, args[i]) for i in positions]


def _vec(lanes=LANES):
    return ir.VectorType(ir.FloatType(), lanes)


def _splat(value, lanes=LANES):
    return ir.Constant(_vec(lanes), [float(value)] * lanes)


def _fma(builder, lanes=LANES):
    vec = _vec(lanes)
    return cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{lanes}f32"
    )


def _vector_at(builder, base, offset, lanes=LANES):
    return builder.bitcast(builder.gep(base, [offset]), _vec(lanes).as_pointer())


def _vector_fast_tanh(builder, x):
    """The rational tanh of `leanamp.runtime.activations.fast_tanh` on a vector, its Horner steps
    fused (one rounding per step instead of two: a shorter dependency chain, no less accurate;
    the error bound is measured on this path too, see `measure_activation_errors`)."""

    n = x.type.count
    fma = _fma(builder, n)
    clamp = float(act._CLAMP)
    x = builder.select(builder.fcmp_ordered(">", x, _splat(clamp, n)), _splat(clamp, n), x)
    x = builder.select(builder.fcmp_ordered("<", x, _splat(-clamp, n)), _splat(-clamp, n), x)
    x2 = builder.fmul(x, x)
    p = _splat(act._A13, n)
    for coefficient in (act._A11, act._A9, act._A7, act._A5, act._A3, act._A1):
        p = builder.call(fma, [p, x2, _splat(coefficient, n)])
    p = builder.fmul(p, x)
    q = _splat(act._B6, n)
    for coefficient in (act._B4, act._B2, act._B0):
        q = builder.call(fma, [q, x2, _splat(coefficient, n)])
    return builder.fdiv(p, q)


def _vector_fast_sigmoid(builder, x):
    n = x.type.count
    t = _vector_fast_tanh(builder, builder.fmul(x, _splat(0.5, n)))
    return builder.call(_fma(builder, n), [_splat(0.5, n), t, _splat(0.5, n)])


def _emit_cell(builder, gate, c_ptr, h_ptr):
    """Fast-mode cell of the units of gate vectors [i, f, g, o] (8 or 16 lanes); updates c, h."""
    i = _vector_fast_sigmoid(builder, gate[0])
    f = _vector_fast_sigmoid(builder, gate[1])
    g = _vector_fast_tanh(builder, gate[2])
    o = _vector_fast_sigmoid(builder, gate[3])
    c_new = builder.fadd(builder.fmul(f, builder.load(c_ptr, align=4)), builder.fmul(i, g))
    builder.store(c_new, c_ptr, align=4)
    builder.store(builder.fmul(o, _vector_fast_tanh(builder, c_new)), h_ptr, align=4)


class _GateSums:
    """Emits, for one unit block, the four gate vectors bias + W z (see the module docstring)."""

    def __init__(self, context, builder, bias_ary, weights_ary, layer, z_ary, rows, n_gates):
        self.builder = builder
        self.intp = context.get_value_type(types.intp)
        layer_stride = builder.extract_value(weights_ary.strides, 0)  # strides are in bytes
        self.group_stride = builder.extract_value(weights_ary.strides, 1)
        self.row_stride = builder.extract_value(weights_ary.strides, 2)
        self.w_base = builder.gep(
            builder.bitcast(weights_ary.data, ir.IntType(8).as_pointer()),
            [builder.mul(layer, layer_stride)],
        )
        self.bias_row = builder.gep(bias_ary.data, [builder.mul(layer, n_gates)])
        self.z = z_ary.data
        self.rows = rows
        self.chunks = builder.sdiv(rows, self.intp(SPLIT))
        # partial[s][u]: gate vector u summed over the inputs k = s (mod SPLIT)
        wide = _vec(WIDE)
        self.partial = [
            [cgutils.alloca_once(builder, wide) for _ in range(GROUP // WIDE)] for _ in range(SPLIT)
        ]
        self.fma_wide = _fma(builder, WIDE)
        self.fma = _fma(builder)

    def _accumulate(self, group_base, k, accs):
        builder, intp = self.builder, self.intp
        wide = _vec(WIDE)
        zk = builder.load(builder.gep(self.z, [k]))
        zv = builder.insert_element(ir.Constant(wide, ir.Undefined), zk, intp(0))
        zv = builder.shuffle_vector(
            zv,
            ir.Constant(wide, ir.Undefined),
            ir.Constant(ir.VectorType(ir.IntType(32), WIDE), [0] * WIDE),
        )
        row_ptr = builder.bitcast(
            builder.gep(group_base, [builder.mul(k, self.row_stride)]), ir.FloatType().as_pointer()
        )
        for u, acc in enumerate(accs):
            ptr = builder.bitcast(builder.gep(row_ptr, [intp(u * WIDE)]), wide.as_pointer())
            w = builder.load(ptr, align=4)
            builder.store(builder.call(self.fma_wide, [w, zv, builder.load(acc)]), acc)

    def emit(self, group):
        builder, intp = self.builder, self.intp
        wide = _vec(WIDE)
        b_ptr = builder.gep(self.bias_row, [builder.mul(group, intp(GROUP))])
        for u in range(GROUP // WIDE):
            ptr = builder.bitcast(builder.gep(b_ptr, [intp(u * WIDE)]), wide.as_pointer())
            builder.store(builder.load(ptr, align=4), self.partial[0][u])
            for s in range(1, SPLIT):
                builder.store(ir.Constant(wide, [0.0] * WIDE), self.partial[s][u])
        group_base = builder.gep(self.w_base, [builder.mul(group, self.group_stride)])
        with cgutils.for_range(builder, self.chunks) as chunk_loop:
            k = builder.mul(chunk_loop.index, intp(SPLIT))
            for s in range(SPLIT):
                self._accumulate(group_base, builder.add(k, intp(s)), self.partial[s])
        done = builder.mul(self.chunks, intp(SPLIT))
        with cgutils.for_range(builder, builder.sub(self.rows, done)) as rest_loop:
            self._accumulate(group_base, builder.add(done, rest_loop.index), self.partial[0])
        sums = []
        for u in range(GROUP // WIDE):
            values = [builder.load(self.partial[s][u]) for s in range(SPLIT)]
            while len(values) > 1:  # pairwise: ((p0 + p1) + (p2 + p3))
                pairs = zip(values[::2], values[1::2], strict=True)
                values = [builder.fadd(a, b) for a, b in pairs]
            for half in range(WIDE // LANES):
                lanes = ir.Constant(
                    ir.VectorType(ir.IntType(32), LANES),
                    list(range(half * LANES, (half + 1) * LANES)),
                )
                sums.append(builder.shuffle_vector(values[0], values[0], lanes))
        return sums


def _unit_blocks(builder, intp, hidden):
    return builder.udiv(builder.add(hidden, intp(LANES - 1)), intp(LANES))


@intrinsic
def _gate_matvec(typingctx, gates, bias, weights, layer, z, n_rows, hidden):
    """gates = bias[layer] + weights[layer] z over the first n_rows inputs, for the unit blocks
    covering `hidden` units.

    gates: float32 (G,); bias: float32 (L, G); weights: float32 (L, G / 32, R, 32) with
    R >= n_rows; z: float32 (>= n_rows,); all C-contiguous, G = 4 Hp, hidden <= Hp. No bounds
    checks: the caller guarantees the shapes.
    """
    _check_arrays("_gate_matvec", gates, bias, weights, z)
    if weights.ndim != 4 or bias.ndim != 2 or gates.ndim != 1 or z.ndim != 1:
        raise TypeError("_gate_matvec needs gates (G,), bias (L, G), weights (L, G/32, R, 32)")
    sig = types.void(gates, bias, weights, types.intp, z, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        layer, rows, hidden = args[3], args[5], args[6]
        g_ary, b_ary, w_ary, z_ary = _arrays(context, builder, signature, args, (0, 1, 2, 4))
        intp = context.get_value_type(types.intp)
        sums = _GateSums(context, builder, b_ary, w_ary, layer, z_ary, rows, g_ary.nitems)
        with cgutils.for_range(builder, _unit_blocks(builder, intp, hidden)) as loop:
            gate = sums.emit(loop.index)
            g_ptr = builder.gep(g_ary.data, [builder.mul(loop.index, intp(GROUP))])
            for u in range(4):
                builder.store(gate[u], _vector_at(builder, g_ptr, intp(u * LANES)), align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _fused_fast_step(typingctx, bias, weights, layer, z, n_rows, h, c, hidden):
    """One fast-mode LSTM step of layer `layer`: per unit block, gate sums then the cell, in
    registers; h[layer], c[layer] (float32 (L, Hp)) updated in place. The caller puts the layer's
    input in z[:n_rows - hidden]; this copies h(t-1) after it (z must hold n_in + Hp values)."""
    _check_arrays("_fused_fast_step", bias, weights, z, h, c)
    if weights.ndim != 4 or bias.ndim != 2 or h.ndim != 2 or c.ndim != 2 or z.ndim != 1:
        raise TypeError("_fused_fast_step: bias (L, G), weights (L, G/32, R, 32), h, c (L, Hp)")
    sig = types.void(bias, weights, types.intp, z, types.intp, h, c, types.intp)

    def codegen(context, builder, signature, args):
        layer, rows, hidden = args[2], args[4], args[7]
        b_ary, w_ary, z_ary, h_ary, c_ary = _arrays(context, builder, signature, args, _STEP_ARRAYS)
        intp = context.get_value_type(types.intp)
        padded = builder.extract_value(h_ary.shape, 1)
        n_gates = builder.mul(padded, intp(4))
        sums = _GateSums(context, builder, b_ary, w_ary, layer, z_ary, rows, n_gates)
        state_row = builder.mul(layer, padded)
        n_in = builder.sub(rows, hidden)
        with cgutils.for_range(builder, _unit_blocks(builder, intp, hidden)) as loop:
            start = builder.mul(loop.index, intp(LANES))
            value = builder.load(
                _vector_at(builder, h_ary.data, builder.add(state_row, start)), align=4
            )
            builder.store(value, _vector_at(builder, z_ary.data, builder.add(n_in, start)), align=4)
        # the cell 16 units (two blocks) at a time: half the vector work of two 8-unit cells
        n_blocks = _unit_blocks(builder, intp, hidden)
        concat = ir.Constant(ir.VectorType(ir.IntType(32), WIDE), list(range(WIDE)))
        with cgutils.for_range(builder, builder.udiv(n_blocks, intp(2))) as loop:
            first = builder.mul(loop.index, intp(2))
            low, high = sums.emit(first), sums.emit(builder.add(first, intp(1)))
            gate = [builder.shuffle_vector(a, b, concat) for a, b in zip(low, high, strict=True)]
            offset = builder.add(state_row, builder.mul(first, intp(LANES)))
            _emit_cell(
                builder, gate, _vector_at(builder, c_ary.data, offset, WIDE),
                _vector_at(builder, h_ary.data, offset, WIDE),
            )  # fmt: skip
        odd = builder.icmp_unsigned("!=", builder.urem(n_blocks, intp(2)), intp(0))
        with builder.if_then(odd):
            last = builder.sub(n_blocks, intp(1))
            gate = sums.emit(last)
            offset = builder.add(state_row, builder.mul(last, intp(LANES)))
            _emit_cell(
                builder, gate, _vector_at(builder, c_ary.data, offset),
                _vector_at(builder, h_ary.data, offset),
            )  # fmt: skip
        return context.get_dummy_value()

    return sig, codegen


def sized_splits(n_blocks: int) -> int:
    """Partial sums per gate vector in the sized step: enough independent FMA chains (>= 8) to
    keep two FMA units busy through their 4-cycle latency, without running out of registers."""
    return max(1, min(4, 8 // (2 * n_blocks)))


def pack_gate_weights_by_input(matrix: np.ndarray) -> np.ndarray:
    """(G, R) gate-by-input matrix, rows in block layout -> (R, G): one input's weights to all
    gates contiguous, the order the sized step streams them in."""
    return np.ascontiguousarray(matrix.T, dtype=np.float32)


@intrinsic(prefer_literal=True)
def fused_fast_step_sized(typingctx, bias, weights, layer, z, n_rows, h, c, n_blocks):
    """One fast-mode LSTM step of layer `layer` for exactly `n_blocks` unit blocks (a
    compile-time constant, one compiled kernel per padded hidden size, as RTNeural's compile-time
    API): the gate sums of all blocks at once, input by input, in 2 * n_blocks 16-lane
    accumulators (x `sized_splits` partial sums) held in registers; then the cell of every block.
    weights: float32 (L, R, G) from `pack_gate_weights_by_input`; the rest as `_fused_fast_step`
    (h(t-1) copied into z after the layer's input, z holding n_in + 8 * n_blocks values)."""
    _check_arrays("fused_fast_step_sized", bias, weights, z, h, c)
    if not isinstance(n_blocks, types.IntegerLiteral):
        raise TypeError("fused_fast_step_sized needs n_blocks as a compile-time constant")
    if weights.ndim != 3 or bias.ndim != 2 or h.ndim != 2 or c.ndim != 2 or z.ndim != 1:
        raise TypeError("fused_fast_step_sized: bias (L, G), weights (L, R, G), h, c (L, Hp)")
    blocks = n_blocks.literal_value
    splits = sized_splits(blocks)
    sig = types.void(bias, weights, types.intp, z, types.intp, h, c, n_blocks)

    def codegen(context, builder, signature, args):
        layer, rows = args[2], args[4]
        b_ary, w_ary, z_ary, h_ary, c_ary = _arrays(context, builder, signature, args, _STEP_ARRAYS)
        intp = context.get_value_type(types.intp)
        wide = _vec(WIDE)
        fma_wide = _fma(builder, WIDE)
        padded = builder.extract_value(h_ary.shape, 1)
        n_gates = blocks * GROUP
        n_wide = n_gates // WIDE
        state_row = builder.mul(layer, padded)
        n_in = builder.sub(rows, intp(blocks * LANES))
        for b in range(blocks):  # z[n_in:] = h(t - 1)
            start = intp(b * LANES)
            value = builder.load(
                _vector_at(builder, h_ary.data, builder.add(state_row, start)), align=4
            )
            builder.store(value, _vector_at(builder, z_ary.data, builder.add(n_in, start)), align=4)
        layer_stride = builder.extract_value(w_ary.strides, 0)  # bytes
        row_stride = builder.extract_value(w_ary.strides, 1)
        w_base = builder.gep(
            builder.bitcast(w_ary.data, ir.IntType(8).as_pointer()),
            [builder.mul(layer, layer_stride)],
        )
        bias_row = builder.gep(b_ary.data, [builder.mul(layer, builder.mul(padded, intp(4)))])
        partial = [
            [cgutils.alloca_once(builder, wide) for _ in range(n_wide)] for _ in range(splits)
        ]
        for v in range(n_wide):
            ptr = builder.bitcast(builder.gep(bias_row, [intp(v * WIDE)]), wide.as_pointer())
            builder.store(builder.load(ptr, align=4), partial[0][v])
            for s in range(1, splits):
                builder.store(ir.Constant(wide, [0.0] * WIDE), partial[s][v])

        def accumulate(k, accs):
            zk = builder.load(builder.gep(z_ary.data, [k]))
            zv = builder.insert_element(ir.Constant(wide, ir.Undefined), zk, intp(0))
            zv = builder.shuffle_vector(
                zv, ir.Constant(wide, ir.Undefined),
                ir.Constant(ir.VectorType(ir.IntType(32), WIDE), [0] * WIDE),
            )  # fmt: skip
            row = builder.bitcast(
                builder.gep(w_base, [builder.mul(k, row_stride)]), ir.FloatType().as_pointer()
            )
            for v, acc in enumerate(accs):
                ptr = builder.bitcast(builder.gep(row, [intp(v * WIDE)]), wide.as_pointer())
                w = builder.load(ptr, align=4)
                builder.store(builder.call(fma_wide, [w, zv, builder.load(acc)]), acc)

        chunks = builder.sdiv(rows, intp(splits))
        with cgutils.for_range(builder, chunks) as loop:
            k = builder.mul(loop.index, intp(splits))
            for s in range(splits):
                accumulate(builder.add(k, intp(s)), partial[s])
        done = builder.mul(chunks, intp(splits))
        with cgutils.for_range(builder, builder.sub(rows, done)) as loop:
            accumulate(builder.add(done, loop.index), partial[0])
        sums = []  # per wide vector v: gates [i, f] (v even) or [g, o] (v odd) of block v // 2
        for v in range(n_wide):
            values = [builder.load(partial[s][v]) for s in range(splits)]
            while len(values) > 1:  # pairwise: ((p0 + p1) + (p2 + p3))
                pairs = zip(values[::2], values[1::2], strict=True)
                values = [builder.fadd(x, y) for x, y in pairs]
            sums.append(values[0])

        def pick(first, second, half):
            """Lanes `half` (0: low 8, 1: high 8) of `first`, then the same lanes of `second`."""
            order = [half * LANES + j for j in range(LANES)]
            order += [WIDE + j for j in order]
            mask = ir.Constant(ir.VectorType(ir.IntType(32), len(order)), order)
            return builder.shuffle_vector(first, second, mask)

        for b in range(0, blocks, 2):  # the cell 16 units at a time: half the vector work
            offset = builder.add(state_row, intp(b * LANES))
            if b + 1 < blocks:
                gate = [pick(sums[2 * b + v // 2], sums[2 * b + 2 + v // 2], v % 2)
                        for v in range(4)]  # fmt: skip
                lanes = WIDE
            else:
                undefined = ir.Constant(wide, ir.Undefined)
                lanes_lo = ir.Constant(ir.VectorType(ir.IntType(32), LANES), list(range(LANES)))
                lanes_hi = ir.Constant(
                    ir.VectorType(ir.IntType(32), LANES), list(range(LANES, WIDE))
                )
                gate = [builder.shuffle_vector(sums[2 * b + v // 2], undefined,
                                               lanes_hi if v % 2 else lanes_lo)
                        for v in range(4)]  # fmt: skip
                lanes = LANES
            _emit_cell(
                builder, gate, _vector_at(builder, c_ary.data, offset, lanes),
                _vector_at(builder, h_ary.data, offset, lanes),
            )  # fmt: skip
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _fast_cell(typingctx, gates, h, c, layer, hidden):
    """Fast-mode cell from stored gates (block layout) for the unit blocks covering `hidden`
    units; h[layer], c[layer] (float32 (L, Hp)) updated in place."""
    _check_arrays("_fast_cell", gates, h, c)
    sig = types.void(gates, h, c, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        layer, hidden = args[3], args[4]
        g_ary, h_ary, c_ary = _arrays(context, builder, signature, args, (0, 1, 2))
        intp = context.get_value_type(types.intp)
        state_row = builder.mul(layer, builder.extract_value(h_ary.shape, 1))
        with cgutils.for_range(builder, _unit_blocks(builder, intp, hidden)) as loop:
            g_ptr = builder.gep(g_ary.data, [builder.mul(loop.index, intp(GROUP))])
            gate = [
                builder.load(_vector_at(builder, g_ptr, intp(q * LANES)), align=4)
                for q in range(4)
            ]
            offset = builder.add(state_row, builder.mul(loop.index, intp(LANES)))
            _emit_cell(
                builder, gate, _vector_at(builder, c_ary.data, offset),
                _vector_at(builder, h_ary.data, offset),
            )  # fmt: skip
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _vector_activations(typingctx, x, tanh_out, sigmoid_out):
    """tanh_out, sigmoid_out = the vector fast tanh and sigmoid of x (1-D, length % 8 == 0)."""
    _check_arrays("_vector_activations", x, tanh_out, sigmoid_out)
    sig = types.void(x, tanh_out, sigmoid_out)

    def codegen(context, builder, signature, args):
        arrays = _arrays(context, builder, signature, args, range(len(args)))
        intp = context.get_value_type(types.intp)
        n_vectors = builder.udiv(arrays[0].nitems, intp(LANES))
        with cgutils.for_range(builder, n_vectors) as loop:
            start = builder.mul(loop.index, intp(LANES))
            value = builder.load(_vector_at(builder, arrays[0].data, start), align=4)
            out_tanh = _vector_at(builder, arrays[1].data, start)
            out_sigmoid = _vector_at(builder, arrays[2].data, start)
            builder.store(_vector_fast_tanh(builder, value), out_tanh, align=4)
            builder.store(_vector_fast_sigmoid(builder, value), out_sigmoid, align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, inline="always")
def gate_matvec(gates, bias, weights, layer, z, n_rows, hidden):
    _gate_matvec(gates, bias, weights, layer, z, n_rows, hidden)


@njit(cache=True, inline="always")
def fused_fast_step(bias, weights, layer, z, n_rows, h, c, hidden):
    _fused_fast_step(bias, weights, layer, z, n_rows, h, c, hidden)


@njit(cache=True, inline="always")
def fast_cell(gates, h, c, layer, hidden):
    _fast_cell(gates, h, c, layer, hidden)


@njit(cache=True)
def vector_activations(x, tanh_out, sigmoid_out):
    _vector_activations(x, tanh_out, sigmoid_out)


def measure_activation_errors(points: int = 1 << 22, limit: float = 10.0) -> dict[str, float]:
    """Max abs error of the fast tanh and sigmoid against float64, on `points` float32 inputs,
    for the scalar path (`leanamp.runtime.activations`) and the vectorized one (this module),
    whichever is worse.

    The grid covers [-limit, limit] evenly plus the float32 neighbours of the clamp point, where
    the approximation switches to its constant tail.
    """

    grid = np.linspace(-limit, limit, points, dtype=np.float64).astype(np.float32)
    edge = np.float32(act._CLAMP)
    near_edge = np.array(
        [np.nextafter(edge, np.float32(0)), edge, np.nextafter(edge, np.float32(np.inf))],
        dtype=np.float32,
    )
    x = np.concatenate([grid, near_edge, -near_edge, np.float32([0.0, 1e-30, -1e-30, 80, -80])])
    x = np.concatenate([x, np.zeros(-x.size % LANES, np.float32)])
    x64 = x.astype(np.float64)
    tanh_ref = np.tanh(x64)
    sigmoid_ref = 0.5 + 0.5 * np.tanh(0.5 * x64)
    errors = {"tanh": 0.0, "sigmoid": 0.0}
    for apply in (act._apply_fast, vector_activations):
        tanh_fast = np.empty_like(x)
        sigmoid_fast = np.empty_like(x)
        apply(x, tanh_fast, sigmoid_fast)
        errors["tanh"] = max(errors["tanh"], float(np.max(np.abs(tanh_fast - tanh_ref))))
        errors["sigmoid"] = max(
            errors["sigmoid"], float(np.max(np.abs(sigmoid_fast - sigmoid_ref)))
        )
    return errors

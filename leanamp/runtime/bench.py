"""Real-time-factor benchmark: streaming kernels against the same model through torch.

RTF = processing time / audio duration, measured block by block as a plugin runs: the signal is
cut into `block`-sample blocks and every block goes through `process` with the state carried.
Each repeat resets the processor and runs the whole signal; the figures are the median, min and
max over repeats. All variants of a run are measured interleaved (repeat r of every variant before
repeat r + 1 of any), so background load on a shared machine hits them alike and their ratios
stay meaningful.

Single-threaded: the numba kernels use no prange (numba's threading layer never starts), and the
torch baseline runs with torch.set_num_threads(1) (restored afterwards).
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leanamp.errors import LeanampError
from leanamp.formats import load_any
from leanamp.models.lstm import LSTMModel, effective_hidden_sizes
from leanamp.runtime.base import StreamingProcessor, as_input_block
from leanamp.runtime.kernels import make_processor


class TorchStreamingLSTM:
    """The torch baseline: the same LSTMModel called per block with its (h, c) state carried
    from the model's initial state, on the model's device (the benchmark gives it a CPU copy:
    its baseline is one CPU core)."""

    architecture = "lstm-torch"

    def __init__(self, model: LSTMModel, sample_rate: float | None = None):
        self.model = model.eval()
        self.input_size = model.input_size
        self.sample_rate = sample_rate
        self._device = next(model.parameters()).device
        self._state = None  # None: the model's own initial state

    def reset(self) -> None:
        self._state = None

    def process(self, block: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(as_input_block(block, self.input_size)).to(self._device)
        with torch.inference_mode():
            y, self._state = self.model(x.unsqueeze(0), self._state)
        return y[0].cpu().numpy()


def bench_signal(seconds: float, rate: float, input_size: int, seed: int = 0) -> np.ndarray:
    """Deterministic guitar-level input: band-limited noise at about -12 dBFS, knobs at 0.5.

    Kernel cost does not depend on the signal; a realistic level keeps the activations in their
    usual range all the same.
    """
    n = int(round(seconds * rate))
    if n < 1:
        raise LeanampError(f"benchmark signal of {seconds} s at {rate} Hz has no samples")
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(n)
    smooth = np.convolve(noise, np.ones(4) / 4, mode="same")
    x = np.full((n, input_size), 0.5, dtype=np.float32)
    x[:, 0] = 0.25 * smooth / max(np.std(smooth), 1e-12)
    return x


def _run_once(processor: StreamingProcessor, signal: np.ndarray, block: int) -> tuple[float, float]:
    """(wall seconds, thread CPU seconds) to stream `signal` through `processor` in blocks."""
    blocks = [signal[i : i + block] for i in range(0, signal.shape[0], block)]
    processor.reset()
    cpu0 = time.thread_time()
    wall0 = time.perf_counter()
    for b in blocks:
        processor.process(b)
    return time.perf_counter() - wall0, time.thread_time() - cpu0


@dataclass
class Timing:
    """Real-time factors of one processor over repeats (wall clock; `rtf_cpu` from thread time)."""

    rtf: float  # median
    rtf_min: float
    rtf_max: float
    rtf_cpu: float  # median of thread CPU time / audio time: less sensitive to other processes
    samples_per_second: float  # at the median
    repeats: int

    @classmethod
    def from_runs(cls, walls: list[float], cpus: list[float], audio_seconds: float, n: int):
        rtfs = [w / audio_seconds for w in walls]
        median = statistics.median(rtfs)
        return cls(
            rtf=median,
            rtf_min=min(rtfs),
            rtf_max=max(rtfs),
            rtf_cpu=statistics.median(cpus) / audio_seconds,
            samples_per_second=n / (median * audio_seconds),
            repeats=len(walls),
        )


def time_processors(
    processors: dict[str, StreamingProcessor],
    signal: np.ndarray,
    block: int,
    rate: float,
    repeats: int = 5,
    warmup: int = 1,
) -> dict[str, Timing]:
    """Time every processor on the same signal and blocks, repeats interleaved."""
    if block < 1:
        raise LeanampError(f"block size must be at least 1, got {block}")
    if repeats < 1:
        raise LeanampError(f"repeats must be at least 1, got {repeats}")
    audio_seconds = signal.shape[0] / rate
    walls: dict[str, list[float]] = {name: [] for name in processors}
    cpus: dict[str, list[float]] = {name: [] for name in processors}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for processor in processors.values():
            for _ in range(warmup):  # compiles / loads kernels, warms caches
                _run_once(processor, signal[: min(signal.shape[0], 4 * block)], block)
        for _ in range(repeats):
            for name, processor in processors.items():
                wall, cpu = _run_once(processor, signal, block)
                walls[name].append(wall)
                cpus[name].append(cpu)
    finally:
        torch.set_num_threads(threads)
    return {
        name: Timing.from_runs(walls[name], cpus[name], audio_seconds, signal.shape[0])
        for name in processors
    }


def effective_hidden_size(model: nn.Module) -> int | None:
    """Hidden units of the last layer that can still affect the output (None if not an LSTM)."""
    if not isinstance(model, LSTMModel):
        return None

    return effective_hidden_sizes(model)[-1]


def count_model_parameters(model: nn.Module) -> tuple[int, int]:
    """(all, non-zero) parameters of a torch model."""
    total = nonzero = 0
    for p in model.parameters():
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    return total, nonzero


@dataclass
class BenchResult:
    """One model's benchmark: kernel timings (by mode) and the torch baseline of the same run."""

    name: str
    architecture: str
    kernel: str  # the streaming kernel timed ("lstm", "lstm-sparse", "wavenet"...)
    parameters: int
    nonzero_parameters: int
    hidden_size: int | None
    effective_hidden_size: int | None
    block: int
    rate: float
    seconds: float
    timings: dict[str, Timing] = field(default_factory=dict)
    torch_ratio: dict[str, float] = field(default_factory=dict)  # torch RTF / kernel RTF
    width: int | None = None  # the WaveNet width the kernel ran at (None: full)
    error: str | None = None  # "<model>: what went wrong" when it could not run (no timings)

    @classmethod
    def failure(cls, name: str, error: str, block: int, rate: float) -> BenchResult:
        """A model that could not run: reported as an error line among the others."""
        return cls(name, "", "", 0, 0, None, None, block, rate, 0.0, error=error)
    # The plugin engine timed as timings["engine"] ("NAM Core"...; leanamp.engines.timing)
    engine: str | None = None
    engine_build: str | None = None  # "native" (-O3 -march=native) or "O3"

    def to_dict(self) -> dict:
        return asdict(self)


def bench_models(
    models: dict[str, nn.Module],
    block: int = 256,
    rate: float = 48000.0,
    seconds: float = 2.0,
    repeats: int = 5,
    modes: Sequence[str] = ("fast", "exact"),
    kernel: str | None = None,
    with_torch: bool = True,
    progress: Callable[[str], None] | None = None,
    widths: dict[str, int] | None = None,
) -> list[BenchResult]:
    """Benchmark each model through its streaming kernel in each mode ("fast", "exact"), and
    through torch (LSTM models) in the same interleaved run.
    The plugin's C++ engine is added by leanamp.engines.timing.add_engine_timings.

    `kernel` picks a registered kernel variant ("lstm-sparse"); default: the model's own.
    A model no kernel can run gives a result with its `error` and the others go on.
    `widths` maps model names to the width a (slimmable) WaveNet's kernel runs at.
    """
    for mode in modes:
        if mode not in ("fast", "exact"):
            raise LeanampError(f"unknown mode {mode!r}: use 'fast' or 'exact'")
    results = []
    for name, model in models.items():
        if progress:
            progress(name)
        width = (widths or {}).get(name)
        try:
            processors: dict[str, StreamingProcessor] = {
                mode: make_processor(model, exact=(mode == "exact"), kernel=kernel)
                for mode in modes
            }
            if width is not None:
                for processor in processors.values():
                    processor.set_width(width)
        except LeanampError as e:
            results.append(BenchResult.failure(name, f"{name}: {e}", block, rate))
            continue
        if with_torch and isinstance(model, LSTMModel):
            on_cpu = model if next(model.parameters()).device.type == "cpu" else None
            baseline = on_cpu if on_cpu is not None else copy.deepcopy(model).cpu()
            processors["torch"] = TorchStreamingLSTM(baseline)
        signal = bench_signal(seconds, rate, int(getattr(model, "input_size", 1)))
        timings = time_processors(processors, signal, block, rate, repeats)
        total, nonzero = count_model_parameters(model if width is None else model.sliced(width))
        architecture = str(getattr(model, "architecture", type(model).__name__))
        result = BenchResult(
            name=name,
            architecture=architecture,
            kernel=kernel or architecture,
            parameters=total,
            nonzero_parameters=nonzero,
            hidden_size=getattr(model, "hidden_size", None),
            effective_hidden_size=effective_hidden_size(model),
            block=block,
            rate=rate,
            seconds=signal.shape[0] / rate,
            timings=timings,
            width=width,
        )
        if "torch" in timings:
            for mode in modes:
                result.torch_ratio[mode] = timings["torch"].rtf / timings[mode].rtf
        results.append(result)
    return results


def file_keys(paths: Sequence[str | os.PathLike]) -> dict[str, Path]:
    """Result names of model files: the file name, or the path where two names clash."""
    names = [Path(p).name for p in paths]
    return {
        name if names.count(name) == 1 else str(p): Path(p)
        for p, name in zip(paths, names, strict=True)
    }


def bench_files(
    paths: Sequence[str | os.PathLike],
    widths: Sequence[int] = (),
    block: int = 256,
    rate: float = 48000.0,
    seconds: float = 2.0,
    **options,
) -> list[BenchResult]:
    """`bench_models` on model files, in the order given (a WaveNet once per width in `widths`).

    A file that cannot be loaded, or a model that cannot run at a width or in any kernel, gives
    a result with its `error` ("<file>: what is wrong"); the others are still timed. Results are
    named by file name (the path when two names clash), "@width" appended for widths."""
    if not (math.isfinite(seconds) and seconds > 0) or not (math.isfinite(rate) and rate > 0):
        raise LeanampError("--seconds and --rate must be positive")
    order, loaded, by_width, failed = [], {}, {}, []
    for key, path in file_keys(paths).items():
        keys = [f"{key}@{w}" for w in widths] or [key]
        order += keys
        try:
            model, _ = load_any(path)
            if widths and not hasattr(model, "sliced"):
                raise LeanampError(f"{path}: --width applies to WaveNets, not this model")
            for w in widths:
                check_width(model, w, path)
        except LeanampError as e:
            failed.append(BenchResult.failure(key, str(e), block, rate))
            order[-len(keys) :] = [key]
            continue
        for k, w in zip(keys, widths or [None], strict=True):
            loaded[k] = model
            if w is not None:
                by_width[k] = w
    results = failed + bench_models(
        loaded, block=block, rate=rate, seconds=seconds, widths=by_width, **options
    )
    return sorted(results, key=lambda r: order.index(r.name))


def check_width(model: nn.Module, width: int, path) -> None:
    """Refuse a width the (slimmable) WaveNet cannot run at, naming the file."""
    try:
        model.array_widths(width)
    except ValueError as e:
        raise LeanampError(f"{path}: --width {width}: {e}") from None


def format_results(results: list[BenchResult]) -> str:
    """A plain-text table of `bench_models` results, one row per model and processor."""
    header = (
        f"{'model':<24} {'kernel':<12} {'mode':<6} {'params':>8} {'nonzero':>8} {'H_eff':>5} "
        f"{'RTF med':>9} {'min':>9} {'max':>9} {'RTF cpu':>9} {'x real time':>11} "
        f"{'Msamples/s':>10} {'vs torch':>8}"
    )
    lines = [header]
    for r in results:
        if r.error is not None:
            lines.append(f"error: {r.error}")
        for proc, t in r.timings.items():
            ratio = r.torch_ratio.get(proc)
            kernel = {"torch": "torch", "engine": r.engine}.get(proc, r.kernel)
            mode = r.engine_build if proc == "engine" else proc
            lines.append(
                f"{r.name[:24]:<24} {kernel[:12]:<12} {mode:<6} {r.parameters:>8} "
                f"{r.nonzero_parameters:>8} "
                f"{'' if r.effective_hidden_size is None else r.effective_hidden_size:>5} "
                f"{t.rtf:>9.5f} {t.rtf_min:>9.5f} {t.rtf_max:>9.5f} {t.rtf_cpu:>9.5f} "
                f"{1 / t.rtf:>11.1f} "
                f"{t.samples_per_second / 1e6:>10.3f} "
                f"{'' if ratio is None else f'{ratio:.1f}x':>8}"
            )
    timed = [r for r in results if r.error is None]
    if timed:
        r = timed[0]
        lines.append(
            f"block {r.block} samples at {r.rate:g} Hz, {r.seconds:g} s of audio per run, "
            f"median of {next(iter(r.timings.values())).repeats} runs; one thread. RTF cpu = "
            "thread CPU time / audio time (insensitive to other processes on a busy machine)"
        )
        if any(r.engine for r in results):
            lines.append(
                "NAM Core / RTNeural rows: the plugin's C++ engine (leanamp's driver, native = "
                "-O3 -march=native), the model as its plugin loads it, timed after the kernels"
            )
    return "\n".join(lines)


@dataclass
class RealTimeFactor:
    value: float  # processing time / audio duration
    method: str  # how it was measured, e.g. "bench fast mode (exact 0.19)"


def real_time_factor(
    model: nn.Module,
    sample_rate: float,
    seconds: float = 2.0,
    repeats: int = 5,
    width: int | None = None,
) -> RealTimeFactor:
    """Processing time / audio time, median of `repeats` runs over `seconds` of audio: exactly
    what `leanamp bench` measures (streaming kernel, blocks of 256, one thread, a WaveNet at
    `width` if given), in fast mode, the exact mode's figure in `method` (tables say which)."""
    result = bench_models(
        {"model": model}, rate=sample_rate, seconds=seconds, repeats=repeats,
        modes=("fast", "exact"), with_torch=False,
        widths=None if width is None else {"model": width},
    )[0]
    if result.error is not None:
        raise LeanampError(result.error)
    exact = result.timings["exact"].rtf
    return RealTimeFactor(result.timings["fast"].rtf, f"bench fast mode (exact {exact:.3g})")

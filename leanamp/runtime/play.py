"""Live playing: an audio-interface input streamed through a model to the outputs (sounddevice).

`AudioCallback` is the whole real-time path and is a plain class: sounddevice calls it with
(indata, outdata, frames, time, status) once per block, and tests call it the same way with
arrays. `play` opens the stream; `play_file` is `leanamp play`: a model file, its defaults and
checks, then `play`. sounddevice (optional extra `play`) is imported only when playing, so the
rest of leanamp works without PortAudio.
"""

from __future__ import annotations

import math
import os
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from leanamp.errors import LeanampError
from leanamp.formats import load_any
from leanamp.runtime.base import StreamingProcessor
from leanamp.runtime.bench import check_width
from leanamp.runtime.kernels import make_processor


class AudioCallback:
    """sounddevice callback: input channel -> processor (with knob values) -> every output channel.

    `level` scales the output (linear gain); the output is then clipped to +-`limit` so a model
    misbehaving (or a NaN) never sends more than full scale to the speakers. `bypass` passes the
    input through unchanged (still level-scaled), keeping the model's state where it was.
    """

    def __init__(
        self,
        processor: StreamingProcessor,
        knobs: Sequence[float] = (),
        input_channel: int = 0,
        level: float = 1.0,
        limit: float = 1.0,
        bypass: bool = False,
    ):
        self.processor = processor
        self.input_channel = int(input_channel)
        if self.input_channel < 0:
            raise LeanampError(f"input channel must be >= 0, got {input_channel}")
        if not (math.isfinite(level) and level >= 0):
            raise LeanampError(f"output level must be a finite gain >= 0, got {level}")
        if not (math.isfinite(limit) and limit > 0):
            raise LeanampError(f"output limit must be > 0, got {limit}")
        self.level = float(level)
        self.limit = float(limit)
        self.bypass = bool(bypass)
        self._knobs = np.zeros(processor.input_size - 1, dtype=np.float32)
        self.set_knobs(knobs)
        self._block = np.zeros((0, processor.input_size), dtype=np.float32)
        self.blocks = 0
        self.frames = 0
        self.status_events = 0  # blocks for which the audio driver flagged an under/overflow
        self.last_status = ""
        self.max_seconds = 0.0  # longest time spent inside one callback

    @property
    def knobs(self) -> np.ndarray:
        return self._knobs.copy()

    def set_knobs(self, values: Sequence[float]) -> None:
        values = [float(v) for v in values]
        if len(values) != self._knobs.size:
            raise LeanampError(
                f"this model takes {self._knobs.size} knob value(s), got {len(values)}; "
                f"pass --knob once per knob (values 0..1)"
            )
        if any(not (0.0 <= v <= 1.0) for v in values):
            raise LeanampError(f"knob values must be within 0..1, got {values}")
        self._knobs[:] = values
        if hasattr(self, "_block"):
            self._block[:, 1:] = self._knobs

    def _input_block(self, frames: int) -> np.ndarray:
        if self._block.shape[0] != frames:  # only when the driver changes its block size
            self._block = np.empty((frames, self.processor.input_size), dtype=np.float32)
            self._block[:, 1:] = self._knobs
        return self._block

    def __call__(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time, status) -> None:
        start = _time.perf_counter()
        if status:
            self.status_events += 1
            self.last_status = str(status)
        audio = indata[:frames, self.input_channel]
        if self.bypass:
            y = audio.astype(np.float32, copy=True)
        else:
            block = self._input_block(frames)
            block[:, 0] = audio
            y = self.processor.process(block)
        y *= self.level
        np.nan_to_num(y, copy=False, nan=0.0, posinf=self.limit, neginf=-self.limit)
        np.clip(y, -self.limit, self.limit, out=y)
        outdata[:frames] = y[:, None]
        self.blocks += 1
        self.frames += frames
        self.max_seconds = max(self.max_seconds, _time.perf_counter() - start)


def import_sounddevice():
    """The sounddevice module, or a LeanampError saying how to get it working."""
    try:
        import sounddevice
    except ImportError:
        raise LeanampError(
            "live playing needs the sounddevice package: pip install 'leanamp[play]'"
        ) from None
    except OSError as e:  # sounddevice raises OSError when the PortAudio library is missing
        raise LeanampError(
            f"sounddevice cannot load PortAudio ({e}); install it (Debian/Ubuntu: "
            "apt-get install libportaudio2; macOS: brew install portaudio)"
        ) from None
    return sounddevice


def _device_error(sd) -> type[Exception]:
    return getattr(sd, "PortAudioError", OSError)


def check_devices(sd, input_device, output_device, channels: tuple[int, int], rate: float) -> None:
    """Raise LeanampError unless the input and output devices exist and accept the settings."""
    error = _device_error(sd)
    try:
        devices = sd.query_devices()
    except error as e:
        raise LeanampError(
            f"cannot list audio devices ({e}); is an audio interface connected?"
        ) from None
    if len(devices) == 0:
        raise LeanampError(
            "no audio device found: connect an audio interface (or start the sound server) "
            "and check `python -m sounddevice` lists it"
        )
    for kind, device, n_channels, check in (
        ("input", input_device, channels[0], sd.check_input_settings),
        ("output", output_device, channels[1], sd.check_output_settings),
    ):
        try:
            check(device=device, channels=n_channels, samplerate=rate, dtype="float32")
        except (error, ValueError) as e:
            name = "the default device" if device is None else f"device {device!r}"
            raise LeanampError(
                f"{kind} {name} cannot run {n_channels} channel(s) at {rate:g} Hz ({e}); "
                f"pick one with --{kind}-device (list them with `python -m sounddevice`)"
            ) from None


@dataclass
class PlayStats:
    seconds: float
    blocks: int
    status_events: int
    last_status: str
    max_callback_load: float  # longest callback time / block duration (1.0 = dropout)


def play(
    processor: StreamingProcessor,
    rate: float,
    block: int = 256,
    knobs: Sequence[float] = (),
    level: float = 1.0,
    input_device: int | str | None = None,
    output_device: int | str | None = None,
    input_channel: int = 0,
    output_channels: int = 2,
    seconds: float | None = None,
    sd=None,
    on_start: Callable[[], None] | None = None,
) -> PlayStats:
    """Stream the input device through `processor` to the output device until Ctrl-C or
    `seconds`. `sd` is the sounddevice module (imported when None; tests pass a fake);
    `on_start` is called once the stream runs."""
    if block < 1:
        raise LeanampError(f"block size must be at least 1, got {block}")
    if not (math.isfinite(rate) and rate > 0):
        raise LeanampError(f"sample rate must be > 0, got {rate}")
    if output_channels < 1:
        raise LeanampError(f"output channels must be at least 1, got {output_channels}")
    sd = sd if sd is not None else import_sounddevice()
    callback = AudioCallback(processor, knobs, input_channel=input_channel, level=level)
    channels = (input_channel + 1, output_channels)
    check_devices(sd, input_device, output_device, channels, rate)
    processor.reset()
    started = _time.monotonic()
    try:
        with sd.Stream(
            device=(input_device, output_device),
            samplerate=rate,
            blocksize=block,
            channels=channels,
            dtype="float32",
            latency="low",
            callback=callback,
        ):
            if on_start is not None:
                on_start()
            while seconds is None or _time.monotonic() - started < seconds:
                _time.sleep(0.05 if seconds is None else min(0.05, seconds))
    except KeyboardInterrupt:
        pass
    except _device_error(sd) as e:
        raise LeanampError(f"audio stream failed: {e}") from None
    return PlayStats(
        seconds=_time.monotonic() - started,
        blocks=callback.blocks,
        status_events=callback.status_events,
        last_status=callback.last_status,
        max_callback_load=callback.max_seconds * rate / block,
    )


DEFAULT_PLAY_RATE = 48000.0  # for a model file that records no sample rate


def play_file(
    model_path: str | os.PathLike,
    knobs: Sequence[float] = (),
    block: int = 128,
    rate: float | None = None,
    level_db: float = 0.0,
    input_device: int | str | None = None,
    output_device: int | str | None = None,
    input_channel: int = 1,
    seconds: float | None = None,
    exact: bool = False,
    width: int | None = None,
    sd=None,
    log: Callable[[str], None] | None = None,
) -> PlayStats:
    """`leanamp play`: stream the input through the model of `model_path` (any format leanamp
    reads) until Ctrl-C or `seconds` (see `play`).

    rate: default the model's sample rate, else 48 kHz. input_channel: 1-based. Devices: a name,
    or an index (also as text: "2"). width: a slimmable WaveNet's width. exact: libm activations
    (slower). `log` gets the line saying what plays once the stream runs."""
    sd = sd if sd is not None else import_sounddevice()  # a missing library fails before loading
    if input_channel < 1:
        raise LeanampError(f"--input-channel is 1-based, got {input_channel}")
    model, metadata = load_any(model_path)
    sample_rate = rate or float(metadata.get("sample_rate") or DEFAULT_PLAY_RATE)
    processor = make_processor(model, exact=exact)  # the model's own initial state
    if width is not None:
        if not hasattr(model, "sliced"):
            raise LeanampError(f"{model_path}: --width applies to WaveNets, not this model")
        check_width(model, width, model_path)
        processor.set_width(width)

    def announce():
        if log is not None:
            log(f"playing {model_path} at {sample_rate:g} Hz, {block}-sample blocks; Ctrl-C to "
                "stop")  # fmt: skip

    return play(
        processor, sample_rate, block=block, knobs=knobs, level=10 ** (level_db / 20),
        input_device=_device_choice(input_device), output_device=_device_choice(output_device),
        input_channel=input_channel - 1, seconds=seconds, sd=sd, on_start=announce,
    )  # fmt: skip


def _device_choice(value: int | str | None) -> int | str | None:
    """An audio device by index (digits given as text count as one) or by name."""
    return int(value) if isinstance(value, str) and value.isdigit() else value

"""Live-play callback with a fake stream, the play command's errors, the benchmark's fields."""

import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from leanamp.errors import LeanampError
from leanamp.formats import save_model
from leanamp.models.lstm import LSTMModel
from leanamp.runtime import StreamingLSTM
from leanamp.runtime.bench import TorchStreamingLSTM, bench_models, format_results
from leanamp.runtime.play import AudioCallback, play


def model_with_knob(hidden=6, seed=0):
    torch.manual_seed(seed)
    return LSTMModel(hidden, input_size=2).eval()


class FakeStream:
    """Stands in for sounddevice.Stream: on entering, feeds the input in blocks of `frames` (the
    last one shorter) to the callback, collecting what it writes."""

    def __init__(self, signal, frames, statuses=(), input_channels=2, output_channels=2, **kw):
        self.signal, self.frames, self.statuses = signal, frames, list(statuses)
        self.input_channels, self.output_channels = input_channels, output_channels
        self.kwargs = kw
        self.output = []

    def run(self, callback):
        for i, start in enumerate(range(0, len(self.signal), self.frames)):
            chunk = self.signal[start : start + self.frames]
            indata = np.zeros((len(chunk), self.input_channels), np.float32)
            indata[:, -1] = chunk  # audio on the last input channel
            outdata = np.full((len(chunk), self.output_channels), np.nan, np.float32)
            status = self.statuses[i] if i < len(self.statuses) else ""
            callback(indata, outdata, len(chunk), None, status)
            self.output.append(outdata.copy())
        return np.concatenate(self.output)


def test_callback_streams_through_the_model_with_knobs_level_and_limit(rng):
    model = model_with_knob()
    signal = (0.3 * rng.standard_normal(3000)).astype(np.float32)
    processor = StreamingLSTM.from_model(model)
    callback = AudioCallback(processor, knobs=[0.25], input_channel=1, level=0.5)
    stream = FakeStream(signal, 256, statuses=["", "input overflow"])
    out = stream.run(callback)
    knob_input = np.stack([signal, np.full_like(signal, 0.25)], axis=1)
    with torch.no_grad():
        expected = 0.5 * model(torch.from_numpy(knob_input)[None])[0][0].numpy()
    assert np.max(np.abs(out[:, 0] - expected)) < 1e-4
    assert np.array_equal(out[:, 0], out[:, 1])  # every output channel gets the signal
    assert callback.blocks == 12 and callback.frames == 3000
    assert callback.status_events == 1 and callback.last_status == "input overflow"

    callback.level = 100.0  # far above full scale: the limiter holds the output at +-1
    loud = FakeStream(signal, 128).run(callback)
    assert np.max(np.abs(loud)) == pytest.approx(1.0)


def test_callback_knob_change_bypass_and_bad_knobs(rng):
    model = model_with_knob()
    processor = StreamingLSTM.from_model(model)
    callback = AudioCallback(processor, knobs=[0.0])
    signal = (0.3 * rng.standard_normal(512)).astype(np.float32)
    low = FakeStream(signal, 512, input_channels=1).run(callback)
    processor.reset()
    callback.set_knobs([1.0])
    assert callback.knobs.tolist() == [1.0]
    high = FakeStream(signal, 512, input_channels=1).run(callback)
    assert np.max(np.abs(high - low)) > 1e-3  # the knob value reaches the model
    callback.bypass = True
    assert np.array_equal(FakeStream(signal, 100, input_channels=1).run(callback)[:, 0], signal)
    with pytest.raises(LeanampError, match="1 knob value"):
        callback.set_knobs([0.1, 0.2])
    with pytest.raises(LeanampError, match="within 0..1"):
        AudioCallback(processor, knobs=[1.5])


def fake_sounddevice(devices, stream_factory=None, reject_output=False):
    sd = types.SimpleNamespace()

    class PortAudioError(Exception):
        pass

    sd.PortAudioError = PortAudioError
    sd.query_devices = lambda: devices
    sd.check_input_settings = lambda **kw: None

    def check_output_settings(**kw):
        if reject_output:
            raise PortAudioError("Invalid sample rate")

    sd.check_output_settings = check_output_settings
    sd.Stream = stream_factory
    return sd


def test_play_runs_a_fake_stream_and_reports(rng):
    signal = (0.3 * rng.standard_normal(2048)).astype(np.float32)
    streams = []

    class ContextStream(FakeStream):
        def __init__(self, **kw):
            super().__init__(signal, kw["blocksize"], input_channels=kw["channels"][0])
            self.callback = kw["callback"]
            self.kwargs = kw
            streams.append(self)

        def __enter__(self):
            self.result = self.run(self.callback)
            return self

        def __exit__(self, *exc):
            return False

    processor = StreamingLSTM.from_model(model_with_knob())
    sd = fake_sounddevice([{"name": "fake"}], ContextStream)
    stats = play(processor, 48000, block=128, knobs=[0.5], seconds=0.0, sd=sd)
    assert stats.blocks == 16 and stats.status_events == 0
    assert stats.max_callback_load > 0
    assert streams[0].kwargs["samplerate"] == 48000 and streams[0].kwargs["dtype"] == "float32"
    assert np.all(np.isfinite(streams[0].result))


def test_play_without_devices_or_with_a_bad_rate_is_a_clear_error():
    processor = StreamingLSTM.from_model(LSTMModel(4).eval())
    with pytest.raises(LeanampError, match="no audio device found"):
        play(processor, 48000, sd=fake_sounddevice([]))
    with pytest.raises(LeanampError, match="output the default device cannot run 2 channel"):
        play(processor, 48000, sd=fake_sounddevice([{"name": "x"}], reject_output=True))


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "amp.leanamp"
    torch.manual_seed(0)
    save_model(LSTMModel(5).eval(), path, {"sample_rate": 48000})
    return path


def test_play_command_with_no_device_fails_cleanly(model_file, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([]))
    code, _, err = run_cli(["play", str(model_file), "--seconds", "1"])
    assert code == 2
    assert err.startswith("error: no audio device found") and "Traceback" not in err


class _Raise:
    """An import hook making `import sounddevice` fail as it does without PortAudio."""

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


@pytest.mark.parametrize("missing", ["package", "portaudio"])
def test_play_command_without_sounddevice_or_portaudio_fails_cleanly(
    missing, model_file, run_cli, monkeypatch
):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    if missing == "package":
        monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    else:
        monkeypatch.setattr(sys, "meta_path", [_Raise(), *sys.meta_path])
    code, _, err = run_cli(["play", str(model_file)])
    assert code == 2 and "Traceback" not in err
    assert ("pip install 'leanamp[play]'" in err) if missing == "package" else ("PortAudio" in err)


def test_bench_returns_sane_fields_on_a_tiny_run():
    torch.manual_seed(0)
    model = LSTMModel(8, input_size=2).eval()
    with torch.no_grad():
        model.head.weight[0, :3] = 0  # three units no longer reach the output ...
        model.lstm.weight_hh_l0[:, :3] = 0  # ... directly or through the recurrence
    (result,) = bench_models({"tiny": model}, block=64, rate=8000, seconds=0.05, repeats=3)
    assert result.parameters == sum(p.numel() for p in model.parameters())
    assert result.nonzero_parameters == result.parameters - 3 - 3 * 32
    assert result.hidden_size == 8 and result.effective_hidden_size == 5
    assert set(result.timings) == {"fast", "exact", "torch"} and result.kernel == "lstm"
    for timing in result.timings.values():
        assert 0 < timing.rtf_min <= timing.rtf <= timing.rtf_max and timing.repeats == 3
        assert timing.rtf_cpu > 0
        assert timing.samples_per_second == pytest.approx(8000 / timing.rtf, rel=1e-6)
    assert result.torch_ratio["fast"] == pytest.approx(
        result.timings["torch"].rtf / result.timings["fast"].rtf
    )
    assert "tiny" in format_results([result])
    assert result.to_dict()["timings"]["fast"]["repeats"] == 3


def test_torch_baseline_streams_like_the_model(rng):
    model = model_with_knob()
    x = np.stack([0.3 * rng.standard_normal(700), np.full(700, 0.5)], axis=1).astype(np.float32)
    baseline = TorchStreamingLSTM(model)
    y = np.concatenate([baseline.process(x[i : i + 64]) for i in range(0, 700, 64)])
    with torch.no_grad():
        expected = model(torch.from_numpy(x)[None])[0][0].numpy()
    assert np.max(np.abs(y - expected)) < 1e-5


def test_bench_command_prints_json(model_file, run_cli):
    import json

    code, out, _ = run_cli(
        ["bench", str(model_file), "--block", "32", "--seconds", "0.02", "--repeats", "2",
         "--json"],
    )  # fmt: skip
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["effective_hidden_size"] == 5 and entry["block"] == 32
    assert entry["timings"]["fast"]["rtf"] > 0 and entry["torch_ratio"]["fast"] > 0


def test_kernels_are_loaded_from_the_numba_cache_in_a_new_process():
    # This process compiled (or loaded) the kernels; a fresh one must find them in the cache.
    StreamingLSTM.from_model(LSTMModel(3).eval()).process(np.zeros(8, np.float32))
    code = (
        "import numpy as np\n"
        "from leanamp.models.lstm import LSTMModel\n"
        "from leanamp.runtime.lstm import StreamingLSTM, dense_lstm_exact\n"
        "StreamingLSTM.from_model(LSTMModel(3).eval()).process(np.zeros(8, np.float32))\n"
        "s = dense_lstm_exact.stats\n"
        "print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    hits, misses = int(out[0]), int(out[1])
    assert hits >= 1 and misses == 0


def test_processors_implement_the_protocol_and_are_registered():
    from leanamp.runtime import SparseStreamingLSTM, StreamingProcessor, kernels

    model = LSTMModel(3).eval()
    for processor in (
        StreamingLSTM.from_model(model),
        SparseStreamingLSTM.from_model(model),
        TorchStreamingLSTM(model),
    ):
        assert isinstance(processor, StreamingProcessor)
    assert {"lstm", "lstm-sparse"} <= set(kernels())


@pytest.fixture
def wavenet_file(tmp_path):
    from leanamp.models import new_model

    path = tmp_path / "wn.leanamp"
    torch.manual_seed(0)
    save_model(new_model("wavenet", preset="nano", slimmable=True), path, {"sample_rate": 48000})
    return path


def test_bench_command_times_a_wavenet_at_each_width(wavenet_file, model_file, run_cli):
    import json

    from leanamp.formats import load_any

    code, out, err = run_cli(
        ["bench", str(wavenet_file), "--width", "2", "--width", "4", "--block", "64",
         "--seconds", "0.02", "--repeats", "1", "--json"],
    )  # fmt: skip
    assert code == 0, err
    entries = {e["name"]: e for e in json.loads(out)}
    assert set(entries) == {"wn.leanamp@2", "wn.leanamp@4"}
    model, _ = load_any(wavenet_file)
    assert entries["wn.leanamp@4"]["parameters"] == sum(p.numel() for p in model.parameters())
    narrow = sum(p.numel() for p in model.sliced(2).parameters())
    assert entries["wn.leanamp@2"]["parameters"] == narrow and entries["wn.leanamp@2"]["width"] == 2
    for bad, message in (([str(model_file), "--width", "2"], "WaveNets"),
                         ([str(wavenet_file), "--width", "5"], "--width 5")):  # fmt: skip
        code, _, err = run_cli(["bench", *bad])
        assert code == 2 and message in err and "Traceback" not in err


def test_play_command_starts_a_wavenet_at_the_chosen_width(wavenet_file, run_cli, monkeypatch):
    import leanamp.runtime.play as play_module

    played = {}

    def fake_play(processor, rate, **kwargs):
        played["widths"] = processor.widths
        raise LeanampError("stopped by the test")

    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([{"name": "fake"}]))
    monkeypatch.setattr(play_module, "play", fake_play)
    code, _, err = run_cli(["play", str(wavenet_file), "--width", "3"])
    assert code == 2 and "stopped by the test" in err
    assert tuple(played["widths"]) == (3, 2)
    code, _, err = run_cli(["play", str(wavenet_file), "--width", "9"])
    assert code == 2 and "--width 9" in err


def test_play_file_takes_its_defaults_and_checks_from_the_api(tmp_path, rng):
    from leanamp.runtime.play import play_file

    path = tmp_path / "amp.leanamp"
    save_model(LSTMModel(3).eval(), path, {"sample_rate": 44100})
    signal = (0.3 * rng.standard_normal(512)).astype(np.float32)
    streams, lines = [], []

    class ContextStream(FakeStream):
        def __init__(self, **kw):
            super().__init__(signal, kw["blocksize"], input_channels=kw["channels"][0])
            self.callback, self.kwargs = kw["callback"], kw
            streams.append(self)

        def __enter__(self):
            self.run(self.callback)
            return self

        def __exit__(self, *exc):
            return False

    sd = fake_sounddevice([{"name": "fake"}], ContextStream)
    stats = play_file(path, block=64, input_device="3", output_device="fake", input_channel=2,
                      seconds=0.0, sd=sd, log=lines.append)
    kwargs = streams[0].kwargs
    assert kwargs["samplerate"] == 44100  # the model's rate when none is given
    assert kwargs["device"] == (3, "fake") and kwargs["channels"][0] == 2
    assert stats.blocks == 8 and lines == [f"playing {path} at 44100 Hz, 64-sample blocks; "
                                           "Ctrl-C to stop"]
    with pytest.raises(LeanampError, match="1-based"):
        play_file(tmp_path / "never read.leanamp", input_channel=0, sd=sd)
    with pytest.raises(LeanampError, match="--width applies to WaveNets"):
        play_file(path, width=2, sd=sd)

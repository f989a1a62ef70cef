"""Data the benchmarks share: the MorphDrive pedal with its PROVENANCE.md split, the same dry
clips rendered through a virtual circuit, and shortened clips for CPU-sized runs."""

from __future__ import annotations

from pathlib import Path

from leanamp.data import Clip, DeviceData, load_device_data

MORPHDRIVE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "morphdrive"
SPLIT = {"validation": ["guitar-chords"], "test": ["guitar-funk2"]}
# Every LSTM size the lean grid's tables (benchmarks/lean) show: both timing scripts price them
LSTM_SIZES = [4, 6, 8, 10, 12, 14, 15, 16, 18, 20, 24, 32, 40, 48, 64, 96]


def morphdrive_data(pedal: str = "zendrive_g5_t3") -> DeviceData:
    """One pedal setting: train on six clips, validate on guitar-chords, test on guitar-funk2."""
    return load_device_data(MORPHDRIVE / "dry", MORPHDRIVE / "pedal", f"a_{pedal}_", **SPLIT)


def rendered_through(device: str, data: DeviceData) -> DeviceData:
    """The same dry clips with targets rendered by a virtual circuit (gain 0.7, tone 0.5)."""
    from leanamp.devices.circuits import get_device

    circuit = get_device(device, gain=0.7, tone=0.5, sample_rate=data.sample_rate)

    def render(clips: list[Clip]) -> list[Clip]:
        return [Clip(c.name, c.input, circuit.render(c.input[:, 0]), c.sample_rate) for c in clips]

    return DeviceData(
        render(data.train), render(data.validation), render(data.test), data.sample_rate
    )


def device_data(device: str) -> DeviceData:
    """"zendrive": the real pedal (zendrive g5 t3); any circuit name: its rendering of the clips."""
    data = morphdrive_data()
    return data if device == "zendrive" else rendered_through(device, data)


def slim_models_dir(results: Path, device: str) -> Path:
    """Where bench_slim.py keeps a device's trained models (the real pedal's without a suffix)."""
    return results / f"slim_models{result_suffix(device)}"


def result_suffix(device: str) -> str:
    """How result files name the device: nothing for the real pedal, "_<circuit>" otherwise."""
    return "" if device == "zendrive" else f"_{device}"


def first_seconds(clips: list[Clip], seconds: float) -> list[Clip]:
    return [c.slice(0, int(seconds * c.sample_rate)) for c in clips]

"""Sweep configuration: a YAML or TOML file naming devices, architectures, sizes, methods and seeds.

Every combination is one run. A run's identity is its name plus a short hash of everything that
determines its result, so editing the training options of a finished sweep starts new runs instead
of silently reusing old ones.

    name: table-one
    sample_rate: 16000           # virtual devices are rendered at this rate
    data_seconds: 8              # length of the generated guitar performance per virtual device
    devices:
      - {name: od, device: overdrive, gain: 0.5, tone: 0.5}        # a virtual device
      - {name: pedal, input: dry/, target: wet/, target_prefix: a_}  # recordings
      - {name: amp, input: in.wav, target: out.wav, latency: 312, polarity: 1}  # given by hand
    architectures: [lstm]
    sizes: [8, 16]               # LSTM hidden size (WaveNet: channels; nam_preset: 4/8/12/16)
    methods: [train, prune]
    seeds: [0]
    train: {max_epochs: 4, segment_seconds: 0.25, batch_size: 8}   # leanamp.train.TrainConfig
    prune: {iterations: 2, max_epochs_per_iteration: 3, choose_tolerance: 0.1}  # SearchConfig
    resources: {cpus_per_run: 1, gpus_per_run: 1}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from leanamp.errors import LeanampError
from leanamp.sweep.methods import ARCHITECTURE_SIZES, METHOD_OPTIONS, METHODS, method_options_key
from leanamp.sweep.spec import RunSpec
from leanamp.train import TrainConfig

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: YAML configs only
    tomllib = None

VIRTUAL_DEVICE_KEYS = {"name", "device", "gain", "tone", "latency", "polarity"}
RECORDED_DEVICE_KEYS = {
    "name", "input", "target", "target_prefix", "validation", "test", "validation_fraction",
    "test_fraction", "sample_rate", "latency", "polarity",
}
TOP_LEVEL_KEYS = {
    "name", "sample_rate", "data_seconds", "render_seconds", "rtf_seconds", "engine_rtf",
    "devices", "architectures", "sizes", "methods", "seeds", "train", "resources",
}


@dataclass
class SweepConfig:
    name: str
    runs: list[RunSpec]
    cpus_per_run: float = 1.0
    gpus_per_run: float = 1.0  # asked for only when the cluster has GPUs
    source: str = ""
    raw: dict = field(default_factory=dict)


def _read(path: Path) -> dict:
    if not path.is_file():
        raise LeanampError(f"{path}: no such sweep config file")
    text = path.read_text()
    if path.suffix.lower() == ".toml" and tomllib is None:
        raise LeanampError(f"{path}: TOML configs need Python 3.11 or later; write it as YAML")
    try:
        if path.suffix.lower() == ".toml":
            values = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            values = yaml.safe_load(text)
        else:
            raise LeanampError(f"{path}: a sweep config must be .yaml, .yml or .toml")
    except (ValueError, yaml.YAMLError) as e:  # tomllib.TOMLDecodeError is a ValueError
        raise LeanampError(f"{path}: not valid {path.suffix[1:].upper()}: {e}") from None
    if not isinstance(values, dict):
        raise LeanampError(f"{path}: the config must be a mapping of keys to values")
    return values


def _list(values: dict, key: str, path: Path, kind: type, default=None) -> list:
    items = values.get(key, default)
    if items is None:
        raise LeanampError(f"{path}: missing '{key}' (a list)")
    if not isinstance(items, list):
        items = [items]
    if not items:
        raise LeanampError(f"{path}: '{key}' is empty")
    for item in items:
        if not isinstance(item, kind) or isinstance(item, bool):
            raise LeanampError(f"{path}: '{key}' entries must be {kind.__name__}, got {item!r}")
    return items


def _device(entry, path: Path) -> dict:
    if isinstance(entry, str):
        entry = {"name": entry, "device": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise LeanampError(f"{path}: each device needs a 'name', got {entry!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+)*", str(entry["name"])):
        raise LeanampError(
            f"{path}: device name {entry['name']!r} may hold only letters, digits, '_', '.', '-'"
        )
    if "device" in entry:
        allowed = VIRTUAL_DEVICE_KEYS
    elif "input" in entry and "target" in entry:
        allowed = RECORDED_DEVICE_KEYS
    else:
        raise LeanampError(
            f"{path}: device {entry['name']!r} needs 'device' (a virtual device: overdrive, "
            "diode-clipper, amp) or both 'input' and 'target' (recordings)"
        )
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise LeanampError(
            f"{path}: device {entry['name']!r} has unknown keys {unknown}; allowed: "
            f"{sorted(allowed)}"
        )
    return dict(entry)


def load_sweep_config(path: str | os.PathLike) -> SweepConfig:
    """Read and check a sweep config; expand it into one RunSpec per combination."""

    path = Path(path).resolve()
    values = _read(path)
    unknown = sorted(set(values) - TOP_LEVEL_KEYS - {key for key in METHODS})
    if unknown:
        raise LeanampError(
            f"{path}: unknown keys {unknown}; known: {sorted(TOP_LEVEL_KEYS | set(METHODS))}"
        )
    devices = [_device(d, path) for d in _list(values, "devices", path, (dict, str))]
    names = [d["name"] for d in devices]
    if len(set(names)) != len(names):
        raise LeanampError(f"{path}: device names must be unique, got {names}")
    architectures = _list(values, "architectures", path, str, ["lstm"])

    for arch in architectures:
        if arch not in ARCHITECTURE_SIZES:
            raise LeanampError(
                f"{path}: unknown architecture {arch!r}; known: {sorted(ARCHITECTURE_SIZES)}"
            )
    sizes = _list(values, "sizes", path, int)
    if any(s < 1 for s in sizes):
        raise LeanampError(f"{path}: sizes must be positive, got {sizes}")
    for arch in architectures:  # a size an architecture cannot build fails here, not in a run
        for size in sizes:
            try:
                ARCHITECTURE_SIZES[arch](size, 1)
            except ValueError as e:
                raise LeanampError(f"{path}: {e}") from None
    methods = _list(values, "methods", path, str)
    for method in methods:
        if method not in METHODS:
            raise LeanampError(f"{path}: unknown method {method!r}; known: {sorted(METHODS)}")
    seeds = _list(values, "seeds", path, int, [0])
    train = values.get("train", {}) or {}
    if not isinstance(train, dict):
        raise LeanampError(f"{path}: 'train' must be a mapping of TrainConfig fields")

    known_train = set(TrainConfig.__dataclass_fields__)
    bad = sorted(set(train) - known_train)
    if bad:
        raise LeanampError(f"{path}: unknown 'train' keys {bad}; known: {sorted(known_train)}")
    try:  # its values too, here rather than in every run once the sweep has started
        TrainConfig.from_dict(train)
    except (LeanampError, TypeError) as e:
        raise LeanampError(f"{path}: 'train': {e}") from None
    resources = values.get("resources", {}) or {}
    bad = sorted(set(resources) - {"cpus_per_run", "gpus_per_run"})
    if bad:
        raise LeanampError(f"{path}: unknown 'resources' keys {bad}")
    sample_rate = int(values.get("sample_rate", 48000))
    data_seconds = float(values.get("data_seconds", 60.0))
    render_seconds = float(values.get("render_seconds", 10.0))
    rtf_seconds = float(values.get("rtf_seconds", 1.0))  # the paper timed one second of audio
    engine_rtf = values.get("engine_rtf", False)
    if not isinstance(engine_rtf, bool):
        raise LeanampError(f"{path}: engine_rtf must be true or false")
    if sample_rate < 8000 or min(data_seconds, render_seconds, rtf_seconds) <= 0:
        raise LeanampError(
            f"{path}: sample_rate must be >= 8000 and data_seconds, render_seconds, rtf_seconds "
            "positive"
        )
    method_options = {}
    for method in methods:
        options = values.get(method_options_key(method), {}) or {}
        if not isinstance(options, dict):
            raise LeanampError(f"{path}: '{method}' options must be a mapping")
        for arch in architectures:  # here rather than in every run once the sweep has started
            try:
                if method in METHOD_OPTIONS:
                    METHOD_OPTIONS[method](options, arch)
            except (LeanampError, TypeError, ValueError) as e:
                raise LeanampError(f"{path}: '{method}': {e}") from None
        method_options[method] = options
    runs = []
    for device in devices:
        for arch in architectures:
            for size in sizes:
                for method in methods:
                    for seed in seeds:
                        runs.append(
                            RunSpec(
                                device=device,
                                architecture=arch,
                                size=int(size),
                                method=method,
                                seed=int(seed),
                                train={**train, "seed": int(seed)},
                                method_options=dict(method_options[method]),
                                sample_rate=sample_rate,
                                data_seconds=data_seconds,
                                render_seconds=render_seconds,
                                rtf_seconds=rtf_seconds,
                                base_dir=str(path.parent),
                                engine_rtf=engine_rtf,
                            )
                        )
    return SweepConfig(
        name=str(values.get("name", path.stem)),
        runs=runs,
        cpus_per_run=float(resources.get("cpus_per_run", 1.0)),
        gpus_per_run=float(resources.get("gpus_per_run", 1.0)),
        source=str(path),
        raw=values,
    )

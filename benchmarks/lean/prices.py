"""What a model costs to run, as the tables price it: real-time factors (thread CPU time over
audio time) by model size from the timing benchmarks' last runs in benchmarks/results
(runtime.json of bench_runtime.py, engines.json of bench_engines.py). A dense model's speed
depends on its size only, so one timing serves every model of a size.
"""

from __future__ import annotations

import functools
import json

import record  # noqa: I001  (a sibling script: record.RESULTS, which tests point elsewhere)

from leanamp.models.wavenet import PRESET_CHANNELS, PRESETS


def timing_runs() -> str:
    """When and on which CPU the RTFs of the tables were taken (the results' meta)."""
    runs = []
    for script, name, key in (("bench_runtime.py", "runtime.json", "machine"),
                              ("bench_engines.py", "engines.json", "cpu")):  # fmt: skip
        path = record.RESULTS / name
        if path.exists():
            meta = json.loads(path.read_text())["meta"]
            runs.append(f"`{script}` {meta['date']} on {meta.get(key, 'an unrecorded CPU')}")
    return "; ".join(runs) or "none yet"


@functools.cache
def kernel_rtfs() -> dict[int, tuple[float, float]]:
    """(fast, exact) real-time factor of leanamp's streaming LSTM kernel by hidden size, thread
    CPU time, from benchmarks/bench_runtime.py's last run (runtime.json, a quiet machine): a
    dense kernel's speed depends on its size only, so one timing serves every model of a size
    (the grid's own timings were taken under load)."""
    path = record.RESULTS / "runtime.json"
    if not path.exists():
        return {}
    return {r["hidden"]: (r["cpu_fast"], r["cpu_exact"])
            for r in json.loads(path.read_text())["hidden"]}


@functools.cache
def engine_rows() -> list[dict]:
    """The rows of benchmarks/bench_engines.py's last run (engines.json): leanamp's kernels and
    the plugin engines, LSTMs and WaveNets timed in one interleaved run; [] before any ran."""
    path = record.RESULTS / "engines.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def fastest_build(row: dict, engine: str) -> float | None:
    """The lowest real-time factor (thread CPU time) among `engine`'s builds in an engines row,
    None if that engine did not run the model."""
    return min((v for k, v in row["rtf_cpu"].items() if k.startswith(engine)), default=None)


def lstm_engine_rtfs() -> dict[int, tuple[float, float | None]]:
    """(leanamp's fast kernel, RTNeural's fastest build) real-time factor by LSTM size (AIDA-X
    and the GuitarML plugins run RTNeural): one interleaved run with the WaveNets, so their
    prices compare."""
    return {int(r["name"].split("H")[-1]): (r["rtf_cpu"]["leanamp fast"],
                                             fastest_build(r, "RTNeural"))
            for r in engine_rows() if r["kind"] == "lstm"}  # fmt: skip


def rtf_cell(rtf: float | None) -> str:
    return "not timed" if rtf is None else f"{rtf:.4f}"


def engine_text(size: int) -> str:
    return rtf_cell(lstm_engine_rtfs().get(size, (None, None))[1])


def rtf_text(size: int) -> str:
    rtf = kernel_rtfs().get(size)
    return "not timed" if rtf is None else f"{rtf[0]:.4f} / {rtf[1]:.4f}"


def wavenet_engine_rtfs() -> dict[tuple[str, int], tuple[float, float | None]]:
    """(leanamp's fast kernel, NAM Core's fastest build) real-time factor, thread CPU time, from
    `engine_rows`, by (architecture, size) as the grid names WaveNets: ("nam_preset", channels)
    for NAM's presets ("WaveNet lite"), ("wavenet", channels) for the standard's dilations at
    other widths ("WaveNet 8 channels"), the standard itself both ("wavenet", 16) and
    ("nam_preset", 16): one model."""
    rtfs = {}
    for row in engine_rows():
        name = row["name"].removeprefix("WaveNet ")
        if row["kind"] != "wavenet":
            continue
        price = (row["rtf_cpu"]["leanamp fast"], fastest_build(row, "NAM Core"))
        if name in PRESETS:
            rtfs[("nam_preset", PRESET_CHANNELS[name])] = price
            if name == "standard":
                rtfs[("wavenet", PRESET_CHANNELS[name])] = price
        elif name.endswith(" channels"):
            rtfs[("wavenet", int(name.split()[0]))] = price
    return rtfs

"""An independent loader: the `neural-amp-modeler` package (import `nam`) plays leanamp's exported
.nam files, and leanamp plays NAM's example files, with the same audio.

`nam` pulls a large dependency tree, so it lives in its own environment and runs in a
subprocess (nam_runner.py). Its Python is $LEANAMP_NAM_PYTHON, else venv-nam/bin/python beside
the running environment (e.g. /work/venv-nam for /work/venv). Without it these tests skip, unless
$LEANAMP_REQUIRE_NAM=1 (set in CI), where they fail so the check cannot silently vanish.
Files are loaded exactly as leanamp writes them. nam 0.13 (the current package, installed beside
0.12 as nam-0.13/) reads leanamp's default files: LSTMs (0.5.4) and WaveNets and
SlimmableContainer submodels in the 0.7 layout. nam 0.12.x reads only the legacy 0.5.4 layout,
which `export_nam(..., legacy=True)` writes for plugin releases before NAM Core 0.7.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nam_test_models import random_lstm, random_wavenet

from leanamp.formats.nam import (
    export_nam,
    export_nam_slimmable,
    load_nam,
    load_nam_slimmable,
    measure_loudness,
)
from leanamp.inference import run_model
from leanamp.models.slim import container_submodels, make_slimmable
from leanamp.models.wavenet import preset

RUNNER = Path(__file__).with_name("nam_runner.py")
TOLERANCE = 1e-4
GATED_WAVENET = [
    {"input_size": 1, "condition_size": 1, "head_size": 3, "channels": 4, "kernel_size": 3,
     "dilations": [1, 2, 4, 8], "activation": "Tanh", "gated": True, "head_bias": False},
    {"input_size": 4, "condition_size": 1, "head_size": 1, "channels": 3, "kernel_size": 2,
     "dilations": [16, 1], "activation": "ReLU", "gated": False, "head_bias": True},
]  # fmt: skip


def nam_python() -> Path | None:
    given = os.environ.get("LEANAMP_NAM_PYTHON")
    candidate = Path(given) if given else Path(sys.prefix).parent / "venv-nam" / "bin" / "python"
    return candidate if candidate.is_file() else None


@pytest.fixture(scope="module")
def nam_run(tmp_path_factory):
    """run(jobs, nam_0_13=False): (nam file, input (time,), submodel) jobs through `nam`.

    nam 0.12 is the environment's own; nam 0.13 is installed beside it (--target nam-0.13).
    """
    python = nam_python()
    if python is None:
        if os.environ.get("LEANAMP_REQUIRE_NAM") == "1":
            pytest.fail("LEANAMP_REQUIRE_NAM=1 but no nam environment (see this module's doc)")
        pytest.skip("the neural-amp-modeler environment is not installed")
    folder = tmp_path_factory.mktemp("nam_run")

    def run_all(jobs, nam_0_13=False):
        env = dict(os.environ)
        if nam_0_13:
            target = python.parent.parent / "nam-0.13"
            if not target.is_dir():
                pytest.fail(f"nam 0.13 is not installed at {target}")
            env["PYTHONPATH"] = str(target)
        tag = "13" if nam_0_13 else "12"
        spec = []
        for k, (path, x, submodel) in enumerate(jobs):
            np.save(folder / f"in{tag}_{k}.npy", x.astype(np.float32))
            spec.append(
                {"nam": str(path), "input": str(folder / f"in{tag}_{k}.npy"),
                 "output": str(folder / f"out{tag}_{k}.npy"), "submodel": submodel,
                 "loudness": True}
            )  # fmt: skip
        (folder / f"jobs{tag}.json").write_text(json.dumps(spec))
        done = subprocess.run(
            [str(python), str(RUNNER), str(folder / f"jobs{tag}.json")],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"nam 0.{tag}." in done.stdout, done.stdout
        run_all.loudness = [
            float(np.load(folder / f"out{tag}_{k}.npy.loudness.npy")) for k in range(len(jobs))
        ]
        return [np.load(folder / f"out{tag}_{k}.npy").astype(np.float64) for k in range(len(jobs))]

    return run_all


def compare(cases, outputs):
    for (label, _, _, ours), theirs in zip(cases, outputs, strict=True):
        assert theirs.shape == ours.shape, label
        assert np.max(np.abs(theirs)) > 1e-3, f"{label}: silent output proves nothing"
        error = np.max(np.abs(theirs - ours))
        assert error <= TOLERANCE, f"{label}: nam and leanamp differ by {error:.3g}"


def probe(n=12000, seed=7):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 48000
    x = 0.6 * np.sin(2 * np.pi * 110 * t) * np.exp(-3 * t) + 0.2 * np.sin(2 * np.pi * 440 * t)
    return (x + 0.05 * rng.standard_normal(n)).astype(np.float32)


def test_nam_0_12_plays_legacy_exports_and_leanamp_plays_nam_examples(
    nam_run, tmp_path, reference_models
):
    """The legacy layout (legacy=True) for old plugins, as nam 0.12 reads it."""
    x = probe()
    cases = []  # (label, file, submodel, leanamp output)
    for label, model in [
        ("lstm 1x8", random_lstm(8, 1, 0)),
        ("lstm 2x5", random_lstm(5, 2, 1)),
        ("wavenet gated", random_wavenet(GATED_WAVENET, 2)),
        ("wavenet nano", random_wavenet(preset("nano"), 3)),
    ]:
        path = export_nam(model, tmp_path / f"{label.replace(' ', '_')}.nam", legacy=True)
        again, _ = load_nam(path)
        cases.append((label, path, None, run_model(again, x[:, None])))
    slimmable = make_slimmable(random_wavenet(preset("nano"), 6))
    plain = export_nam(slimmable.sliced(2), tmp_path / "width2.nam", legacy=True)
    slimmable.set_width(2)
    cases.append(("slimmable model at width 2", plain, None, run_model(slimmable, x[:, None])))
    for name in ["lstm.nam", "wavenet.nam", "wavenet_a1_standard.nam"]:
        cases.append(reference_case(reference_models / "nam" / name, x))
    compare(cases, nam_run([(path, x, submodel) for _, path, submodel, _ in cases]))
    # The loudness leanamp writes (on its own standard signal) agrees with nam's measure on
    # NAM's trained example models (random-weight models filter too oddly to compare).
    for (label, path, _, _), theirs in zip(cases, nam_run.loudness, strict=True):
        if label.startswith("reference"):
            model, _ = load_nam(path)
            ours = measure_loudness(model, 48000)
            assert abs(ours - theirs) < 1.0, f"{label}: loudness {ours:.2f} vs nam {theirs:.2f} dB"


def reference_case(path, x):
    model, _ = load_nam(path)
    y = run_model(model, x[:, None])
    return (f"reference {path.name}", path, None, y)


def test_nam_0_13_plays_default_exports_as_written(nam_run, tmp_path, reference_models):
    """nam 0.13 loads leanamp's default files with no key rewritten: LSTMs, WaveNets and
    SlimmableContainer submodels in the 0.7 layout, exported widths of a slimmable model, and
    NAM's A2 container as read and as re-exported. (NAM's own legacy-layout examples, e.g.
    wavenet.nam, do not load in nam 0.13; NAM Core plays them, tests/engines.)"""
    x = probe()
    cases = []
    for label, model in [
        ("lstm 1x8", random_lstm(8, 1, 0)),
        ("lstm 2x5", random_lstm(5, 2, 1)),
        ("wavenet gated", random_wavenet(GATED_WAVENET, 2)),
        ("wavenet nano", random_wavenet(preset("nano"), 3)),
    ]:
        path = export_nam(model, tmp_path / f"{label.replace(' ', '_')}.nam")
        assert json.loads(path.read_text())["version"] in ("0.5.4", "0.7.0")
        again, _ = load_nam(path)
        cases.append((label, path, None, run_model(again, x[:, None])))
    slim = [(0.5, random_wavenet(preset("nano"), 4)), (1.0, random_wavenet(preset("nano"), 5))]
    slim_path = export_nam_slimmable(slim, tmp_path / "slim.nam")
    for k, (_, model) in enumerate(slim):
        y = run_model(model, x[:, None])
        cases.append((f"slimmable container submodel {k}", slim_path, k, y))
    # One slimmable model: each exported width must sound like the model run at that width.
    slimmable = make_slimmable(random_wavenet(preset("nano"), 6))
    container = export_nam_slimmable(container_submodels(slimmable, [1, 3, 4]), tmp_path / "c.nam")
    plain = export_nam(slimmable.sliced(2), tmp_path / "width2.nam")
    for path, submodel, width in [(container, 0, 1), (container, 1, 3), (container, 2, 4),
                                  (plain, None, 2)]:  # fmt: skip
        slimmable.set_width(width)
        cases.append((f"slimmable model at width {width}", path, submodel,
                      run_model(slimmable, x[:, None])))  # fmt: skip
    slimmable.set_width(None)
    # NAM's A2 (0.7 layout: per-layer kernels, LeakyReLU, 16-tap head), as read and as written.
    a2 = reference_models / "nam" / "A2.nam"
    submodels = load_nam_slimmable(a2)
    for k, (_, model, _) in enumerate(submodels):
        cases.append((f"A2 submodel {k}", a2, k, run_model(model, x[:, None])))
    written = export_nam_slimmable([(v, m) for v, m, _ in submodels], tmp_path / "a2.nam")
    cases.append(("A2 re-exported, submodel 1", written, 1, cases[-1][3]))
    compare(cases, nam_run([(path, x, submodel) for _, path, submodel, _ in cases], nam_0_13=True))

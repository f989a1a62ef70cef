"""Every .nam leanamp writes plays in NeuralAmpModelerCore (the NAM plugin's engine) as in
`leanamp process`, on 10 s of real guitar, in 256-sample blocks after the plugin's reset.

Bounds (max |engine - leanamp|): EXACT_BOUND (1e-4) with NAM Core's exact tanh; with the fast
tanh the plugin runs, FAST_TANH_BOUND (the fast tanh is off by up to 4.4e-4 per call and the
error compounds through the layers; measured figures in leanamp.engines.verify and the README).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nam_test_models import random_lstm, random_wavenet

from leanamp.engines.verify import EXACT_BOUND, FAST_TANH_BOUND, compare, verify_model_file
from leanamp.formats.nam import export_nam, export_nam_slimmable, load_nam_slimmable
from leanamp.models.slim import container_submodels, make_slimmable
from leanamp.models.wavenet import preset
from leanamp.prune.compress import compress
from leanamp.prune.structured import trim

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def pruned_compressed_lstm():
    """A 16-unit LSTM with 85% of its weights zeroed by magnitude, then compressed."""
    model = random_lstm(16, seed=3)
    with torch.no_grad():
        for p in (model.lstm.weight_ih_l0, model.lstm.weight_hh_l0, model.head.weight):
            threshold = p.abs().flatten().kthvalue(int(0.85 * p.numel())).values
            p.mul_(p.abs() > threshold)
        model.lstm.weight_hh_l0[:, :4] = 0  # units 0..3 feed nothing: compression drops them
    small = compress(model)
    assert small.hidden_size < 16
    return small


def trimmed_lstm():
    keep = np.zeros(12, dtype=bool)
    keep[[0, 3, 4, 7, 10]] = True
    return trim(random_lstm(12, seed=4), {"lstm": keep})


def trimmed_wavenet():
    model = random_wavenet(preset("nano"), 5)
    keep = {f"array{i}": np.arange(c) % 2 == 0 for i, c in enumerate(model.channels)}
    return trim(model, keep)


MODELS = {
    "lstm 1x8": lambda: random_lstm(8),
    "lstm 2x5": lambda: random_lstm(5, num_layers=2, seed=1),
    "lstm pruned+compressed": pruned_compressed_lstm,
    "lstm structured-trimmed": trimmed_lstm,
    "wavenet standard": lambda: random_wavenet(preset("standard"), 10),
    "wavenet lite": lambda: random_wavenet(preset("lite"), 11),
    "wavenet feather": lambda: random_wavenet(preset("feather"), 12),
    "wavenet nano": lambda: random_wavenet(preset("nano"), 13),
    "wavenet structured-trimmed": trimmed_wavenet,
    "slimmable wavenet exported at width 5": lambda: make_slimmable(
        random_wavenet(preset("feather"), 14)
    ).sliced(5),
}


def check(results, label):
    for r in results:
        assert r.bound == (FAST_TANH_BOUND if "fast tanh" in r.label else EXACT_BOUND)
        print(f"\n{label} [{r.label}]: max {r.max_difference:.3g} rms {r.rms_difference:.3g} "
              f"bound {r.bound:g} peak {r.output_peak:.3g}")  # fmt: skip
        assert r.output_peak > 1e-3, f"{label}: silent output proves nothing"
        assert r.passed, r.line()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_exported_nam_plays_the_same_in_nam_core(name, nam_core, guitar, tmp_path):
    path = export_nam(MODELS[name](), tmp_path / "model.nam")
    results = verify_model_file(path, guitar())
    assert len(results) == 2  # exact and fast tanh
    check(results, name)


def test_slimmable_container_plays_each_width_in_nam_core(nam_core, guitar, tmp_path):
    """The Slim knob inside each submodel's range plays that width as the model runs it."""
    slimmable = make_slimmable(random_wavenet(preset("feather"), 15))
    path = export_nam_slimmable(container_submodels(slimmable, [2, 4, 8]), tmp_path / "c.nam")
    results = verify_model_file(path, guitar())
    assert len(results) == 6  # three submodels, exact and fast tanh
    check(results, "slimmable container")


def test_nam_core_example_models_import_run_and_reexport(nam_core, guitar, tmp_path):
    """NAM Core's own example files (LSTM, WaveNets, A2 / SlimmableContainer, slimmable WaveNet,
    and wavenet_a2_max / wavenet_condition_dsp with a condition DSP, FiLM, grouped convolutions,
    head1x1, blended gating): leanamp imports each, plays it like the engine, and re-exports it
    to a file the engine plays the same (measured max |diff| with exact tanh: 6.7e-6 on
    wavenet_a2_max, output peak 10.6, i.e. float32 rounding; 1.0e-7 on wavenet_condition_dsp)."""
    from leanamp.engines import _snapshot

    examples = sorted((_snapshot("nam") / "example_models").glob("*.nam"))
    assert len(examples) >= 8
    assert sum("condition_dsp" in path.read_text() for path in examples) == 2
    x = guitar()
    for path in examples:
        check(verify_model_file(path, x), f"example {path.name}")
        submodels = load_nam_slimmable(path)
        if len(submodels) > 1:
            again = export_nam_slimmable([(v, m) for v, m, _ in submodels], tmp_path / path.name)
        else:
            _, model, metadata = submodels[0]
            again = export_nam(model, tmp_path / path.name, metadata)
        check(verify_model_file(again, x), f"re-exported {path.name}")


def test_the_slim_knob_selects_the_submodel(nam_core, guitar, tmp_path):
    """compare() with slim selects the submodel: the largest submodel against the smallest's
    setting must not agree (a Slim knob that did nothing would pass every container test)."""
    slimmable = make_slimmable(random_wavenet(preset("nano"), 16))
    path = export_nam_slimmable(container_submodels(slimmable, [1, 4]), tmp_path / "c.nam")
    (_, small, _), (_, large, _) = load_nam_slimmable(path)
    x = guitar()[:48000, None]
    wrong = compare(path, large, x, "large at small setting", 256, True, slim=0.1)
    assert wrong.max_difference > 1e-2

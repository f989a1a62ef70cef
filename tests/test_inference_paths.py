"""One inference path: `process`, `render`, `eval` and the streaming kernel give the same audio
from sample 0 for every reference model file; an imported NAM LSTM keeps its initial state
through compress, render, bench and export; `bench` runs every reference file in one command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from leanamp.data import Clip
from leanamp.formats import load_any, save_model
from leanamp.inference import run_model
from leanamp.runtime.kernels import make_processor
from leanamp.train import evaluate

REFERENCE_FILES = [
    "agm_DS1_parameterized_lstm20_in3.json",
    "agm_ht1_RNN3_lstm32_model.json",
    "aidax_tw40_california_clean_deerinkstudios.json",
    "nam/A2.nam",
    "nam/lstm.nam",
    "nam/slimmable_wavenet.nam",
    "nam/wavenet.nam",
    "nam/wavenet_a1_standard.nam",
    "neuralpi_BluesJR_FullD.json",
    "neuralpi_BluesJr.json",
    "neuralpi_HT40_Overdrive.json",
    "neuralpi_TS9.json",
    "neuralpi_TS9_FullD.json",
]
TOLERANCE = 1e-5  # max abs difference, full scale 1.0


def dry_signal(n: int, input_size: int) -> np.ndarray:
    """(n, input_size): decaying notes loud from sample 0 (where a wrong start state shows),
    knob columns at fixed values in 0..1."""
    t = np.arange(n) / 48000
    audio = 0.6 * np.sin(2 * np.pi * 110 * t + 1.0) * np.exp(-6 * t)
    audio += 0.2 * np.sin(2 * np.pi * 523 * t) * np.exp(-3 * t)
    knobs = [np.full(n, 0.3 + 0.4 * k) for k in range(input_size - 1)]
    return np.stack([audio, *knobs], axis=1).astype(np.float32)


def stream(model, x: np.ndarray, block: int = 256) -> np.ndarray:
    processor = make_processor(model, exact=True)
    x = x if model.input_size > 1 else x[:, 0]
    return np.concatenate([processor.process(x[i : i + block]) for i in range(0, len(x), block)])


def test_every_reference_file_is_listed(reference_models):
    found = sorted(
        str(p.relative_to(reference_models)) for p in reference_models.rglob("*")
        if p.suffix in (".json", ".nam")
    )  # fmt: skip
    assert found == sorted(REFERENCE_FILES)


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_process_render_eval_and_the_kernel_give_the_same_audio(
    name, reference_models, tmp_path, run_cli
):
    path = reference_models / name
    model, metadata = load_any(path)
    rate = int(metadata.get("sample_rate") or 48000)
    x = dry_signal(6000, model.input_size)  # longer than A2's receptive field (4,300 samples)
    dry = tmp_path / "dry.wav"
    sf.write(dry, x, rate, subtype="FLOAT")
    for command in ("process", "render"):
        code, _, err = run_cli([command, str(path), str(dry), str(tmp_path / f"{command}.wav")])
        assert code == 0, err
    processed, processed_rate = sf.read(tmp_path / "process.wav", dtype="float32")
    rendered, rendered_rate = sf.read(tmp_path / "render.wav", dtype="float32")
    assert processed_rate == rendered_rate == rate and len(processed) == len(x)
    evaluated = evaluate(model, [Clip("dry", x, processed, rate)]).outputs["dry"]
    # float32 sums in another order: the tolerance scales with models louder than full scale
    # (slimmable_wavenet.nam, random example weights, peaks near 17).
    tolerance = TOLERANCE * max(1.0, float(np.max(np.abs(processed))))
    for label, y in (("render", rendered), ("eval", evaluated), ("kernel", stream(model, x))):
        difference = float(np.max(np.abs(y - processed)))
        assert difference <= tolerance, f"{name}: {label} differs from process by {difference}"
    assert np.max(np.abs(processed[:32])) > 1e-3  # the first samples are not silence
    if np.max(np.abs(processed)) < 0.99:  # `leanamp eval` refuses clipped targets
        code, out, err = run_cli(
            ["eval", str(path), str(dry), str(tmp_path / "process.wav"), "--no-align", "--json"]
        )
        assert code == 0, err
        assert json.loads(out)["overall"] <= 1e-10


def test_an_imported_lstm_keeps_its_state_through_compress_render_bench_export(
    reference_models, tmp_path, run_cli
):
    imported = tmp_path / "lstm.leanamp"
    code, _, err = run_cli(["import", str(reference_models / "nam" / "lstm.nam"), str(imported)])
    assert code == 0, err
    model, metadata = load_any(imported)
    assert model.initial_hidden.any() and model.initial_cell.any()
    with torch.no_grad():  # a pruned model: unit 0 no longer reaches the output
        model.head.weight[0, 0] = 0.0
        model.lstm.weight_hh_l0[:, 0] = 0.0
    save_model(model, tmp_path / "pruned.leanamp", metadata)
    small_path = tmp_path / "small.leanamp"
    code, _, err = run_cli(["compress", str(tmp_path / "pruned.leanamp"), str(small_path)])
    assert code == 0, err
    small, _ = load_any(small_path)
    assert small.hidden_size == model.hidden_size - 1
    assert torch.equal(small.initial_hidden, model.initial_hidden[:, 1:])
    assert torch.equal(small.initial_cell, model.initial_cell[:, 1:])

    x = dry_signal(3000, 1)
    sf.write(tmp_path / "dry.wav", x, 48000, subtype="FLOAT")
    code, _, err = run_cli(
        ["render", str(small_path), str(tmp_path / "dry.wav"), str(tmp_path / "wet.wav")]
    )
    assert code == 0, err
    wet, _ = sf.read(tmp_path / "wet.wav", dtype="float32")
    expected = run_model(model, x)
    assert np.max(np.abs(wet - expected)) <= TOLERANCE
    assert np.max(np.abs(stream(small, x) - expected)) <= TOLERANCE
    zero_start = load_any(small_path)[0]
    with torch.no_grad():
        zero_start.initial_hidden.zero_()
        zero_start.initial_cell.zero_()
    assert np.max(np.abs(run_model(zero_start, x)[:100] - expected[:100])) > 1e-2  # it matters

    code, out, err = run_cli(
        ["bench", str(small_path), "--seconds", "0.01", "--repeats", "1", "--block", "64",
         "--json"],
    )  # fmt: skip
    assert code == 0, err
    (entry,) = json.loads(out)
    assert entry["error"] is None and entry["effective_hidden_size"] == small.hidden_size

    code, _, err = run_cli(["export", str(small_path), str(tmp_path / "small.nam")])
    assert code == 0, err
    again, _ = load_any(tmp_path / "small.nam")
    assert torch.equal(again.initial_hidden, small.initial_hidden)
    assert np.max(np.abs(run_model(again, x) - expected)) <= TOLERANCE

    # AIDA-X cannot store the state: the export says so, with the measured difference.
    code, _, err = run_cli(["export", str(small_path), str(tmp_path / "small.aidax")])
    assert code == 0, err
    assert "cannot store the LSTM's initial state" in err and "differs by up to" in err
    stateless, _ = load_any(tmp_path / "small.aidax")
    assert np.max(np.abs(run_model(stateless, x) - run_model(zero_start, x))) <= TOLERANCE


def test_bench_runs_every_reference_file_in_one_command(reference_models, run_cli):
    paths = [str(reference_models / name) for name in REFERENCE_FILES]
    code, out, err = run_cli(
        ["bench", *paths, "--seconds", "0.01", "--repeats", "1", "--block", "128", "--json"]
    )
    assert code == 0, err
    entries = json.loads(out)
    assert len(entries) == len(REFERENCE_FILES)
    assert all(e["error"] is None and e["timings"]["fast"]["rtf"] > 0 for e in entries)
    assert {e["architecture"] for e in entries} == {"lstm", "wavenet", "nam_wavenet"}


def test_bench_reports_a_model_it_cannot_run_and_goes_on(reference_models, tmp_path, run_cli):
    (tmp_path / "broken.nam").write_text("{")
    lstm = reference_models / "nam" / "lstm.nam"
    code, out, err = run_cli(
        ["bench", str(tmp_path / "broken.nam"), str(reference_models / "nam" / "wavenet.nam"),
         str(lstm), "--sparse", "--seconds", "0.01", "--repeats", "1"],
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "broken.nam" in errors[0] and "wavenet.nam" in errors[1]
    assert "lstm.nam" in out and "wavenet.nam" not in out  # the LSTM was still timed

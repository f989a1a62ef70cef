import json

import numpy as np
import torch

from leanamp.formats.native import load_model, save_model
from leanamp.inference import run_model
from leanamp.models import LSTMModel
from leanamp.prune import PruningMasks


def test_compress_command_writes_an_equivalent_smaller_model(tmp_path, run_cli):
    torch.manual_seed(0)
    model = LSTMModel(hidden_size=10)
    PruningMasks.full(model).prune(model, 0.9).apply(model)
    with torch.no_grad():
        model.head.weight[0, :4] = 0  # units 0..3 reach the output only if others read them
        model.lstm.weight_hh_l0[:, :4] = 0
    save_model(model, tmp_path / "sparse.leanamp", {"sample_rate": 8000})
    code, out, _ = run_cli(
        ["compress", str(tmp_path / "sparse.leanamp"), str(tmp_path / "small.leanamp")]
    )
    assert code == 0 and "hidden size 10 ->" in out
    small, metadata = load_model(tmp_path / "small.leanamp")
    assert small.hidden_size <= 6 and metadata["compression"]["hidden_size"] == 10
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.3
    assert np.max(np.abs(run_model(small, x) - run_model(model, x))) < 1e-5


def test_compress_command_refuses_multi_layer_models(tmp_path, run_cli):
    save_model(LSTMModel(hidden_size=4, num_layers=2), tmp_path / "deep.leanamp")
    code, _, err = run_cli(
        ["compress", str(tmp_path / "deep.leanamp"), str(tmp_path / "out.leanamp")]
    )
    assert code == 2
    assert "deep.leanamp" in err and "single-layer" in err


def test_prune_command_runs_the_whole_recipe(recordings, tmp_path, run_cli):
    out = tmp_path / "out"
    code, printed, _ = run_cli([
        "prune", str(tmp_path / "dry"), str(tmp_path / "wet"), "--out", str(out),
        "--validation", "val", "--hidden-size", "6", "--iterations", "1",
        "--prune-fraction", "0.5", "--window", "1", "--threshold", "1.01",
        "--max-epochs-per-iteration", "2", "--pretrain-epochs", "1", "--finetune-epochs", "1",
        "--segment-seconds", "0.25", "--batch-size", "8", "--learning-rate", "5e-3",
        "--no-align", "--accelerator", "cpu",
    ])
    assert code == 0 and "chosen level" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chosen_level"] in (0, 1)
    assert (out / "pruned.leanamp").exists() and (out / "search.png").exists()
    report = (out / "report.md").read_text()
    assert "Mask search" in report and "| 1 | 50.00 |" in report


def test_the_mask_search_refuses_a_wavenet_start_model(recordings, tmp_path, run_cli):
    from leanamp.models import new_model

    save_model(new_model("wavenet", preset="nano"), tmp_path / "wn.leanamp")
    code, _, err = run_cli([
        "prune", str(tmp_path / "dry"), str(tmp_path / "wet"), "--out", str(tmp_path / "out"),
        "--validation", "val", "--model", str(tmp_path / "wn.leanamp"), "--no-align",
    ])
    assert code == 2 and "wn.leanamp: pruning needs an LSTM model" in err

import json

import torch

from leanamp.formats.native import load_model, save_model
from leanamp.models.wavenet import WaveNet

COMMON = [
    "--validation", "val", "--iterations", "2", "--max-epochs-per-iteration", "1",
    "--pretrain-epochs", "1", "--segment-seconds", "0.25", "--batch-size", "8",
    "--learning-rate", "5e-3", "--no-align", "--accelerator", "cpu", "--level", "2",
]  # fmt: skip


def test_structured_method_trims_a_wavenet_by_activation(recordings, tmp_path, run_cli):
    common = {"condition_size": 1, "kernel_size": 3, "activation": "Tanh", "gated": True}
    layers = [
        {"input_size": 1, "head_size": 2, "channels": 4, "dilations": [1, 2], "head_bias": False,
         **common},
        {"input_size": 4, "head_size": 1, "channels": 2, "dilations": [4], "head_bias": True,
         **common},
    ]  # fmt: skip
    torch.manual_seed(0)
    save_model(WaveNet(layers), tmp_path / "wavenet.leanamp", {"sample_rate": 8000})
    out = tmp_path / "out"
    code, printed, err = run_cli([
        "prune", str(tmp_path / "dry"), str(tmp_path / "wet"), "--out", str(out),
        "--model", str(tmp_path / "wavenet.leanamp"), "--method", "structured",
        "--criterion", "activation", "--unit-fraction", "0.5", "--rewind", "finetune", *COMMON,
    ])  # fmt: skip
    assert code == 0, err
    assert "chosen iteration 2" in printed
    model, meta = load_model(out / "pruned.leanamp")
    # 6 channels -> 3 -> 2: the second trim stops where each array keeps one channel.
    assert isinstance(model, WaveNet) and sum(model.channels) == 2
    assert meta["structured"]["chosen_iteration"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["units"] == {"array0": 1, "array1": 1}


def test_structured_method_rejects_unknown_options(recordings, tmp_path, run_cli):
    code, _, err = run_cli([
        "prune", str(tmp_path / "dry"), str(tmp_path / "wet"), "--out", str(tmp_path / "o"),
        "--method", "structured", "--criterion", "luck", "--hidden-size", "4", *COMMON,
    ])  # fmt: skip
    assert code == 2 and "criterion" in err
    code, _, err = run_cli([
        "prune", str(tmp_path / "dry"), str(tmp_path / "wet"), "--out", str(tmp_path / "o"),
        "--method", "everything", *COMMON,
    ])  # fmt: skip
    assert code == 2 and "--method" in err


def test_one_seed_gives_one_result_for_both_methods(recordings, tmp_path, run_cli):
    # The starting model is drawn after the seed is set: two runs of one command agree exactly,
    # so criteria compared under one --seed start from the same model.
    def summary(method: str, out: str) -> dict:
        extra = ["--method", method, "--iterations", "1"]
        code, _, err = run_cli([
            "prune", str(tmp_path / "dry"), str(tmp_path / "wet"), "--out", str(tmp_path / out),
            "--hidden-size", "4", "--seed", "3", "--validation", "val", "--segment-seconds",
            "0.25", "--batch-size", "8", "--no-align", "--accelerator", "cpu",
            "--max-epochs-per-iteration", "1", "--pretrain-epochs", "1", "--level", "1", *extra,
        ])  # fmt: skip
        assert code == 0, err
        return json.loads((tmp_path / out / "summary.json").read_text())

    first, second = summary("structured", "s1"), summary("structured", "s2")
    assert first["esr"] == second["esr"] and first["validation_esr"] == second["validation_esr"]
    first, second = summary("magnitude", "m1"), summary("magnitude", "m2")
    assert first["esr_unpruned"] == second["esr_unpruned"]
    assert first["esr_pruned"] == second["esr_pruned"]


def test_a_structured_search_in_a_used_folder_needs_resume(recordings, tmp_path, run_cli):
    args = ["prune", str(tmp_path / "dry"), str(tmp_path / "wet"), "--out", str(tmp_path / "o"),
            "--method", "structured", "--hidden-size", "4", *COMMON]
    code, _, err = run_cli([*args, "--resume"])
    assert code == 2 and "no structured search to continue" in err
    code, _, err = run_cli(args)
    assert code == 0, err
    code, _, err = run_cli(args)
    assert code == 2 and "pass --resume" in err
    code, printed, err = run_cli([*args, "--resume"])  # finished: nothing is trained again
    assert code == 0, err
    assert "resuming the structured search after iteration 2" in printed
    assert "chosen iteration 2" in printed

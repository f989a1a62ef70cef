from __future__ import annotations

import pytest
import yaml

from leanamp.errors import LeanampError
from leanamp.sweep import load_sweep_config
from leanamp.sweep.methods import METHODS


def test_config_expands_every_combination(write_config):
    path = write_config(
        devices=[{"name": "od", "device": "overdrive"}, "amp"], sizes=[3, 5],
        methods=["train", "prune"], seeds=[0, 1],
    )
    sweep = load_sweep_config(path)
    assert len(sweep.runs) == 2 * 2 * 2 * 2
    assert len({r.run_id for r in sweep.runs}) == len(sweep.runs)
    names = {r.name for r in sweep.runs}
    assert "od-lstm3-prune-s1" in names and "amp-lstm5-train-s0" in names
    # The seed reaches the trainer.
    assert {r.train["seed"] for r in sweep.runs} == {0, 1}


def test_toml_and_yaml_give_the_same_runs(write_config, tmp_path):
    yaml_path = write_config(devices=["overdrive"], sizes=[3], methods=["train"])
    toml_path = tmp_path / "sweep.toml"
    toml_path.write_text(
        'name = "sweep"\nsample_rate = 16000\ndata_seconds = 2\nrender_seconds = 0.5\n'
        'rtf_seconds = 0.05\narchitectures = ["lstm"]\nseeds = [0]\ndevices = ["overdrive"]\n'
        'sizes = [3]\nmethods = ["train"]\n[train]\nmax_epochs = 1\nsegment_seconds = 0.2\n'
        "batch_size = 4\nvalidate_every = 1\nwarmup_samples = 200\ntbptt_samples = 400\n"
        "learning_rate = 0.004\n[prune]\niterations = 1\nmax_epochs_per_iteration = 1\n"
        "pretrain_epochs = 1\ndistance_window = 1\n"
    )
    from_yaml = [r.run_id for r in load_sweep_config(yaml_path).runs]
    from_toml = [r.run_id for r in load_sweep_config(toml_path).runs]
    assert from_yaml == from_toml


def test_run_id_follows_the_options_that_change_results(write_config, tmp_path):
    first = load_sweep_config(write_config(devices=["overdrive"], sizes=[3], methods=["train"]))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "sweep.yaml").write_text((tmp_path / "sweep.yaml").read_text())
    same = load_sweep_config(moved / "sweep.yaml")
    assert first.runs[0].run_id == same.runs[0].run_id  # the folder is not part of the identity
    values = yaml.safe_load((tmp_path / "sweep.yaml").read_text())
    values["train"]["max_epochs"] = 2
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(values))
    changed = load_sweep_config(tmp_path / "sweep.yaml")
    assert changed.runs[0].name == first.runs[0].name
    assert changed.runs[0].run_id != first.runs[0].run_id


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"methods": ["train", "distil"]}, "unknown method 'distil'"),
        ({"sizes": []}, "'sizes' is empty"),
        ({"sizes": [0]}, "sizes must be positive"),
        ({"devices": [{"name": "x"}]}, "needs 'device'"),
        ({"devices": [{"name": "x", "device": "overdrive", "drive": 1}]}, "unknown keys"),
        ({"devices": ["overdrive", "overdrive"]}, "must be unique"),
        ({"architectures": ["transformer"]}, "unknown architecture"),
        ({"architectures": ["nam_preset"], "sizes": [6]}, "presets' channels"),
        ({"train": {"epochs": 3}}, "unknown 'train' keys"),
        ({"train": {"validation_metric": "mse"}}, "'train': validation_metric 'mse'"),
        ({"train": {"batch_size": "many"}}, "'train': "),
        ({"methods": ["prune"], "prune": {"prune_fraction": 2}}, "'prune': --prune-fraction"),
        ({"methods": ["structured"], "structured": {"criterion": "astrology"}},
         "'structured': unknown criterion"),
        ({"methods": ["distill"], "distill": {"alpha": 2}}, "'distill': distillation alpha"),
        ({"methods": ["slim"], "architectures": ["lstm"]}, "'slim': slimmable training is for"),
        ({"learning_rate": 0.1}, "unknown keys"),
    ],
)
def test_bad_config_names_file_and_problem(write_config, keys, message):
    values = {"devices": ["overdrive"], "sizes": [3], "methods": ["train"], **keys}
    path = write_config(**values)
    with pytest.raises(LeanampError, match=message) as error:
        load_sweep_config(path)
    assert str(path) in str(error.value)


def test_unreadable_config(tmp_path):
    with pytest.raises(LeanampError, match="no such sweep config"):
        load_sweep_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: [unclosed\n")
    with pytest.raises(LeanampError, match="not valid YAML"):
        load_sweep_config(bad)
    other = tmp_path / "sweep.json"
    other.write_text("{}")
    with pytest.raises(LeanampError, match=r"\.yaml, \.yml or \.toml"):
        load_sweep_config(other)


def test_every_issue_method_is_known():
    assert {"train", "prune", "structured", "slim", "transfer"} <= set(METHODS)


def test_engine_rtf_is_a_measurement_option_outside_the_run_identity(write_config):
    plain = load_sweep_config(write_config(devices=["overdrive"], sizes=[3], methods=["train"]))
    timed = load_sweep_config(
        write_config(devices=["overdrive"], sizes=[3], methods=["train"], engine_rtf=True)
    )
    assert timed.runs[0].engine_rtf and not plain.runs[0].engine_rtf
    assert timed.runs[0].run_id == plain.runs[0].run_id  # finished runs are not re-run
    with pytest.raises(LeanampError, match="engine_rtf must be true or false"):
        load_sweep_config(
            write_config(devices=["overdrive"], sizes=[3], methods=["train"], engine_rtf="yes")
        )

import json

import numpy as np
import pytest
import soundfile as sf

RATE = 8000


@pytest.fixture
def recordings(tmp_path, rng):
    for name in ["one", "two", "three"]:
        x = 0.3 * rng.standard_normal(RATE * 2)
        y = np.concatenate([np.zeros(2), np.tanh(3 * x)[:-2]])
        (tmp_path / "dry").mkdir(exist_ok=True)
        (tmp_path / "wet").mkdir(exist_ok=True)
        sf.write(tmp_path / "dry" / f"{name}.wav", x, RATE, subtype="FLOAT")
        sf.write(tmp_path / "wet" / f"{name}.wav", y, RATE, subtype="FLOAT")
    return tmp_path


def test_check_data_reports_alignment(recordings, run_cli):
    code, out, _ = run_cli(["check-data", str(recordings / "dry"), str(recordings / "wet")])
    assert code == 0
    assert "latency 2 samples" in out and "ok: 3 pair(s)" in out


def test_bad_input_is_a_message_not_a_traceback(recordings, run_cli):
    (recordings / "wet" / "two.wav").write_bytes(b"not audio")
    code, _, err = run_cli(["check-data", str(recordings / "dry"), str(recordings / "wet")])
    assert code == 2
    assert err.startswith("error:") and "two.wav" in err and "Traceback" not in err


def test_train_eval_process(recordings, tmp_path, run_cli):
    out_dir = tmp_path / "out"
    args = [
        "train",
        str(recordings / "dry"),
        str(recordings / "wet"),
        "--out",
        str(out_dir),
        "--validation",
        "two",
        "--test",
        "three",
        "--hidden-size",
        "4",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--segment-seconds",
        "0.25",
    ]
    code, out, err = run_cli(args)
    assert code == 0, err
    assert "test ESR" in out
    model = out_dir / "model.leanamp"
    assert model.exists() and (out_dir / "loss_curves.png").exists()
    assert (out_dir / "summary.json").exists()

    code, _, err = run_cli(args)
    assert code == 2 and "--resume" in err

    code, out, _ = run_cli(["eval", str(model), str(recordings / "dry"), str(recordings / "wet")])
    assert code == 0 and "held-out clips" in out and "three" in out

    wet = tmp_path / "processed.wav"
    code, _, _ = run_cli(["process", str(model), str(recordings / "dry" / "one.wav"), str(wet)])
    assert code == 0
    y, rate = sf.read(wet)
    assert rate == RATE and len(y) == 2 * RATE and np.isfinite(y).all()


def test_process_needs_knob_values_for_a_conditioned_model(recordings, tmp_path, run_cli):
    from leanamp.formats import save_model
    from leanamp.models import LSTMModel

    save_model(LSTMModel(3, input_size=2), tmp_path / "knob.leanamp", {"sample_rate": RATE})
    args = ["process", str(tmp_path / "knob.leanamp"), str(recordings / "dry" / "one.wav")]
    code, _, err = run_cli([*args, str(tmp_path / "o.wav")])
    assert code == 2 and "--knob" in err
    code, _, err = run_cli([*args, str(tmp_path / "o.wav"), "--knob", "0.5"])
    assert code == 0, err


def test_a_missing_model_file_is_a_clear_error(tmp_path, run_cli):
    code, _, err = run_cli(["process", str(tmp_path / "nope.leanamp"), "a.wav", "b.wav"])
    assert code == 2 and "nope.leanamp" in err


def test_train_from_a_start_model_and_with_knob_settings(recordings, tmp_path, run_cli, rng):
    common = [
        "--validation", "two", "--test", "three", "--epochs", "1",
        "--batch-size", "4", "--segment-seconds", "0.25",
    ]
    first = tmp_path / "first"
    code, _, err = run_cli(["train", str(recordings / "dry"), str(recordings / "wet"),
                            "--out", str(first), "--hidden-size", "3", *common])
    assert code == 0, err
    code, out, err = run_cli(["train", str(recordings / "dry"), str(recordings / "wet"),
                              "--out", str(tmp_path / "second"), "--hidden-size", "5",
                              "--init-from", str(first / "model.leanamp"), *common])
    assert code == 0, err
    assert "starting from" in out
    summary = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert summary["architecture"]["hidden_size"] == 5 and "start" in summary

    # Two knob settings of one device: targets low_<name> and high_<name>.
    for name in ["one", "two", "three"]:
        x, _ = sf.read(recordings / "dry" / f"{name}.wav")
        for prefix, drive in (("low_", 1.0), ("high_", 4.0)):
            y = np.concatenate([np.zeros(2), np.tanh(drive * x)[:-2]])
            sf.write(recordings / "wet" / f"{prefix}{name}.wav", y, RATE, subtype="FLOAT")
    code, _, err = run_cli(["train", str(recordings / "dry"), str(recordings / "wet"),
                            "--out", str(tmp_path / "knobs"), "--hidden-size", "4",
                            "--knob", "low_=0", "--knob", "high_=1", *common])
    assert code == 0, err
    summary = json.loads((tmp_path / "knobs" / "summary.json").read_text())
    assert summary["architecture"]["input_size"] == 2


def test_process_at_a_chosen_wavenet_width(recordings, tmp_path, run_cli):
    import torch

    from leanamp.formats import save_model
    from leanamp.inference import run_model
    from leanamp.models.wavenet import WaveNet, preset

    torch.manual_seed(0)
    model = WaveNet(preset("nano"))
    save_model(model, tmp_path / "wn.leanamp", {"sample_rate": RATE})
    dry = recordings / "dry" / "one.wav"
    code, _, err = run_cli(["process", str(tmp_path / "wn.leanamp"), str(dry),
                            str(tmp_path / "w2.wav"), "--width", "2"])
    assert code == 0, err
    x, _ = sf.read(dry, dtype="float32")
    model.set_width(2)
    got, _ = sf.read(tmp_path / "w2.wav", dtype="float32")
    assert np.abs(got - run_model(model, x)).max() < 1e-6

    lstm = tmp_path / "lstm.leanamp"
    save_model(__import__("leanamp.models", fromlist=["LSTMModel"]).LSTMModel(2), lstm,
               {"sample_rate": RATE})
    code, _, err = run_cli(["process", str(lstm), str(dry), str(tmp_path / "x.wav"),
                            "--width", "2"])
    assert code == 2 and "slimmable WaveNet" in err


def test_train_a_slimmable_wavenet_and_export_its_widths(recordings, tmp_path, run_cli):
    from leanamp.formats import load_any

    out_dir = tmp_path / "slim"
    common = [str(recordings / "dry"), str(recordings / "wet"), "--validation", "two", "--test",
              "three", "--epochs", "1", "--batch-size", "2", "--no-align"]  # fmt: skip
    code, out, err = run_cli(["train", *common, "--out", str(out_dir), "--architecture",
                              "wavenet", "--preset", "nano", "--slimmable"])
    assert code == 0, err
    summary = json.loads((out_dir / "summary.json").read_text())
    # NAM's segment: 8192 outputs plus the receptive field
    assert summary["train_config"]["segment_seconds"] == pytest.approx((8192 + 4092) / RATE)
    assert summary["train_config"]["loss"] == "nam"  # NAM's recipe is the WaveNet default
    assert list(summary["test_esr_by_width"]) == ["1", "2", "3", "4"]
    assert "at width 2:" in out
    model, _ = load_any(out_dir / "model.leanamp")
    assert model.slimmable and model.widths == [1, 2, 3, 4]
    code, _, err = run_cli(["export", str(out_dir / "model.leanamp"), str(tmp_path / "s.nam"),
                            "--slim-widths", "2,4"])
    assert code == 0, err

    code, _, err = run_cli(["train", *common, "--out", str(tmp_path / "w"), "--architecture",
                            "wavenet", "--preset", "nano", "--slimmable", "--widths", "2,8"])
    assert code == 2 and "widths" in err and "1..4" in err
    wavenet = ["--architecture", "wavenet"]
    for bad, message in (([*wavenet, "--hidden-size", "8"], "--hidden-size"),
                         (["--slimmable"], "--architecture wavenet"),
                         ([*wavenet, "--preset", "huge"], "huge"),
                         (["--architecture", "gru"], "gru"),
                         ([*wavenet, "--slimmable", "--widths", "a"], "4,8")):  # fmt: skip
        code, _, err = run_cli(["train", *common, "--out", str(tmp_path / "x"), *bad])
        assert code == 2 and message in err and "Traceback" not in err, err

"""Every bad input and fault leanamp knows, as a table: each case runs a command in-process and
must exit with code 2, print `error: ...` naming the file (or the flag) at fault, and never show a
traceback. The few faults that need a separate process (Ctrl-C) are at the end."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from leanamp.files import run_folder_lock
from leanamp.formats import save_model
from leanamp.formats.agm import agm_dict
from leanamp.formats.aidax import aidax_dict
from leanamp.models import LSTMModel

RATE = 8000
CLIPS = ("one", "two", "three")


@dataclass
class World:
    """Recordings and model files the cases point at (all in one temporary folder)."""

    root: Path
    dry: Path
    wet: Path
    lstm: Path  # residual LSTM, 8 kHz
    knob: Path  # LSTM with one knob input

    def path(self, name: str) -> Path:
        return self.root / name

    def file(self, name: str, content: bytes | str | dict) -> Path:
        path = self.root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    def wav(self, name: str, samples: np.ndarray, rate: int = RATE) -> Path:
        path = self.root / name
        sf.write(path, samples, rate, subtype="FLOAT")
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("bad_inputs")
    rng = np.random.default_rng(7)
    (root / "dry").mkdir()
    (root / "wet").mkdir()
    for name in CLIPS:
        x = 0.3 * rng.standard_normal(RATE)
        y = np.concatenate([np.zeros(2), np.tanh(3 * x)[:-2]])
        sf.write(root / "dry" / f"{name}.wav", x, RATE, subtype="FLOAT")
        sf.write(root / "wet" / f"{name}.wav", y, RATE, subtype="FLOAT")
    torch.manual_seed(0)
    lstm = save_model(LSTMModel(3), root / "lstm.leanamp", {"sample_rate": RATE})
    knob = save_model(LSTMModel(3, input_size=2), root / "knob.leanamp", {"sample_rate": RATE})
    return World(root, root / "dry", root / "wet", lstm, knob)


def native_header(config: object, body: bytes = b"", metadata: str | None = None) -> bytes:
    """A safetensors file holding `config` as its leanamp config (and no or few tensors)."""
    meta = {"leanamp_format": "1", "leanamp_config": json.dumps(config)}
    if metadata is not None:
        meta["leanamp_metadata"] = metadata
    header = json.dumps({"__metadata__": meta}).encode()
    return len(header).to_bytes(8, "little") + header + body


def nested_native(depth: int) -> bytes:
    header = b'{"__metadata__": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    return len(header).to_bytes(8, "little") + header


def nam_lstm(hidden: int = 3, fill: float | None = None) -> dict:
    count = 4 * hidden * (1 + hidden) + 4 * hidden + 2 * hidden + hidden + 1
    weights = [0.01 * k for k in range(count)] if fill is None else [fill] * count
    return {"version": "0.5.4", "architecture": "LSTM", "sample_rate": RATE,
            "config": {"input_size": 1, "hidden_size": hidden, "num_layers": 1},
            "weights": weights}  # fmt: skip


def nam_wavenet(fill: float) -> dict:
    layer = {"input_size": 1, "condition_size": 1, "head_size": 1, "channels": 2,
             "kernel_size": 2, "dilations": [1, 2], "activation": "Tanh", "gated": False,
             "head_bias": True}  # fmt: skip
    count = 2 + 2 * (8 + 2 + 2 + 4 + 2) + 2 + 1 + 1
    return {"version": "0.5.4", "architecture": "WaveNet", "sample_rate": RATE,
            "config": {"layers": [layer], "head": None, "head_scale": 0.02},
            "weights": [fill] * count}  # fmt: skip


def train_args(w: World, out: Path, *extra: str) -> list[str]:
    return ["train", str(w.dry), str(w.wet), "--out", str(out), "--validation", "two",
            "--test", "three", "--epochs", "1", "--batch-size", "4", "--segment-seconds", "0.25",
            *extra]  # fmt: skip


def process_args(w: World, model: Path, out_name: str = "out.wav") -> list[str]:
    return ["process", str(model), str(w.dry / "one.wav"), str(w.path(out_name))]


def float64_weights_file(w: World) -> Path:
    # Finite in float64, infinite once the model runs in float32.
    from safetensors.torch import save_file

    model = LSTMModel(2)
    tensors = {k: v.double() for k, v in model.state_dict().items()}
    tensors["head.weight"] = torch.full_like(tensors["head.weight"], 1e308)
    path = w.path("huge.leanamp")
    header = {"leanamp_format": "1", "leanamp_config": json.dumps(model.config),
              "leanamp_metadata": json.dumps({"sample_rate": RATE})}  # fmt: skip
    save_file(tensors, str(path), metadata=header)
    return path


def nan_weights_file(w: World) -> Path:
    model = LSTMModel(2)
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    return save_model(model, w.path("nan.leanamp"), {"sample_rate": RATE})


def misaligned_rates(w: World) -> list[str]:
    x, _ = sf.read(w.dry / "one.wav")
    w.wav("rate_in.wav", x, RATE)
    w.wav("rate_out.wav", x[: len(x) // 2], RATE // 2)
    return ["check-data", str(w.path("rate_in.wav")), str(w.path("rate_out.wav")),
            "--no-resample"]  # fmt: skip


# Cases run while another run holds the lock of their output folder.
LOCKED_FOLDERS = {
    "two trainings into one --out": "locked",
    "two prunings into one --out": "plocked",
}


# (case id, args(world) -> argv, fragment(world) -> the file or flag the message must name)
CASES = [  # fmt: skip
    # --- recordings -------------------------------------------------------------------------
    ("missing input", lambda w: ["check-data", str(w.path("nope.wav")), str(w.wet / "one.wav")],
     lambda w: "nope.wav"),
    ("target not audio", lambda w: ["check-data", str(w.dry / "one.wav"),
                                    str(w.file("junk.wav", b"not audio at all"))],
     lambda w: "junk.wav"),
    ("empty target", lambda w: ["check-data", str(w.dry / "one.wav"),
                                str(w.wav("empty.wav", np.zeros(0)))],
     lambda w: "empty.wav"),
    ("NaN target", lambda w: ["check-data", str(w.dry / "one.wav"),
                              str(w.wav("nan.wav", np.full(RATE, np.nan)))],
     lambda w: "nan.wav"),
    ("silent target", lambda w: ["check-data", str(w.dry / "one.wav"),
                                 str(w.wav("silent.wav", np.zeros(RATE)))],
     lambda w: "silent.wav"),
    ("length mismatch", lambda w: ["check-data", str(w.dry / "one.wav"),
                                   str(w.wav("short.wav", 0.3 * np.ones(RATE // 3)))],
     lambda w: "short.wav"),
    ("rates differ with --no-resample", misaligned_rates, lambda w: "rate_out.wav"),
    ("a file and a folder", lambda w: ["check-data", str(w.dry / "one.wav"), str(w.wet)],
     lambda w: "one.wav"),
    ("no pairs for the prefix", lambda w: ["check-data", str(w.dry), str(w.wet),
                                           "--target-prefix", "zz_"],
     lambda w: str(w.wet)),
    ("unknown validation clip", lambda w: train_args(w, w.path("o1"), "--validation", "nine"),
     lambda w: "nine"),
    ("same clip for validation and test",
     lambda w: ["train", str(w.dry), str(w.wet), "--out", str(w.path("o2")), "--validation",
                "two", "--test", "two"],
     lambda w: "--validation"),
    # --- training options (refused before the data loads) -------------------------------------
    ("hidden size 100000", lambda w: train_args(w, w.path("o3"), "--hidden-size", "100000"),
     lambda w: "--hidden-size"),
    ("hidden size 0", lambda w: train_args(w, w.path("o4"), "--hidden-size", "0"),
     lambda w: "--hidden-size"),
    ("minutes 0", lambda w: train_args(w, w.path("o5"), "--minutes", "0"),
     lambda w: "--minutes"),
    ("negative minutes", lambda w: train_args(w, w.path("o6"), "--minutes", "-2"),
     lambda w: "--minutes"),
    ("unknown recipe", lambda w: train_args(w, w.path("o7"), "--recipe", "fast"),
     lambda w: "--recipe"),
    ("unknown architecture", lambda w: train_args(w, w.path("o8"), "--architecture", "gru"),
     lambda w: "gru"),
    ("unknown budget clock", lambda w: train_args(w, w.path("o9"), "--budget-clock", "gpu"),
     lambda w: "--budget-clock"),
    ("batch size 0", lambda w: train_args(w, w.path("o10"), "--batch-size", "0"),
     lambda w: "--batch-size"),
    ("--out under a regular file",
     lambda w: train_args(w, w.file("plain.txt", "x") / "run"), lambda w: "plain.txt"),
    ("--out naming an existing file",
     lambda w: train_args(w, w.file("existing.txt", "x")), lambda w: "existing.txt"),
    ("--resume on an empty folder", lambda w: train_args(w, w.path("fresh"), "--resume"),
     lambda w: "fresh"),
    ("two trainings into one --out", lambda w: train_args(w, w.path("locked")),
     lambda w: "locked"),
    # --- process / render / eval / import ------------------------------------------------------
    ("process OUT is a folder", lambda w: process_args(w, w.lstm, "dry"), lambda w: "dry"),
    ("process OUT under a file",
     lambda w: [*process_args(w, w.lstm)[:3], str(w.file("plain2.txt", "x") / "out.wav")],
     lambda w: "plain2.txt"),
    ("process missing model", lambda w: process_args(w, w.path("nope.leanamp")),
     lambda w: "nope.leanamp"),
    ("process knob model without --knob", lambda w: process_args(w, w.knob),
     lambda w: "knob.leanamp"),
    ("process unknown output type", lambda w: process_args(w, w.lstm, "out.xyz"),
     lambda w: "out.xyz"),
    ("process --width on an LSTM", lambda w: [*process_args(w, w.lstm), "--width", "2"],
     lambda w: "lstm.leanamp"),
    ("eval knob model without --knob",
     lambda w: ["eval", str(w.knob), str(w.dry), str(w.wet)], lambda w: "knob.leanamp"),
    ("render missing input", lambda w: ["render", str(w.lstm), str(w.path("none.wav")),
                                        str(w.path("r.wav"))],
     lambda w: "none.wav"),
    ("import OUT is a folder", lambda w: ["import", str(w.lstm), str(w.dry)], lambda w: "dry"),
    # --- export -------------------------------------------------------------------------------
    ("export --format native onto .json",
     lambda w: ["export", str(w.lstm), str(w.path("x.json")), "--format", "native"],
     lambda w: "x.json"),
    ("export .json without --format", lambda w: ["export", str(w.lstm), str(w.path("y.json"))],
     lambda w: "y.json"),
    ("export unknown --format",
     lambda w: ["export", str(w.lstm), str(w.path("z.nam")), "--format", "onnx"],
     lambda w: "onnx"),
    ("export residual LSTM to .nam", lambda w: ["export", str(w.lstm), str(w.path("r.nam"))],
     lambda w: "r.nam"),
    # --- hostile model files: native ----------------------------------------------------------
    ("native 8-byte file", lambda w: process_args(w, w.file("tiny.leanamp", b"12345678")),
     lambda w: "tiny.leanamp"),
    ("native hidden_size 10^9",
     lambda w: process_args(w, w.file("bomb.leanamp", native_header(
         {"architecture": "lstm", "hidden_size": 10**9, "input_size": 1, "residual": True,
          "num_layers": 1}))),
     lambda w: "bomb.leanamp"),
    ("native header nested 100k deep",
     lambda w: process_args(w, w.file("deep.leanamp", nested_native(100_000))),
     lambda w: "deep.leanamp"),
    ("native config nested 100k deep",
     lambda w: process_args(w, w.file("deepcfg.leanamp", native_header(
         {"architecture": "lstm"}, metadata="[" * 100_000 + "]" * 100_000))),
     lambda w: "deepcfg.leanamp"),
    ("native header length beyond the file",
     lambda w: process_args(w, w.file("cut.leanamp", (10**6).to_bytes(8, "little") + b"{}")),
     lambda w: "cut.leanamp"),
    ("native without a leanamp config",
     lambda w: process_args(w, w.file("noconf.leanamp", (2).to_bytes(8, "little") + b"{}")),
     lambda w: "noconf.leanamp"),
    ("native NaN weight", lambda w: process_args(w, nan_weights_file(w)),
     lambda w: "nan.leanamp"),
    ("native float64 weights of 1e308", lambda w: process_args(w, float64_weights_file(w)),
     lambda w: "huge.leanamp"),
    ("native unknown architecture",
     lambda w: process_args(w, w.file("arch.leanamp", native_header({"architecture": "gru"},
                                                                    b"\0" * 64))),
     lambda w: "arch.leanamp"),
    # --- hostile model files: NAM -------------------------------------------------------------
    ("NAM weights all 1e308", lambda w: process_args(w, w.file("big.nam", nam_lstm(fill=1e308))),
     lambda w: "big.nam"),
    ("NAM WaveNet weights that overflow float32",
     lambda w: process_args(w, w.file("over.nam", nam_wavenet(1e30))), lambda w: "over.nam"),
    ("NAM pickle", lambda w: process_args(w, w.file("p.nam", pickle.dumps({"a": 1}))),
     lambda w: "p.nam"),
    ("NAM missing weights",
     lambda w: process_args(w, w.file("nw.nam", {k: v for k, v in nam_lstm().items()
                                                  if k != "weights"})),
     lambda w: "nw.nam"),
    ("NAM hidden size 10^7",
     lambda w: process_args(w, w.file("h.nam", {**nam_lstm(), "config": {
         "input_size": 1, "hidden_size": 10**7, "num_layers": 1}})),
     lambda w: "h.nam"),
    # --- hostile model files: AIDA-X and Proteus/NeuralPi ---------------------------------------
    ("AIDA-X truncated weights",
     lambda w: process_args(w, w.file("a.json", {**aidax_dict(LSTMModel(2)), "layers": [
         {**aidax_dict(LSTMModel(2))["layers"][0], "weights": [[0.0]]},
         aidax_dict(LSTMModel(2))["layers"][1]]})),
     lambda w: "a.json"),
    ("AIDA-X hidden size 10^6",
     lambda w: process_args(w, w.file("a2.json", {**aidax_dict(LSTMModel(2)), "layers": [
         {**aidax_dict(LSTMModel(2))["layers"][0], "shape": [None, None, 10**6]},
         aidax_dict(LSTMModel(2))["layers"][1]]})),
     lambda w: "a2.json"),
    ("Proteus NaN weight",
     lambda w: process_args(w, w.file("p.json", {**agm_dict(LSTMModel(2)), "state_dict": {
         **agm_dict(LSTMModel(2))["state_dict"], "lin.bias": [float("nan")]}})),
     lambda w: "p.json"),
    ("Proteus hidden size 10^6",
     lambda w: process_args(w, w.file("p2.json", {**agm_dict(LSTMModel(2)), "model_data": {
         **agm_dict(LSTMModel(2))["model_data"], "hidden_size": 10**6}})),
     lambda w: "p2.json"),
    ("JSON nested 200k deep",
     lambda w: process_args(w, w.file("deep.json", "[" * 200_000 + "]" * 200_000)),
     lambda w: "deep.json"),
    ("empty model file", lambda w: process_args(w, w.file("empty.nam", b"")),
     lambda w: "empty.nam"),
    ("model path is a folder", lambda w: process_args(w, w.dry), lambda w: "dry"),
    # --- pruning ------------------------------------------------------------------------------
    ("prune --resume on an empty folder",
     lambda w: ["prune", str(w.dry), str(w.wet), "--out", str(w.path("p_empty")), "--resume"],
     lambda w: "p_empty"),
    ("prune --hidden-size 0",
     lambda w: ["prune", str(w.dry), str(w.wet), "--out", str(w.path("p0")), "--hidden-size",
                "0"],
     lambda w: "--hidden-size"),
    ("prune unknown --method",
     lambda w: ["prune", str(w.dry), str(w.wet), "--out", str(w.path("p1")), "--method", "x"],
     lambda w: "--method"),
    ("two prunings into one --out",
     lambda w: ["prune", str(w.dry), str(w.wet), "--out", str(w.path("plocked")), "--hidden-size",
                "2", "--validation", "two", "--no-align"],
     lambda w: "plocked"),
    ("prune --out naming a file",
     lambda w: ["prune", str(w.dry), str(w.wet), "--out", str(w.file("pfile.txt", "x"))],
     lambda w: "pfile.txt"),
    # --- sweeps -------------------------------------------------------------------------------
    ("sweep with an unknown trimming criterion",
     lambda w: ["sweep", str(w.file("criterion.yaml", "devices: [overdrive]\nsizes: [3]\n"
                                    "methods: [structured]\nstructured: {criterion: astrology}\n")),
                "--out", str(w.path("sweep_criterion"))],
     lambda w: "criterion.yaml"),
    ("sweep with a bad train value",
     lambda w: ["sweep", str(w.file("metric.yaml", "devices: [overdrive]\nsizes: [3]\n"
                                    "methods: [train]\ntrain: {validation_metric: mse}\n")),
                "--out", str(w.path("sweep_metric"))],
     lambda w: "metric.yaml"),
]


def test_the_table_is_large_and_distinct():
    assert len(CASES) >= 45
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(case, world, run_cli):
    name, args, fragment = case
    if name in LOCKED_FOLDERS:
        with run_folder_lock(world.path(LOCKED_FOLDERS[name])):
            code, out, err = run_cli(args(world))
    else:
        code, out, err = run_cli(args(world))
    assert code == 2, (code, out, err)
    assert err.startswith("error: ") or "\nerror: " in err, err
    assert fragment(world) in err, err
    assert "Traceback" not in err + out, err


def test_the_same_flags_succeed_where_the_inputs_are_good(world, run_cli):
    # The refusals above are of the inputs, not of the commands: good inputs pass.
    code, out, err = run_cli(["eval", str(world.knob), str(world.dry), str(world.wet), "--knob",
                              "0.5"])  # fmt: skip
    assert code == 0, err
    assert "held-out" in out or "roles unknown" in out
    code, _, err = run_cli([*process_args(world, world.knob, "k.wav"), "--knob", "0.5"])
    assert code == 0, err


def test_process_warns_about_dropped_channels_and_a_changed_rate(world, run_cli):
    x = 0.3 * np.random.default_rng(0).standard_normal((RATE // 2, 2))
    stereo = world.wav("stereo.wav", x, RATE // 2)
    code, _, err = run_cli(["process", str(world.lstm), str(stereo), str(world.path("s.wav"))])
    assert code == 0, err
    assert "2 channels" in err and f"{RATE // 2} Hz" in err and "Traceback" not in err
    assert sf.info(world.path("s.wav")).samplerate == RATE


def test_written_files_are_flushed_and_have_ordinary_permissions(world, monkeypatch):
    import leanamp.files

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(leanamp.files.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    umask = os.umask(0o022)
    try:
        # safetensors replaces the temporary file it is given: the mode must survive that.
        path = save_model(LSTMModel(2), world.path("mode.leanamp"), {"sample_rate": RATE})
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert len(synced) == 2  # the file before the rename, its folder after
    assert not list(world.root.glob(".mode.leanamp.*"))  # no temporary file left behind


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_the_best_model_and_says_how_to_resume(world, tmp_path):
    out = tmp_path / "interrupted"
    command = [sys.executable, "-m", "leanamp", *train_args(world, out)[:-6],
               "--epochs", "100000", "--validate-every", "1", "--batch-size", "4",
               "--segment-seconds", "0.25", "--hidden-size", "2"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A shell starting the suite in the background ignores SIGINT, and so would the child (Python
    # then never raises KeyboardInterrupt): give it the default disposition, as a terminal has.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               text=True, preexec_fn=_default_sigint)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        # Plain lines (not a terminal): one per validation; wait for the second.
        while not (out / "run" / "best.leanamp").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted: " in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert (out / "model.leanamp").exists()
    assert "\r" not in stderr  # no redraws in a log
    assert "train: epoch 1/100000  train loss" in stderr

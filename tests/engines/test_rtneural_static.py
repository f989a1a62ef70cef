"""RTNeural's compile-time API (the benchmark's rtneural_static_driver): it plays an AIDA-X file
as the run-time API and leanamp do, so bench_engines.py times the same model in both."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.engines import build_driver, run_engine, time_engine
from leanamp.errors import LeanampError
from leanamp.formats.aidax import aidax_dict
from leanamp.models.lstm import LSTMModel
from leanamp.runtime import make_processor

pytestmark = pytest.mark.usefixtures("single_torch_thread")
STATIC = "rtneural_static_driver.cpp"


@pytest.fixture(scope="module")
def static_driver():
    try:
        return build_driver("rtneural", driver=STATIC)
    except LeanampError as e:
        pytest.skip(f"the RTNeural compile-time driver cannot be built here: {e}")


def lstm_file(tmp_path, hidden, seed=0):
    torch.manual_seed(seed)
    model = LSTMModel(hidden, 1, residual=True)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.4, 0.4)
    path = tmp_path / f"lstm{hidden}.json"
    path.write_text(json.dumps(aidax_dict(model.eval())))
    return model, path


@pytest.mark.parametrize("hidden", [4, 12, 96])
def test_compile_time_model_plays_like_the_run_time_one_and_leanamp(static_driver, tmp_path,
                                                                     hidden):  # fmt: skip
    model, path = lstm_file(tmp_path, hidden, seed=hidden)
    t = np.arange(9000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 196 * t) * np.exp(-2 * t)).astype(np.float32)
    static = run_engine(path, x, engine="rtneural", driver=STATIC)
    dynamic = run_engine(path, x, engine="rtneural")
    assert static.info["loader"] == "ModelT" and int(static.info["hidden_size"]) == hidden
    ours = make_processor(model, exact=True).process(x)
    assert np.ptp(ours) > 0.05
    assert np.abs(static.output - dynamic.output).max() < 1e-5
    assert np.abs(static.output - ours).max() < 1e-4
    rtf = time_engine(path, 0.2, engine="rtneural", driver=STATIC)
    assert 0 < rtf["rtf_cpu"] < 10


def test_compile_time_driver_refuses_a_size_it_was_not_built_for(static_driver, tmp_path):
    _, path = lstm_file(tmp_path, 9)
    with pytest.raises(LeanampError, match="hidden size 9; this driver has 4, 6, 8, 10, 12, 14"):
        run_engine(path, np.zeros(64, np.float32), engine="rtneural", driver=STATIC)

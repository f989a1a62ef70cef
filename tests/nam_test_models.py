"""Random models for the .nam round-trip tests (NAM Core in tests/engines, the `nam` package in
tests/formats): weights large enough that every part of the model shapes the output. Importable
from any test module (pyproject's pytest `pythonpath` has tests/)."""

from __future__ import annotations

import torch

from leanamp.models.lstm import LSTMModel
from leanamp.models.wavenet import WaveNet


def random_lstm(hidden, num_layers=1, seed=0):
    """An LSTM without skip (.nam LSTMs have none), weights uniform in [-0.5, 0.5]."""
    torch.manual_seed(seed)
    model = LSTMModel(hidden, 1, residual=False, num_layers=num_layers)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
    return model.eval()


def random_wavenet(layers, seed):
    """A WaveNet of `layers` with normal weights (std 0.4) and a small head scale."""
    torch.manual_seed(seed)
    model = WaveNet(layers=layers, head_scale=0.02)
    weights = torch.randn(model.num_nam_weights()) * 0.4
    weights[-1] = 0.02
    model.load_nam_weights(weights)
    return model.eval()

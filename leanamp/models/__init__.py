"""Model architectures. Every model maps (batch, time, input_size) to (batch, time).

`forward(x, state=None) -> (y, state)`: recurrent models return their state so the trainer and
the streaming engine can carry it; convolutional models return None and are causal (zero history).
`config` is a JSON-able dict from which `build_model` rebuilds the same architecture.
"""

from __future__ import annotations

from torch import nn

from leanamp.models.lstm import LSTMModel

ARCHITECTURES: dict[str, type[nn.Module]] = {"lstm": LSTMModel}


def register(cls: type[nn.Module]) -> type[nn.Module]:
    ARCHITECTURES[cls.architecture] = cls
    return cls


def build_model(config: dict) -> nn.Module:
    """Build an untrained model from its config dict (as stored in model files)."""
    config = dict(config)
    name = config.pop("architecture", None)
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name](**config)


__all__ = ["ARCHITECTURES", "LSTMModel", "build_model", "register"]
from leanamp.models.wavenet import WaveNet  # noqa: E402,F401  isort: skip  (registers "wavenet")

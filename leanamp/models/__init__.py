"""Model architectures. Every model maps (batch, time, input_size) to (batch, time).

`forward(x, state=None) -> (y, state)`: recurrent models return their state so the trainer and
the streaming engine can carry it; convolutional models return None and are causal (zero history).
`config` is a JSON-able dict from which `build_model` rebuilds the same architecture.
"""

from __future__ import annotations

from torch import nn

from leanamp.models.lstm import LSTMModel
from leanamp.models.nam_wavenet import NamWaveNet
from leanamp.models.slim import slimmable_layers
from leanamp.models.wavenet import WaveNet
from leanamp.models.wavenet import preset as preset_layers
from leanamp.models.widths import WidthSampler

# Every trainable architecture, by the name stored in model files' configs.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    LSTMModel.architecture: LSTMModel,
    WaveNet.architecture: WaveNet,
    NamWaveNet.architecture: NamWaveNet,
}


def build_model(config: dict) -> nn.Module:
    """Build an untrained model from its config dict (as stored in model files)."""
    config = dict(config)
    name = config.pop("architecture", None)
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name](**config)


def new_model(
    architecture: str,
    input_size: int = 1,
    hidden_size: int = 16,
    residual: bool = True,
    preset: str = "standard",
    slimmable: bool = False,
    widths: list[int] | None = None,
    slim_rule: str = "uniform",
) -> nn.Module:
    """A freshly initialised model: an LSTM of `hidden_size` (residual as in the paper), or a
    WaveNet of NAM's `preset`, slimmable over `widths` (default every width) if asked, trained
    by the width rule `slim_rule` (leanamp.models.widths.SLIM_RULES)."""
    if architecture == "lstm":
        if slimmable:
            raise ValueError("slimmable training is for WaveNets")
        return LSTMModel(hidden_size, input_size=input_size, residual=residual)
    if architecture == "wavenet":
        layers = preset_layers(preset, input_size)
        if slimmable:
            layers = slimmable_layers(layers, widths)
        model = WaveNet(layers, input_size=input_size)
        if slimmable:
            model.width_sampler = WidthSampler(model.widths, slim_rule)
        return model
    raise ValueError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")


__all__ = ["ARCHITECTURES", "LSTMModel", "NamWaveNet", "WaveNet", "build_model", "new_model"]

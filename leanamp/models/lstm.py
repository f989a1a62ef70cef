"""The paper's model: one LSTM layer, a linear head and a residual path, y = W h + b + x."""

from __future__ import annotations

import torch
from torch import nn

LSTMState = tuple[torch.Tensor, torch.Tensor]


class LSTMModel(nn.Module):
    """LSTM black-box model of a device (Südholt et al. 2022, eq. (1)-(3)).

    Input (batch, time, input_size): channel 0 is audio, channels 1.. are knob values in 0..1.
    Output (batch, time). With `residual` the audio input is added to the head's output; NAM's
    LSTM has no residual path, so models bound for .nam are trained with residual=False.
    """

    architecture = "lstm"
    receptive_field = 1

    def __init__(
        self, hidden_size: int = 16, input_size: int = 1, residual: bool = True, num_layers: int = 1
    ):
        super().__init__()
        if hidden_size < 1 or input_size < 1 or num_layers < 1:
            raise ValueError("hidden_size, input_size and num_layers must be at least 1")
        self.hidden_size = hidden_size
        self.input_size = input_size
        self.residual = residual
        self.num_layers = num_layers
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    @property
    def config(self) -> dict:
        return {
            "architecture": self.architecture,
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "residual": self.residual,
            "num_layers": self.num_layers,
        }

    def forward(
        self, x: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        h, state = self.lstm(x, state)
        y = self.head(h).squeeze(-1)
        if self.residual:
            y = y + x[..., 0]
        return y, state

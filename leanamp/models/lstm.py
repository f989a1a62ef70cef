"""The paper's model: one LSTM layer, a linear head and a residual path, y = W h + b + x.

The initial state (h0, c0), one row of H per layer, belongs to the model: buffers `initial_hidden`
and `initial_cell` (zeros unless imported, e.g. NAM's LSTM files store one), used whenever forward
gets no state, so every path that runs the model starts where the model says.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from leanamp.errors import LeanampError

LSTMState = tuple[torch.Tensor, torch.Tensor]
# Far beyond any real-time model (the paper's largest is 96; knob inputs are a few, layers one
# or two); larger figures only exhaust memory or, for layers, time spent building them.
MAX_HIDDEN_SIZE = 2048
MAX_LSTM_LAYERS = 16
MAX_INPUT_SIZE = 16


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
        for name, value, limit in (("hidden_size", hidden_size, MAX_HIDDEN_SIZE),
                                   ("input_size", input_size, MAX_INPUT_SIZE),
                                   ("num_layers", num_layers, MAX_LSTM_LAYERS)):  # fmt: skip
            if value > limit:
                raise ValueError(f"{name} {value} is beyond the supported {limit}")
        self.hidden_size = hidden_size
        self.input_size = input_size
        self.residual = residual
        self.num_layers = num_layers
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)
        self.register_buffer("initial_hidden", torch.zeros(num_layers, hidden_size))
        self.register_buffer("initial_cell", torch.zeros(num_layers, hidden_size))

    @property
    def config(self) -> dict:
        return {
            "architecture": self.architecture,
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "residual": self.residual,
            "num_layers": self.num_layers,
        }

    def start_state(self, batch: int = 1) -> LSTMState:
        """The model's initial (h, c), each (layers, batch, H), as the LSTM's `state` argument."""
        return tuple(
            s[:, None, :].expand(-1, batch, -1).contiguous()
            for s in (self.initial_hidden, self.initial_cell)
        )

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Weights saved before the state was part of the model (old files, checkpoints of runs
        # to resume) lack the state buffers: those start from zeros.
        for name in ("initial_hidden", "initial_cell"):
            if prefix + name not in state_dict:
                state_dict[prefix + name] = torch.zeros_like(getattr(self, name))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def set_start_state(self, hidden, cell) -> None:
        """Set the initial state from (h, c): tensors or arrays of (layers, H) or (layers, 1, H)."""
        h, c = _checked_state(self, (hidden, cell))
        with torch.no_grad():
            self.initial_hidden.copy_(torch.from_numpy(h))
            self.initial_cell.copy_(torch.from_numpy(c))

    def forward(
        self, x: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        if state is None:
            state = self.start_state(x.shape[0])
        h, state = self.lstm(x, state)
        y = self.head(h).squeeze(-1)
        if self.residual:
            y = y + x[..., 0]
        return y, state


# --- which hidden units can affect the output (pruning, compression, the streaming engine) ---


def lstm_weights(model: LSTMModel) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per layer (W_ih (4H, in), W_hh (4H, H), b_ih + b_hh (4H,)) as float64 numpy arrays."""
    layers = []
    with torch.no_grad():
        for layer in range(model.num_layers):
            w_ih = getattr(model.lstm, f"weight_ih_l{layer}").detach().cpu().double().numpy()
            w_hh = getattr(model.lstm, f"weight_hh_l{layer}").detach().cpu().double().numpy()
            b = getattr(model.lstm, f"bias_ih_l{layer}").detach().cpu().double().numpy()
            b = b + getattr(model.lstm, f"bias_hh_l{layer}").detach().cpu().double().numpy()
            layers.append((w_ih, w_hh, b))
    return layers


def gate_rows(units: np.ndarray, hidden: int) -> np.ndarray:
    """Row indices of all four gates of `units` in a (4H, ...) PyTorch LSTM matrix."""
    return (np.arange(4)[:, None] * hidden + units[None, :]).reshape(-1)


def start_state_arrays(model: LSTMModel) -> tuple[np.ndarray, np.ndarray]:
    """The model's initial (h0, c0) as float64 arrays of shape (layers, H)."""
    hidden, cell = model.initial_hidden, model.initial_cell
    return hidden.detach().cpu().double().numpy(), cell.detach().cpu().double().numpy()


def _checked_state(model: LSTMModel, state) -> tuple[np.ndarray, np.ndarray]:
    """(h, c) given as torch tensors or arrays of (layers, H) or (layers, 1, H), as float64
    (layers, H); refused unless it fits the model and is finite."""
    shape = (model.num_layers, model.hidden_size)
    arrays = []
    for value in state:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
        value = np.asarray(value, dtype=np.float64)
        if value.size != shape[0] * shape[1] or not np.all(np.isfinite(value)):
            raise LeanampError(
                f"initial LSTM state of shape {value.shape} does not fit the model {shape} "
                "or is not finite"
            )
        arrays.append(value.reshape(shape))
    if len(arrays) != 2:
        raise LeanampError("initial LSTM state must be a pair (h, c)")
    return arrays[0], arrays[1]


def live_units(model: LSTMModel) -> list[np.ndarray]:
    """Per layer, the boolean mask of hidden units that can affect the model's output.

    A unit is live when a chain of non-zero weights leads from its hidden output to the head,
    directly (non-zero head weight), through the recurrence of its own layer, or through the next
    layer's input weights; and when it is not silent: a unit whose candidate gate g has all-zero
    weights and zero bias, starting from h = c = 0 in the model's initial state, keeps h = c = 0
    forever, so it contributes nothing. Dropping the other units changes no output sample.
    """
    if not isinstance(model, LSTMModel):
        raise LeanampError(f"expected an LSTMModel, got {type(model).__name__}")
    layers = lstm_weights(model)
    h0, c0 = start_state_arrays(model)
    head = model.head.weight.detach().cpu().double().numpy().reshape(-1)
    masks: list[np.ndarray] = [np.zeros(0, dtype=bool)] * len(layers)
    seed = head != 0
    for index in range(len(layers) - 1, -1, -1):
        w_ih, w_hh, b = layers[index]
        hidden = w_hh.shape[1]
        g_rows = slice(2 * hidden, 3 * hidden)
        silent = (
            ~np.any(w_ih[g_rows] != 0, axis=1)
            & ~np.any(w_hh[g_rows] != 0, axis=1)
            & (b[g_rows] == 0)
            & (h0[index] == 0)
            & (c0[index] == 0)
        )
        # feeds[k, j]: unit j's hidden output enters one of unit k's gates.
        feeds = np.any(w_hh.reshape(4, hidden, hidden) != 0, axis=0)
        live = seed & ~silent
        while True:
            grown = (live | np.any(feeds[live], axis=0)) & ~silent
            if np.array_equal(grown, live):
                break
            live = grown
        masks[index] = live
        rows = gate_rows(np.flatnonzero(live), hidden)
        seed = np.any(w_ih[rows] != 0, axis=0)
    return masks


def effective_hidden_sizes(model: LSTMModel) -> list[int]:
    """Per layer, the number of hidden units that can still affect the output (`live_units`)."""
    return [int(mask.sum()) for mask in live_units(model)]

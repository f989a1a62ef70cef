"""Running a model over a whole signal with torch, exactly, in bounded memory."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.inference_mode()
def run_model(model: nn.Module, x: np.ndarray, chunk_samples: int = 1 << 16) -> np.ndarray:
    """Process `x` (time,) or (time, channels) from zero state; returns (time,) float32.

    Recurrent models carry their state across chunks; convolutional ones get the preceding
    receptive field as context, so the result equals one call on the whole signal.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    device = next(model.parameters()).device
    model.eval()
    context = int(getattr(model, "receptive_field", 1)) - 1
    out = np.empty(len(x), dtype=np.float32)
    state = None
    for start in range(0, len(x), chunk_samples):
        stop = min(start + chunk_samples, len(x))
        begin = max(0, start - context)
        block = torch.from_numpy(x[begin:stop]).unsqueeze(0).to(device)
        y, state = model(block, state)
        out[start:stop] = y[0, start - begin :].float().cpu().numpy()
    return out


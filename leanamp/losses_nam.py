"""Neural Amp Modeler's training recipe for WaveNet: MSE + pre-emphasised multi-resolution STFT.

NAM's trainer (nam/train/core.py) fits WaveNets with
    loss = MSE(y_hat, y) + 2e-4 * MRSTFT(pre(y_hat), pre(y)),   pre(x)[n] = x[n] - 0.85 x[n-1]
where MRSTFT is auraloss.freq.MultiResolutionSTFTLoss with its defaults (FFT sizes 1024/2048/512,
spectral convergence + log-magnitude terms) and the pre-emphasis drops the first sample (no
assumed history), as NAM's apply_pre_emphasis_filter does. Optimiser: Adam, learning rate 4e-3,
ExponentialLR with gamma = 1 - 0.007 stepped once per epoch; batches of 16 segments of 8192
output samples (plus the receptive field as history); validation by ESR.
"""

from __future__ import annotations

import torch
from auraloss.freq import MultiResolutionSTFTLoss
from torch import nn

NAM_MRSTFT_WEIGHT = 2e-4
NAM_PRE_EMPHASIS = 0.85

# The rest of NAM's WaveNet recipe, for the trainer to apply (values from nam/train/core.py).
NAM_RECIPE = {
    "optimizer": "Adam",
    "learning_rate": 4e-3,
    "lr_scheduler": "ExponentialLR",
    "lr_gamma_per_epoch": 1.0 - 0.007,
    "batch_size": 16,
    "segment_output_samples": 8192,
}


def nam_pre_emphasis(x: torch.Tensor, coefficient: float = NAM_PRE_EMPHASIS) -> torch.Tensor:
    """x[..., 1:] - coefficient * x[..., :-1] (one sample shorter, no zero initial condition)."""
    return x[..., 1:] - coefficient * x[..., :-1]


class NAMLoss(nn.Module):
    """MSE + `mrstft_weight` x multi-resolution STFT loss of pre-emphasised signals (B, T)."""

    def __init__(
        self,
        mrstft_weight: float = NAM_MRSTFT_WEIGHT,
        pre_emphasis: float = NAM_PRE_EMPHASIS,
        mse_weight: float = 1.0,
    ):
        super().__init__()
        self.mrstft_weight = mrstft_weight
        self.pre_emphasis = pre_emphasis
        self.mse_weight = mse_weight
        self.mrstft = MultiResolutionSTFTLoss()
        # auraloss frames with its largest FFT (2048) and reflect-pads by half of it.
        self.min_length = 2049

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.shape != target.shape or prediction.dim() != 2:
            raise ValueError(
                f"expected prediction and target of the same shape (batch, time), got "
                f"{tuple(prediction.shape)} and {tuple(target.shape)}"
            )
        loss = self.mse_weight * torch.mean((prediction - target) ** 2)
        if self.mrstft_weight:
            if prediction.shape[-1] < self.min_length:
                raise ValueError(
                    f"the STFT term needs segments of at least {self.min_length} samples, got "
                    f"{prediction.shape[-1]}; use longer segments or mrstft_weight=0"
                )
            p = nam_pre_emphasis(prediction, self.pre_emphasis)[:, None, :]
            t = nam_pre_emphasis(target, self.pre_emphasis)[:, None, :]
            loss = loss + self.mrstft_weight * self.mrstft(p, t)
        return loss

"""Losses of the paper (Südholt et al. 2022, eqs. (4)-(7)) and the ESR test metric.

Signals are (batch, time). Each segment is pre-emphasised on its own (zero initial condition), then
the mini-batch counts as one signal of N = batch x time samples in eq. (5), as the paper's own
code pools it: a per-segment ratio would let one near-silent segment (tiny denominator) dominate a
batch. Eq. (6) is a segment's: as the paper's code (PrunedGuitarVA, loss.py) does, the offset is
taken per segment and its square averaged over the batch, over the pooled energy,
    E_DC = mean_b (mean_t (y - y_hat))^2 / mean_{b,t} y^2,
so opposite offsets in two segments do not cancel. auraloss's ESRLoss is exactly eq. (5), so it is
used on the flattened batch (its DCLoss divides by each segment's own energy); its FIRFilter "hp"
is not H(z) = 1 - 0.85 z^-1 (it computes x[n-1] - 0.85 x[n]), so pre-emphasis is our own.

Neural Amp Modeler's training recipe for WaveNet: MSE + pre-emphasised multi-resolution STFT.

NAM's trainer (nam/train/core.py) fits WaveNets with
    loss = MSE(y_hat, y) + 2e-4 * MRSTFT(pre(y_hat), pre(y)),   pre(x)[n] = x[n] - 0.85 x[n-1]
where MRSTFT is auraloss.freq.MultiResolutionSTFTLoss with its defaults (FFT sizes 1024/2048/512,
spectral convergence + log-magnitude terms) and the pre-emphasis drops the first sample (no
assumed history), as NAM's apply_pre_emphasis_filter does. Optimiser: Adam, learning rate 4e-3,
ExponentialLR with gamma = 1 - 0.007 stepped once per epoch; batches of 16 segments of 8192
output samples (plus the receptive field as history); validation by ESR.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from auraloss.freq import MultiResolutionSTFTLoss
from auraloss.time import ESRLoss
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
        mse, stft = self.terms(prediction, target)
        return mse + stft

    def terms(self, prediction: torch.Tensor, target: torch.Tensor) -> tuple:
        """The loss's two weighted terms apart, (MSE, MRSTFT): the loss is their sum."""
        if prediction.shape != target.shape or prediction.dim() != 2:
            raise ValueError(
                f"expected prediction and target of the same shape (batch, time), got "
                f"{tuple(prediction.shape)} and {tuple(target.shape)}"
            )
        mse = self.mse_weight * torch.mean((prediction - target) ** 2)
        if not self.mrstft_weight:
            return mse, torch.zeros_like(mse)
        if prediction.shape[-1] < self.min_length:
            raise ValueError(
                f"the STFT term needs segments of at least {self.min_length} samples, got "
                f"{prediction.shape[-1]}; use longer segments or mrstft_weight=0"
            )
        p = nam_pre_emphasis(prediction, self.pre_emphasis)[:, None, :]
        t = nam_pre_emphasis(target, self.pre_emphasis)[:, None, :]
        return mse, self.mrstft_weight * self.mrstft(p, t)


class PreEmphasis(nn.Module):
    """First-order high-pass H(z) = 1 - coefficient z^-1, eq. (4), zero initial condition."""

    def __init__(self, coefficient: float = 0.85):
        super().__init__()
        self.coefficient = coefficient

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        previous = nn.functional.pad(x[..., :-1], (1, 0))
        return x - self.coefficient * previous


class PaperLoss(nn.Module):
    """0.75 x ESR of pre-emphasised signals + 0.25 x DC loss, eq. (7)."""

    def __init__(
        self, esr_weight: float = 0.75, dc_weight: float = 0.25, pre_emphasis: float = 0.85
    ):
        super().__init__()
        self.esr_weight = esr_weight
        self.dc_weight = dc_weight
        self.pre_emphasis = PreEmphasis(pre_emphasis)
        # eps keeps a silent segment finite; far below any real segment's energy.
        self.esr = ESRLoss(eps=1e-8)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(1, -1)

        esr = self.esr(flat(self.pre_emphasis(prediction)), flat(self.pre_emphasis(target)))
        offset = (target - prediction).mean(dim=-1)  # per segment, eq. (6)
        dc = offset.pow(2).mean() / (target.pow(2).mean() + 1e-8)
        return self.esr_weight * esr + self.dc_weight * dc


class MSELoss(nn.MSELoss):
    """Plain mean squared error (NAM's losses start from it)."""


class PooledESRLoss(nn.Module):
    """Plain ESR, eq. (5) without pre-emphasis, over the mini-batch as one signal."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ESRLoss(eps=1e-8)(prediction.reshape(1, -1), target.reshape(1, -1))


LOSSES: dict[str, type[nn.Module]] = {
    "paper": PaperLoss,
    "esr": PooledESRLoss,
    "mse": MSELoss,
    "nam": NAMLoss,  # NAM's WaveNet recipe: MSE + pre-emphasised multi-resolution STFT
}


def build_loss(name: str) -> nn.Module:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name]()


def esr(prediction: np.ndarray, target: np.ndarray) -> float:
    """Error-to-signal ratio sum((y_hat - y)^2) / sum(y^2), the test metric (no pre-emphasis)."""
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    energy = float(np.sum(target**2))
    if energy == 0.0:
        return math.inf
    return float(np.sum((prediction - target) ** 2) / energy)


def esr_db(value: float) -> float:
    """ESR in decibels: 10 log10(ESR)."""
    return 10.0 * math.log10(value) if value > 0 else -math.inf

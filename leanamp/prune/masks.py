"""Global unstructured magnitude-pruning masks (Südholt et al. 2022, section III-A).

A mask is one boolean tensor per prunable parameter (True: the weight is kept). Pruning pools the
still-active weights of every prunable tensor and removes the given fraction of them with the
smallest magnitude, so tensors lose weights in proportion to how small their weights are, not in
equal shares. Ties at the threshold are broken by position (stable sort), so exactly
round(fraction * active) weights go.

`MaskEnforcer` keeps pruned weights at exactly zero while training: it masks their gradients
(so Adam's moments for them stay zero and Adam never moves them) and multiplies the weights by the
mask after every optimizer step (which also covers optimizers with weight decay).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from leanamp.errors import LeanampError, ModelFileError
from leanamp.files import atomic_path


def prunable_parameters(model: nn.Module, include_biases: bool = False) -> dict[str, nn.Parameter]:
    """The LSTM's input and recurrent weights and the head weight (and their biases if asked)."""
    if not hasattr(model, "lstm") or not hasattr(model, "head"):
        raise LeanampError(
            f"pruning needs an LSTM model (with `lstm` and `head`), got {type(model).__name__}"
        )
    chosen = {}
    for name, parameter in model.named_parameters():
        module = name.split(".", 1)[0]
        if module not in ("lstm", "head"):
            continue
        is_weight = name.split(".")[-1].startswith("weight")
        if is_weight or include_biases:
            chosen[name] = parameter
    return chosen


class PruningMasks:
    """Boolean keep-masks by parameter name; they only ever lose entries."""

    def __init__(self, masks: dict[str, torch.Tensor]):
        if not masks:
            raise LeanampError("a pruning mask needs at least one tensor")
        self.masks = {name: mask.to(torch.bool) for name, mask in masks.items()}

    @classmethod
    def full(cls, model: nn.Module, include_biases: bool = False) -> PruningMasks:
        """Every prunable weight kept."""
        params = prunable_parameters(model, include_biases)
        return cls({name: torch.ones_like(p, dtype=torch.bool) for name, p in params.items()})

    @classmethod
    def from_model(cls, model: nn.Module, include_biases: bool = False) -> PruningMasks:
        """The mask a model's weights imply: a weight is kept when it is non-zero."""
        params = prunable_parameters(model, include_biases)
        return cls({name: p.detach() != 0 for name, p in params.items()})

    # --- counts ---------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(self.masks.items())

    @property
    def total(self) -> int:
        return sum(m.numel() for m in self.masks.values())

    @property
    def active(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks.values()))

    @property
    def sparsity(self) -> float:
        """Fraction of the prunable weights removed."""
        return 1.0 - self.active / self.total

    def to(self, device: torch.device | str) -> PruningMasks:
        return PruningMasks({name: m.to(device) for name, m in self.masks.items()})

    def clone(self) -> PruningMasks:
        return PruningMasks({name: m.clone() for name, m in self.masks.items()})

    def _check_model(self, model: nn.Module) -> dict[str, nn.Parameter]:
        params = dict(model.named_parameters())
        for name, mask in self.masks.items():
            if name not in params or params[name].shape != mask.shape:
                raise LeanampError(
                    f"the pruning mask does not fit this model (tensor {name}): was the mask made "
                    "for a model of another size?"
                )
        return params

    # --- pruning --------------------------------------------------------------------------------
    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        """Zero the pruned weights in place: theta = theta * m."""
        params = self._check_model(model)
        for name, mask in self.masks.items():
            params[name].mul_(mask.to(params[name].device))

    @torch.no_grad()
    def prune(self, model: nn.Module, fraction: float) -> PruningMasks:
        """A new mask: this one minus `fraction` of its active weights, smallest magnitude first.

        The model is not changed (the mask search computes candidate masks without applying them).
        """
        if not 0.0 <= fraction <= 1.0:
            raise LeanampError(f"the pruning fraction must be within 0..1, got {fraction}")
        params = self._check_model(model)
        names = list(self.masks)
        magnitudes = torch.cat([params[n].detach().abs().flatten().cpu().double() for n in names])
        active = torch.cat([self.masks[n].flatten().cpu() for n in names])
        n_remove = int(round(fraction * int(active.sum())))
        keep = active.clone()
        if n_remove:
            # Pruned weights can never come back: they sort after every active weight.
            ranked = torch.where(active, magnitudes, torch.full_like(magnitudes, torch.inf))
            order = torch.sort(ranked, stable=True).indices
            keep[order[:n_remove]] = False
        new_masks, offset = {}, 0
        for n in names:
            size = self.masks[n].numel()
            piece = keep[offset : offset + size].view_as(self.masks[n])
            new_masks[n] = piece.to(self.masks[n].device)
            offset += size
        return PruningMasks(new_masks)

    def distance(self, other: PruningMasks, reference: PruningMasks | None = None) -> float:
        """Normalised Hamming distance between two masks.

        Counted over the entries still active in `reference` (the mask both candidates were
        derived from): entries pruned earlier agree by construction and would otherwise dilute the
        distance towards zero as sparsity grows, making the early-bird test meaningless late in the
        search. Without a reference, over all entries.
        """
        if set(self.masks) != set(other.masks):
            raise LeanampError("cannot compare masks of different models")
        differing = 0
        counted = 0
        for name, mask in self.masks.items():
            diff = mask.cpu() != other.masks[name].cpu()
            if reference is not None:
                scope = reference.masks[name].cpu()
                differing += int((diff & scope).sum())
                counted += int(scope.sum())
            else:
                differing += int(diff.sum())
                counted += diff.numel()
        return differing / counted if counted else 0.0

    # --- files ----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        tensors = {n: m.detach().cpu().to(torch.uint8).contiguous() for n, m in self.masks.items()}
        meta = {"leanamp_mask": "1", "sparsity": json.dumps(self.sparsity)}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> PruningMasks:
        path = Path(path)
        if not path.exists():
            raise ModelFileError(f"{path}: no such mask file")
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelFileError(f"{path}: not a pruning mask file ({e})") from None
        bad = [n for n, t in tensors.items() if t.dtype != torch.uint8 or bool((t > 1).any())]
        if not tensors or bad:
            raise ModelFileError(f"{path}: not a pruning mask file (expected 0/1 uint8 tensors)")
        return cls({name: t.to(torch.bool) for name, t in tensors.items()})


class MaskEnforcer:
    """Keeps a model's pruned weights at exactly zero through training.

    `attach(trainer)` registers gradient hooks and an after-step hook on a `leanamp.train.Trainer`;
    `update(masks)` switches to a new mask in place (the hooks see it at once); `detach()` removes
    everything, e.g. before dense fine-tuning.
    """

    def __init__(self, model: nn.Module, masks: PruningMasks):
        self.model = model
        self._params = masks._check_model(model)
        self.masks = masks.to(next(model.parameters()).device)
        self._handles: list = []
        self._trainer = None

    def update(self, masks: PruningMasks) -> None:
        masks._check_model(self.model)
        for name, mask in masks.masks.items():
            self.masks.masks[name].copy_(mask.to(self.masks.masks[name].device))
        self.masks.apply(self.model)

    def _grad_hook(self, name: str):
        def hook(grad: torch.Tensor) -> torch.Tensor:
            return grad * self.masks.masks[name].to(grad.dtype)

        return hook

    def after_step(self, model: nn.Module) -> None:
        self.masks.apply(self.model)

    def attach(self, trainer) -> MaskEnforcer:
        self.detach()
        self.masks.apply(self.model)
        for name in self.masks.masks:
            self._handles.append(self._params[name].register_hook(self._grad_hook(name)))
        trainer.after_step_hooks.append(self.after_step)
        self._trainer = trainer
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._trainer is not None and self.after_step in self._trainer.after_step_hooks:
            self._trainer.after_step_hooks.remove(self.after_step)
        self._trainer = None

"""Global unstructured magnitude-pruning masks (Südholt et al. 2022, section III-A).

A mask is one boolean tensor per prunable parameter (True: the weight is kept). Pruning pools the
still-active weights of every prunable tensor and removes the given fraction of them with the
smallest magnitude, so tensors lose weights in proportion to how small their weights are, not in
equal shares. Ties at the threshold are broken by position (stable sort), so exactly
round(fraction * active) weights go.

Unit-aware ranking (`unit_aware=True`, this project's variant): the paper's compression only
gains speed from hidden units whose every weight died, which global magnitude pruning rarely
achieves (issue 16: 64 -> 62 units at 96% sparsity). Each weight is instead ranked by the pooled
L2 norm of its hidden unit, u_j = sqrt(sum of w^2 over the active weights touching unit j: its
four gate rows of W_ih, W_hh (and biases if pruned), its recurrent column W_hh[:, j] and its head
weight), a recurrent weight W_hh[g, i, j] by min(u_i, u_j) since it goes when either unit goes;
ties (the weights of one unit) by magnitude. The share removed is rounded to whole units (the cut
moves to the nearer end of the unit it falls in), so a pruning step removes the weakest units
whole and leaves the others dense (group magnitude pruning over the unit groups of Wen et al.
2018, "Learning intrinsic sparse structures within LSTM"); at least one unit always stays.

Head protection (`protect_head=True`): with the residual path y = W h + b + x a mild device's
head weights are small, and a global threshold removes all of them at once (issue 16: every head
weight gone at 66% sparsity, validation ESR 0.92). The head is then pruned on its own by the same
fraction of its active weights (layer-wise), never below one weight; under `unit_aware` the head
weights belong to their units, which already keeps at least one.

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


HEAD_WEIGHT = "head.weight"


def _per_unit(name: str, values: torch.Tensor, hidden: int) -> torch.Tensor:
    """(H,) sums over the entries of one LSTM tensor that touch each hidden unit: gate rows for
    W_ih, W_hh and biases, plus the recurrent column for W_hh, head columns for the head."""
    if name == HEAD_WEIGHT:
        return values.sum(dim=0)
    if name.startswith("head."):  # the head bias touches no unit
        return torch.zeros(hidden, dtype=values.dtype)
    rows = values.reshape(4, hidden, -1).sum(dim=(0, 2))
    if "weight_hh" in name:
        # the column of unit j, without the 4 entries of its own rows counted twice
        own = values.reshape(4, hidden, hidden).diagonal(dim1=1, dim2=2).sum(dim=0)
        rows = rows + values.sum(dim=0) - own
    return rows


def _unit_of_entries(name: str, shape, hidden: int, norms: torch.Tensor) -> torch.Tensor:
    """The unit rank of every entry of one tensor (its unit's pooled norm; the smaller of the
    two for recurrent weights; infinity for the head bias, which belongs to no unit)."""
    if name == HEAD_WEIGHT:
        return norms.reshape(1, hidden).expand(shape)
    if name.startswith("head."):
        return torch.full(shape, torch.inf, dtype=torch.float64)
    row_units = norms.repeat(4)  # gate-stacked rows i, f, g, o
    if "weight_hh" in name:
        return torch.minimum(row_units[:, None], norms[None, :])
    return row_units.reshape(-1, *([1] * (len(shape) - 1))).expand(shape)


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
    def prune(
        self, model: nn.Module, fraction: float, unit_aware: bool = False,
        protect_head: bool = False,
    ) -> PruningMasks:  # fmt: skip
        """A new mask: this one minus `fraction` of its active weights, smallest magnitude first
        (or weakest unit first with `unit_aware`; the head pruned on its own with `protect_head`,
        see the module notes).

        The model is not changed (the mask search computes candidate masks without applying them).
        """
        if not 0.0 <= fraction <= 1.0:
            raise LeanampError(f"the pruning fraction must be within 0..1, got {fraction}")
        params = self._check_model(model)
        names = list(self.masks)
        magnitudes = torch.cat([params[n].detach().abs().flatten().cpu().double() for n in names])
        active = torch.cat([self.masks[n].flatten().cpu() for n in names])
        keep = active.clone()
        if unit_aware:
            units = self._unit_ranks(model, params)
            floor = self._strongest_unit_entries(units, active)
            self._prune_ranked(keep, active, magnitudes, fraction, units, min_active=floor)
        elif protect_head and HEAD_WEIGHT in self.masks:
            in_head = torch.cat([torch.full((self.masks[n].numel(),), n == HEAD_WEIGHT)
                                 for n in names])
            self._prune_ranked(keep, active & ~in_head, magnitudes, fraction)
            self._prune_ranked(keep, active & in_head, magnitudes, fraction, min_active=1)
        else:
            self._prune_ranked(keep, active, magnitudes, fraction)
        new_masks, offset = {}, 0
        for n in names:
            size = self.masks[n].numel()
            piece = keep[offset : offset + size].view_as(self.masks[n])
            new_masks[n] = piece.to(self.masks[n].device)
            offset += size
        return PruningMasks(new_masks)

    @staticmethod
    def _prune_ranked(keep, pool, magnitudes, fraction, primary=None, min_active: int = 0):
        """Clear in `keep` the `fraction` (rounded) of the `pool` entries ranked lowest by
        (`primary`, magnitude), leaving at least `min_active` of the pool."""
        count = int(pool.sum())
        n_remove = min(int(round(fraction * count)), max(0, count - min_active))
        if not n_remove:
            return
        # Entries outside the pool (pruned already, or pruned separately) sort after the rest.
        ranked = torch.where(pool, magnitudes, torch.full_like(magnitudes, torch.inf))
        order = torch.sort(ranked, stable=True).indices
        if primary is not None:
            primary = torch.where(pool, primary, torch.full_like(primary, torch.inf))
            order = order[torch.sort(primary[order], stable=True).indices]
            # Whole units: the cut moves to the nearer boundary of the unit it falls in.
            ranks = primary[order]
            cut = ranks[n_remove - 1]
            before, through = int((ranks < cut).sum()), int((ranks <= cut).sum())
            n_remove = through if n_remove - before >= (through - before) / 2 else before
            n_remove = min(n_remove, max(0, count - min_active))
        keep[order[:n_remove]] = False

    def _unit_ranks(self, model: nn.Module, params: dict) -> torch.Tensor:
        """Per flattened entry: the pooled L2 norm of its hidden unit (min of the two units for
        a recurrent weight), from the active weights only."""
        if getattr(model, "num_layers", 1) != 1:
            raise LeanampError("unit-aware pruning supports single-layer LSTMs")
        hidden = model.hidden_size
        masked = {n: params[n].detach().cpu().double() * self.masks[n].cpu() for n in self.masks}
        squares = torch.zeros(hidden, dtype=torch.float64)
        for name, w in masked.items():
            squares += _per_unit(name, w.pow(2), hidden)
        norms = squares.sqrt()
        ranks = []
        for name, w in masked.items():
            ranks.append(_unit_of_entries(name, w.shape, hidden, norms).flatten())
        return torch.cat(ranks)

    @staticmethod
    def _strongest_unit_entries(units: torch.Tensor, active: torch.Tensor) -> int:
        """Active entries ranked last (the strongest unit's own, and the head bias, which is
        in no unit): never pruned, so one unit always reaches the output."""
        finite = active & torch.isfinite(units)
        last = int((active & ~torch.isfinite(units)).sum())
        if not bool(finite.any()):
            return last
        return last + int((units[finite] == units[finite].max()).sum())

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

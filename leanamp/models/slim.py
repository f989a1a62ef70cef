"""Slimmable training and evaluation (Atkinson, "Slimmable NAM").

A slimmable WaveNet is a `leanamp.models.wavenet.WaveNet` whose layer-array configs carry NAM's
marker {"method": "slice_channels_uniform", "kwargs": {"allowed_channels": [...]}}. Before each
training batch the trainer calls `model.on_train_batch_start(rng)`; the model's `WidthSampler`
chooses the widths of that batch's step by its rule, and the step's loss is the sum over them:

- "uniform" (Atkinson, the paper): one width drawn uniformly from the allowed widths (every width
  1..c unless restricted);
- "sandwich" (Yu & Huang 2019, "Universally Slimmable Networks and Improved Training
  Techniques", the sandwich rule): the largest width, the smallest and `random_widths` widths
  drawn uniformly from those in between, L = sum_w loss(f_w(x), y), one optimizer step;
- "inplace" (same paper, in-place distillation): the sandwich rule's widths, the largest trained
  on the target and every other on the largest's output, detached:
  L = loss(f_max(x), y) + sum_{w < max} loss(f_w(x), stopgrad(f_max(x))).

Evaluation runs at the width set with `model.set_width` (full by default). Every width trained is
recorded in `WidthSampler.history`, so a run can show which widths it trained.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from leanamp.models.wavenet import SLIMMABLE_METHOD, WaveNet
from leanamp.models.widths import WidthSampler


def slimmable_layers(
    layers: list[dict], allowed_channels: Sequence[int] | None = None
) -> list[dict]:
    """Copies of NAM layer-array configs marked slimmable.

    `allowed_channels` are widths of the first array (default: every width 1..channels); later
    arrays get the widths they run at for those (proportional mapping of WaveNet.array_widths),
    written out explicitly so NAM's core, which needs a list per array, can read the file.
    """
    plain = [{k: v for k, v in cfg.items() if k != "slimmable"} for cfg in layers]
    probe = WaveNet(plain, input_size=plain[0]["condition_size"])
    full = probe.channels
    first = list(range(1, full[0] + 1)) if allowed_channels is None else sorted(allowed_channels)
    if not first or first[0] < 1 or first[-1] != full[0] or len(set(first)) != len(first):
        raise ValueError(
            f"allowed_channels must be distinct widths in 1..{full[0]} including {full[0]} "
            f"(the full width), got {list(allowed_channels or [])}"
        )
    per_array = [sorted({probe.array_widths(c)[i] for c in first}) for i in range(len(full))]
    out = copy.deepcopy(plain)
    for cfg, allowed in zip(out, per_array, strict=True):
        cfg["slimmable"] = {"method": SLIMMABLE_METHOD, "kwargs": {"allowed_channels": allowed}}
    return out


def make_slimmable(model, allowed_channels: Sequence[int] | None = None, rule: str = "uniform"):
    """A slimmable copy of a WaveNet (same weights), ready for slimmable training by `rule`."""
    layers = slimmable_layers(model.layer_configs, allowed_channels)
    new = WaveNet(layers, head_scale=float(model.head_scale), input_size=model.input_size)
    new.load_state_dict(model.state_dict())
    new.width_sampler = WidthSampler(new.widths, rule)
    return new.to(model.head_scale.device)


def container_submodels(model, widths: Sequence[int]) -> list[tuple[float, object]]:
    """(max_value, plain WaveNet sliced to that width) for a NAM SlimmableContainer: the Slim
    knob's value v plays the first submodel whose max_value = width / full width is >= v."""
    widths = [int(w) for w in widths]
    full = model.channels[0]
    if not widths or widths != sorted(set(widths)) or widths[-1] != full:
        raise ValueError(f"widths must increase and end at the full width {full}, got {widths}")
    return [(w / full, model.sliced(w)) for w in widths]

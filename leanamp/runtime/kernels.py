"""The streaming kernels, by name, in one table: `make_processor(model)` builds the one named
after the model's `architecture` ("lstm", "wavenet"...); variants have other names ("lstm-sparse").
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from leanamp.errors import LeanampError
from leanamp.runtime import lstm, sparse, wavenet
from leanamp.runtime.base import StreamingProcessor

# Each entry: factory(model, exact=..., **options) -> StreamingProcessor.
KERNELS: dict[str, Callable[..., StreamingProcessor]] = {
    "lstm": lstm.build_processor,
    "lstm-sparse": sparse.build_processor,
    "wavenet": wavenet.build_processor,
    "nam_wavenet": wavenet.build_processor,
}


def kernels() -> list[str]:
    """Names of the streaming kernels."""
    return sorted(KERNELS)


def make_processor(
    model: nn.Module, exact: bool = True, kernel: str | None = None, **options
) -> StreamingProcessor:
    """Build a streaming processor for `model`: the kernel named `kernel`, by default the one
    named after `model.architecture`."""
    name = kernel or getattr(model, "architecture", type(model).__name__)
    factory = KERNELS.get(name)
    if factory is None:
        raise LeanampError(f"no streaming kernel {name!r}; available: {kernels()}")
    return factory(model, exact=exact, **options)

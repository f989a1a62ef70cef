"""The streaming-processor protocol every real-time kernel implements, and the kernel registry.

A processor turns a block of input samples into the same number of output samples, carrying its
state from one block to the next, with no added latency: output sample t depends on input samples
0..t only, so processing a signal in any split of blocks gives the same result as one block.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from leanamp.errors import LeanampError


@runtime_checkable
class StreamingProcessor(Protocol):
    """Block-in, block-out audio processor with persistent state.

    `process(block)`: block is float32 (n,) mono audio when `input_size` is 1, or (n, input_size)
    with audio in column 0 and knob values (0..1) in columns 1..; returns float32 (n,). Any n >= 0.
    `reset()` returns the state to that of a freshly built processor (silence before time 0).
    """

    input_size: int
    sample_rate: float | None

    def process(self, block: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


def as_input_block(block: np.ndarray, input_size: int) -> np.ndarray:
    """Return `block` as a C-contiguous float32 (n, input_size) array, without copying if it is one.

    Mono (n,) blocks are accepted for models without knobs.
    """
    if not isinstance(block, np.ndarray):
        block = np.asarray(block)
    if block.ndim == 1:
        if input_size != 1:
            raise LeanampError(
                f"this model takes {input_size} input channels (audio + {input_size - 1} knob "
                f"values) but got a mono block of shape {block.shape}; pass an (n, {input_size}) "
                "block with the knob values in columns 1.."
            )
        block = block.reshape(-1, 1)
    elif block.ndim != 2 or block.shape[1] != input_size:
        raise LeanampError(
            f"expected a block of shape (n, {input_size}) (audio + knob values), "
            f"got {block.shape}"
        )
    if block.dtype != np.float32 or not block.flags.c_contiguous:
        block = np.ascontiguousarray(block, dtype=np.float32)
    return block

"""Real-time streaming: numba kernels that process audio block by block with persistent state.

`make_processor(model)` builds the kernel (`KERNELS`) for the model's architecture (dense LSTM,
sparse LSTM, WaveNet); `leanamp.runtime.bench` measures real-time factors against torch and
`leanamp.runtime.play` streams a live audio interface through a model.
"""

from leanamp.models.lstm import effective_hidden_sizes, live_units
from leanamp.runtime.base import StreamingProcessor, as_input_block
from leanamp.runtime.bench import bench_models, effective_hidden_size
from leanamp.runtime.kernels import KERNELS, kernels, make_processor
from leanamp.runtime.lstm import StreamingLSTM
from leanamp.runtime.sparse import SparseStreamingLSTM

__all__ = [
    "KERNELS",
    "SparseStreamingLSTM",
    "StreamingLSTM",
    "StreamingProcessor",
    "as_input_block",
    "bench_models",
    "effective_hidden_size",
    "effective_hidden_sizes",
    "kernels",
    "live_units",
    "make_processor",
]

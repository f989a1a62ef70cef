"""Fixtures for sweep tests: tiny configs (runs of about a second) and one shared Ray session."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

# Runs small enough for a test: 2 s of audio at 16 kHz, one epoch, a 3-unit LSTM.
TINY = {
    "sample_rate": 16000,
    "data_seconds": 2,
    "render_seconds": 0.5,
    "rtf_seconds": 0.05,
    "architectures": ["lstm"],
    "seeds": [0],
    "train": {"max_epochs": 1, "segment_seconds": 0.2, "batch_size": 4, "validate_every": 1,
              "warmup_samples": 200, "tbptt_samples": 400, "learning_rate": 0.004},
    "prune": {"iterations": 1, "max_epochs_per_iteration": 1, "pretrain_epochs": 1,
              "distance_window": 1},
}


@pytest.fixture
def write_config(tmp_path: Path):
    """write_config(name, **keys) -> path of a YAML sweep config built on TINY."""

    def write(name: str = "sweep", **keys) -> Path:
        values = {"name": name, **TINY, **keys}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    return write


@pytest.fixture(scope="session")
def ray_address():
    """One local Ray instance for all sweep tests (starting Ray takes seconds)."""
    ray = pytest.importorskip("ray")
    context = ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield context.address_info["gcs_address"]
    ray.shutdown()

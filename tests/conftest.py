"""Shared test fixtures. Tests that need ../shared skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MORPHDRIVE = SHARED / "data" / "morphdrive"
REFERENCE_MODELS = SHARED / "models" / "reference"

# One intra-op thread: the models are small and the test machine has two busy cores.
torch.set_num_threads(1)


@pytest.fixture
def morphdrive() -> Path:
    if not (MORPHDRIVE / "dry").is_dir():
        pytest.skip("../shared/data/morphdrive is absent")
    return MORPHDRIVE


@pytest.fixture
def reference_models() -> Path:
    if not REFERENCE_MODELS.is_dir():
        pytest.skip("../shared/models/reference is absent")
    return REFERENCE_MODELS


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)

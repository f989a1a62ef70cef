"""Shared test fixtures. Tests that need ../shared skip cleanly when it is absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MORPHDRIVE = SHARED / "data" / "morphdrive"
REFERENCE_MODELS = SHARED / "models" / "reference"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

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


@pytest.fixture(scope="module")
def single_torch_thread():
    """One torch thread for a whole module, restored after it (a test module opts in with
    `pytestmark = pytest.mark.usefixtures("single_torch_thread")`): other tests (training, the CLI)
    may have changed the count. These tensors are tiny; on the shared 2-core machine torch's thread
    pool only adds contention (a loop of small forwards measured 0.08 s on one thread, 14 s on two
    under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def run_cli(capsys):
    """Runs `leanamp ARGS` in-process: returns (exit code, stdout, stderr)."""
    from leanamp.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
            raise SystemExit(0)  # main returned normally: success
        captured = capsys.readouterr()
        return exit_info.value.code or 0, captured.out, captured.err

    return run


@pytest.fixture
def training_epochs(monkeypatch):
    """Watches every epoch the trainer runs: `.stages` lists each one's Trainer.stage, and with
    `.kill_at` set to a stage prefix the first epoch of that stage raises KeyboardInterrupt, as
    Ctrl-C (or a killed process) would there."""
    from types import SimpleNamespace

    from leanamp.train import Trainer

    original = Trainer.train_epoch
    watch = SimpleNamespace(stages=[], kill_at=None)

    def train_epoch(self):
        watch.stages.append(self.stage)
        if watch.kill_at is not None and self.stage.startswith(watch.kill_at):
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "train_epoch", train_epoch)
    return watch


@pytest.fixture(scope="module")
def chromium():
    """A headless Debian Chromium driven by Playwright (report and listening-test pages); skips
    when either is missing.

    Module-scoped: Playwright's sync API allows one running instance per thread."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()

"""A small finished sweep folder (built without Ray: the runs are executed in-process) and a
headless Chromium for the page tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from leanamp.sweep import ResultsTable, execute_run, load_sweep_config

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CONFIG = {
    "name": "report-test",
    "sample_rate": 16000,
    "data_seconds": 2,
    "render_seconds": 0.5,
    "rtf_seconds": 0.05,
    "devices": [{"name": "od", "device": "overdrive"},
                {"name": "broken", "input": "missing_dry.wav", "target": "missing_wet.wav"}],
    "sizes": [4],
    "methods": ["train", "prune"],
    "train": {"max_epochs": 2, "segment_seconds": 0.2, "batch_size": 4, "validate_every": 1,
              "warmup_samples": 200, "tbptt_samples": 400, "learning_rate": 0.004},
    "prune": {"iterations": 1, "max_epochs_per_iteration": 1, "pretrain_epochs": 2,
              "distance_window": 1},
}


@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    config = root / "sweep.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = root / "out"
    table = ResultsTable(out)
    table.set_info(name=CONFIG["name"])
    for spec in load_sweep_config(config).runs:
        table.register(spec.run_id, spec.to_dict(), spec.name, f"runs/{spec.run_id}")
        if spec.device["name"] == "broken":
            table.mark_failed(spec.run_id, "DataError: missing_dry.wav: no such file or folder")
        else:
            table.mark_done(spec.run_id, execute_run(spec.to_dict(), str(out / "runs" /
                                                                         spec.run_id)))
    return out


@pytest.fixture(scope="module")
def chromium():
    """A headless Debian Chromium driven by Playwright; skips when either is missing.

    Module-scoped: Playwright's sync API allows one running instance per thread."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()

"""A small finished sweep folder (built without Ray: the runs are executed in-process); the
headless Chromium for the page tests is the `chromium` fixture of tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leanamp.sweep import ResultsTable, execute_run, load_sweep_config

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

"""The issue-16 grid (benchmarks/lean): every stage run_grid.sh names has a config that loads, and
every config is a stage still to run or one recorded in benchmarks/results/lean.json, so a typo
cannot silently drop rows from the published tables."""

import json
import re
from pathlib import Path

import pytest

from leanamp.sweep.config import load_sweep_config

LEAN = Path(__file__).resolve().parents[2] / "benchmarks" / "lean"
RECORD = LEAN.parent / "results" / "lean.json"


def grid_stages() -> list[str]:
    script = (LEAN / "run_grid.sh").read_text()
    listed = script[script.index("stages=(") + len("stages=(") : script.index(")\nfor")].split()
    # "+" joins lanes run side by side, "," the stages of a lane run one after the other
    return [stage for entry in listed for lane in entry.split("+") for stage in lane.split(",")]


def converge_stages() -> list[str]:
    script = (LEAN / "run_grid.sh").read_text()
    listed = script[script.index("converge=(") : script.index(")\nfor entry in \"${converge")]
    return [word for line in listed.splitlines()[1:] for word in line.strip(' "').split()[1:]]


def test_every_stage_trained_on_is_a_grid_stage_of_pruning_or_trimming():
    assert converge_stages()
    assert set(converge_stages()) <= set(grid_stages())
    for stage in converge_stages():
        methods = {spec.method for spec in load_sweep_config(LEAN / f"{stage}.yaml").runs}
        assert methods & {"prune", "structured"}


def test_every_config_is_a_stage_to_run_or_recorded():
    stages = grid_stages()
    recorded = {row["stage"] for row in json.loads(RECORD.read_text())["runs"]}
    assert len(stages) == len(set(stages))
    assert sorted(set(stages) | recorded) == sorted(path.stem for path in LEAN.glob("*.yaml"))


@pytest.mark.parametrize("stage", grid_stages())
def test_stage_config_loads_and_is_named_after_its_file(stage):
    config = load_sweep_config(LEAN / f"{stage}.yaml")
    assert config.name == stage
    assert config.runs
    assert re.fullmatch(r"[a-z0-9-]+", stage)

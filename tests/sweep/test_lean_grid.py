"""The issue-16 grid (benchmarks/lean): every stage run_grid.sh names has a config that loads, and
every config is a stage, so a typo cannot silently drop rows from the published tables."""

import re
from pathlib import Path

import pytest

from leanamp.sweep.config import load_sweep_config

LEAN = Path(__file__).resolve().parents[2] / "benchmarks" / "lean"


def grid_stages() -> list[str]:
    script = (LEAN / "run_grid.sh").read_text()
    listed = script[script.index("stages=(") + len("stages=(") : script.index(")\nfor")].split()
    # "+" joins lanes run side by side, "," the stages of a lane run one after the other
    return [stage for entry in listed for lane in entry.split("+") for stage in lane.split(",")]


def converge_stages() -> list[str]:
    script = (LEAN / "run_grid.sh").read_text()
    listed = script[script.index("converge=(") : script.index(")\nfor entry in \"${converge")]
    return [word for line in listed.splitlines()[1:] for word in line.strip(' "').split()[1:]]


def test_every_stage_trained_on_is_a_grid_stage():
    assert set(converge_stages()) <= set(grid_stages())
    assert "pedals-unitprune" in converge_stages()


def test_every_stage_has_a_config_and_every_config_is_a_stage():
    stages = grid_stages()
    assert len(stages) == len(set(stages))
    assert sorted(stages) == sorted(path.stem for path in LEAN.glob("*.yaml"))


@pytest.mark.parametrize("stage", grid_stages())
def test_stage_config_loads_and_is_named_after_its_file(stage):
    config = load_sweep_config(LEAN / f"{stage}.yaml")
    assert config.name == stage
    assert config.runs
    assert re.fullmatch(r"[a-z0-9-]+", stage)

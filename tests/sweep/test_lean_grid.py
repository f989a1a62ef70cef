"""The issue-16 grid (benchmarks/lean): every stage run_grid.sh names has a config that loads, and
every config is a stage, so a typo cannot silently drop rows from the published tables; a stage
goes on from the record (recorded_runs.py) without dropping the models a later stage starts from."""

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from lean_scripts import LEAN, lean_script

from leanamp.data import Clip
from leanamp.losses import NAMLoss
from leanamp.models.slim import make_slimmable
from leanamp.models.wavenet import WaveNet
from leanamp.sweep.config import load_sweep_config
from leanamp.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def recorded_runs():
    return lean_script("recorded_runs")


def grid_stages() -> list[str]:
    return lean_script("grid_status").grid_stages()


def stages_before_last_converge() -> list[str]:
    status = lean_script("grid_status")
    entries = status.grid_entries()
    return status.stages_of(entries[: len(entries) - entries[::-1].index("converge")])


def converge_stages() -> list[str]:
    script = (LEAN / "run_grid.sh").read_text()
    listed = script[script.index("converge=(") : script.index(")\nconverge_levels()")]
    return [word for line in listed.splitlines()[1:] for word in line.strip(' "').split()[1:]]


def test_every_stage_trained_on_is_a_grid_stage_of_pruning_or_trimming():
    assert converge_stages()
    # every stage trained on runs before the last `converge`
    assert set(converge_stages()) <= set(stages_before_last_converge())
    for stage in converge_stages():
        methods = {spec.method for spec in load_sweep_config(LEAN / f"{stage}.yaml").runs}
        assert methods & {"prune", "structured"}


def _levelled_run(grid, stage, name, status, units):
    run_dir = grid / stage / "runs" / name
    (run_dir / "structured").mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps({"status": status}))
    records = [{"iteration": i, "units": {"lstm": n}, "validation_esr": 0.01}
               for i, n in enumerate(units)]
    (run_dir / "structured" / "structured.json").write_text(json.dumps({"records": records}))


def test_the_levels_trained_on_are_the_kept_levels_of_finished_runs_in_the_size_range(tmp_path):
    converge = lean_script("converge_levels")
    _levelled_run(tmp_path, "trim", "a", "done", [32, 24, 16, 12, 8, 6])
    _levelled_run(tmp_path, "trim", "b", "started", [32, 16])
    _levelled_run(tmp_path, "other", "c", "done", [16, 12])
    found = converge.levels_to_train(tmp_path, 8, 16, ["trim"])
    assert [(i["run_dir"].name, i["level"]["level"], i["level"]["hidden_size"]) for i in found] \
        == [("a", 2, 16), ("a", 3, 12), ("a", 4, 8)]
    assert found[0]["out"] == tmp_path / "converged" / "a" / "level_02"
    assert [i["stage"] for i in converge.levels_to_train(tmp_path, 12, 16, None)] \
        == ["other", "trim", "trim"]  # level 0 never (c: 16 units): it is the run's own model
    assert converge.levels_to_train(tmp_path, 10, 11, None) == []


def test_every_stage_has_a_config_and_every_config_is_a_stage():
    stages = grid_stages()
    assert len(stages) == len(set(stages))
    assert sorted(stages) == sorted(path.stem for path in LEAN.glob("*.yaml"))


def test_recorded_runs_are_skipped_unless_a_later_stage_starts_from_them(recorded_runs,
                                                                        tmp_path):
    device = "devices: [{name: od, device: overdrive}]\narchitectures: [lstm]\nseeds: [0]\n"
    (tmp_path / "od-front.yaml").write_text(f"name: od-front\n{device}sizes: [8, 32]\n"
                                            "methods: [train]\n")
    (tmp_path / "od-distill.yaml").write_text(
        f"name: od-distill\n{device}sizes: [8]\nmethods: [distill]\n"
        "distill: {teacher_size: 32, teacher_sweep: '../{device}-front'}\n")
    front, distill = ([spec.run_id for spec in load_sweep_config(tmp_path / f"od-{s}.yaml").runs]
                      for s in ("front", "distill"))  # fmt: skip

    def record(*run_ids):
        return {"runs": [{"run_dir": f"/lost/grid/stage/runs/{run_id}"} for run_id in run_ids]}

    ids = recorded_runs.recorded_run_ids
    assert ids("od-front", record(*front, *distill), tmp_path) == front
    assert ids("od-front", record(front[0], *distill), tmp_path) == [front[0]]
    # the student is not recorded: its teacher's folder must be there, so the front runs again
    assert ids("od-front", record(*front), tmp_path) == []
    assert ids("od-distill", record(*distill), tmp_path) == distill


@pytest.mark.parametrize("stage", grid_stages())
def test_stage_config_loads_and_is_named_after_its_file(stage):
    config = load_sweep_config(LEAN / f"{stage}.yaml")
    assert config.name == stage
    assert config.runs
    assert re.fullmatch(r"[a-z0-9-]+", stage)


def _status_of_four_runs(tmp_path: Path, stage: str, train: str) -> dict:
    """grid_status's count of a stage of four train runs: one done here, one recorded, one
    started (90 CPU-s), one waiting."""
    (tmp_path / f"{stage}.yaml").write_text(
        f"name: {stage}\ndevices: [{{name: od, device: overdrive}}]\narchitectures: [lstm]\n"
        f"seeds: [0]\nsizes: [4, 8, 16, 32]\nmethods: [train]\n{train}")
    done, recorded, started, _waiting = (
        spec.run_id for spec in load_sweep_config(tmp_path / f"{stage}.yaml").runs)
    runs = tmp_path / "grid" / stage / "runs"
    (runs / done).mkdir(parents=True)
    (runs / done / "result.json").write_text(json.dumps({"status": "done"}))
    (runs / started).mkdir()
    (runs / started / "cpu_ledger.json").write_text(json.dumps({"attempts": [60.0, 30.0]}))
    return lean_script("grid_status").stage_status(stage, tmp_path / "grid", {recorded}, tmp_path)


def test_the_status_counts_runs_done_here_recorded_started_and_waiting(tmp_path):
    status = _status_of_four_runs(tmp_path, "od-front", "")
    assert status == {"runs": 4, "done here": 1, "recorded": 1, "started": 1, "waiting": 1,
                      "cpu": 90.0, "left": 0.0, "uncapped": 2}  # train runs without a cap
    status = _status_of_four_runs(tmp_path, "od-capped", "train: {max_minutes: 30}\n")
    assert status["left"] == 1800.0 - 90.0 + 1800.0  # the started run's rest, the waiting one's
    assert status["uncapped"] == 0


@pytest.mark.parametrize("variant", ["sandwich", "inplace"])
def test_the_inplace_probe_replays_the_trainers_slimmable_step(variant):
    """inplace_probe.py explains the grid's in-place runs only if its step is the trainer's."""
    probe = lean_script("inplace_probe")
    rate, rng = 8000, np.random.default_rng(3)
    x = rng.standard_normal(2 * rate).astype(np.float32)
    clips = [Clip("c", x, (0.5 * np.tanh(3 * x)).astype(np.float32), rate)]
    common = {"condition_size": 1, "kernel_size": 3, "activation": "Tanh", "gated": False}
    layers = [{"input_size": 1, "head_size": 1, "channels": 4, "dilations": [1, 2, 4],
               "head_bias": True, **common}]  # fmt: skip
    torch.manual_seed(0)
    model = make_slimmable(WaveNet(layers), None, variant)
    mirror = copy.deepcopy(model)
    config = TrainConfig(segment_seconds=0.3, batch_size=2, accelerator="cpu", loss="nam")
    trainer = Trainer(model, clips, clips, config, progress=False)
    trainer._update = lambda: None  # keep the step's summed gradient for the comparison
    xb, yb = trainer.inputs[:2], trainer.targets[:2]
    model.train()
    trainer._train_batch(xb, yb, model.on_train_batch_start(np.random.default_rng(0)))
    skip, params = trainer.skip_samples, list(mirror.parameters())
    mirror.train()
    grads, full, widths = probe.step_terms(mirror, xb, yb[:, skip:], skip, variant, NAMLoss(),
                                           params, np.random.default_rng(0))  # fmt: skip
    for p, got in zip(model.parameters(), grads, strict=True):  # None: unused (last residual)
        torch.testing.assert_close(got, torch.zeros_like(p) if p.grad is None else p.grad)
    assert [w["width"] for w in widths][:2] == [4, 1] and len(widths) == 4
    learnt = {"sandwich": "target", "inplace": "largest"}[variant]
    assert [w["against"] for w in widths] == ["target"] + [learnt] * 3
    assert probe.cosine(full, full) == pytest.approx(1.0)
    assert probe.cosine(full, [-g for g in full]) == pytest.approx(-1.0)

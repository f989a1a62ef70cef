"""Issue 16: the run ids of a grid stage that the record (benchmarks/results/lean.json) holds, for
`leanamp sweep --skip`, so the grid goes on from the record on a machine without its folder.

A stage that another stage starts from (`start_sweep` or `teacher_sweep: ../STAGE`) is the
exception: while any run of such a dependent stage is not recorded, its models are needed on
disk, so none of its runs is skipped (they run again).

    python benchmarks/lean/recorded_runs.py STAGE > GRID_DIR/STAGE.recorded
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

# record.py is the sibling script that reads the record (tables.py writes it).
from record import read_record, run_name  # noqa: I001

from leanamp.sweep import SweepConfig, load_sweep_config

LEAN = Path(__file__).resolve().parent


def starts_from(config: dict, stage: str) -> bool:
    """Whether a stage config names `stage`'s folder as one its runs start from ("{device}" in
    the folder stands for each of its devices' names)."""
    folders = {str(options.get(key)).replace("{device}", device["name"])
               for options in config.values() if isinstance(options, dict)
               for key in ("start_sweep", "teacher_sweep")
               for device in config["devices"]}  # fmt: skip
    return f"../{stage}" in folders


@functools.cache
def stage_config(path: Path) -> SweepConfig:
    """A stage's config, read once per process: each stage's question reads every config, and
    grid_status.py asks it of every stage."""
    return load_sweep_config(path)


def recorded_run_ids(stage: str, record: dict, lean: Path = LEAN) -> list[str]:
    """The run ids of `stage` (its config in `lean`) that `record` holds; none while a stage
    that starts from it has runs the record lacks."""
    recorded = {run_name(row) for row in record.get("runs", [])}
    for path in sorted(lean.glob("*.yaml")):
        dependent = stage_config(path)
        if starts_from(dependent.raw, stage) and any(
            spec.run_id not in recorded for spec in dependent.runs
        ):
            return []
    return [spec.run_id for spec in stage_config(lean / f"{stage}.yaml").runs
            if spec.run_id in recorded]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage")
    args = parser.parse_args()
    print(f"# {args.stage}: runs recorded in benchmarks/results/lean.json")
    for run_id in recorded_run_ids(args.stage, read_record()):
        print(run_id)


if __name__ == "__main__":
    main()

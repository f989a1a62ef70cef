"""Running a sweep on Ray: one Ray task per run, resumable, failures recorded not fatal.

The driver registers every run of the config in the sweep folder's results table, skips the runs
already done, and submits the rest as Ray tasks (one CPU each by default, plus a GPU when the
cluster has any). Each task writes its run folder and result.json; the driver records each result
as it arrives. Killing the driver loses nothing finished: a new `run_sweep` on the same folder
skips the done runs and resubmits the others, which continue from their own checkpoints. A run
that raises is marked failed with its error and traceback (error.txt), and the others go on.
Runs finished elsewhere (another machine's sweep folder, kept in a record) can be named by run id
(`skip`): they are neither registered nor run.

On a cluster (`address`), every node needs leanamp installed and the sweep folder on a shared
filesystem, since the tasks write their results there.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from leanamp.errors import LeanampError
from leanamp.files import atomic_path, write_text_atomic
from leanamp.progress import clock_text
from leanamp.results import RESULT_FILE, ResultsTable, open_results
from leanamp.sweep.config import SweepConfig, load_sweep_config
from leanamp.sweep.methods import execute_run

# Worker crashes (a killed process, a lost node) are retried by Ray; an exception a run raises is
# a result, recorded as a failure and never retried within the same sweep invocation.
SYSTEM_FAILURE_RETRIES = 2


@dataclass
class SweepSummary:
    sweep_dir: Path
    done: list[str] = field(default_factory=list)  # finished in this invocation
    skipped: list[str] = field(default_factory=list)  # already done before it
    elsewhere: list[str] = field(default_factory=list)  # named in `skip`: finished elsewhere
    failed: dict[str, str] = field(default_factory=dict)  # run name -> error

    def describe(self) -> str:
        lines = [
            f"sweep folder {self.sweep_dir}: {len(self.done)} runs finished now, "
            f"{len(self.skipped)} already done, {len(self.failed)} failed"
            + (f", {len(self.elsewhere)} finished elsewhere" if self.elsewhere else "")
        ]
        lines += [f"  failed {name}: {error}" for name, error in self.failed.items()]
        return "\n".join(lines)


def read_run_ids(path: str | os.PathLike) -> set[str]:
    """The run ids of a skip file: one per line, '#' to the end of a line is a comment."""
    path = Path(path)
    if not path.is_file():
        raise LeanampError(f"{path}: no such file of run ids to skip (one run id per line)")
    return {line.split("#", 1)[0].strip() for line in path.read_text().splitlines()} - {""}


def progress_text(left: int, ended: int, elapsed: float) -> str:
    """"3 runs left; 1:02:10 elapsed, about 3:06:30 to go": the time to go assumes the runs left
    take as long as the `ended` ones of this sweep did, as many at a time."""
    if not left:
        return f"0 runs left; {clock_text(elapsed)} elapsed"
    return (f"{left} runs left; {clock_text(elapsed)} elapsed, "
            f"about {clock_text(elapsed / ended * left)} to go")


def _error_text(error: BaseException) -> tuple[str, str]:
    """A one-line message and the full traceback of a task's exception (unwrapping Ray's)."""
    cause = getattr(error, "cause", None) or error
    message = f"{type(cause).__name__}: {cause}".strip()
    first_line = message.splitlines()[0] if message else type(cause).__name__
    return first_line, "".join(traceback.format_exception(error))


def _import_ray():
    try:
        import ray
    except ImportError:
        raise LeanampError(
            "sweeps run on Ray, which is not installed: pip install ray (or leanamp[sweep])"
        ) from None
    return ray


def _start_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to Ray; returns True when this call started it (and so should shut it down)."""
    ray = _import_ray()
    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "logging_level": "WARNING"}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=num_cpus, **options)
    return True


def run_sweep(
    config: str | os.PathLike | SweepConfig,
    sweep_dir: str | os.PathLike | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    log: Callable[[str], None] = print,
    skip: Collection[str] = (),
) -> SweepSummary:
    """Run every run of `config` not yet done into `sweep_dir` (default: sweeps/<the config
    file's name>), on local Ray (`num_cpus` CPUs, default all) or at `address`; the run ids in
    `skip` finished elsewhere and are left out."""
    if num_cpus is not None and num_cpus < 1:
        raise LeanampError(f"--num-cpus must be at least 1, got {num_cpus}")
    ray = _import_ray()
    sweep = config if isinstance(config, SweepConfig) else load_sweep_config(config)
    if sweep_dir is None:
        sweep_dir = Path("sweeps") / (Path(sweep.source).stem if sweep.source else sweep.name)
    sweep_dir = Path(sweep_dir).resolve()
    table = ResultsTable(sweep_dir)
    table.set_info(name=sweep.name, config_file=sweep.source, config=sweep.raw)
    if sweep.source:
        config_copy = sweep_dir / f"sweep_config{Path(sweep.source).suffix}"
        if Path(sweep.source) != config_copy:
            with atomic_path(config_copy) as tmp:
                shutil.copyfile(sweep.source, tmp)
    summary = SweepSummary(sweep_dir)
    to_run = []
    for spec in sweep.runs:
        if spec.run_id in skip:
            summary.elsewhere.append(spec.name)
            continue
        run_rel = f"runs/{spec.run_id}"
        table.register(spec.run_id, spec.to_dict(), spec.name, run_rel)
        row = table.get(spec.run_id)
        result_path = sweep_dir / run_rel / RESULT_FILE
        finished = result_path.exists() and json.loads(result_path.read_text()).get(
            "status") == "done"
        if finished:
            if row["status"] != "done":  # the driver died between the task's end and its record
                table.mark_done(spec.run_id, json.loads(result_path.read_text()))
            summary.skipped.append(spec.name)
        else:
            to_run.append(spec)
    if not to_run:
        log(summary.describe())
        return summary
    started_ray = _start_ray(address, num_cpus)
    try:
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        task = ray.remote(execute_run).options(
            num_cpus=sweep.cpus_per_run,
            num_gpus=sweep.gpus_per_run if gpus else 0,
            max_retries=SYSTEM_FAILURE_RETRIES,
            retry_exceptions=False,
        )
        pending = {}
        for spec in to_run:
            table.mark_running(spec.run_id)
            ref = task.remote(spec.to_dict(), str(sweep_dir / "runs" / spec.run_id))
            pending[ref] = spec
        log(f"sweep {sweep.name}: {len(to_run)} runs submitted, {len(summary.skipped)} "
            f"already done")
        started = time.monotonic()

        def progress() -> str:
            ended = len(summary.done) + len(summary.failed)
            return progress_text(len(pending), ended, time.monotonic() - started)

        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except Exception as error:  # noqa: BLE001 - any run's failure is recorded, not raised
                message, trace = _error_text(error)
                write_text_atomic(sweep_dir / "runs" / spec.run_id / "error.txt", trace)
                table.mark_failed(spec.run_id, message)
                summary.failed[spec.name] = message
                log(f"failed   {spec.name}: {message} ({progress()})")
                continue
            table.mark_done(spec.run_id, result)
            summary.done.append(spec.name)
            esr = result["metrics"].get("test_esr")
            log(f"finished {spec.name}: test ESR {esr:.4g} ({progress()})")
    finally:
        if started_ray:
            ray.shutdown()
    log(summary.describe())
    return summary


def sweep_table(sweep_dir: str | os.PathLike) -> str:
    """The sweep's runs as a plain-text table (status, ESR, real-time factor, error)."""

    rows = open_results(sweep_dir).rows()
    if not rows:
        raise LeanampError(f"{sweep_dir}: the results table has no runs")
    engine_rtfs = [r["metrics"].get("engine_rtf") for r in rows]
    engine_header = f" {'engine':>8}" if any(v is not None for v in engine_rtfs) else ""
    lines = [
        f"{'run':<36} {'status':<8} {'test ESR':>9} {'RTF':>8}{engine_header} {'params':>7}  error"
    ]
    for r, engine_rtf in zip(rows, engine_rtfs, strict=True):
        esr = f"{r['test_esr']:.4g}" if r["test_esr"] is not None else "-"
        rtf = f"{r['rtf']:.3g}" if r["rtf"] is not None else "-"
        engine = "" if not engine_header else (
            f" {engine_rtf:>8.3g}" if engine_rtf is not None else f" {'-':>8}"
        )
        params = str(r["nonzero_parameters"]) if r["nonzero_parameters"] is not None else "-"
        lines.append(
            f"{r['name']:<36} {r['status']:<8} {esr:>9} {rtf:>8}{engine} {params:>7}  "
            f"{r['error'] or ''}"
        )
    return "\n".join(lines)

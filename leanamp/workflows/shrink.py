# long: one policy read top to bottom: budget, plan, the candidate runners, the choice, the report
"""`leanamp shrink`: the most accurate model of a device that fits a compute budget (issue 16).

Budget: a real-time factor (`max_rtf`: thread CPU time over audio time of leanamp's streaming
kernel on this machine, 256-sample blocks, in `rtf_mode`: exact by default, whose cost grows with
the size; in fast mode every LSTM of 4 to 16 units costs about the same, README "The leanest
model"), multiply-adds per sample (`max_macs`, as
`leanamp.prune.structured.macs_per_sample` counts them), or a named target (`TARGETS`: the
resource bounds of leanamp.prune.structured, by name), and a total CPU-time budget (`minutes`).

Plan: the largest dense LSTM that fits (the ladder `LSTM_SIZES`, then the sizes between; within
`RTF_MARGIN` of an RTF budget, for measurement noise) is the size every candidate aims at.
Candidates run in the order of `METHOD_ORDER`, a data table: dense at that size; a restart (the
dense model from the next seed); distillation from the given big model or from a big model
trained here; structured trimming of the big model; unit-aware magnitude pruning of it (both
then train the level they keep on to convergence); last, the best candidate so far (the choice
below, among those before it) trained on (`train_on`). Every candidate starts when the previous
one ends and gets its share of the CPU time left, by `SHARE_WEIGHTS` (a candidate that stops early
leaves more to the next); the big model, when trained here, is one more candidate, first. A
budget that no model of the ladder can meet (its smallest model exceeds max_macs, the memory
bound or max_rtf) is refused before any training.

Choice (`choose_candidate`): among the candidates that fit the budget (`candidate_misses`: an RTF
measured over budget under load is forgiven to a model with no more multiply-adds than the dense
size the plan measured within it), the lowest validation ESR;
ties go to fewer multiply-adds, then to the earlier candidate. Before the choice every candidate
is timed again, all in one interleaved run (`_rtfs_together`: one load for all, and one timing
for models of the same architecture; the timing after each training stays as
`rtf_after_training`). The test ESR is reported, never used to choose.
The report lists every candidate and draws the Pareto front of test ESR against real-time
factor (leanamp.plots.figures.plot_pareto).

Folder: `plan.json` (written first), `candidates/<name>/` per candidate (its trainer or search
folders, then `candidate.json` when it is finished: a finished candidate is never redone),
`model.leanamp` (the choice), `shrink.json`, `report.md`, `pareto.png`. A killed shrink resumes:
the candidate in progress continues from its checkpoints (a trimming from its last finished
level). A candidate resumed after a kill is charged every attempt (leanamp.ledger; `resumed`
marks it).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from leanamp.data import DeviceData
from leanamp.distill import distill_student, recorded_training_cost
from leanamp.errors import Interrupted, LeanampError
from leanamp.files import write_text_atomic
from leanamp.formats import load_any
from leanamp.formats.native import load_model, save_model
from leanamp.ledger import CpuLedger, cpu_name
from leanamp.models.lstm import LSTMModel
from leanamp.plots.figures import pareto_front, plot_pareto
from leanamp.prune import SearchConfig, compress, mask_search
from leanamp.prune.structured import (
    MICROCONTROLLER,
    RASPBERRY_PI,
    Budget,
    StructuredConfig,
    macs_per_sample,
    structured_prune,
)
from leanamp.prune.structured import memory_bytes as model_memory_bytes
from leanamp.runtime.bench import bench_models, count_model_parameters
from leanamp.train import TrainConfig, Trainer, evaluate
from leanamp.workflows.recordings import load_training_data
from leanamp.workflows.steps import held_out_clips, nan_last

# Named targets: the resource bounds of leanamp.prune.structured (planning figures, not
# measurements), by the names `--target` takes.
TARGETS: dict[str, Budget] = {"pi4": RASPBERRY_PI, "mcu-m7": MICROCONTROLLER}
# The dense sizes of the issue-16 front; candidates aim at the largest that fits.
LSTM_SIZES = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96)
# The order candidates run in. "restart": the dense model again from the next seed. On the
# grid's zendrive pedal one seed in three of the dense LSTMs of 8, 12, 14 and 16 units ended
# 2.5-6x worse (test ESR 0.0060-0.0134 against 0.0017-0.0051), and so did distilled and
# trimmed ones; the seed with the lower validation loss was never the poor one. At 8-16 units
# no lean method beat the dense front over 3 seeds there (README, "The leanest model"), so the
# cheap restart comes first; the one that did (an LSTM-96 trimmed to 40 units) cost 2.7x a dense
# LSTM-40's training, far more than a 30-CPU-minute shrink gives one candidate. "train_on": the
# best candidate before it, trained on with its share. In 30-CPU-minute shrinks of the three
# MorphDrive pedals all 17 trainings stopped on their time share, none by early stopping: the
# time is better spent converging the leader than a sixth candidate.
METHOD_ORDER = ("dense", "restart", "distill", "structured", "unit_aware_prune", "train_on")
# The methods that start from a big model (given with --from, or trained here first).
NEEDS_BIG = ("distill", "structured", "unit_aware_prune")
# A big model trained here is the smallest ladder size at least this many times the target
# size, at most TEACHER_MAX_SIZE (unless the target is that large already). The cap is what
# converges within its share of a 30-CPU-minute shrink: on the zendrive pedal an LSTM-32
# stopped early after 698 CPU-s, about the 771 s its 3 shares of 7 give it.
TEACHER_FACTOR = 4
TEACHER_MAX_SIZE = 32
# The plan aims at a size whose measured RTF is within this share of --max-rtf: repeated
# measurements of one LSTM-6 on the loaded 2-core machine gave 0.0187, 0.0209 and 0.0235.
RTF_MARGIN = 0.85
# Thread CPU time per sample rises when other jobs share the cores (on this project's 2-core VM an
# LSTM-8 measured 0.045 with two training jobs running, 0.031 with them paused): an RTF plan
# made while the 1-minute load average is at least the number of cores says so.
def busy_machine_note(load_average: float, cores: int) -> str | None:
    if load_average < cores:
        return None
    return (f"note: the machine is busy (load average {load_average:.1f} on {cores} cores): "
            "the RTFs measured now run high and the plan may aim at a smaller model than a quiet "
            "machine would fit; plan on a quiet machine, or give --max-macs")


# Shares of the CPU time left, by candidate method (others 1): on the grid's zendrive pedal a
# dense LSTM-32 converged (early stopping) in 698 CPU-s, an LSTM-8 in 164 s; an equal share
# would stop the big model, which every method after it starts from, long before it converges.
# The leader trained on gets two: the grid's honeybee LSTM-10s converged in 333 CPU-s on
# average, 1.5 of the shares a 30-minute shrink gave its candidates (225 s).
SHARE_WEIGHTS = {"big": 3.0, "train_on": 2.0}
# Structured trimming and unit-aware pruning spend this share of their time on their steps, the
# rest on training the level they keep on to convergence (`_converge`).
TRIM_SHARE = 0.5
# Each trimming or pruning step removes this share of what is left (the seeds' 25% and 30%).
STRUCTURED_FRACTION = 0.25
PRUNE_FRACTION = 0.3


@dataclass
class ShrinkBudget:
    max_rtf: float | None = None
    max_macs: int | None = None
    max_memory_bytes: int | None = None
    target: str | None = None
    rtf_mode: str = "exact"  # the kernel mode max_rtf is measured in (leanamp.runtime.bench)

    @classmethod
    def make(cls, max_rtf=None, max_macs=None, target=None, rtf_mode="exact") -> ShrinkBudget:
        """Checks the figures; a named target adds its multiply-add and memory bounds."""
        if max_rtf is None and max_macs is None and target is None:
            raise LeanampError("shrink needs a budget: --max-rtf R, --max-macs N or --target NAME")
        if max_rtf is not None and not max_rtf > 0:
            raise LeanampError(f"--max-rtf must be positive, got {max_rtf}")
        if rtf_mode not in ("exact", "fast"):
            raise LeanampError(f"--rtf-mode {rtf_mode!r}: choose exact or fast")
        if max_macs is not None and max_macs < 1:
            raise LeanampError(f"--max-macs must be a positive number of multiply-adds, got "
                               f"{max_macs}")
        memory = None
        if target is not None:
            if target not in TARGETS:
                raise LeanampError(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
            bound = TARGETS[target]
            max_macs = bound.macs_per_sample if max_macs is None else min(max_macs,
                                                                           bound.macs_per_sample)
            memory = bound.memory_bytes
        return cls(max_rtf, max_macs, memory, target, rtf_mode)

    def misses(self, macs: int, memory: int, rtf: float | None) -> list[str]:
        """What a model with these figures exceeds (empty: it fits)."""
        out = []
        if self.max_macs is not None and macs > self.max_macs:
            out.append(f"{macs} multiply-adds per sample > {self.max_macs}")
        if self.max_memory_bytes is not None and memory > self.max_memory_bytes:
            out.append(f"{memory} bytes > {self.max_memory_bytes}")
        if self.max_rtf is not None and rtf is not None and rtf > self.max_rtf:
            out.append(f"RTF {rtf:.4g} > {self.max_rtf}")
        return out


@dataclass
class ShrinkConfig:
    minutes: float = 30.0  # total CPU minutes for every candidate together
    train: TrainConfig = field(default_factory=lambda: TrainConfig.recipe("quick"))
    max_epochs: int = 5000  # per training (early stopping and the time share end it sooner)
    rtf_seconds: float = 0.5  # audio timed per real-time factor
    method_order: tuple[str, ...] = METHOD_ORDER
    seed: int = 0
    progress: bool = False  # the trainers' epoch bars


@dataclass
class Candidate:
    name: str
    method: str
    size: int  # the LSTM size it aims at (dense, students) or trains (the big model)
    details: str


def _rtfs_together(models: dict[str, nn.Module], sample_rate: int, seconds: float, mode: str,
                   rounds: int = 5) -> dict[str, float]:
    """Thread CPU time / audio time of leanamp's streaming kernel (in `mode`, 256-sample
    blocks): the figure other jobs on a busy machine disturb least (wall clock under a load of
    17 on 2 cores measured LSTM-4 at 0.054). The models are timed in one interleaved run (every
    round times each once; the median of the rounds), so they share one load. Models of one
    architecture (same config, same count of non-zero weights) run the same kernel at the same
    cost: each architecture is timed once, so noise cannot rank them."""
    names_by_cost = {}
    for name, model in models.items():
        key = (json.dumps(model.config, sort_keys=True), count_model_parameters(model)[1])
        names_by_cost.setdefault(key, []).append(name)
    timed = {names[0]: copy.deepcopy(models[names[0]]).cpu().eval()
             for names in names_by_cost.values()}  # fmt: skip
    samples = {name: [] for name in timed}
    for _ in range(rounds):
        for name, model in timed.items():
            result = bench_models({name: model}, rate=sample_rate, seconds=seconds, repeats=1,
                                  modes=(mode,), with_torch=False)[0]  # fmt: skip
            samples[name].append(float(result.timings[mode].rtf_cpu))
    return {name: statistics.median(samples[names[0]])
            for names in names_by_cost.values() for name in names}  # fmt: skip


def _rtf(model: nn.Module, sample_rate: int, seconds: float, mode: str) -> float:
    """`_rtfs_together` of one model."""
    return _rtfs_together({"model": model}, sample_rate, seconds, mode)["model"]


def fitting_size(budget: ShrinkBudget, input_size: int, sample_rate: int, rtf_seconds: float,
                 measure: Callable | None = None) -> tuple[int, dict]:
    """The largest hidden size whose dense LSTM fits the budget (its RTF measured: the weights
    do not change a dense kernel's speed; within RTF_MARGIN of --max-rtf, except for the smallest
    size), and the figures of the sizes tried. The ladder `LSTM_SIZES` is searched first, then
    the sizes between the largest that fits and the next, so that the dense candidate, and the
    size the others aim at, use the whole budget (an LSTM-10 when the ladder would stop at 8).
    Raises LeanampError when even the smallest does not fit: no method can help then."""
    measure = measure or (lambda model: _rtf(model, sample_rate, rtf_seconds, budget.rtf_mode))
    tried = {}

    def fits(size: int) -> bool:
        model = LSTMModel(size, input_size=input_size)
        macs, memory = macs_per_sample(model), model_memory_bytes(model)
        rtf = None
        if not budget.misses(macs, memory, None) and budget.max_rtf is not None:
            rtf = measure(model)
        tried[size] = {"macs": macs, "memory_bytes": memory, "rtf": rtf}
        margin = 1.0 if size == min(LSTM_SIZES) or rtf is None else RTF_MARGIN
        return not budget.misses(macs, memory, None if rtf is None else rtf / margin)

    ladder = sorted(LSTM_SIZES, reverse=True)
    for index, size in enumerate(ladder):
        if fits(size):
            above = ladder[index - 1] if index > 0 else size + 1
            return next((s for s in range(above - 1, size, -1) if fits(s)), size), tried
    smallest = min(LSTM_SIZES)
    figures = tried[smallest]
    reasons = budget.misses(figures["macs"], figures["memory_bytes"], figures["rtf"])
    raise LeanampError(
        f"no model can meet this budget: the smallest LSTM ({smallest} units) needs "
        f"{'; '.join(reasons)}; allow more (a larger --max-rtf, --max-macs or another --target)"
    )


def teacher_size_for(size: int) -> int:
    """The big model trained here for a target size (see TEACHER_FACTOR)."""
    bigger = [s for s in LSTM_SIZES if s > size]
    if not bigger:
        return size
    capped = [s for s in bigger if s <= TEACHER_MAX_SIZE] or bigger[:1]
    return next((s for s in capped if s >= TEACHER_FACTOR * size), capped[-1])


def make_plan(size: int, order: tuple[str, ...], big_model: nn.Module | None) -> list[Candidate]:
    """Candidates in run order. Without a given big model one is trained first (it is also a
    candidate); methods needing a bigger model are left out when the target size is the largest,
    unit-aware pruning when the big model is not an LSTM."""
    unknown = sorted(set(order) - set(METHOD_ORDER))
    if unknown:
        raise LeanampError(f"unknown shrink methods {unknown}; known: {list(METHOD_ORDER)}")
    big = teacher_size_for(size)
    plan = []
    needs_big = any(m in NEEDS_BIG for m in order)
    if big_model is None and needs_big and big > size:
        plan.append(Candidate(f"big-lstm{big}", "big", big, f"dense LSTM-{big}, the big model"))
    source = "the given model" if big_model is not None else f"LSTM-{big}"
    has_big = big_model is not None or big > size
    for method in order:
        if method == "dense":
            plan.append(Candidate(f"dense-lstm{size}", "dense", size, f"dense LSTM-{size}"))
        elif method == "restart":
            plan.append(Candidate(f"restart-lstm{size}", "restart", size,
                                  f"dense LSTM-{size} from the next seed"))
        elif method == "train_on":
            plan.append(Candidate(f"trained-on-lstm{size}", "train_on", size,
                                  "the best candidate before it, trained on"))
        elif not has_big:
            continue
        elif method == "distill":
            plan.append(Candidate(f"distill-lstm{size}", "distill", size,
                                  f"LSTM-{size} distilled from {source}"))
        elif method == "structured":
            plan.append(Candidate(f"structured-lstm{size}", "structured", size,
                                  f"{source} trimmed by whole units to <= {size}"))
        elif method == "unit_aware_prune" and (big_model is None
                                                or isinstance(big_model, LSTMModel)):
            plan.append(Candidate(f"unitprune-lstm{size}", "unit_aware_prune", size,
                                  f"{source} pruned unit-aware, compressed to <= {size}"))
    return plan


def choose_candidate(results: list[dict]) -> dict:
    """The most accurate (lowest validation ESR) candidate that fits; ties: fewer multiply-adds,
    then the earlier one. Raises LeanampError when none fits."""
    fitting = [(i, r) for i, r in enumerate(results) if r["fits"]]
    if not fitting:
        closest = sorted(f"{r['name']}: {'; '.join(r['misses'])}" for r in results)
        raise LeanampError(
            "no candidate met the budget (" + " | ".join(closest) + "): measured figures vary from "
            "run to run near a budget; allow a little more (--max-rtf, --max-macs)"
        )
    return min(fitting, key=lambda ir: (nan_last(ir[1]["validation_esr"]),
                                        ir[1]["macs_per_sample"], ir[0]))[1]


def candidate_misses(budget: ShrinkBudget, record: dict, planned_macs: int) -> list[str]:
    """What a finished candidate exceeds. An RTF over the budget is forgiven to a model that costs
    no more multiply-adds than the dense LSTM the plan measured within it: the plan timed every
    size in one go, a candidate is timed later under whatever load the machine has then (the
    thread CPU time of one LSTM-32 doubled with five jobs on the two cores)."""
    macs = record["macs_per_sample"]
    rtf = None if macs <= planned_macs else record["rtf"]  # None: no RTF check
    return budget.misses(macs, record["memory_bytes"], rtf)


def judge_fit(budget: ShrinkBudget, record: dict, planned_macs: int) -> None:
    """Set a candidate record's `misses` (`candidate_misses`) and `fits` from its figures."""
    record["misses"] = candidate_misses(budget, record, planned_macs)
    record["fits"] = not record["misses"]


# --- running the candidates -----------------------------------------------------------------------


@dataclass
class _Context:
    data: DeviceData
    out: Path
    config: ShrinkConfig
    budget: ShrinkBudget
    big_model: nn.Module | None
    say: Callable[[str], None]
    from_model: str | None = None
    from_metadata: dict = field(default_factory=dict)
    planned_macs: int = 0  # of the dense LSTM the plan found to fit
    leader: dict | None = None  # for train_on: the record `_leader_of` picked among those before it


def _train_config(ctx: _Context, seconds: float, seed_offset: int = 0) -> TrainConfig:
    return TrainConfig(**{**asdict(ctx.config.train), "max_minutes": max(seconds, 1.0) / 60,
                          "budget_clock": "cpu", "max_epochs": ctx.config.max_epochs,
                          "seed": ctx.config.seed + seed_offset})


def _epochs_for(ctx: _Context, seconds: float, phases: int) -> int:
    """Epochs per phase of a search that keeps no time budget, from the largest CPU seconds per
    epoch measured by a finished candidate (the big model's is an upper bound for the smaller
    models a search trains); one epoch per phase while nothing is measured yet."""
    per_epoch = [r["seconds_per_epoch"] for r in _finished(ctx.out) if r.get("seconds_per_epoch")]
    epochs = int(seconds / phases / max(per_epoch)) if per_epoch else 1
    return max(1, min(epochs, ctx.config.max_epochs))


def _finished(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("candidates/*/candidate.json"))]


def _big_path(ctx: _Context) -> Path:
    plan = _read_json(ctx.out / "plan.json")
    name = next((c["name"] for c in plan["candidates"] if c["method"] == "big"), "")
    return ctx.out / "candidates" / name / "model.leanamp"


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _new_lstm(ctx: _Context, size: int, seed_offset: int = 0) -> LSTMModel:
    torch.manual_seed(ctx.config.seed + seed_offset)
    return LSTMModel(size, input_size=ctx.data.input_size)


def _fit(ctx: _Context, model: nn.Module, folder: Path, seconds: float,
         seed_offset: int = 0, keep_start: bool = False) -> dict:  # fmt: skip
    """Train `model` in folder/train (resuming), seeded `seed_offset` after the shrink's seed
    (initial weights are the caller's, the batch order is this seed's). `keep_start`: the model
    as it starts is kept unless an epoch beats it on validation (`Trainer.fit_keeping_start`)."""
    config = _train_config(ctx, seconds, seed_offset)
    trainer = Trainer(model, ctx.data.train, ctx.data.validation, config, folder / "train",
                      {"sample_rate": ctx.data.sample_rate}, ctx.config.progress)
    if not keep_start:
        result = trainer.fit(resume=True)
        return {"epochs": result.epochs, "stopped_because": result.stopped_because}
    result, kept = trainer.fit_keeping_start(config.max_epochs, resume=True)
    return {"epochs": result.epochs, "stopped_because": result.stopped_because,
            "improved": kept["improved"]}


def _big_cost(ctx: _Context) -> float | None:
    """CPU seconds of the big model: trained here (its candidate record), or recorded with the
    --from file (leanamp.distill.recorded_training_cost); None when unknown."""
    if ctx.from_model is not None:
        return recorded_training_cost(ctx.from_model, ctx.from_metadata)
    record = _read_json(_big_path(ctx).parent / "candidate.json")
    return record["cpu_seconds"] if record else None


def _big(ctx: _Context) -> nn.Module:
    if ctx.big_model is not None:
        return copy.deepcopy(ctx.big_model)
    model, _ = load_model(_big_path(ctx))
    return model


def _run_dense(ctx, candidate, folder, seconds, seed_offset: int = 0):
    model = _new_lstm(ctx, candidate.size, seed_offset)
    return model, _fit(ctx, model, folder, seconds, seed_offset)


def _run_distill(ctx, candidate, folder, seconds):
    student = _new_lstm(ctx, candidate.size)
    result, _ = distill_student(student, _big(ctx), ctx.data, folder, None,
                                _train_config(ctx, seconds), ctx.config.progress)
    return student, {"epochs": result.epochs, "stopped_because": result.stopped_because,
                     "loss": "0.5 x loss(student, target) + 0.5 x loss(student, big model)"}


def _within_target(ctx: _Context, macs: int, memory: int) -> bool:
    """A trimmed or pruned model is a choice when it fits the budget's bounds and costs no more
    multiply-adds than the dense LSTM the plan found to fit (which stands in for the real-time
    factor, measured only on the final model)."""
    return not ctx.budget.misses(macs, memory, None) and macs <= ctx.planned_macs


def _steps_to(size: int, start: int, fraction: float) -> int:
    """Steps of removing `fraction` of what is left that take `start` units to `size` or fewer."""
    return max(1, math.ceil(math.log(size / start) / math.log(1 - fraction)))


def _run_structured(ctx, candidate, folder, seconds):
    started = time.process_time()
    big = _big(ctx)
    start = big.hidden_size if isinstance(big, LSTMModel) else big.channels[0]
    steps = _steps_to(candidate.size, start, STRUCTURED_FRACTION)
    config = StructuredConfig(fraction=STRUCTURED_FRACTION, iterations=steps, rewind="finetune",
                              pretrain_epochs=0, measure_rtf=False,
                              epochs_per_iteration=_epochs_for(ctx, TRIM_SHARE * seconds, steps))
    result = structured_prune(big, ctx.data.train, ctx.data.validation, config,
                              _train_config(ctx, seconds), run_dir=folder / "structured",
                              progress=ctx.say if ctx.config.progress else None)
    fitting = [i for i, r in enumerate(result.records)
               if _within_target(ctx, r["macs_per_sample"], r["memory_bytes"])]
    best = min(fitting or [len(result.records) - 1],
               key=lambda i: nan_last(result.records[i]["validation_esr"]))
    model, trimmed_esr = result.models[best], result.records[best]["validation_esr"]
    details = {"iteration": best, "iterations": steps, "units": result.records[best]["units"],
               "validation_esr_trimmed": trimmed_esr}
    left = seconds - (time.process_time() - started)
    return _converge(ctx, model, folder, left, details), details


def _run_unit_prune(ctx, candidate, folder, seconds):
    started = time.process_time()
    big = _big(ctx)
    # A step removes PRUNE_FRACTION of the weights, which grow as units^2 (W_hh): about
    # 1 - sqrt(1 - p) of the units; one step more for the rounding to whole units.
    steps = 1 + _steps_to(candidate.size, big.hidden_size, 1 - math.sqrt(1 - PRUNE_FRACTION))
    search = SearchConfig(iterations=steps, prune_fraction=PRUNE_FRACTION, pretrain_epochs=0,
                          max_epochs_per_iteration=_epochs_for(ctx, TRIM_SHARE * seconds, steps),
                          unit_aware=True, protect_head=True)
    result = mask_search(big, ctx.data.train, ctx.data.validation, folder / "search", search,
                         _train_config(ctx, seconds), resume=True, progress=ctx.config.progress)
    compressed = [compress(result.load(r["level"])[0]) for r in result.records]
    fitting = [i for i, m in enumerate(compressed)
               if _within_target(ctx, macs_per_sample(m), model_memory_bytes(m))]
    best = min(fitting or [len(compressed) - 1],
               key=lambda i: nan_last(result.records[i]["validation_loss"]))
    record = result.records[best]
    details = {"level": best, "sparsity": record["sparsity"],
               "effective_hidden_size": record["effective_hidden_size"],
               "validation_esr_pruned": record["validation_esr"]}
    left = seconds - (time.process_time() - started)
    model = _converge(ctx, compressed[best], folder, left, details)
    return model, details


def _converge(ctx: _Context, model: nn.Module, folder: Path, seconds: float,
              details: dict) -> nn.Module:
    """The level a search kept, trained on to convergence with the time left (`details` gets the
    training's figures): the search's few epochs per step stop short of it. On zendrive this took
    a trimmed LSTM-10 from test ESR 0.0028 to 0.0024 and a unit-aware-pruned one from 0.0142 to
    0.0028. The level stays as it was unless the training beats it on validation."""
    if seconds > 0:
        details["converge"] = _fit(ctx, model, folder, seconds, keep_start=True)
    return model


def _leader_of(results: list[dict]) -> dict | None:
    """The candidate `choose_candidate` picks among the finished ones so far, in run order
    (None: none fits yet): the model `train_on` trains on."""
    earlier = [r for r in results if r["method"] != "train_on"]
    return choose_candidate(earlier) if any(r["fits"] for r in earlier) else None


def _run_train_on(ctx, candidate, folder, seconds):
    model, _ = load_model(ctx.leader["model"])
    return model, {"leader": ctx.leader["name"],
                   **_fit(ctx, model, folder, seconds, keep_start=True)}


RUNNERS = {
    "big": _run_dense,
    "dense": _run_dense,
    "restart": functools.partial(_run_dense, seed_offset=1),  # the dense model, next seed
    "distill": _run_distill,
    "structured": _run_structured,
    "unit_aware_prune": _run_unit_prune,
    "train_on": _run_train_on,
}


def _measure(ctx: _Context, model: nn.Module) -> dict:
    model = model.cpu().eval()
    macs, memory = macs_per_sample(model), model_memory_bytes(model)
    rtf = _rtf(model, ctx.data.sample_rate, ctx.config.rtf_seconds, ctx.budget.rtf_mode)
    return {
        "validation_esr": evaluate(model, ctx.data.validation).overall,
        "test_esr": evaluate(model, held_out_clips(ctx.data)[0]).overall,
        "rtf": rtf,
        "macs_per_sample": macs,
        "memory_bytes": memory,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "architecture": model.config,
    }


def _run_candidate(ctx: _Context, candidate: Candidate, seconds: float) -> dict:
    folder = ctx.out / "candidates" / candidate.name
    resumed = folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    with CpuLedger(folder) as ledger:  # a resumed candidate is charged its earlier attempts too
        model, details = RUNNERS[candidate.method](ctx, candidate, folder, seconds)
        record = {**asdict(candidate), **details, **_measure(ctx, model)}
    judge_fit(ctx.budget, record, ctx.planned_macs)
    record["cpu_seconds"] = ledger.total()
    record["cpus"] = ledger.cpus()
    record["resumed"] = resumed
    # All the compute this candidate needed: with the big model it starts from, when there is
    # one, or with the whole of the leader it trained on
    before = _big_cost(ctx) if candidate.method in NEEDS_BIG else 0.0
    if candidate.method == "train_on":
        before = ctx.leader["cpu_seconds_charged"]
    record["cpu_seconds_charged"] = None if before is None else record["cpu_seconds"] + before
    if details.get("epochs"):
        record["seconds_per_epoch"] = record["cpu_seconds"] / details["epochs"]
    metadata = {"sample_rate": ctx.data.sample_rate, "shrink_candidate": candidate.name,
                "training_cpu_seconds": record["cpu_seconds"]}
    model_path = save_model(model, folder / "model.leanamp", metadata)
    record["model"] = str(model_path)
    write_text_atomic(folder / "candidate.json", json.dumps(record, indent=1))
    return record


# --- the whole command ----------------------------------------------------------------------------


def plan_shrink(data: DeviceData, budget: ShrinkBudget, config: ShrinkConfig,
                big_model: nn.Module | None = None) -> dict:
    """The plan (the size aimed at, the sizes tried, the candidates in order) without training.
    Raises LeanampError when no model can meet the budget."""
    if big_model is not None and int(big_model.config.get("input_size", 1)) != data.input_size:
        raise LeanampError(
            f"the --from model takes {big_model.config.get('input_size', 1)} input channels but "
            f"the data has {data.input_size}: give a model of this device's inputs"
        )
    load_average = os.getloadavg()[0]
    size, tried = fitting_size(budget, data.input_size, data.sample_rate, config.rtf_seconds)
    candidates = make_plan(size, tuple(config.method_order), big_model)
    return {
        "budget": asdict(budget),
        "load_average": load_average,  # when the RTFs were measured (see busy_machine_note)
        "cores": os.cpu_count(),
        "cpu": cpu_name(),  # the sizes' RTFs hold on this CPU only
        "minutes": config.minutes,
        "size": size,
        "sizes_tried": {str(k): v for k, v in tried.items()},
        "method_order": list(config.method_order),
        "candidates": [asdict(c) for c in candidates],
    }


# What must match for a shrink folder to be resumed (the measured sizes may vary between runs).
PLAN_IDENTITY = ("budget", "minutes", "method_order", "from_model")


def prepare_shrink(
    data: DeviceData, out: str | os.PathLike, budget: ShrinkBudget,
    config: ShrinkConfig | None = None, big_model: nn.Module | None = None,
    from_model: str | None = None,
) -> dict:  # fmt: skip
    """The plan of OUT: the one stored in OUT/plan.json when it is a shrink of the same budget
    and settings being resumed (never re-measured), else a new plan, written there first.
    Raises LeanampError for a budget no model can meet, or OUT holding another shrink."""
    config = config or ShrinkConfig()
    out = Path(out)
    identity = {"budget": asdict(budget), "minutes": config.minutes,
                "method_order": list(config.method_order), "from_model": from_model}
    previous = _read_json(out / "plan.json")
    if previous is not None:  # a plan from before rtf_mode existed was measured in exact mode
        previous["budget"] = {**asdict(ShrinkBudget()), **previous.get("budget", {})}
        if any(previous.get(k) != identity[k] for k in PLAN_IDENTITY):
            raise LeanampError(
                f"{out} holds a shrink with another budget or settings (plan.json): use another "
                "--out folder, or the same settings to resume it"
            )
        return previous
    plan = {**identity, **plan_shrink(data, budget, config, big_model)}
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "plan.json", json.dumps(plan, indent=1))
    return plan


def run_shrink(
    data: DeviceData,
    out: str | os.PathLike,
    budget: ShrinkBudget,
    config: ShrinkConfig | None = None,
    big_model: nn.Module | None = None,
    say: Callable[[str], None] | None = None,
    from_model: str | None = None,
    from_metadata: dict | None = None,
) -> dict:
    """Run the plan's candidates (resuming a killed shrink), choose, write the report.
    Returns the summary (also OUT/shrink.json); the chosen model is OUT/model.leanamp."""
    config = config or ShrinkConfig()
    say = say or (lambda message: None)
    out = Path(out)
    plan = prepare_shrink(data, out, budget, config, big_model, from_model)
    ctx = _Context(data, out, config, budget, big_model, say, from_model, from_metadata or {},
                   plan["sizes_tried"][str(plan["size"])]["macs"])
    candidates = [Candidate(**c) for c in plan["candidates"]]
    results, skipped = [], []
    for index, candidate in enumerate(candidates):
        done = _read_json(out / "candidates" / candidate.name / "candidate.json")
        left = 60 * config.minutes - sum(r["cpu_seconds"] for r in results)
        if done is not None:
            say(f"[{index + 1}/{len(candidates)}] {candidate.name}: done before, not redone")
            judge_fit(budget, done, ctx.planned_macs)
            results.append(done)
            continue
        lacks_big = (candidate.method in NEEDS_BIG and big_model is None
                     and not _big_path(ctx).exists())
        ctx.leader = _leader_of(results) if candidate.method == "train_on" else None
        lacks_leader = candidate.method == "train_on" and ctx.leader is None
        if left <= 0 or lacks_big or lacks_leader:
            skipped.append(candidate.name)
            reason = ("no CPU time left" if left <= 0 else "the big model was not trained"
                      if lacks_big else "no candidate before it fits the budget")
            say(f"[{index + 1}/{len(candidates)}] {candidate.name}: skipped, {reason}")
            continue
        weights = [SHARE_WEIGHTS.get(c.method, 1.0) for c in candidates[index:]]
        share = left * weights[0] / sum(weights)
        say(f"[{index + 1}/{len(candidates)}] {candidate.name} ({candidate.details}): up to "
            f"{share / 60:.1f} CPU-min, {left / 60:.1f} CPU-min left in all")
        try:
            record = _run_candidate(ctx, candidate, share)
        except (KeyboardInterrupt, Interrupted):  # a trainer's own hint (--resume) is not ours
            raise Interrupted(
                f"shrink stopped during {candidate.name}, with {len(results)} of "
                f"{len(candidates)} candidates finished (in {out / 'candidates'}). Run the same "
                "command again to go on: finished candidates are not redone, a stopped training "
                "goes on from its last validation"
            ) from None
        say(f"    validation ESR {record['validation_esr']:.4g}, RTF {record['rtf']:.4g}, "
            f"{record['macs_per_sample']} MACs/sample, "
            f"{'fits' if record['fits'] else 'misses: ' + '; '.join(record['misses'])}, "
            f"{record['cpu_seconds'] / 60:.1f} CPU-min")
        results.append(record)
    # Each candidate was timed after its training, under whatever load the machine had then;
    # the report's RTFs and front come from one interleaved timing of them all.
    say(f"timing the {len(results)} candidates together (interleaved, {budget.rtf_mode} mode)")
    rtfs = _rtfs_together({r["name"]: load_model(r["model"])[0] for r in results},
                          data.sample_rate, config.rtf_seconds, budget.rtf_mode)  # fmt: skip
    for record in results:
        record["rtf_after_training"] = record.get("rtf_after_training", record["rtf"])
        record["rtf"] = rtfs[record["name"]]
        judge_fit(budget, record, ctx.planned_macs)
    chosen = choose_candidate(results)
    model, _ = load_model(chosen["model"])
    model_path = save_model(model, out / "model.leanamp",
                            {"sample_rate": data.sample_rate, "shrink": chosen["name"]})
    points = [{"label": r["name"], "rtf": r["rtf"], "test_esr": r["test_esr"],
               "group": r["method"]} for r in results]
    pareto = plot_pareto(points, out / "pareto.png", "shrink: candidates")
    summary = {
        "chosen": chosen["name"],
        "model": str(model_path),
        "validation_esr": chosen["validation_esr"],
        "test_esr": chosen["test_esr"],
        "rtf": chosen["rtf"],
        "macs_per_sample": chosen["macs_per_sample"],
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
        "skipped": skipped,
        "candidates": results,
        "pareto": str(pareto),
        "export": export_command(model_path, model),
    }
    write_text_atomic(out / "shrink.json", json.dumps(summary, indent=1))
    write_text_atomic(out / "report.md", shrink_report(plan, summary))
    return summary


def shrink_recordings(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    max_rtf: float | None = None,
    max_macs: int | None = None,
    target: str | None = None,
    rtf_mode: str = "exact",
    from_model: str | os.PathLike | None = None,
    minutes: float = 30.0,
    methods: str | tuple[str, ...] | None = None,
    max_epochs: int = 5000,
    rtf_seconds: float = 0.5,
    seed: int = 0,
    progress: bool = False,
    log: Callable[[str], None] = print,
    **data_options,
) -> dict:
    """`leanamp shrink`: check the budget and options, read the --from model and the recordings
    (`data_options`: those of leanamp.workflows.recordings.load_training_data), show the plan,
    then run it (resuming OUT). Returns the summary."""
    budget = ShrinkBudget.make(max_rtf, max_macs, target, rtf_mode)
    if isinstance(methods, str):
        methods = tuple(m.strip() for m in methods.split(","))
    if minutes <= 0 or max_epochs < 1 or rtf_seconds <= 0:
        raise LeanampError("--minutes, --max-epochs and --rtf-seconds must be positive")
    big_model, from_metadata = load_any(from_model) if from_model is not None else (None, {})
    config = ShrinkConfig(minutes=minutes, max_epochs=max_epochs, rtf_seconds=rtf_seconds,
                          method_order=methods or METHOD_ORDER, seed=seed, progress=progress)
    data = load_training_data(input_path, target_path, **data_options)
    log(data.summary())
    source = None if from_model is None else str(Path(from_model).resolve())
    plan = prepare_shrink(data, out, budget, config, big_model, source)
    log(f"plan: the largest dense LSTM that fits has {plan['size']} units; {minutes:g} CPU "
        f"minutes for {len(plan['candidates'])} candidates, in this order:")
    for i, candidate in enumerate(plan["candidates"], 1):
        log(f"  {i}. {candidate['name']}: {candidate['details']}")
    busy = busy_machine_note(plan.get("load_average", 0.0), plan.get("cores") or 1)
    if budget.max_rtf is not None and busy:
        log(busy)
    return run_shrink(data, out, budget, config, big_model, log, source, from_metadata)


def export_command(model_path: Path, model: nn.Module) -> str:
    """The command that ships the model: AIDA-X for a residual LSTM, NAM otherwise."""
    stem = model_path.with_suffix("")
    if isinstance(model, LSTMModel) and model.residual:
        return f"leanamp export {model_path} {stem}.json --format aidax"
    return f"leanamp export {model_path} {stem}.nam"


def shrink_report(plan: dict, summary: dict) -> str:
    results = summary["candidates"]
    front = {results[i]["name"] for i in pareto_front([(r["rtf"], r["test_esr"])
                                                       for r in results])}
    rows = ["| candidate | method | validation ESR | test ESR | RTF | MACs/sample | fits | "
            "Pareto | CPU min | CPU min with the big model |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    max_rtf = plan["budget"].get("max_rtf")
    forgiven = [r["name"] for r in results if r["fits"] and max_rtf is not None
                and r["rtf"] > max_rtf]  # see candidate_misses  # fmt: skip
    for r in results:
        charged = r.get("cpu_seconds_charged")
        fits = ("yes*" if r["name"] in forgiven else "yes") if r["fits"] else "no"
        rows.append(
            f"| {r['name']} | {r['method']} | {r['validation_esr']:.4g} | {r['test_esr']:.4g} | "
            f"{r['rtf']:.4g} | {r['macs_per_sample']} | {fits} | "
            f"{'yes' if r['name'] in front else ''} | {r['cpu_seconds'] / 60:.1f} | "
            f"{'unknown' if charged is None else f'{charged / 60:.1f}'} |"
        )
    budget = {k: v for k, v in plan["budget"].items()
              if v is not None and (k != "rtf_mode" or max_rtf is not None)}
    planned = plan["sizes_tried"][str(plan["size"])]
    note = []
    if forgiven:
        note = [
            f"*: timed over the budget, but it costs no more multiply-adds than the plan's "
            f"dense LSTM-{plan['size']} ({planned['macs']}), which the plan timed at RTF "
            f"{planned['rtf']:.4g} (load average {plan.get('load_average', 0):.1f} on "
            f"{plan.get('cores', '?')} cores): a dense kernel's speed depends on its size only, "
            "so the plan's timing decides; the candidates were timed under whatever load the "
            "machine had then.", "",
        ]  # fmt: skip
    lines = [
        "# Shrink report", "",
        f"Budget: {budget}, {plan['minutes']} CPU minutes; largest dense LSTM that fits: "
        f"{plan['size']} units; method order: {', '.join(plan['method_order'])}.", "",
        *rows, "", *note,
        f"Chosen: **{summary['chosen']}** (lowest validation ESR among the candidates that fit): "
        f"test ESR {summary['test_esr']:.4g}, RTF {summary['rtf']:.4g}.",
        f"Skipped for lack of time: {', '.join(summary['skipped']) or 'none'}.", "",
        "![Pareto front](pareto.png)", "",
        f"Export: `{summary['export']}`",
    ]
    return "\n".join(lines) + "\n"

# long: the method registry and the measurements every method's runs share belong together
"""What one sweep run does: build its data and model, apply a method, measure, write result.json.

Methods are a small registry (`METHODS`): a method takes a `RunContext` and returns a
`MethodOutput` (the final model and what the method learned on the way). Everything common to all
methods (test ESR, parameters, real-time factor, settling time, rendered test audio) is measured
afterwards by `execute_run`, so every method's runs land in the table with the same columns.

A method must make its own work resumable inside `ctx.run_dir` (the trainer and the mask search
both checkpoint): a sweep killed midway re-executes unfinished runs, which then continue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leanamp.audio.align import apply_alignment, estimate_alignment
from leanamp.data import Clip, DeviceData, load_device_data, split_by_time
from leanamp.devices.circuits import get_device
from leanamp.devices.signals import guitar_signal
from leanamp.distill import (
    DistillConfig,
    distill_student,
    load_teacher,
    read_costs,
    recorded_training_cost,
    train_teacher,
)
from leanamp.engines.timing import engine_rtf_metrics
from leanamp.errors import LeanampError
from leanamp.files import write_text_atomic
from leanamp.formats.native import load_model, save_model
from leanamp.ledger import CpuLedger
from leanamp.losses import esr_db
from leanamp.models import LSTMModel
from leanamp.models.slim import make_slimmable
from leanamp.models.wavenet import PRESET_CHANNELS, WaveNet, preset
from leanamp.models.widths import SLIM_RULES
from leanamp.prune import SearchConfig, effective_hidden_size
from leanamp.prune.settling import impulse_response
from leanamp.prune.structured import StructuredConfig
from leanamp.results import RESULT_FILE
from leanamp.runtime.bench import real_time_factor
from leanamp.sweep.spec import RunSpec
from leanamp.train import Evaluation, TrainConfig, TrainResult, evaluate
from leanamp.transfer import initial_model
from leanamp.workflows.prune import run_structured
from leanamp.workflows.steps import (
    held_out_clips,
    magnitude_prune,
    render_test_audio,
    train_and_evaluate,
)

MODEL_FILE = "model.leanamp"
# Every virtual device is driven by the same generated performance, so its runs are comparable.
VIRTUAL_DATA_SEED = 0


@dataclass
class RunContext:
    spec: RunSpec
    run_dir: Path
    data: DeviceData
    train_config: TrainConfig
    progress: bool = False


@dataclass
class MethodOutput:
    model: nn.Module
    history: list[dict]  # training records (epoch, train_loss, validation_loss, ...)
    metrics: dict = field(default_factory=dict)
    artefacts: dict = field(default_factory=dict)
    # Models to measure beside the final one (e.g. the unpruned model): {label: model}
    baselines: dict[str, nn.Module] = field(default_factory=dict)
    # The final model's held-out evaluation, when the method already made it (not redone)
    evaluation: Evaluation | None = None
    # CPU seconds spent outside this run on a model it started from (another sweep's run, see
    # `start_model`): charged to it beside its own (result.json's cpu_seconds_borrowed)
    borrowed_cpu_seconds: float = 0.0


MethodFn = Callable[[RunContext], MethodOutput]
def method_options_key(method: str) -> str:
    """The config key holding a method's options (`prune: {iterations: 3}`)."""
    return method


# --- models ---------------------------------------------------------------------------------------


def _lstm(size: int, input_size: int) -> nn.Module:
    return LSTMModel(hidden_size=size, input_size=input_size)


def _wavenet(size: int, input_size: int) -> nn.Module:
    return WaveNet(preset("standard", input_size, channels=size), input_size=input_size)


def _nam_preset(size: int, input_size: int) -> nn.Module:
    """NAM's preset whose first array has `size` channels, dilations and all: the WaveNet front
    users train in NAM (4 nano, 8 feather, 12 lite, 16 standard)."""
    names = {channels: name for name, channels in PRESET_CHANNELS.items()}
    if size not in names:
        raise ValueError(f"nam_preset sizes are the presets' channels {sorted(names)}, got {size}")
    return WaveNet(preset(names[size], input_size), input_size=input_size)


# What `sizes` means per architecture: LSTM hidden size, WaveNet channels of the first array
# (`wavenet`: the standard preset's dilations at any width; `nam_preset`: NAM's presets).
ARCHITECTURE_SIZES: dict[str, Callable[[int, int], nn.Module]] = {
    "lstm": _lstm,
    "wavenet": _wavenet,
    "nam_preset": _nam_preset,
}


def build_model(spec: RunSpec, input_size: int) -> nn.Module:
    torch.manual_seed(spec.seed)
    return ARCHITECTURE_SIZES[spec.architecture](spec.size, input_size)


# --- data -----------------------------------------------------------------------------------------


def build_device_data(spec: RunSpec) -> DeviceData:
    """A virtual device's rendered performance split in time, or a device's recordings."""
    device = spec.device
    if "device" in device:

        settings = {k: v for k, v in device.items() if k not in ("name", "device")}
        circuit = get_device(device["device"], sample_rate=spec.sample_rate, **settings)
        x = guitar_signal(spec.data_seconds, spec.sample_rate, VIRTUAL_DATA_SEED)
        y = circuit.render(x)
        alignment = None
        if settings.get("latency") or settings.get("polarity", 1) != 1:
            alignment = estimate_alignment([(x, y)], spec.sample_rate, names=[device["name"]])
            x, y = apply_alignment(x, y, alignment)
        clip = Clip(
            "performance",
            np.ascontiguousarray(x, np.float32)[:, None],
            np.ascontiguousarray(y, np.float32),
            spec.sample_rate,
        )
        train, validation, test = split_by_time([clip])
        return DeviceData(train, validation, test, spec.sample_rate, alignment)
    base = Path(spec.base_dir)
    options = {
        k: v
        for k, v in device.items()
        if k in ("target_prefix", "validation", "test", "validation_fraction", "test_fraction",
                 "sample_rate", "latency", "polarity")
    }
    return load_device_data(base / device["input"], base / device["target"], **options)


# --- methods --------------------------------------------------------------------------------------


def train_method(ctx: RunContext) -> MethodOutput:
    """Plain training with the paper's recipe (resumes from the trainer's checkpoint)."""
    return _train(ctx, build_model(ctx.spec, ctx.data.input_size))


def _training_metrics(result: TrainResult) -> dict:
    """What a training run's result reports in a method's metrics."""
    return {
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "best_validation_loss": result.best_validation_loss,
        "stopped_because": result.stopped_because,
    }


def _train(ctx: RunContext, model: nn.Module, metrics: dict | None = None) -> MethodOutput:
    trained = train_and_evaluate(
        model, ctx.data, ctx.run_dir / "train", ctx.train_config,
        {"sample_rate": ctx.data.sample_rate, "sweep_run": ctx.spec.name}, resume=True,
        progress=ctx.progress,
    )  # fmt: skip
    result = trained.result
    by_width = {str(w): e for w, e in trained.by_width.items()}  # slimmable models
    return MethodOutput(
        model=model,
        history=result.history,
        metrics={
            **_training_metrics(result),
            **({"test_esr_by_width": by_width} if by_width else {}),
            **(metrics or {}),
        },
        artefacts={"history": str(ctx.run_dir / "train" / "history.json")},
        evaluation=trained.evaluation,
    )


def transfer_options(options: dict, architecture: str) -> dict:
    """transfer's options, checked."""
    if architecture != "lstm":
        raise LeanampError("transfer starts LSTM models: use architectures [lstm]")
    unknown = sorted(set(options) - {"init_from", "library", "freeze", "knob_values"})
    if unknown or "init_from" not in options:
        raise LeanampError(
            f"transfer options need init_from (a model file or 'auto') and take library, "
            f"freeze, knob_values; got {sorted(options)}"
        )
    return dict(options)


def transfer_method(ctx: RunContext) -> MethodOutput:
    """Training that starts from another model (options: init_from FILE or auto, library,
    freeze, knob_values), mapped to this run's size by leanamp.transfer."""

    options = transfer_options(ctx.spec.method_options, ctx.spec.architecture)
    base = Path(ctx.spec.base_dir)
    spec = options["init_from"]
    spec = spec if spec == "auto" else str(base / spec)
    library = [str(base / p) for p in _as_list(options.get("library"))] or None
    model, start = initial_model(
        spec,
        ctx.data,
        hidden_size=ctx.spec.size,
        library=library,
        freeze_parts=_as_list(options.get("freeze")),
        knob_values=options.get("knob_values"),
        seed=ctx.spec.seed,
    )
    return _train(ctx, model, {"start": start.to_dict()})


def slim_options(options: dict, architecture: str) -> dict:
    """slim's options, checked, with the default rule."""
    if architecture != "wavenet":
        raise LeanampError("slimmable training is for WaveNets: use architectures [wavenet]")
    _refuse_unknown_options("slim", options, {"widths", "rule"})
    rule = options.get("rule", "uniform")
    if rule not in SLIM_RULES:
        raise LeanampError(f"slim option rule {rule!r}: choose one of {list(SLIM_RULES)}")
    return {**options, "rule": rule}


def slim_method(ctx: RunContext) -> MethodOutput:
    """Slimmable WaveNet training (options: widths, the allowed channel counts; rule, how each
    step's widths are chosen: uniform, sandwich or inplace, see leanamp.models.slim), then the
    test ESR and the real-time factor at every width."""
    options = slim_options(ctx.spec.method_options, ctx.spec.architecture)
    rule = options["rule"]
    model = make_slimmable(build_model(ctx.spec, ctx.data.input_size), options.get("widths"), rule)
    output = _train(ctx, model)
    output.metrics["slim_rule"] = rule
    # every width trained over all the run's attempts (the checkpoint keeps them, from 2026-12-02;
    # earlier runs' "width_draws" counted a resumed run's last attempt only)
    output.metrics["width_counts"] = {str(w): n for w, n in model.width_sampler.counts().items()}
    model = model.cpu().eval()
    output.metrics["rtf_by_width"] = {
        str(w): real_time_factor(model, ctx.data.sample_rate, ctx.spec.rtf_seconds, width=w).value
        for w in model.widths
    }
    if ctx.spec.engine_rtf:
        output.metrics["engine_rtf_by_width"] = {str(w): engine_rtf_metrics(
            model.sliced(w), ctx.data.sample_rate, ctx.spec.rtf_seconds)["engine_rtf"]
            for w in model.widths}  # fmt: skip
    return output


def _refuse_unknown_options(method: str, options: dict, known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise LeanampError(f"unknown {method} options {unknown}; known: {sorted(known)}")


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def big_model_options(method: str, options: dict,
                      known: set[str]) -> tuple[dict, float, str | None]:
    """The options of a method that starts from a big model (prune, structured): its own, the
    level choice's tolerance (choose_tolerance) and the sweep whose model it starts from
    (start_sweep: then not trained again, so pretrain_epochs is 0; see `start_model`)."""
    options = dict(options)
    tolerance = float(options.pop("choose_tolerance", 0.1))
    start_sweep = options.pop("start_sweep", None)
    _refuse_unknown_options(method, options, known)
    if start_sweep is not None:
        options["pretrain_epochs"] = 0
    return options, tolerance, None if start_sweep is None else str(start_sweep)


def prune_options(options: dict, architecture: str) -> tuple[SearchConfig, float, str | None]:
    """prune's options, checked: the mask search's settings, the tolerance, the start sweep."""
    if architecture != "lstm":
        raise LeanampError("the mask search prunes LSTM models: use architectures [lstm]")
    search, tolerance, start_sweep = big_model_options(
        "prune", options, set(SearchConfig.__dataclass_fields__))
    return SearchConfig.from_dict(search), tolerance, start_sweep


def prune_method(ctx: RunContext) -> MethodOutput:
    """The paper's mask search, the level chosen from validation losses, compressed to dense."""

    search, tolerance, start_sweep = prune_options(ctx.spec.method_options, ctx.spec.architecture)
    model, borrowed = start_model(ctx, start_sweep)
    search_dir = ctx.run_dir / "search"
    pruned = magnitude_prune(
        model, ctx.data, search_dir, search, ctx.train_config, tolerance,
        progress=ctx.progress,
        metadata={"sample_rate": ctx.data.sample_rate, "sweep_run": ctx.spec.name},
    )  # fmt: skip
    result, chosen = pruned.search, pruned.chosen
    history_path = search_dir / "pretrain" / "history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else []
    records_path = ctx.run_dir / "search_records.json"
    write_text_atomic(records_path, json.dumps(result.records, indent=1))
    return MethodOutput(
        model=pruned.compressed,
        history=history,
        metrics={
            "chosen_level": chosen["level"],
            "sparsity": chosen["sparsity"],
            "levels": len(result.records),
            "hidden_size_unpruned": ctx.spec.size,
            "validation_loss_unpruned": result.records[0]["validation_loss"],
            "best_validation_loss": chosen["validation_loss"],
            # per phase: the big model's training (level 0) and the pruning levels after it
            "cpu_seconds_pretrain": result.records[0].get("cpu_seconds"),
            "cpu_seconds_search": sum(r.get("cpu_seconds", 0.0) for r in result.records[1:]),
            "unit_aware": search.unit_aware,
            "protect_head": search.protect_head,
        },
        artefacts={
            "history": str(history_path),
            "search_records": str(records_path),
            "search_dir": str(search_dir),
        },
        baselines={"unpruned": pruned.unpruned},
        borrowed_cpu_seconds=borrowed,
    )


def structured_options(options: dict, architecture: str) -> tuple[StructuredConfig, float,
                                                                   str | None]:
    """structured's options, checked: the trimming settings, the tolerance, the start sweep."""
    config, tolerance, start_sweep = big_model_options(
        "structured", options, set(StructuredConfig.__dataclass_fields__))
    return StructuredConfig(**config), tolerance, start_sweep


def structured_method(ctx: RunContext) -> MethodOutput:
    """Structured lottery: whole units (LSTM) or channels (WaveNet) trimmed by a global criterion
    (options: those of leanamp.prune.structured.StructuredConfig, plus choose_tolerance)."""


    config, tolerance, start_sweep = structured_options(ctx.spec.method_options,
                                                       ctx.spec.architecture)  # fmt: skip
    model, borrowed = start_model(ctx, start_sweep)
    out = ctx.run_dir / "structured"
    summary = run_structured(
        ctx.data, out, model, config, ctx.train_config, tolerance,
        progress=print if ctx.progress else None, resume=(out / "structured.json").exists(),
    )  # fmt: skip
    trimmed, _ = load_model(summary["model"])
    return MethodOutput(
        model=trimmed,
        history=[],
        metrics={"chosen_iteration": summary["chosen_iteration"], "size_unpruned": ctx.spec.size},
        artefacts={"structured": str(out / "structured.json")},
        borrowed_cpu_seconds=borrowed,
    )


def start_model(ctx: RunContext, start_sweep: str | None) -> tuple[nn.Module, float]:
    """The big model a pruning or trimming run starts from, and the CPU seconds it cost
    elsewhere: a new model of the run's size, which the method trains first (0.0); or, with
    option `start_sweep`, that sweep's finished train run of this run's size and seed
    (`finished_train_model`), not trained again (`big_model_options` sets pretrain_epochs to 0)
    and charged its recorded training time."""
    if start_sweep is None:
        return build_model(ctx.spec, ctx.data.input_size), 0.0
    path = finished_train_model(ctx, start_sweep, ctx.spec.size)
    model, metadata = load_model(path)
    return model, float(recorded_training_cost(path, metadata) or 0.0)


DISTILL_OPTIONS = {"teacher_size", "teacher_model", "teacher_sweep", "teacher_cpu_seconds", "alpha",
                   "extra_seconds"}


def finished_train_model(ctx: RunContext, sweep: str, size: int) -> Path:
    """The model file of another sweep's finished `train` run of this run's device, architecture
    and seed at `size`: a grid's converged front model, taken instead of training it again.
    `sweep` is that sweep's folder, relative to this sweep's folder (`../zendrive-front`: a
    sibling stage), with `{device}` replaced by this run's device name. Also the big model of
    `start_model`."""
    folder = (ctx.run_dir.parent.parent / sweep.replace("{device}", ctx.spec.device["name"]))
    matches = []
    for result_path in sorted(folder.glob(f"runs/*/{RESULT_FILE}")):
        result = json.loads(result_path.read_text())
        config = result.get("config", {})
        if (result.get("status") == "done" and config.get("method") == "train"
                and config.get("device") == ctx.spec.device and config.get("size") == size
                and config.get("architecture") == ctx.spec.architecture
                and config.get("seed") == ctx.spec.seed):
            matches.append(result_path.parent / MODEL_FILE)
    if len(matches) != 1:
        found = "none" if not matches else f"{len(matches)}: {[m.parent.name for m in matches]}"
        raise LeanampError(
            f"{folder}: this run starts from that sweep's finished train run of "
            f"{ctx.spec.device['name']} {ctx.spec.architecture}-{size} seed {ctx.spec.seed}, and "
            f"it needs exactly one, found {found}: run that sweep first"
        )
    return matches[0]


def distill_options(options: dict, architecture: str) -> tuple[DistillConfig, int]:
    """distill's options, checked: the distillation's settings and the teacher's size."""
    _refuse_unknown_options("distill", options, DISTILL_OPTIONS)
    if "teacher_model" in options and ({"teacher_size", "teacher_sweep"} & set(options)):
        raise LeanampError(
            "distill takes teacher_size (with teacher_sweep or not) or teacher_model, not both"
        )
    config = DistillConfig(float(options.get("alpha", 0.5)), float(options.get("extra_seconds", 0)))
    teacher_size = options.get("teacher_size", 32)
    if not isinstance(teacher_size, int) or teacher_size < 1:
        raise LeanampError(f"distill option teacher_size must be a positive integer, got "
                           f"{teacher_size!r}")
    return config, teacher_size


def distill_method(ctx: RunContext) -> MethodOutput:
    """Knowledge distillation (leanamp.distill) of a teacher into this run's model, the student.
    Options: teacher_size (default 32: a teacher of the run's architecture trained here with the
    run's recipe, or with teacher_sweep taken from that sweep's finished train run, see
    `finished_train_model`) or teacher_model (a model file); a teacher not trained here is
    charged its recorded training cost or teacher_cpu_seconds. alpha (weight of the recorded
    target, default 0.5), extra_seconds (generated audio labelled by the teacher alone,
    default 0)."""
    options = dict(ctx.spec.method_options)
    config, teacher_size = distill_options(options, ctx.spec.architecture)
    if "teacher_model" in options or "teacher_sweep" in options:
        path = (Path(ctx.spec.base_dir) / options["teacher_model"] if "teacher_model" in options
                else finished_train_model(ctx, str(options["teacher_sweep"]), teacher_size))
        teacher = load_teacher(path, ctx.run_dir, options.get("teacher_cpu_seconds"))
    else:
        torch.manual_seed(ctx.spec.seed)
        teacher = ARCHITECTURE_SIZES[ctx.spec.architecture](teacher_size, ctx.data.input_size)
        train_teacher(teacher, ctx.data, ctx.run_dir, ctx.train_config, ctx.progress)
    student = build_model(ctx.spec, ctx.data.input_size)
    result, _ = distill_student(student, teacher, ctx.data, ctx.run_dir, config,
                                ctx.train_config, ctx.progress)
    costs = read_costs(ctx.run_dir)
    return MethodOutput(
        model=student,
        history=result.history,
        metrics={
            **_training_metrics(result),
            "alpha": config.alpha,
            "extra_seconds": config.extra_seconds,
            "teacher": teacher.config,
            **{f"cpu_seconds_{phase}": cost["cpu_seconds"] for phase, cost in costs.items()},
            # what the method cost in all: the teacher's training (here or recorded) + student's
            "cpu_seconds_charged": sum(cost["cpu_seconds"] for cost in costs.values()),
        },
        artefacts={"history": str(ctx.run_dir / "student" / "history.json"),
                   "costs": str(ctx.run_dir / "costs.json")},
        baselines={"teacher": teacher},
    )


# --- one run --------------------------------------------------------------------------------------


# The option checks of the methods that take options (`train` takes the config's train section),
# run when the config loads so that a bad option fails before the sweep starts.
METHOD_OPTIONS: dict[str, Callable[[dict, str], object]] = {
    "transfer": transfer_options,
    "slim": slim_options,
    "prune": prune_options,
    "structured": structured_options,
    "distill": distill_options,
}

# Every sweep method, by the name a config's `methods` list uses.
METHODS: dict[str, MethodFn] = {
    "train": train_method,
    "transfer": transfer_method,
    "slim": slim_method,
    "prune": prune_method,
    "structured": structured_method,
    "distill": distill_method,
}


def _parameters(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    nonzero = int(sum(int((p != 0).sum()) for p in model.parameters()))
    return total, nonzero


def measure_model(
    model: nn.Module,
    data: DeviceData,
    rtf_seconds: float,
    evaluation: Evaluation | None = None,
    engine_rtf: bool = False,
) -> dict:
    """Test ESR (`evaluation`, if given, is the model's on the held-out clips), parameter counts,
    effective hidden size, real-time factor (also in the plugin's engine with `engine_rtf`),
    settling time."""
    model = model.cpu().eval()
    evaluation = evaluation or evaluate(model, held_out_clips(data)[0])
    total, nonzero = _parameters(model)
    metrics = {
        "test_esr": evaluation.overall,
        "test_esr_db": esr_db(evaluation.overall),
        "test_esr_per_clip": evaluation.per_clip,
        "parameters": total,
        "nonzero_parameters": nonzero,
        "hidden_size": getattr(model, "hidden_size", None),
    }
    try:
        metrics["effective_hidden_size"] = (
            effective_hidden_size(model) if getattr(model, "hidden_size", None) else None
        )
    except LeanampError:
        metrics["effective_hidden_size"] = None
    rtf = real_time_factor(model, data.sample_rate, seconds=rtf_seconds)
    metrics["rtf"] = rtf.value
    metrics["rtf_method"] = rtf.method
    if engine_rtf:
        metrics.update(engine_rtf_metrics(model, data.sample_rate, rtf_seconds))
    response = impulse_response(model, data.sample_rate)
    metrics["settling_ms"] = (
        None if response.settling_samples is None else 1000 * response.settling_seconds
    )
    return metrics


def _relative_to(value, folder: Path):
    """Paths inside `folder` (in nested dicts and lists of strings) made relative to it."""
    if isinstance(value, dict):
        return {k: _relative_to(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative_to(v, folder) for v in value]
    if isinstance(value, str) and Path(value).is_absolute():
        try:
            return str(Path(value).relative_to(folder))
        except ValueError:
            return value
    return value


def execute_run(spec_values: dict, run_dir: str, progress: bool = False) -> dict:
    """Run one sweep entry in `run_dir`; returns (and writes) its result. Raises on failure.

    A run whose result.json already says "done" is returned as it is, never redone.
    """

    spec = RunSpec.from_dict(spec_values)
    run_dir = Path(run_dir).resolve()
    result_path = run_dir / RESULT_FILE
    if result_path.exists():
        previous = json.loads(result_path.read_text())
        if previous.get("status") == "done":
            return previous
    resumed = run_dir.exists() and any(run_dir.iterdir())
    run_dir.mkdir(parents=True, exist_ok=True)
    with CpuLedger(run_dir) as ledger:
        result = _run_and_measure(spec, run_dir, progress)
    result.update(
        # CPU time of this run's process over every attempt (cpu_ledger.json): training and
        # measuring, the compute a method is charged. A run resumed from a folder that kept no
        # ledger (killed before there was one) counts only its last attempt.
        cpu_seconds=ledger.total(),
        cpu_attempts=len(ledger.earlier) + 1,
        cpus=ledger.cpus(),
        resumed=resumed,
        cpu_seconds_complete=not resumed or bool(ledger.earlier),
    )
    write_text_atomic(result_path, json.dumps(result, indent=1))
    return result


def _run_and_measure(spec: RunSpec, run_dir: Path, progress: bool) -> dict:
    """The method, then the figures every run reports, its model file and rendered audio."""
    started = time.time()
    data = build_device_data(spec)
    train_config = TrainConfig.from_dict(spec.train)
    ctx = RunContext(spec, run_dir, data, train_config, progress)
    output = METHODS[spec.method](ctx)
    rtf_seconds = spec.rtf_seconds
    metrics = {**output.metrics, **measure_model(output.model, data, rtf_seconds,
                                                 output.evaluation, spec.engine_rtf)}
    for label, baseline in output.baselines.items():
        measured = measure_model(baseline, data, rtf_seconds, engine_rtf=spec.engine_rtf)
        for key, value in measured.items():
            metrics[f"{key}_{label}"] = value
    model_path = save_model(
        output.model, run_dir / MODEL_FILE,
        {"sample_rate": data.sample_rate, "sweep_run": spec.name, "test_esr": metrics["test_esr"]},
    )
    clips, _ = held_out_clips(data)
    audio = render_test_audio(output.model, clips, run_dir / "audio", spec.render_seconds)
    artefacts = {**output.artefacts, "model": str(model_path), "audio": audio}
    return {
        "run_id": spec.run_id,
        "name": spec.name,
        "status": "done",
        "config": spec.to_dict(),
        "metrics": metrics,
        # Relative to the run folder, so a sweep folder can be moved or copied whole.
        "artefacts": _relative_to(artefacts, run_dir),
        "seconds": time.time() - started,
        "cpu_seconds_borrowed": output.borrowed_cpu_seconds,
        "architecture": getattr(output.model, "config", {}),
    }

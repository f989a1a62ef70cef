"""Prune a device: the whole issue-3 recipe on recordings (mask search, choice of level,
compression, optional dense fine-tuning) and its report in the run folder (`prune_device`); a
structured run (trim whole units, choose an iteration, save it: `run_structured`); and
`prune_recordings`, all of `leanamp prune` from recordings to a pruned model."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from torch import nn

from leanamp.data import DeviceData
from leanamp.errors import LeanampError
from leanamp.files import check_output_dir, run_folder_lock, write_text_atomic
from leanamp.formats import load_any
from leanamp.formats.native import save_model
from leanamp.models import check_hidden_size, new_model
from leanamp.models.lstm import LSTMModel
from leanamp.plots.pruning import (
    plot_impulse_responses,
    plot_pruning_curve,
    pruning_table,
    search_table,
)
from leanamp.prune.compress import count_parameters, summarize
from leanamp.prune.search import SearchConfig, fine_tune_dense
from leanamp.prune.settling import impulse_response
from leanamp.prune.structured import (
    StructuredConfig,
    evaluate_esr,
    structured_prune,
)
from leanamp.runtime.bench import real_time_factor
from leanamp.train import TrainConfig, evaluate
from leanamp.workflows.recordings import load_training_data
from leanamp.workflows.steps import choose_pruning_level, held_out_clips, magnitude_prune


def prune_device(
    data,
    run_dir: str | os.PathLike,
    model: LSTMModel,
    search: SearchConfig | None = None,
    train: TrainConfig | None = None,
    tolerance: float = 0.1,
    level: int | None = None,
    finetune_epochs: int = 0,
    resume: bool = False,
    progress: bool = True,
    name: str = "pruned",
) -> dict:
    """The whole issue-3 recipe on a device's data (`leanamp.data.DeviceData`): mask search,
    choice of level (`tolerance`, or `level` given), compression, optional dense fine-tuning,
    and the report (`search.png`, `impulse.png`, `report.md`, `summary.json`) in `run_dir`.

    Returns the summary; the compressed model is `run_dir/<name>.leanamp`. The folder is locked
    for the run, so two prunings into one folder cannot mix their files.
    """
    run_dir = check_prune_folder(run_dir, resume)
    with run_folder_lock(run_dir):
        return _prune_device(data, run_dir, model, search, train, tolerance, level,
                             finetune_epochs, resume, progress, name)  # fmt: skip


def check_prune_folder(run_dir: str | os.PathLike, resume: bool, method: str = "magnitude") -> Path:
    """Refuse an output folder a pruning run cannot use, before any data is loaded."""
    run_dir = check_output_dir(run_dir)
    record = run_dir / ("search/search.json" if method == "magnitude" else "structured.json")
    if resume and not record.exists():
        raise LeanampError(
            f"{run_dir}: --resume, but this folder holds no {method} search to continue; drop "
            "--resume to start one"
        )
    if method == "structured" and record.exists() and not resume:
        raise LeanampError(f"{run_dir} already holds a structured search: pass --resume to "
                           "continue it, or choose another --out folder")
    return run_dir


def _prune_device(data, run_dir: Path, model, search, train, tolerance, level, finetune_epochs,
                  resume, progress, name) -> dict:  # fmt: skip
    metadata = {"sample_rate": data.sample_rate}
    pruned = magnitude_prune(model, data, run_dir / "search", search, train, tolerance, level,
                             resume, progress, metadata)  # fmt: skip
    records, chosen = pruned.search.records, pruned.chosen
    unpruned, compressed = pruned.unpruned, pruned.compressed
    compression = summarize(pruned.masked, compressed)
    test_clips, split = held_out_clips(data)
    esr_unpruned = evaluate(unpruned, test_clips).overall
    esr_pruned = evaluate(compressed, test_clips).overall
    finetune = None
    if finetune_epochs > 0:
        finetune = fine_tune_dense(compressed, data.train, data.validation, finetune_epochs, train,
                                   run_dir / "finetune", resume, progress)
        finetune["esr"] = evaluate(compressed, test_clips).overall
    model_path = save_model(compressed, run_dir / f"{name}.leanamp",
                            {**metadata, "pruning": chosen, "compression": asdict(compression)})
    rtf_unpruned = real_time_factor(unpruned, data.sample_rate)
    rtf_pruned = real_time_factor(compressed, data.sample_rate)
    impulse_unpruned = impulse_response(unpruned, data.sample_rate)
    impulse_pruned = impulse_response(compressed, data.sample_rate)
    plot_pruning_curve(records, run_dir / "search.png", chosen_level=chosen["level"])
    plot_impulse_responses({"unpruned": impulse_unpruned, "pruned": impulse_pruned},
                           run_dir / "impulse.png")
    row = {
        "device": name,
        "hidden_unpruned": unpruned.hidden_size,
        "hidden_pruned": compressed.hidden_size,
        "params_unpruned": count_parameters(unpruned)["parameters"],
        "params_pruned": compression.compressed_nonzero_parameters,
        "pruned_percent": 100 * chosen["sparsity"],
        "test_esr_unpruned": esr_unpruned,
        "test_esr_pruned": esr_pruned,
        "rtf_unpruned": rtf_unpruned.value,
        "rtf_pruned": rtf_pruned.value,
        "rtf_method": rtf_unpruned.method,
    }
    summary = {
        "model": str(model_path),
        "chosen_level": chosen["level"],
        "sparsity": chosen["sparsity"],
        "compression": asdict(compression),
        "esr_split": split,
        "esr_unpruned": esr_unpruned,
        "esr_pruned": esr_pruned,
        "finetune": finetune,
        "settling_ms": {"unpruned": 1000 * impulse_unpruned.settling_seconds,
                        "pruned": 1000 * impulse_pruned.settling_seconds},
        "table_row": row,
    }
    report = [
        "# Pruning report", "", pruning_table([row]), "",
        f"ESR on the {split} clips. Parameters pruned: non-zero parameters of the compressed "
        "model before any dense fine-tuning.", "",
        compression.describe(), "",
        f"Settling time (-60 dB after an impulse): unpruned "
        f"{summary['settling_ms']['unpruned']:.1f} ms, pruned "
        f"{summary['settling_ms']['pruned']:.1f} ms.", "",
        "## Mask search", "", search_table(records), "",
        f"Chosen level {chosen['level']}"
        + (f" (validation loss within {tolerance:.0%} of the unpruned model's)" if level is None
           else " (given)") + ".",
    ]
    if finetune is not None:
        report += ["", f"Dense fine-tuning: {finetune['epochs']} epochs, {split} ESR "
                   f"{finetune['esr']:.4f} (improved on validation: {finetune['improved']})."]
    write_text_atomic(run_dir / "report.md", "\n".join(report) + "\n")
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=1))
    return summary


def run_structured(
    data,
    out: str | os.PathLike,
    model: nn.Module,
    config: StructuredConfig,
    train_config=None,
    tolerance: float = 0.1,
    level: int | None = None,
    name: str = "pruned",
    progress=None,
    resume: bool = False,
) -> dict:
    """`structured_prune` on a DeviceData (with `resume`, going on with the search OUT holds),
    then choose an iteration (`choose_pruning_level`: `level`, or the last within `tolerance`)
    and write it to OUT/<name>.leanamp with OUT/summary.json."""
    out = check_prune_folder(out, resume, "structured")
    result = structured_prune(
        model, data.train, data.validation, config, train_config, run_dir=out, progress=progress,
    )  # fmt: skip
    record = choose_pruning_level(result.records, tolerance, level, loss="validation_esr")
    chosen = record["iteration"]
    clips, split = held_out_clips(data)
    summary = {
        **record,
        "chosen_iteration": chosen,
        "esr": evaluate_esr(result.models[chosen], clips),
        "esr_split": split,
        "model": str(out / f"{name}.leanamp"),
    }
    save_model(
        result.models[chosen], out / f"{name}.leanamp",
        {"sample_rate": data.sample_rate, "structured": summary},
    )  # fmt: skip
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1))
    return summary


PRUNE_METHODS = ("magnitude", "structured")


def prune_recordings(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    method: str = "magnitude",
    model_path: str | os.PathLike | None = None,
    hidden_size: int = 64,
    residual: bool = True,
    data_options: dict | None = None,
    search: SearchConfig | None = None,
    structured: StructuredConfig | None = None,
    train: TrainConfig | None = None,
    tolerance: float = 0.1,
    level: int | None = None,
    finetune_epochs: int = 0,
    resume: bool = False,
    name: str = "pruned",
    log=print,
) -> dict:
    """`leanamp prune`: load the recordings (`data_options`: load_training_data's), start from
    `model_path` or a new LSTM of `hidden_size`, then `prune_device` (method "magnitude": weight
    masks + compression, LSTMs) or `run_structured` (method "structured": whole units of an LSTM
    or WaveNet). Returns the run's summary, with "method" added."""
    if method not in PRUNE_METHODS:
        raise LeanampError(f"unknown --method {method!r}: use magnitude or structured")
    check_prune_folder(out, resume, method)
    if model_path is None:
        check_hidden_size(hidden_size)
    else:
        load_any(model_path)  # a bad model file is refused before the recordings load
    data = load_training_data(input_path, target_path, **(data_options or {}))
    log(data.summary())
    seed = (train or TrainConfig()).seed
    model = _start_model(model_path, data, hidden_size, residual, seed)
    if method == "structured":
        pretrain = (structured or StructuredConfig()).pretrain_epochs
    else:
        magnitude = search or SearchConfig()
        pretrain = magnitude.pretrain_epochs if magnitude.fully_train_first else 0
    if model_path is not None and pretrain > 0:
        log(f"training {model_path} further for up to {pretrain} epochs before pruning "
            "(--pretrain-epochs 0 prunes it as it is)")  # fmt: skip
    if method == "structured":
        try:
            summary = run_structured(
                data, out, model, structured or StructuredConfig(), train, tolerance=tolerance,
                level=level, name=name, progress=log, resume=resume,
            )  # fmt: skip
        except LeanampError as e:
            raise LeanampError(f"{model_path or 'model'}: {e}") from None
        return {**summary, "method": method}
    if not isinstance(model, LSTMModel):
        raise LeanampError(f"{model_path}: pruning needs an LSTM model, not {model.config}")
    summary = prune_device(
        data, out, model, search, train, tolerance=tolerance, level=level,
        finetune_epochs=finetune_epochs, resume=resume, name=name,
    )  # fmt: skip
    return {**summary, "method": method}


def _start_model(
    model_path, data: DeviceData, hidden_size: int, residual: bool, seed: int
) -> nn.Module:
    if model_path is not None:
        return load_any(model_path)[0]
    # Drawn after seeding: one --seed gives one starting model, so runs compare.
    return new_model("lstm", data.input_size, hidden_size, residual, seed=seed)

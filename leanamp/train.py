# long: the recipe, its checkpoints and interruption, and the evaluation it reports share state
"""Training: the paper's truncated-BPTT recipe (Südholt et al. 2022, section IV-B) on Fabric.

Defaults are the paper's: segments of 0.5 s in shuffled mini-batches of 40, 1000 warm-up samples
without updates, a parameter update every 2048 samples with the LSTM state carried between
updates and reset per batch, Adam at 5e-4, validation every 2 epochs, learning rate halved after
5 validations without improvement. Convolutional models (receptive field > 1) see each segment
whole, the loss skipping the samples whose history is zero padding.

A run directory holds `checkpoint.pt` (written atomically at every validation), `history.json`
and `best.leanamp` (the best model by validation loss). `resume=True` continues a killed run from
its last checkpoint and returns a finished run without redoing it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from lightning_fabric import Fabric
from safetensors.torch import load_file
from torch import nn

from leanamp.data import Clip, make_segments
from leanamp.data.knobs import knob_values
from leanamp.errors import Interrupted, LeanampError
from leanamp.files import atomic_path, write_text_atomic
from leanamp.formats.native import save_model
from leanamp.inference import model_input, run_model
from leanamp.losses import NAM_RECIPE, build_loss, esr, esr_db
from leanamp.progress import Progress, clock_text


@dataclass
class TrainConfig:
    segment_seconds: float = 0.5
    batch_size: int = 40
    warmup_samples: int = 1000
    tbptt_samples: int = 2048
    learning_rate: float = 5e-4
    validate_every: int = 2  # epochs
    # validations without improvement before the learning rate drops; None: never (NAM's recipe)
    lr_patience: int | None = 5
    lr_factor: float = 0.5
    lr_decay: float | None = None  # learning rate x this after every epoch (NAM: 0.993)
    early_stop_patience: int | None = 25  # validations without improvement; None: never stop early
    # What picks the best model and counts as improvement: "loss" (the training loss on the
    # validation audio) or "esr" (NAM keeps its checkpoint by validation ESR).
    validation_metric: str = "loss"
    # Consecutive segments overlap by the samples whose outputs are not trained (a WaveNet's
    # receptive field, an LSTM's warm-up), so every target sample is trained (NAM's windows);
    # False: back to back, as the paper's code cuts them.
    overlap_segments: bool = False
    max_epochs: int = 200
    max_minutes: float | None = None  # time budget; the run stops at the next validation
    # "wall" (elapsed time) or "cpu" (this process's CPU time): a CPU-time budget gives models
    # compared "for the same time" the same compute even while other jobs share the machine
    # (CPU training only: GPU work barely shows in CPU time).
    budget_clock: str = "wall"
    loss: str = "paper"
    grad_clip: float | None = None  # max gradient norm per update; None: no clipping (the paper)
    seed: int = 0
    accelerator: str = "auto"  # cpu, cuda, mps, auto
    devices: int | str = 1  # >1: data-parallel over that many GPUs (Fabric DDP)
    num_nodes: int = 1
    strategy: str = "auto"
    # Small recurrent models gain nothing from intra-op threads, and OpenMP threads competing for
    # busy cores slow torch.lstm down by orders of magnitude; 0 keeps torch's own setting.
    cpu_threads: int = 1

    def __post_init__(self) -> None:
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise LeanampError(
                f"--minutes {self.max_minutes:g}: the time budget must be positive (or leave "
                "--minutes out to train for --epochs)"
            )
        for flag, value in (("--batch-size", self.batch_size),
                            ("--validate-every", self.validate_every)):  # fmt: skip
            if value < 1:
                raise LeanampError(f"{flag} {value}: must be at least 1")
        if not self.segment_seconds > 0 or not self.learning_rate > 0:
            raise LeanampError("--segment-seconds and --learning-rate must be positive")
        if self.validation_metric not in VALIDATION_METRICS:
            raise LeanampError(
                f"validation_metric {self.validation_metric!r}: choose one of "
                f"{', '.join(VALIDATION_METRICS)}"
            )
        if self.budget_clock not in BUDGET_CLOCKS:
            raise LeanampError(
                f"--budget-clock {self.budget_clock!r}: choose one of {', '.join(BUDGET_CLOCKS)}"
            )

    @classmethod
    def recipe(cls, name: str, **overrides) -> TrainConfig:
        """A named recipe ("paper" or "quick") with any field overridden."""
        if name not in RECIPES:
            raise LeanampError(f"--recipe {name!r}: choose one of {', '.join(RECIPES)}")
        return cls(**{**RECIPES[name], **overrides})

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


BUDGET_CLOCKS = {"wall": time.monotonic, "cpu": time.process_time}
VALIDATION_METRICS = {"loss": "validation_loss", "esr": "validation_esr"}  # the record's key

# "quick": the paper's recipe with 10x the learning rate and batches of 8: many more updates per
# epoch, which on a 2-core CPU reaches in minutes what the paper's settings reach in hours
# (benchmarks/bench_train.py measures both). Gradient-norm clipping keeps the high rate from
# the occasional blow-up (measured on the demo pedal: validation ESR 0.16 -> 40 in one epoch).
RECIPES: dict[str, dict] = {
    "paper": {},
    "quick": {"learning_rate": 5e-3, "batch_size": 8, "grad_clip": 1.0},
    # Neural Amp Modeler's WaveNet recipe (nam/train/core.py and nam/data.py): its only schedule
    # is the decay; it validates every epoch, keeps the model of the best validation ESR, trains
    # every output sample (overlapping windows) and never stops early (100 epochs by default).
    "nam": {"loss": "nam", "learning_rate": 4e-3, "lr_decay": 0.993, "batch_size": 16,
            "lr_patience": None, "validate_every": 1, "validation_metric": "esr",
            "overlap_segments": True, "early_stop_patience": None, "max_epochs": 100},
}


@dataclass
class TrainResult:
    best_validation_loss: float  # by the config's validation_metric: the loss, or NAM's ESR
    best_epoch: int
    epochs: int
    seconds: float
    stopped_because: str
    history: list[dict] = field(default_factory=list)
    run_dir: Path | None = None
    budget_seconds: float = 0.0  # time spent by the budget clock (config.budget_clock)


def _set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


class Trainer:
    """Trains a model on clips; `fit` runs the whole recipe, the parts are public for pruning.

    `after_step_hooks` run after every optimizer step with the model (the pruning masks use this
    to keep pruned weights at exactly zero); `after_epoch_hooks` after every epoch of `fit` with
    the epoch number (structured trimming snapshots its rewind point this way).
    """

    def __init__(
        self,
        model: nn.Module,
        train_clips: list[Clip],
        validation_clips: list[Clip],
        config: TrainConfig | None = None,
        run_dir: str | os.PathLike | None = None,
        metadata: dict | None = None,
        progress: bool = True,
    ):
        self.config = config or TrainConfig()
        cfg = self.config
        if not train_clips or not validation_clips:
            raise LeanampError("training needs at least one training and one validation clip")
        self.sample_rate = train_clips[0].sample_rate
        self.fabric = Fabric(
            accelerator=cfg.accelerator,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=cfg.strategy,
            precision="32-true",
        )
        self.fabric.launch()
        if self.fabric.device.type == "cpu" and cfg.cpu_threads > 0:
            torch.set_num_threads(cfg.cpu_threads)
        _set_seed(cfg.seed)
        self.model = model
        self.setup_model = self.fabric.setup_module(model)
        self.loss_fn = build_loss(cfg.loss)
        self.receptive_field = int(getattr(model, "receptive_field", 1))
        self.recurrent = self.receptive_field == 1
        self.segment_samples = int(round(cfg.segment_seconds * self.sample_rate))
        self.skip_samples = cfg.warmup_samples if self.recurrent else self.receptive_field - 1
        if self.segment_samples <= self.skip_samples:
            raise LeanampError(
                f"segments of {self.segment_samples} samples leave nothing to learn after "
                f"{self.skip_samples} warm-up samples: raise --segment-seconds"
            )
        hop = self.segment_samples - (self.skip_samples if cfg.overlap_segments else 0)
        self.inputs, self.targets = make_segments(train_clips, self.segment_samples, hop)
        if model_input_size(model) != self.inputs.shape[-1]:
            raise LeanampError(
                f"the model takes {model_input_size(model)} input channels but the data has "
                f"{self.inputs.shape[-1]} (audio + knobs): build the model with "
                f"{self.inputs.shape[-1]} input channels"
            )
        self.validation_clips = validation_clips
        self.metadata = dict(metadata or {})
        self.metadata.setdefault("sample_rate", self.sample_rate)
        self.progress = progress and self.fabric.is_global_zero
        # Replaced in fit() (or by a caller running epochs itself) with a display that knows the
        # epochs and budget; display_start is the epoch its count starts from.
        self.stage = "train"  # what fit()'s display calls this training
        self.display = Progress(self.stage, enabled=False)
        self.display_start = 0
        # (clock, reading at which this run's budget started): a resumed run's budget goes on
        # from the time its earlier attempts spent, kept in the checkpoint.
        self._budget_clock = None
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.after_step_hooks: list[Callable[[nn.Module], None]] = []
        self.after_epoch_hooks: list[Callable[[int], None]] = []
        self.history: list[dict] = []
        self.epoch = 0
        self.best_loss = math.inf
        self.best_epoch = 0
        self.validations_since_best = 0
        self.validations_since_lr_drop = 0
        self.skipped_steps = 0  # this epoch's steps whose gradient was not finite (_update)
        self.reset_optimizer()
        self._batch_rng = np.random.default_rng(cfg.seed)

    # --- optimizer ------------------------------------------------------------------------------
    def reset_optimizer(self) -> None:
        """Fresh Adam at the initial learning rate: learning-rate rewinding."""
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate)
        self.optimizer = self.fabric.setup_optimizers(optimizer)
        self.validations_since_lr_drop = 0

    @property
    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.fabric.backward(loss)
        self._update()

    def _update(self) -> None:
        """Clip the accumulated gradients, take the optimizer step, run the after-step hooks.

        A gradient that is not finite skips the step, as a loss scaler does, and is counted in
        `skipped_steps`: an exploding recurrent gradient overflows float32 to inf through a long
        truncated-BPTT window (seen in a pruned LSTM-64 whose head kept one weight), and clipping
        cannot scale inf, while one Adam step on it turns every weight into NaN."""
        norm = self.fabric.clip_gradients(  # max_norm inf: measured, not scaled
            self.setup_model, self.optimizer, error_if_nonfinite=False,
            max_norm=math.inf if self.config.grad_clip is None else self.config.grad_clip,
        )  # fmt: skip
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_steps += 1
            return
        self.optimizer.step()
        for hook in self.after_step_hooks:
            hook(self.model)

    # --- one epoch ------------------------------------------------------------------------------
    def _epoch_order(self) -> torch.Tensor:
        # Seeded by epoch, so a resumed run shuffles exactly as an uninterrupted one.
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + self.epoch)
        return torch.randperm(len(self.inputs), generator=generator)

    def train_epoch(self) -> float:
        """One pass over the training segments; returns the mean loss of its updates."""
        cfg = self.config
        self.setup_model.train()
        order = self._epoch_order()
        # Each rank takes its own share of the batches (data parallelism); equal counts per rank
        # keep the gradient all-reduce in step.
        batches = list(order.split(cfg.batch_size))
        world = self.fabric.world_size
        batches = batches[: max(1, len(batches) // world * world)][self.fabric.global_rank :: world]
        losses, self.skipped_steps = [], 0
        for count, index in enumerate(batches):
            x = self.fabric.to_device(self.inputs[index])
            y = self.fabric.to_device(self.targets[index])
            hook = getattr(self.model, "on_train_batch_start", None)
            passes = (hook(self._batch_rng) or 1) if hook is not None else 1
            losses.extend(self._train_batch(x, y, passes))
            self.display.update(
                self.epoch - self.display_start + (count + 1) / len(batches),
                f"loss {np.mean(losses):.4f} lr {self.learning_rate:.1e}",
            )
        return float(np.mean(losses)) if losses else math.nan

    def _train_batch(self, x: torch.Tensor, y: torch.Tensor, passes: int = 1) -> list[float]:
        if not self.recurrent:
            # One step whose loss sums `passes` forwards (a slimmable model's widths, by its rule,
            # leanamp.models.slim); in-place distillation: later passes learn from the first's.
            skip, distill = self.skip_samples, getattr(self.model, "distills_in_place", False)
            self.optimizer.zero_grad(set_to_none=True)
            target, total = y[:, skip:], 0.0
            for k in range(passes):
                if passes > 1:
                    self.model.select_pass(k)
                prediction = self.setup_model(x)[0][:, skip:]
                loss = self.loss_fn(prediction, target)
                self.fabric.backward(loss)
                total += loss.item()
                target = prediction.detach() if distill and k == 0 else target
            self._update()
            return [total]
        # Truncated backpropagation through time: warm up, then update every tbptt_samples.
        with torch.no_grad():
            _, state = self.setup_model(x[:, : self.skip_samples])
        losses = []
        for start in range(self.skip_samples, x.shape[1], self.config.tbptt_samples):
            stop = min(start + self.config.tbptt_samples, x.shape[1])
            prediction, state = self.setup_model(x[:, start:stop], state)
            loss = self.loss_fn(prediction, y[:, start:stop])
            self._step(loss)
            state = tuple(s.detach() for s in state)
            losses.append(loss.item())
        return losses

    # --- validation -----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        """Training loss and ESR over the whole validation clips, pooled as one signal."""
        predictions = [run_model(self.model, c.input) for c in self.validation_clips]
        self.model.train()
        prediction = torch.from_numpy(np.concatenate(predictions))[None]
        target = torch.from_numpy(np.concatenate([c.target for c in self.validation_clips]))[None]
        return {
            "validation_loss": float(self.loss_fn(prediction, target)),
            "validation_esr": esr(prediction.numpy(), target.numpy()),
        }

    # --- checkpoints ----------------------------------------------------------------------------
    def _checkpoint_path(self) -> Path | None:
        return self.run_dir / "checkpoint.pt" if self.run_dir else None

    def _save_checkpoint(self, finished: bool, stopped_because: str = "") -> None:
        if not self.run_dir or not self.fabric.is_global_zero:
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "validations_since_best": self.validations_since_best,
            "validations_since_lr_drop": self.validations_since_lr_drop,
            "history": json.dumps(self.history),
            "finished": finished,
            "stopped_because": stopped_because,
            "batch_rng": json.dumps(self._batch_rng.bit_generator.state),
            # A slimmable model's record of the widths it trained, so a resumed run counts all.
            "width_history": json.dumps(getattr(self._width_sampler(), "history", [])),
            "config": json.dumps(asdict(self.config)),
            "budget_seconds_spent": self.budget_seconds_spent(),
        }
        with atomic_path(self._checkpoint_path()) as tmp:
            torch.save(state, tmp)
        write_text_atomic(self.run_dir / "history.json", json.dumps(self.history, indent=1))

    def start_budget(self, spent: float = 0.0) -> None:
        """Start the time budget on the config's clock, `spent` seconds already used (by a
        resumed run's earlier attempts)."""
        clock = BUDGET_CLOCKS[self.config.budget_clock]
        self._budget_clock = (clock, clock() - spent)

    def budget_seconds_spent(self) -> float:
        """Time spent on the budget's clock by this run, earlier attempts included."""
        if self._budget_clock is None:
            return 0.0
        clock, started = self._budget_clock
        return clock() - started

    def out_of_time(self) -> bool:
        """The run has spent its `max_minutes` (never, without one)."""
        minutes = self.config.max_minutes
        return minutes is not None and self.budget_seconds_spent() > 60 * minutes

    def load_checkpoint(self) -> dict | None:
        path = self._checkpoint_path()
        if path is None or not path.exists():
            return None
        try:
            # Our own checkpoint, and still never unpickled beyond tensors and plain containers.
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated or foreign file: say so instead of crashing
            raise LeanampError(
                f"{path}: unreadable checkpoint ({e.__class__.__name__}); delete it to start over"
            ) from None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = state["epoch"]
        self.best_loss = state["best_loss"]
        self.best_epoch = state["best_epoch"]
        self.validations_since_best = state["validations_since_best"]
        self.validations_since_lr_drop = state["validations_since_lr_drop"]
        self.history = json.loads(state["history"])
        self._batch_rng.bit_generator.state = json.loads(state["batch_rng"])
        if self._width_sampler() is not None:  # checkpoints from before it kept no widths
            self._width_sampler().history = json.loads(state.get("width_history", "[]"))
        return state

    def _width_sampler(self):
        """The model's WidthSampler when it is slimmable (leanamp.models.widths), else None."""
        return getattr(self.model, "width_sampler", None)

    def _save_best(self, record: dict) -> None:
        if self.run_dir and self.fabric.is_global_zero:
            meta = {
                **self.metadata,
                "validation_esr": record["validation_esr"],
                "epoch": self.epoch,
            }
            save_model(self.model, self.run_dir / "best.leanamp", meta)

    # --- the whole recipe -----------------------------------------------------------------------
    def fit(self, max_epochs: int | None = None, resume: bool = False) -> TrainResult:
        cfg = self.config
        max_epochs = cfg.max_epochs if max_epochs is None else max_epochs
        if self.run_dir:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(
                self.run_dir / "config.json",
                json.dumps({"train": asdict(cfg), "model": self.model.config}, indent=1),
            )
        state = None
        if resume:
            state = self.load_checkpoint()
            if state is not None and state["finished"]:
                self._restore_best()
                return self._result(0.0, state["stopped_because"])
        elif self._checkpoint_path() is not None and self._checkpoint_path().exists():
            raise LeanampError(
                f"{self.run_dir} already holds a run: pass --resume to continue it, or choose "
                "another output folder"
            )
        # Checkpoints written before the budget was kept say nothing: those runs start afresh.
        self.start_budget(float(state.get("budget_seconds_spent", 0.0)) if state else 0.0)
        budget_clock, budget_started = self._budget_clock
        started = time.monotonic()
        self.display_start = 0
        self.display = Progress(
            self.stage, max_epochs, "epoch",
            budget_seconds=None if cfg.max_minutes is None else 60 * cfg.max_minutes,
            clock=budget_clock, enabled=self.progress, started=budget_started,
        )  # fmt: skip
        try:
            return self._fit_epochs(max_epochs, started)
        except KeyboardInterrupt:
            self._restore_best()
            result = self._result(time.monotonic() - started, "interrupted")
            raise TrainingInterrupted(result) from None
        finally:
            self.display.close()

    def fit_keeping_start(self, max_epochs: int, resume: bool = False) -> tuple[TrainResult, dict]:
        """`fit`, with the model as it starts validated first and given back when no epoch beats
        it: a retraining (after a trim, after compression) never leaves the model worse on
        validation. Returns fit's result and the kept model's validation record with
        "improved"."""
        start = self.validate()
        start_weights = {k: v.clone() for k, v in self.model.state_dict().items()}
        result = self.fit(max_epochs, resume=resume)
        if not result.best_validation_loss < self.validation_score(start):
            self.model.load_state_dict(start_weights)
            return result, {**start, "improved": False}
        # The model holds the best epoch's weights: its validation is in the history already.
        best = next(r for r in result.history if r["epoch"] == result.best_epoch)
        return result, {**{k: best[k] for k in start}, "improved": True}

    def _fit_epochs(self, max_epochs, started) -> TrainResult:
        cfg = self.config
        stopped_because = "max_epochs"
        best_state = None
        while self.epoch < max_epochs:
            train_loss = self.train_epoch()
            self.epoch += 1
            for hook in self.after_epoch_hooks:
                hook(self.epoch)
            if cfg.lr_decay is not None:
                for group in self.optimizer.param_groups:
                    group["lr"] *= cfg.lr_decay
            record = {"epoch": self.epoch, "train_loss": train_loss, "lr": self.learning_rate}
            if self.skipped_steps:
                record["skipped_steps"] = self.skipped_steps
                self.display.line(f"{self.skipped_steps} steps skipped: gradient not finite")
            if self.epoch % cfg.validate_every == 0 or self.epoch == max_epochs:
                record.update(self.validate())
                stop = self.after_validation(record)
                if self.validation_score(record) <= self.best_loss:
                    best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
                self.history.append(record)
                self.display.line(
                    f"train loss {train_loss:.4g}, validation ESR "
                    f"{record['validation_esr']:.4g} (best: epoch {self.best_epoch})"
                )
                out_of_time = self.out_of_time()
                if stop or out_of_time or self.epoch >= max_epochs:
                    stopped_because = (
                        "early_stop" if stop else "time" if out_of_time else "max_epochs"
                    )
                    self._save_checkpoint(finished=True, stopped_because=stopped_because)
                    break
                self._save_checkpoint(finished=False)
            else:
                self.history.append(record)
        if best_state is not None:
            self.model.load_state_dict(best_state)
        else:
            self._restore_best()
        result = self._result(time.monotonic() - started, stopped_because)
        result.budget_seconds = self.budget_seconds_spent()
        return result

    def validation_score(self, record: dict) -> float:
        """The figure of a validation record that the best model is chosen by (lower is better)."""
        return record[VALIDATION_METRICS[self.config.validation_metric]]

    def after_validation(self, record: dict) -> bool:
        """Track the best model, drop the learning rate, decide early stopping."""
        cfg = self.config
        if self.validation_score(record) < self.best_loss:
            self.best_loss = self.validation_score(record)
            self.best_epoch = self.epoch
            self.validations_since_best = 0
            self.validations_since_lr_drop = 0
            self._save_best(record)
        else:
            self.validations_since_best += 1
            self.validations_since_lr_drop = self.plateau_step(self.validations_since_lr_drop)
        patience = cfg.early_stop_patience
        return patience is not None and self.validations_since_best >= patience

    def plateau_step(self, validations_without_improvement: int) -> int:
        """One more validation without improvement: after `lr_patience` of them the learning rate
        drops by `lr_factor` and the count starts again. Returns the new count."""
        cfg = self.config
        count = validations_without_improvement + 1
        if cfg.lr_patience is None or count < cfg.lr_patience:
            return count
        for group in self.optimizer.param_groups:
            group["lr"] *= cfg.lr_factor
        return 0

    def _restore_best(self) -> None:
        best = self.run_dir / "best.leanamp" if self.run_dir else None
        if best is not None and best.exists():

            self.model.load_state_dict(load_file(str(best)))

    def _result(self, seconds: float, stopped_because: str) -> TrainResult:
        return TrainResult(
            best_validation_loss=self.best_loss,
            best_epoch=self.best_epoch,
            epochs=self.epoch,
            seconds=seconds,
            stopped_because=stopped_because,
            history=self.history,
            run_dir=self.run_dir,
        )


class TrainingInterrupted(Interrupted):
    """Ctrl-C during training: the model holds the best weights so far; `result` says where."""

    RESUME_HINT = "Run the same command with --resume to continue from the last validation"

    def __init__(self, result: TrainResult, saved: Path | None = None, hint: str = RESUME_HINT):
        self.result = result
        if saved is None and result.run_dir is not None and result.best_epoch:
            saved = result.run_dir / "best.leanamp"
        if result.best_epoch and saved is not None:
            best = f"the best model so far (epoch {result.best_epoch}) is saved as {saved}"
        else:
            best = "no validation had finished, so there is no model yet"
        super().__init__(
            f"training stopped at epoch {result.epochs} after {clock_text(result.seconds)}; "
            f"{best}. {hint}"
        )


def default_segment_seconds(model: nn.Module, sample_rate: int) -> float:
    """Training segment length: the paper's 0.5 s for recurrent models; for convolutional ones
    NAM's 8192 output samples plus the receptive field they need before the first output."""

    receptive_field = int(getattr(model, "receptive_field", 1))
    if receptive_field == 1:
        return 0.5
    return (NAM_RECIPE["segment_output_samples"] + receptive_field - 1) / sample_rate


def model_input_size(model: nn.Module) -> int:
    return int(model.config.get("input_size", 1))


@dataclass
class Evaluation:
    per_clip: dict[str, float]  # clip name -> ESR
    overall: float  # ESR pooled over all clips
    outputs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # clip -> audio

    def table(self) -> str:
        rows = [f"{'clip':<32} {'ESR':>9} {'dB':>7}"]
        for name, value in [*self.per_clip.items(), ("overall", self.overall)]:
            rows.append(f"{name:<32} {value:>9.4f} {esr_db(value):>7.1f}")
        return "\n".join(rows)


def evaluate(model: nn.Module, clips: list[Clip]) -> Evaluation:
    """ESR per whole clip and pooled over all of them (the paper's test metric)."""
    if not clips:
        raise LeanampError("nothing to evaluate: no test clips")
    outputs = [
        run_model(model, model_input(model, c.input, c.sample_rate, name=c.name)) for c in clips
    ]
    per_clip = {c.name: esr(o, c.target) for c, o in zip(clips, outputs, strict=True)}
    overall = esr(np.concatenate(outputs), np.concatenate([c.target for c in clips]))
    return Evaluation(per_clip, overall, {c.name: o for c, o in zip(clips, outputs, strict=True)})


def evaluate_by_width(model, clips, widths: Sequence[int] | None = None) -> dict[int, float]:
    """Test ESR pooled over whole clips (`evaluate`) at each width (default: the
    model's widths); the model's own width setting is restored afterwards."""
    saved = model.width
    try:
        out = {}
        for width in model.widths if widths is None else widths:
            model.set_width(int(width))
            out[int(width)] = evaluate(model, clips).overall
        return out
    finally:
        model.set_width(saved)


def evaluate_per_setting(model: nn.Module, clips: Sequence[Clip]) -> dict[tuple[float, ...], float]:
    """ESR pooled over the clips of each knob setting, by setting, in ascending order."""
    groups: dict[tuple[float, ...], list[Clip]] = {}
    for clip in clips:
        groups.setdefault(knob_values(clip), []).append(clip)
    return {setting: evaluate(model, groups[setting]).overall for setting in sorted(groups)}

# long: the mask search with its phases, rewinding, checkpoints and resumption belongs together
"""The mask search (Südholt et al. 2022, Algorithm 1): iterative magnitude pruning with early-bird
stopping, learning-rate rewinding, the fully-train-first variant, and a one-shot baseline.

Levels: level 0 is the unpruned model; level j >= 1 is the model trained under mask m_j, where
m_j = m_{j-1} minus `prune_fraction` of its active weights (sparsity 1 - (1 - p)^j). Training at
level j-1 and finding m_j are the same phase, as in Algorithm 1: after every epoch the candidate
m_j is computed from the current weights without applying it, and the phase ends when the last
k normalised Hamming distances between consecutive candidates are all below epsilon. Then m_j is
applied (optionally rewinding the surviving weights to an early epoch) and the optimizer and
learning rate are reset. The last level, which has no next mask, stops by the same test on the
candidate of a further pruning step, i.e. when its connectivity has stabilised.

With `fully_train_first` (the default) level 0 is trained to convergence by the ordinary trainer
(its learning-rate schedule and early stopping) instead of stopping early. Every phase keeps the
paper's schedule too ("during all training runs", Sec. IV): validation every `validate_every`
epochs, the learning rate halved after `lr_patience` validations without improvement, counted
from the phase's start, as the rate itself is reset there.

Run folder: `search.json` (configs and progress), `pretrain/` (the level-0 trainer's checkpoints),
`iteration_XX/` per finished level (`model.leanamp`, `mask.safetensors`, `record.json`, written
in that order so a record means the level is complete), and `phase.pt`, the checkpoint of the
phase in progress, written after every epoch. `resume=True` continues a killed search in the
phase it was in.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from leanamp.data import Clip
from leanamp.errors import LeanampError, ModelFileError
from leanamp.files import atomic_path, write_text_atomic
from leanamp.formats.native import load_model, save_model
from leanamp.models.lstm import LSTMModel
from leanamp.progress import Progress
from leanamp.prune.compress import compress, count_parameters, effective_hidden_size
from leanamp.prune.masks import MaskEnforcer, PruningMasks
from leanamp.train import TrainConfig, Trainer


@dataclass
class SearchConfig:
    iterations: int = 15  # N
    prune_fraction: float = 0.3  # p: share of the remaining weights pruned per iteration
    distance_window: int = 5  # k
    distance_threshold: float = 0.1  # epsilon
    max_epochs_per_iteration: int = 100  # a phase that never settles still ends
    fully_train_first: bool = True  # FTF: train level 0 to convergence instead of stopping early
    pretrain_epochs: int = 200  # FTF: maximum epochs of level 0 (the trainer stops earlier)
    # Weight rewinding: after each pruning step the surviving weights go back to their values at
    # this point of level 0's training: 0 is the initialisation, r > 0 the weights right after the
    # first update of epoch r + 1. None: learning-rate rewinding only (the paper's choice).
    rewind_epoch: int | None = None
    include_biases: bool = False
    # Rank weights by their hidden unit's pooled norm so that whole units die (leanamp.prune.masks)
    unit_aware: bool = False
    # Prune the head on its own, never below one weight (no global-threshold collapse)
    protect_head: bool = False

    def __post_init__(self):
        if self.iterations < 1:
            raise LeanampError("the mask search needs at least one iteration")
        if not 0.0 < self.prune_fraction < 1.0:
            raise LeanampError(f"--prune-fraction must be within (0, 1), got {self.prune_fraction}")
        if self.distance_window < 1 or self.distance_threshold <= 0:
            raise LeanampError("the early-bird window must be >= 1 and the threshold > 0")
        if self.rewind_epoch is not None and self.rewind_epoch < 0:
            raise LeanampError("--rewind-epoch must be >= 0")

    @classmethod
    def from_dict(cls, values: dict) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def sparsity(self, level: int) -> float:
        return 1.0 - (1.0 - self.prune_fraction) ** level


def early_bird_stop(distances: list[float], window: int, threshold: float) -> bool:
    """True when the last `window` mask distances are all below `threshold` (Algorithm 1, l. 4)."""
    return len(distances) >= window and max(distances[-window:]) < threshold


@dataclass
class SearchResult:
    records: list[dict]
    run_dir: Path

    def model_path(self, level: int) -> Path:
        return self.run_dir / f"iteration_{level:02d}" / "model.leanamp"

    def mask_path(self, level: int) -> Path:
        return self.run_dir / f"iteration_{level:02d}" / "mask.safetensors"

    def load(self, level: int) -> tuple[LSTMModel, PruningMasks]:
        model, _ = load_model(self.model_path(level))
        return model, PruningMasks.load(self.mask_path(level))


def _level_dir(run_dir: Path, level: int) -> Path:
    return run_dir / f"iteration_{level:02d}"


def _read_record(run_dir: Path, level: int) -> dict | None:
    path = _level_dir(run_dir, level) / "record.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise LeanampError(
            f"{path}: unreadable ({e}); delete that folder to redo the level"
        ) from None


def load_search(run_dir: str | os.PathLike) -> SearchResult:
    """The finished levels of a (possibly still running) search in `run_dir`."""
    run_dir = Path(run_dir)
    if not (run_dir / "search.json").exists():
        raise LeanampError(f"{run_dir}: no mask search here (search.json is missing)")
    records = []
    level = 0
    while (record := _read_record(run_dir, level)) is not None:
        records.append(record)
        level += 1
    return SearchResult(records, run_dir)


class MaskSearch:
    """Runs Algorithm 1 on a model; `run()` does the whole search, resumably."""

    def __init__(
        self,
        model: LSTMModel,
        train_clips: list[Clip],
        validation_clips: list[Clip],
        run_dir: str | os.PathLike,
        search: SearchConfig | None = None,
        train: TrainConfig | None = None,
        progress: bool = True,
        metadata: dict | None = None,
    ):
        self.search = search or SearchConfig()
        self.train_config = train or TrainConfig()
        self.run_dir = Path(run_dir)
        self.model = model
        self.metadata = dict(metadata or {})
        self.trainer = Trainer(
            model,
            train_clips,
            validation_clips,
            self.train_config,
            run_dir=self.run_dir / "pretrain",
            metadata=self.metadata,
            progress=progress,
        )
        self.masks = PruningMasks.full(model, self.search.include_biases)
        self.enforcer = MaskEnforcer(model, self.masks).attach(self.trainer)
        self.masks = self.enforcer.masks  # the enforcer's copy, on the model's device
        self.records: list[dict] = []
        self.rewind_state: dict[str, torch.Tensor] | None = None
        self._level_started = time.process_time()

    # --- files ----------------------------------------------------------------------------------
    def _phase_path(self) -> Path:
        return self.run_dir / "phase.pt"

    def _rewind_path(self) -> Path:
        return self.run_dir / "rewind.safetensors"

    def _write_search_state(self, status: str) -> None:
        state = {
            "search": asdict(self.search),
            "train": asdict(self.train_config),
            "model": self.model.config,
            "status": status,
            "levels_done": len(self.records),
        }
        write_text_atomic(self.run_dir / "search.json", json.dumps(state, indent=1))

    def _save_level(self, record: dict) -> None:
        folder = _level_dir(self.run_dir, record["level"])
        save_model(self.model, folder / "model.leanamp", {**self.metadata, "pruning": record})
        self.masks.save(folder / "mask.safetensors")
        write_text_atomic(folder / "record.json", json.dumps(record, indent=1))

    def _save_phase(self, phase: dict) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.trainer.optimizer.state_dict(),
            "trainer_epoch": self.trainer.epoch,
            "level": phase["level"],
            "epochs": phase["epochs"],
            "distances": json.dumps(phase["distances"]),
            "train_loss": phase["train_loss"],
            "candidate": {k: v.cpu() for k, v in (phase["candidate"] or {}).items()},
            "best_validation": phase["best_validation"],
            "validations_since_best": phase["validations_since_best"],
        }
        with atomic_path(self._phase_path()) as tmp:
            torch.save(state, tmp)

    def _load_phase(self, level: int) -> dict | None:
        path = self._phase_path()
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated or foreign: say which file to delete
            raise LeanampError(
                f"{path}: unreadable phase checkpoint ({e.__class__.__name__}); delete it to redo "
                "the current iteration from its start"
            ) from None
        if state["level"] != level:
            return None  # left over from an earlier level that has since been recorded
        self.model.load_state_dict(state["model"])
        self.trainer.optimizer.load_state_dict(state["optimizer"])
        self.trainer.epoch = state["trainer_epoch"]
        return {
            "level": level,
            "epochs": state["epochs"],
            "distances": json.loads(state["distances"]),
            "train_loss": state["train_loss"],
            "candidate": state["candidate"] or None,
            # phase checkpoints from before the schedule ran in phases start it afresh
            "best_validation": state.get("best_validation", math.inf),
            "validations_since_best": state.get("validations_since_best", 0),
        }

    # --- pieces ---------------------------------------------------------------------------------
    def _record(self, level: int, epochs: int, distances: list[float], stopped: str, train_loss,
                skipped_steps: int):
        validation = self.trainer.validate()
        counts = count_parameters(compress(self.model))
        record = {
            "level": level,
            "sparsity": self.masks.sparsity,
            "active_weights": self.masks.active,
            "prunable_weights": self.masks.total,
            "effective_hidden_size": effective_hidden_size(self.model),
            "compressed_parameters": counts["parameters"],
            "compressed_nonzero_parameters": counts["nonzero_parameters"],
            "epochs": epochs,
            "trainer_epoch": self.trainer.epoch,
            "stopped_because": stopped,
            "mask_distances": distances,
            "train_loss": train_loss,
            "skipped_steps": skipped_steps,  # updates dropped for a gradient that was not finite
            # CPU seconds of this level's training (its last attempt, if it was resumed)
            "cpu_seconds": time.process_time() - self._level_started,
            **validation,
        }
        self.records.append(record)
        return record

    def _capture_rewind(self, model) -> None:
        if self.rewind_state is None and self.trainer.epoch >= (self.search.rewind_epoch or 0):
            self.rewind_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            with atomic_path(self._rewind_path()) as tmp:
                save_file(self.rewind_state, str(tmp))

    def _prepare_rewind(self) -> None:
        """Arrange for the rewind point of level 0 to be saved (weight rewinding only)."""
        if self.search.rewind_epoch is None or self.rewind_state is not None:
            return
        started = self.trainer.epoch > 0 or (self.run_dir / "pretrain" / "checkpoint.pt").exists()
        if self.search.rewind_epoch == 0:
            if started:
                raise LeanampError(
                    f"{self._rewind_path()} is missing but training has started: the "
                    "initial weights are lost; start the search in a new folder"
                )
            self._capture_rewind(self.model)
        else:
            self.trainer.after_step_hooks.append(self._capture_rewind)

    def _end_rewind_capture(self) -> None:
        if self._capture_rewind in self.trainer.after_step_hooks:
            self.trainer.after_step_hooks.remove(self._capture_rewind)

    def _pretrain(self, resume: bool) -> None:
        """FTF level 0: the trainer's full recipe; its own checkpoints make it resumable."""
        self.trainer.stage = "pretrain (level 0)"
        result = self.trainer.fit(self.search.pretrain_epochs, resume=resume)
        last_train = [r["train_loss"] for r in result.history if "train_loss" in r]
        record = self._record(0, result.epochs, [], f"pretrain:{result.stopped_because}",
                              last_train[-1] if last_train else math.nan,
                              sum(r.get("skipped_steps", 0) for r in result.history))
        self._save_level(record)

    def _run_phase(self, level: int, resume: bool) -> None:
        """Train under the current mask until the next candidate mask settles; record the level."""
        search = self.search
        phase = self._load_phase(level) if resume else None
        if phase is None:
            phase = {"level": level, "epochs": 0, "distances": [], "train_loss": math.nan,
                     "candidate": None, "best_validation": math.inf, "validations_since_best": 0}
        previous = PruningMasks(phase["candidate"]) if phase["candidate"] else None
        stopped = "max_epochs"
        display = Progress(f"prune level {level}/{search.iterations}",
                           search.max_epochs_per_iteration, "epoch", enabled=self.trainer.progress)
        self.trainer.display = display
        self.trainer.display_start = self.trainer.epoch - phase["epochs"]
        while True:
            window, threshold = search.distance_window, search.distance_threshold
            if early_bird_stop(phase["distances"], window, threshold):
                stopped = "early_bird"
                break
            if phase["epochs"] >= search.max_epochs_per_iteration:
                break
            phase["train_loss"] = self.trainer.train_epoch()
            phase["skipped_steps"] = phase.get("skipped_steps", 0) + self.trainer.skipped_steps
            self.trainer.epoch += 1
            phase["epochs"] += 1
            if phase["epochs"] % self.train_config.validate_every == 0:
                self._plateau_schedule(phase)
            candidate = self._next_mask()
            if previous is not None:
                phase["distances"].append(candidate.distance(previous, reference=self.masks))
            previous = candidate
            phase["candidate"] = candidate.masks
            self._save_phase(phase)
            distance = f", mask distance {phase['distances'][-1]:.3f}" if phase["distances"] else ""
            skipped = self.trainer.skipped_steps
            skipped = f", {skipped} steps skipped: gradient not finite" if skipped else ""
            display.line(f"train loss {phase['train_loss']:.4g}{distance}{skipped}")
        display.close()
        record = self._record(level, phase["epochs"], phase["distances"], stopped,
                              phase["train_loss"], phase.get("skipped_steps", 0))
        self._save_level(record)

    def _plateau_schedule(self, phase: dict) -> None:
        """Validate; halve the learning rate after `lr_patience` validations without improvement."""
        loss = self.trainer.validate()["validation_loss"]
        if loss < phase["best_validation"]:
            phase["best_validation"], phase["validations_since_best"] = loss, 0
            return
        phase["validations_since_best"] = self.trainer.plateau_step(phase["validations_since_best"])

    def _next_mask(self) -> PruningMasks:
        search = self.search
        return self.masks.prune(
            self.model, search.prune_fraction, search.unit_aware, search.protect_head
        )

    def _advance_mask(self) -> None:
        """m_{j+1} from the current weights; apply it, rewind if asked, reset the optimizer."""
        new_masks = self._next_mask()
        if self.rewind_state is not None:
            self.model.load_state_dict(self.rewind_state)
        self.enforcer.update(new_masks)
        self.masks = self.enforcer.masks
        self.trainer.reset_optimizer()

    def _restore_level(self, level: int) -> None:
        folder = _level_dir(self.run_dir, level)
        try:
            tensors = load_file(str(folder / "model.leanamp"))
        except Exception as e:
            raise ModelFileError(
                f"{folder / 'model.leanamp'}: unreadable ({e}); delete {folder} to redo the level"
            ) from None
        self.model.load_state_dict(tensors)
        self.enforcer.update(PruningMasks.load(folder / "mask.safetensors"))
        self.masks = self.enforcer.masks
        self.trainer.epoch = self.records[-1]["trainer_epoch"]

    # --- the whole search -----------------------------------------------------------------------
    def run(self, resume: bool = False) -> SearchResult:
        if (self.run_dir / "search.json").exists() and not resume:
            raise LeanampError(
                f"{self.run_dir} already holds a mask search: pass --resume to continue it, or "
                "choose another output folder"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume and (self.run_dir / "search.json").exists():
            saved = json.loads((self.run_dir / "search.json").read_text())
            if saved.get("model") != self.model.config:
                raise LeanampError(
                    f"{self.run_dir} holds a search of a model {saved.get('model')}, not "
                    f"{self.model.config}: use the same model settings or another folder"
                )
            for key in ("prune_fraction", "include_biases", "fully_train_first", "rewind_epoch",
                        "unit_aware", "protect_head"):
                default = SearchConfig.__dataclass_fields__[key].default  # older searches
                before = saved.get("search", {}).get(key, default)
                if before != getattr(self.search, key):
                    raise LeanampError(
                        f"{self.run_dir} was searched with {key}={before}, not "
                        f"{getattr(self.search, key)}: resume with the same setting (only the "
                        "number of iterations and the stopping settings may change)"
                    )
            self.records = load_search(self.run_dir).records
        if self._rewind_path().exists():
            self.rewind_state = load_file(str(self._rewind_path()))
        self._write_search_state("running")
        last = self.search.iterations
        if self.records:
            self._restore_level(len(self.records) - 1)
        for level in range(len(self.records), last + 1):
            self._level_started = time.process_time()
            if level == 0:
                self._prepare_rewind()
                if self.search.fully_train_first:
                    self._pretrain(resume)
                else:
                    self._run_phase(level, resume)
                self._end_rewind_capture()
            else:
                self._advance_mask()
                self._run_phase(level, resume)
            self._write_search_state("running")
        self._phase_path().unlink(missing_ok=True)
        self._write_search_state("finished")
        return SearchResult(self.records, self.run_dir)


def mask_search(
    model: LSTMModel,
    train_clips: list[Clip],
    validation_clips: list[Clip],
    run_dir: str | os.PathLike,
    search: SearchConfig | None = None,
    train: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    metadata: dict | None = None,
) -> SearchResult:
    """Run (or resume) the mask search; every level is saved under `run_dir`."""
    runner = MaskSearch(model, train_clips, validation_clips, run_dir, search, train, progress,
                        metadata)
    return runner.run(resume)


def choose_level(records: list[dict], tolerance: float = 0.1, loss="validation_loss") -> dict:
    """The most pruned record (the last in order) whose `loss` is within (1 + tolerance) x the
    unpruned first record's; the first when none is.

    The paper picks the sparsity from the validation losses of the search (section V-A, Fig. 3):
    the achievable pruning depends on the device, so no fixed level fits all. The last level
    within tolerance is taken, not the one before the first excess: validation losses of short
    searches are noisy, and one unlucky level should not end the choice while deeper levels
    (trained further under their masks) are as good. A NaN loss never counts as within. The same
    rule chooses a structured run's iteration (`loss="validation_esr"`).
    """
    if not records:
        raise LeanampError("no finished levels to choose from: run the mask search first")
    if tolerance < 0:
        raise LeanampError(f"the tolerance must be >= 0, got {tolerance}")
    limit = records[0][loss] * (1.0 + tolerance)
    within = [r for r in records if math.isfinite(r[loss]) and r[loss] <= limit]
    return within[-1] if within else records[0]


@dataclass
class OneShotResult:
    record: dict
    model: LSTMModel
    history: list[dict] = field(default_factory=list)


def one_shot_prune(
    model: LSTMModel,
    sparsity: float,
    train_clips: list[Clip],
    validation_clips: list[Clip],
    epochs: int,
    train: TrainConfig | None = None,
    run_dir: str | os.PathLike | None = None,
    include_biases: bool = False,
    progress: bool = True,
) -> OneShotResult:
    """The baseline: prune a trained model to `sparsity` at once, then retrain under the mask.

    Retraining uses the trainer's recipe (validation, learning-rate drops, early stopping) for at
    most `epochs` epochs; the model is changed in place and returned at its best validation loss.
    """
    if not 0.0 <= sparsity < 1.0:
        raise LeanampError(f"the target sparsity must be within [0, 1), got {sparsity}")
    masks = PruningMasks.full(model, include_biases).prune(model, sparsity)
    trainer = Trainer(model, train_clips, validation_clips, train or TrainConfig(), run_dir,
                      progress=progress)
    enforcer = MaskEnforcer(model, masks).attach(trainer)
    result = trainer.fit(epochs)
    enforcer.masks.apply(model)
    enforcer.detach()
    record = {
        "sparsity": masks.sparsity,
        "effective_hidden_size": effective_hidden_size(model),
        "epochs": result.epochs,
        **trainer.validate(),
    }
    return OneShotResult(record, model, result.history)


def fine_tune_dense(
    model: LSTMModel,
    train_clips: list[Clip],
    validation_clips: list[Clip],
    epochs: int,
    train: TrainConfig | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train a compressed model densely (every weight free again); returns its validation record.

    The best model by validation loss is kept, so fine-tuning never leaves it worse on validation
    than it started: the starting point is validated first and restored if nothing beats it.
    """
    trainer = Trainer(model, train_clips, validation_clips, train or TrainConfig(), run_dir,
                      progress=progress)
    result, record = trainer.fit_keeping_start(epochs, resume=resume)
    return {**record, "epochs": result.epochs}

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch

from leanamp.data import Clip
from leanamp.errors import LeanampError
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig, Trainer, evaluate

RATE = 8000


def toy_device(x: np.ndarray) -> np.ndarray:
    b, a = ss.butter(1, 1500 / (RATE / 2))
    return (0.5 * np.tanh(4 * ss.lfilter(b, a, x))).astype(np.float32)


@pytest.fixture
def clips():
    rng = np.random.default_rng(0)
    x = ss.lfilter(*ss.butter(2, 1000 / (RATE / 2)), rng.standard_normal(RATE * 6)).astype(
        np.float32
    )
    y = toy_device(x)
    return (
        [Clip("train", x[: RATE * 4], y[: RATE * 4], RATE)],
        [Clip("val", x[RATE * 4 : RATE * 5], y[RATE * 4 : RATE * 5], RATE)],
        [Clip("test", x[RATE * 5 :], y[RATE * 5 :], RATE)],
    )


def small_config(**overrides) -> TrainConfig:
    values = dict(
        segment_seconds=0.25,
        batch_size=4,
        warmup_samples=200,
        tbptt_samples=512,
        learning_rate=5e-3,
        validate_every=2,
        max_epochs=6,
        accelerator="cpu",
    )
    values.update(overrides)
    return TrainConfig(**values)


def fresh_model() -> LSTMModel:
    torch.manual_seed(0)
    return LSTMModel(hidden_size=6)


def test_training_reduces_validation_loss_and_saves_the_best(clips, tmp_path):
    train, val, test = clips
    model = fresh_model()
    before = evaluate(model, test).overall
    trainer = Trainer(model, train, val, small_config(max_epochs=8), tmp_path, progress=False)
    result = trainer.fit()
    assert result.epochs == 8
    losses = [r["validation_loss"] for r in result.history if "validation_loss" in r]
    assert losses[-1] < losses[0]
    assert evaluate(model, test).overall < before
    assert (tmp_path / "best.leanamp").exists() and (tmp_path / "history.json").exists()


class Killed(Exception):
    pass


def test_resume_after_kill_gives_the_uninterrupted_result(clips, tmp_path):
    train, val, _ = clips
    reference = fresh_model()
    Trainer(reference, train, val, small_config(), tmp_path / "a", progress=False).fit()

    interrupted = fresh_model()
    trainer = Trainer(interrupted, train, val, small_config(), tmp_path / "b", progress=False)
    steps = []

    def kill_in_epoch_five(model):
        steps.append(1)
        if trainer.epoch == 4 and len(steps) > 2:  # mid-epoch, after the epoch-4 checkpoint
            raise Killed

    trainer.after_step_hooks.append(kill_in_epoch_five)
    with pytest.raises(Killed):
        trainer.fit()

    resumed = LSTMModel(hidden_size=6)  # different init: everything must come from the checkpoint
    result = Trainer(resumed, train, val, small_config(), tmp_path / "b", progress=False).fit(
        resume=True
    )
    assert result.epochs == 6
    for name, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_a_checkpoint_from_before_the_state_buffers_resumes(clips, tmp_path):
    """Runs killed under older versions saved LSTM weights without initial_hidden/initial_cell."""
    train, val, _ = clips
    trainer = Trainer(fresh_model(), train, val, small_config(), tmp_path, progress=False)
    steps = []

    def kill_in_epoch_three(model):
        steps.append(1)
        if trainer.epoch == 2 and len(steps) > 2:
            raise Killed

    trainer.after_step_hooks.append(kill_in_epoch_three)
    with pytest.raises(Killed):
        trainer.fit()
    checkpoint = tmp_path / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=True)
    state["model"] = {k: v for k, v in state["model"].items() if not k.startswith("initial_")}
    torch.save(state, checkpoint)
    resumed = LSTMModel(hidden_size=6)
    result = Trainer(resumed, train, val, small_config(), tmp_path, progress=False).fit(resume=True)
    assert result.epochs == 6 and not resumed.initial_hidden.any()


def test_a_finished_run_is_not_redone(clips, tmp_path):
    train, val, _ = clips
    Trainer(fresh_model(), train, val, small_config(max_epochs=2), tmp_path, progress=False).fit()
    stamp = (tmp_path / "checkpoint.pt").stat().st_mtime_ns
    trainer = Trainer(
        LSTMModel(6), train, val, small_config(max_epochs=2), tmp_path, progress=False
    )
    trainer.after_step_hooks.append(lambda m: pytest.fail("a finished run trained again"))
    result = trainer.fit(resume=True)
    assert result.epochs == 2
    assert (tmp_path / "checkpoint.pt").stat().st_mtime_ns == stamp


def test_an_existing_run_needs_resume(clips, tmp_path):
    train, val, _ = clips
    Trainer(fresh_model(), train, val, small_config(max_epochs=2), tmp_path, progress=False).fit()
    with pytest.raises(LeanampError, match="--resume"):
        Trainer(fresh_model(), train, val, small_config(), tmp_path, progress=False).fit()


def test_seeded_runs_are_reproducible(clips):
    train, val, _ = clips
    a, b = fresh_model(), fresh_model()
    for m in (a, b):
        Trainer(m, train, val, small_config(max_epochs=2), progress=False).fit()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_learning_rate_halves_after_patience_validations(clips):
    train, val, _ = clips
    trainer = Trainer(fresh_model(), train, val, small_config(lr_patience=3), progress=False)
    lr0 = trainer.learning_rate
    for loss in [1.0, 0.9, 0.95, 0.95, 0.95]:  # best at 0.9, then three without improvement
        trainer.after_validation({"validation_loss": loss, "validation_esr": loss})
    assert trainer.learning_rate == pytest.approx(lr0 / 2)
    trainer.after_validation({"validation_loss": 0.5, "validation_esr": 0.5})
    assert trainer.learning_rate == pytest.approx(lr0 / 2)


def test_nam_recipe_is_nams_trainer(clips):
    # NAM: the per-epoch decay is its only schedule, it validates every epoch, keeps the model of
    # the best validation ESR, never stops early and trains every output sample.
    config = TrainConfig.recipe("nam")
    assert (config.lr_decay, config.lr_patience, config.validate_every) == (0.993, None, 1)
    assert (config.validation_metric, config.early_stop_patience) == ("esr", None)
    assert config.overlap_segments and config.max_epochs == 100
    train, val, _ = clips
    config = TrainConfig.recipe("nam", loss="paper", segment_seconds=0.25, warmup_samples=200,
                                accelerator="cpu")  # fmt: skip
    trainer = Trainer(fresh_model(), train, val, config, progress=False)
    lr0 = trainer.learning_rate
    for loss in [1.0, *[1.5] * 30]:  # thirty validations without improvement
        trainer.after_validation({"validation_loss": loss, "validation_esr": loss})
    assert trainer.learning_rate == lr0
    # 4 s of training audio in 0.25 s segments that overlap by the 200 warm-up samples
    assert len(trainer.targets) == (4 * RATE - 2000) // (2000 - 200) + 1


def test_the_best_model_is_chosen_by_the_validation_metric(clips):
    train, val, _ = clips
    by_esr = Trainer(fresh_model(), train, val, small_config(validation_metric="esr"),
                     progress=False)  # fmt: skip
    by_loss = Trainer(fresh_model(), train, val, small_config(), progress=False)
    for trainer in (by_esr, by_loss):
        trainer.epoch = 2
        trainer.after_validation({"validation_loss": 0.5, "validation_esr": 0.2})
        trainer.epoch = 4  # a lower loss, a higher ESR
        trainer.after_validation({"validation_loss": 0.4, "validation_esr": 0.3})
    assert (by_esr.best_epoch, by_esr.best_loss) == (2, 0.2)
    assert (by_loss.best_epoch, by_loss.best_loss) == (4, 0.4)
    with pytest.raises(LeanampError, match="validation_metric"):
        small_config(validation_metric="mse")


def test_truncated_bptt_updates_every_tbptt_samples(clips):
    train, val, _ = clips
    config = small_config(max_epochs=1, batch_size=100)  # one batch of all 16 segments
    trainer = Trainer(fresh_model(), train, val, config, progress=False)
    steps = []
    trainer.after_step_hooks.append(lambda m: steps.append(1))
    trainer.train_epoch()
    segment = int(0.25 * RATE)
    assert len(steps) == -(-(segment - 200) // 512)


def test_knob_channels_must_match_the_model(clips):
    train, val, _ = clips
    with pytest.raises(LeanampError, match="1 input channels"):
        Trainer(LSTMModel(4, input_size=2), train, val, small_config(), progress=False)


def test_gradient_clipping_bounds_every_update(clips):
    train, val, _ = clips
    trainer = Trainer(fresh_model(), train, val, small_config(grad_clip=0.01), progress=False)
    norms = []

    def record(model):
        grads = [p.grad.flatten() for p in model.parameters() if p.grad is not None]
        norms.append(torch.cat(grads).norm().item())

    trainer.after_step_hooks.append(record)
    trainer.train_epoch()
    assert norms and max(norms) <= 0.01 + 1e-6


@pytest.mark.parametrize("grad_clip", [1.0, None])
def test_a_step_whose_gradient_is_not_finite_is_skipped_and_counted(clips, grad_clip):
    train, val, _ = clips
    trainer = Trainer(fresh_model(), train, val, small_config(max_epochs=2, grad_clip=grad_clip),
                      progress=False)  # fmt: skip
    finite_loss, steps_tried, steps_taken = trainer.loss_fn, [], []

    def overflowing_every_other_step(prediction, target):  # as an exploding BPTT gradient does
        loss = finite_loss(prediction, target)
        if not torch.is_grad_enabled():  # validation
            return loss
        steps_tried.append(1)
        return loss * math.inf if len(steps_tried) % 2 else loss

    trainer.loss_fn = overflowing_every_other_step
    trainer.after_step_hooks.append(lambda m: steps_taken.append(1))
    result = trainer.fit()
    per_epoch = len(steps_tried) // 2
    assert per_epoch > 0 and len(steps_taken) == len(steps_tried) // 2
    assert [r.get("skipped_steps") for r in result.history] == [per_epoch // 2] * 2
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert math.isfinite(result.best_validation_loss)


def test_recipes():
    quick = TrainConfig.recipe("quick", max_minutes=2)
    assert (quick.learning_rate, quick.batch_size, quick.grad_clip) == (5e-3, 8, 1.0)
    assert quick.max_minutes == 2 and TrainConfig.recipe("paper") == TrainConfig()
    with pytest.raises(LeanampError, match="recipe"):
        TrainConfig.recipe("fast")


def test_nam_recipe_decays_the_learning_rate_every_epoch(clips):
    train, val, _ = clips
    config = TrainConfig.recipe("nam", max_epochs=2, segment_seconds=0.6, warmup_samples=200,
                                tbptt_samples=10_000,  # the STFT term needs long chunks
                                accelerator="cpu", validate_every=1)
    trainer = Trainer(fresh_model(), train, val, config, progress=False)
    trainer.fit()
    assert trainer.learning_rate == pytest.approx(4e-3 * 0.993**2)
    assert type(trainer.loss_fn).__name__ == "NAMLoss"


def test_a_cpu_time_budget_stops_on_the_process_clock(clips, monkeypatch):
    import itertools

    import leanamp.train as train_module

    # A fake CPU clock that advances 40 s per reading: the 1-minute budget runs out at the second
    # validation whatever the wall clock says.
    readings = itertools.count(0.0, 40.0)
    monkeypatch.setitem(train_module.BUDGET_CLOCKS, "cpu", lambda: next(readings))
    train, val, _ = clips
    config = small_config(validate_every=1, max_epochs=50, max_minutes=1, budget_clock="cpu")
    result = Trainer(fresh_model(), train, val, config, progress=False).fit()
    assert (result.epochs, result.stopped_because) == (2, "time")
    assert result.budget_seconds == pytest.approx(120.0)
    with pytest.raises(LeanampError, match="--budget-clock"):
        small_config(budget_clock="gpu")


def test_a_resumed_run_goes_on_with_the_budget_its_earlier_attempts_spent(
    clips, tmp_path, monkeypatch
):
    """A run killed and resumed in a new process (whose CPU clock starts again) stops where the
    uninterrupted run stops, not one whole budget later."""
    import leanamp.train as train_module

    train, val, _ = clips
    now = {"t": 0.0}  # a CPU clock that advances 1 s per training step
    monkeypatch.setitem(train_module.BUDGET_CLOCKS, "cpu", lambda: now["t"])

    def tick(model):
        now["t"] += 1.0

    config = small_config(validate_every=1, max_epochs=50, max_minutes=1.5, budget_clock="cpu")
    reference = Trainer(fresh_model(), train, val, config, tmp_path / "a", progress=False)
    reference.after_step_hooks.append(tick)
    expected = reference.fit()
    assert expected.stopped_because == "time" and expected.epochs >= 3

    now["t"] = 0.0
    trainer = Trainer(fresh_model(), train, val, config, tmp_path / "b", progress=False)
    trainer.after_step_hooks.append(tick)

    def kill_in_epoch_two(model):
        if trainer.epoch == 1:
            raise Killed

    trainer.after_step_hooks.append(kill_in_epoch_two)
    with pytest.raises(Killed):
        trainer.fit()
    now["t"] = 0.0  # the new process
    resumed = Trainer(fresh_model(), train, val, config, tmp_path / "b", progress=False)
    resumed.after_step_hooks.append(tick)
    result = resumed.fit(resume=True)
    assert (result.epochs, result.stopped_because) == (expected.epochs, "time")
    assert result.budget_seconds == pytest.approx(expected.budget_seconds)

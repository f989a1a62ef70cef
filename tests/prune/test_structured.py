import json

import numpy as np
import pytest
import torch

from leanamp.data import Clip
from leanamp.errors import LeanampError
from leanamp.formats.native import load_model
from leanamp.models import LSTMModel
from leanamp.models.wavenet import WaveNet
from leanamp.prune.structured import (
    MICROCONTROLLER,
    RASPBERRY_PI,
    StructuredConfig,
    _train,
    macs_per_sample,
    mask_units,
    memory_bytes,
    normalize_scores,
    resources,
    score_units,
    select_units,
    structured_prune,
    trim,
    unit_groups,
)
from leanamp.runtime.wavenet import StreamingWaveNet
from leanamp.train import Trainer, TrainingInterrupted

RATE = 8000


def lively_lstm(hidden: int = 12, input_size: int = 1, seed: int = 0) -> LSTMModel:
    torch.manual_seed(seed)
    model = LSTMModel(hidden, input_size=input_size)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # larger than the init: a strongly nonlinear, recurrent network
    return model.eval()


def wavenet_layers(gated: bool, activation: str) -> list[dict]:
    common = {"condition_size": 1, "kernel_size": 3, "activation": activation, "gated": gated}
    return [
        {"input_size": 1, "head_size": 4, "channels": 6, "dilations": [1, 2, 4],
         "head_bias": False, **common},
        {"input_size": 6, "head_size": 1, "channels": 4, "dilations": [8, 1],
         "head_bias": True, **common},
    ]  # fmt: skip


def random_wavenet(gated=False, activation="Tanh", seed=0) -> WaveNet:
    torch.manual_seed(seed)
    model = WaveNet(wavenet_layers(gated, activation))
    model.load_nam_weights(torch.randn(model.num_nam_weights()) * 0.5)
    return model.eval()


def signal(samples: int, channels: int = 1, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(0.5 * rng.standard_normal((1, samples, channels)).astype(np.float32))


def output(model, x):
    with torch.no_grad():
        return model(x)[0][0].numpy()


# ---- trimming is the masked network ----------------------------------------------------------
def test_trimmed_lstm_computes_the_masked_function():
    model = lively_lstm()
    keep = {"lstm": np.zeros(12, dtype=bool)}
    keep["lstm"][[0, 3, 4, 7, 10]] = True
    x = signal(3000)
    masked, small = mask_units(model, keep), trim(model, keep)
    assert small.hidden_size == 5
    np.testing.assert_allclose(output(small, x), output(masked, x), atol=1e-5)
    # The trimmed units mattered: the test compares against a genuinely different function.
    assert np.abs(output(model, x) - output(masked, x)).max() > 1e-2


def test_trimming_keeps_the_initial_state_of_the_kept_units():
    model = lively_lstm()
    rng = np.random.default_rng(3)
    model.set_start_state(rng.uniform(-0.5, 0.5, (1, 12)), rng.uniform(-1, 1, (1, 12)))
    keep = {"lstm": np.zeros(12, dtype=bool)}
    keep["lstm"][[1, 2, 5, 8]] = True
    masked, small = mask_units(model, keep), trim(model, keep)
    assert torch.equal(small.initial_hidden, model.initial_hidden[:, [1, 2, 5, 8]])
    assert not masked.initial_hidden[:, ~keep["lstm"]].any()
    x = signal(2000)
    np.testing.assert_allclose(output(small, x), output(masked, x), atol=1e-5)


@pytest.mark.parametrize(
    ("gated", "activation"), [(False, "Tanh"), (True, "Tanh"), (False, "Sigmoid")]
)
def test_trimmed_wavenet_computes_the_masked_function(gated, activation):
    # Sigmoid(0) = 0.5: a masked channel still "fires", so exactness needs its outgoing weights
    # masked too; gated layers must drop a channel's primary and gate rows together.
    model = random_wavenet(gated, activation)
    keep = {"array0": np.array([1, 0, 1, 1, 0, 1], bool), "array1": np.array([0, 1, 1, 0], bool)}
    x = signal(600)
    masked, small = mask_units(model, keep), trim(model, keep)
    assert small.channels == (4, 2)
    np.testing.assert_allclose(output(small, x), output(masked, x), atol=1e-5)
    assert np.abs(output(model, x) - output(masked, x)).max() > 1e-3


def test_trimming_twice_equals_trimming_once_with_composed_indices():
    model = lively_lstm()
    first = {"lstm": np.arange(12) % 3 != 0}  # keeps 8
    second = {"lstm": np.array([1, 0, 1, 1, 0, 1, 1, 1], bool)}
    once = np.flatnonzero(first["lstm"])[second["lstm"]]
    direct = {"lstm": np.isin(np.arange(12), once)}
    twice = trim(trim(model, first), second)
    x = signal(1000)
    np.testing.assert_allclose(output(twice, x), output(trim(model, direct), x), atol=1e-6)


def test_bad_models_and_keeps_raise():
    with pytest.raises(LeanampError, match="single-layer"):
        unit_groups(LSTMModel(4, num_layers=2))
    with pytest.raises(LeanampError, match="at least one"):
        trim(lively_lstm(4), {"lstm": np.zeros(4, dtype=bool)})
    with pytest.raises(LeanampError, match="groups"):
        trim(lively_lstm(4), {"other": np.ones(4, dtype=bool)})


# ---- selection ------------------------------------------------------------------------------
def test_global_selection_normalises_per_layer_then_pools():
    scores = {"a": np.array([1.0, 2, 4, 8]), "b": np.array([88.0, 120, 130, 400])}
    # Normalised: a = .125 .25 .5 1, b = .22 .3 .325 1: the lowest four pooled are a0 b0 a1 b1.
    keep = select_units(scores, 0.5, "global")
    assert keep["a"].tolist() == [False, False, True, True]
    assert keep["b"].tolist() == [False, False, True, True]
    # Rescaling one layer changes nothing (raw pooling would trim layer a first).
    rescaled = select_units({"a": scores["a"] * 1e-3, "b": scores["b"]}, 0.5, "global")
    assert all((rescaled[g] == keep[g]).all() for g in keep)
    np.testing.assert_allclose(normalize_scores(scores)["b"], scores["b"] / 400)


def test_global_selection_can_trim_layers_unevenly_and_keeps_one_per_layer():
    scores = {"a": np.array([0.1, 0.1, 0.1, 1.0]), "b": np.array([0.9, 0.95, 1.0, 1.0])}
    keep = select_units(scores, 0.375, "global")  # 3 of 8, all from layer a
    assert keep["a"].tolist() == [False, False, False, True] and keep["b"].all()
    keep = select_units({"a": np.zeros(3), "b": np.ones(3)}, 0.9, "global")
    assert keep["a"].sum() == 1 and keep["b"].sum() == 1


def test_local_selection_trims_the_same_share_of_every_layer():
    scores = {"a": np.array([0.1, 0.1, 0.1, 1.0]), "b": np.array([0.9, 0.95, 1.0, 1.0])}
    keep = select_units(scores, 0.25, "local")
    assert keep["a"].tolist() == [False, True, True, True]
    assert keep["b"].tolist() == [False, True, True, True]


def test_selection_rejects_bad_input():
    with pytest.raises(LeanampError, match="selection"):
        select_units({"a": np.ones(2)}, 0.5, "everywhere")
    with pytest.raises(LeanampError, match="non-negative"):
        select_units({"a": np.array([1.0, -1.0])}, 0.5)


# ---- criteria on networks where the right unit to trim is known -----------------------------
WEAK = 2


def constructed_lstm() -> LSTMModel:
    """Four units on two inputs (audio, and an independent noise channel). Units 0, 1, 3 read
    the audio only and drive the head; unit 2 is adjusted per test."""
    model = lively_lstm(4, input_size=2, seed=3)
    model.residual = False
    with torch.no_grad():
        rows = [g * 4 + WEAK for g in range(4)]
        model.lstm.weight_ih_l0[:, 1] = 0
        model.lstm.weight_hh_l0[:, WEAK] = 0
        model.lstm.weight_hh_l0[rows] = 0
    return model


def probe_clips(model) -> list[Clip]:
    rng = np.random.default_rng(5)
    x = (0.5 * rng.standard_normal((RATE, 2))).astype(np.float32)
    with torch.no_grad():
        target = model(torch.from_numpy(x)[None])[0][0].numpy() * 0.8
    return [Clip("val", x, target.astype(np.float32), RATE)]


def scores_of(model, criterion, **options):
    clips = probe_clips(model)
    return score_units(model, criterion, clips, probe_seconds=0.5, segments=4, **options)["lstm"]


def test_magnitude_picks_the_unit_with_the_smallest_weights():
    model = constructed_lstm()
    with torch.no_grad():
        for t in (model.lstm.weight_ih_l0, model.lstm.bias_ih_l0, model.lstm.bias_hh_l0):
            t[[g * 4 + WEAK for g in range(4)]] *= 0.01
        model.head.weight[:, WEAK] *= 0.01
    scores = scores_of(model, "magnitude")
    assert np.argmin(scores) == WEAK


def test_activation_picks_the_silent_unit_even_with_a_large_head_weight():
    model = constructed_lstm()
    with torch.no_grad():
        rows = [g * 4 + WEAK for g in range(4)]
        for t in (model.lstm.weight_ih_l0, model.lstm.bias_ih_l0, model.lstm.bias_hh_l0):
            t[rows] = 0  # c stays 0, so h = 0 at every step
        model.head.weight[:, WEAK] = 10.0
    activation = scores_of(model, "activation")
    assert activation[WEAK] == 0 and (np.delete(activation, WEAK) > 0).all()
    assert np.argmin(scores_of(model, "magnitude")) != WEAK  # the magnitude would keep it


def test_gradient_picks_the_unit_without_a_path_to_the_output():
    model = constructed_lstm()
    with torch.no_grad():
        model.head.weight[:, WEAK] = 0  # active (it reads the audio) but reaches nothing
    gradient = scores_of(model, "gradient")
    assert gradient[WEAK] == 0 and (np.delete(gradient, WEAK) > 0).all()
    assert scores_of(model, "activation")[WEAK] > 0  # the activation would keep it


@pytest.mark.parametrize("target", ["output", "input"])
def test_mutual_information_picks_the_unit_reading_independent_noise(target):
    model = constructed_lstm()
    with torch.no_grad():
        rows = [g * 4 + WEAK for g in range(4)]
        model.lstm.weight_ih_l0[rows, 0] = 0
        model.lstm.weight_ih_l0[rows, 1] = 3.0  # unit 2 follows the noise channel only
        model.head.weight[:, WEAK] = 0
    mi = scores_of(model, "mutual_information", mi_target=target)
    assert np.argmin(mi) == WEAK
    assert mi[WEAK] < 0.01 and np.delete(mi, WEAK).min() > 0.05


def test_wavenet_criteria_find_the_channel_that_reaches_nothing():
    model = random_wavenet()
    with torch.no_grad():
        arr = model.arrays[0]
        arr.head_rechannel.weight[:, WEAK] = 0
        model.arrays[1].rechannel.weight[:, WEAK] = 0
        for conv, one in zip(arr.convs, arr.one_by_ones, strict=True):
            conv.weight[:, WEAK] = 0
            one.weight[:, WEAK] = 0
    rng = np.random.default_rng(0)
    x = (0.5 * rng.standard_normal((4000, 1))).astype(np.float32)
    clips = [Clip("val", x, output(model, torch.from_numpy(x)[None]), RATE)]
    gradient = score_units(model, "gradient", clips, probe_seconds=0.25, segments=2)
    assert gradient["array0"][WEAK] == 0 and (np.delete(gradient["array0"], WEAK) > 0).all()
    assert (gradient["array1"] > 0).all()
    keep = select_units(gradient, 0.1, "global")  # one unit of ten
    assert not keep["array0"][WEAK] and keep["array0"].sum() == 5 and keep["array1"].all()
    for criterion in ("magnitude", "activation", "mutual_information"):
        scores = score_units(model, criterion, clips, probe_seconds=0.25, segments=2)
        assert {g: s.shape for g, s in scores.items()} == {"array0": (6,), "array1": (4,)}
        assert all((s >= 0).all() for s in scores.values())


# ---- resources --------------------------------------------------------------------------------
def test_macs_and_memory():
    model = LSTMModel(20)
    assert macs_per_sample(model) == 4 * 20 * 21 + 20
    params = sum(p.numel() for p in model.parameters())
    assert memory_bytes(model) == 4 * (params + 40)
    wavenet = random_wavenet(gated=True)
    # Same count as the streaming kernel's own bookkeeping.
    assert macs_per_sample(wavenet) == StreamingWaveNet.from_model(wavenet).macs_per_sample


def test_budget_flags():
    small = resources(LSTMModel(16), measure_rtf=False)
    assert small["fits"] == {MICROCONTROLLER.name: True, RASPBERRY_PI.name: True}
    large = resources(LSTMModel(256), measure_rtf=False)  # 4*256*257 + 256 = 263,424 MACs
    assert large["fits"] == {MICROCONTROLLER.name: False, RASPBERRY_PI.name: True}
    assert large["rtf"] is None


# ---- the iterative procedure ------------------------------------------------------------------
@pytest.mark.parametrize("rewind", ["early", "finetune", "reinit"])
def test_structured_prune_trims_and_retrains(tmp_path, clips, small_config, rewind):
    train, val = clips
    torch.manual_seed(0)
    config = StructuredConfig(
        criterion="magnitude", fraction=0.25, iterations=2, rewind=rewind, rewind_epoch=1,
        pretrain_epochs=2, epochs_per_iteration=1, measure_rtf=False, probe_seconds=0.2,
    )  # fmt: skip
    result = structured_prune(
        LSTMModel(8), train, val, config, small_config(), run_dir=tmp_path
    )
    assert [r["units"]["lstm"] for r in result.records] == [8, 6, 4]
    assert [m.hidden_size for m in result.models] == [8, 6, 4]
    assert all(np.isfinite(r["validation_esr"]) for r in result.records)
    saved, meta = load_model(tmp_path / "iteration_02" / "model.leanamp")
    assert saved.hidden_size == 4 and meta["structured"]["iteration"] == 2
    summary = json.loads((tmp_path / "structured.json").read_text())
    assert summary["config"]["rewind"] == rewind and len(summary["records"]) == 3


@pytest.mark.parametrize("rewind", ["early", "finetune"])
def test_a_killed_structured_search_resumes_where_it_stopped(tmp_path, clips, small_config,
                                                             training_epochs, rewind):
    """Killed in the second retraining, started again: the finished levels are not redone and
    the result is the uninterrupted search's (every training checkpoints, the kept units and the
    early snapshot are on disk)."""
    train, val = clips
    config = StructuredConfig(
        criterion="magnitude", fraction=0.25, iterations=2, rewind=rewind, rewind_epoch=1,
        pretrain_epochs=2, epochs_per_iteration=2, measure_rtf=False, probe_seconds=0.2,
    )  # fmt: skip

    def search(folder):
        torch.manual_seed(0)
        return structured_prune(LSTMModel(8), train, val, config, small_config(), run_dir=folder)

    whole = search(tmp_path / "whole")
    training_epochs.kill_at = "retrain after trim 2"
    with pytest.raises(TrainingInterrupted):
        search(tmp_path / "killed")
    training_epochs.kill_at = None
    training_epochs.stages.clear()
    resumed = search(tmp_path / "killed")
    assert set(training_epochs.stages) == {"retrain after trim 2/2"}  # the rest is not redone
    assert [r["units"] for r in resumed.records] == [r["units"] for r in whole.records]
    assert [r["kept"] for r in resumed.records] == [r["kept"] for r in whole.records]
    for a, b in zip(resumed.models, whole.models, strict=True):
        for key, value in a.state_dict().items():
            torch.testing.assert_close(value, b.state_dict()[key])
    other = StructuredConfig(**{**config.__dict__, "fraction": 0.5})
    with pytest.raises(LeanampError, match="other settings"):
        structured_prune(LSTMModel(8), train, val, other, small_config(),
                         run_dir=tmp_path / "killed")


def test_structured_training_stops_early_and_on_its_budget(clips, small_config, monkeypatch):
    """Its trainings follow the recipe's convergence rule: `pretrain_epochs` is a maximum, the
    run stops after `early_stop_patience` validations without improvement or past max_minutes."""
    train, val = clips
    epochs = []
    original = Trainer.train_epoch

    def counted(self):
        epochs.append(1)
        return original(self)

    monkeypatch.setattr(Trainer, "train_epoch", counted)
    # A validation loss that never improves after the first epoch.
    monkeypatch.setattr(
        Trainer, "validate", lambda self: {"validation_loss": 1.0, "validation_esr": 1.0}
    )
    config = StructuredConfig(
        iterations=1, pretrain_epochs=50, epochs_per_iteration=0, measure_rtf=False,
        probe_seconds=0.2,
    )  # fmt: skip
    structured_prune(LSTMModel(4), train, val, config, small_config(early_stop_patience=2))
    assert len(epochs) == 3
    epochs.clear()
    # Patience counts validations, as in a dense run: validating every 2nd epoch doubles it.
    every_2nd = small_config(early_stop_patience=2, validate_every=2)
    structured_prune(LSTMModel(4), train, val, config, every_2nd)
    assert len(epochs) == 6
    epochs.clear()
    no_time = small_config(max_minutes=1e-9, early_stop_patience=None)
    structured_prune(LSTMModel(4), train, val, config, no_time)
    assert len(epochs) == 1


def test_a_retraining_that_only_does_harm_gives_the_start_back(clips, small_config, monkeypatch):
    train, val = clips
    # Validation loss grows with every epoch trained: the untrained start is the best model.
    monkeypatch.setattr(
        Trainer, "validate",
        lambda self: {"validation_loss": 1.0 + self.epoch, "validation_esr": 0.5 + self.epoch},
    )  # fmt: skip
    model = LSTMModel(4)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    best_esr, snapshot = _train(model, train, val, small_config(), epochs=3, snapshot_epoch=2)
    assert best_esr == 0.5
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())
    assert snapshot is not None and not torch.equal(snapshot["lstm.weight_hh_l0"],
                                                    start["lstm.weight_hh_l0"])  # fmt: skip


def test_config_rejects_bad_values():
    with pytest.raises(LeanampError, match="criterion"):
        StructuredConfig(criterion="luck")
    with pytest.raises(LeanampError, match="rewind-epoch"):
        StructuredConfig(rewind="early", rewind_epoch=5, pretrain_epochs=2)


@pytest.mark.parametrize("rewind", ["early", "finetune", "reinit"])
def test_rewinding_sets_the_kept_units_to_the_chosen_weights(clips, small_config, rewind):
    # No retraining after the trim: the trimmed model's weights are exactly what the rewind gives.
    train, val = clips
    torch.manual_seed(0)
    initial = LSTMModel(8)
    model = LSTMModel(8)
    model.load_state_dict(initial.state_dict())
    config = StructuredConfig(
        criterion="magnitude", fraction=0.25, iterations=1, rewind=rewind, rewind_epoch=0,
        pretrain_epochs=2, epochs_per_iteration=0, measure_rtf=False,
    )  # fmt: skip
    result = structured_prune(model, train, val, config, small_config())
    trained, trimmed = result.models
    keep = select_units(score_units(trained, "magnitude"), 0.25)
    expected = {"early": trim(initial, keep), "finetune": trim(trained, keep)}.get(rewind)
    weights = trimmed.lstm.weight_hh_l0
    if expected is None:
        assert weights.shape == (24, 6)
        for other in (trim(initial, keep), trim(trained, keep)):
            assert not torch.allclose(weights, other.lstm.weight_hh_l0)
    else:
        for a, b in zip(trimmed.parameters(), expected.parameters(), strict=True):
            assert torch.equal(a, b)


def test_the_scoring_forwards_are_the_models_own():
    # The gradient criterion runs its own unrolled forwards; they must compute the model.
    from leanamp.prune.structured import _lstm_unroll, _wavenet_run

    lstm = lively_lstm(6)
    x = signal(500)
    with torch.no_grad():
        np.testing.assert_allclose(_lstm_unroll(lstm, x, False)[0][0].numpy(), output(lstm, x),
                                   atol=1e-5)  # fmt: skip
        for gated in (False, True):
            wavenet = random_wavenet(gated)
            np.testing.assert_allclose(_wavenet_run(wavenet, x, False)[0][0].numpy(),
                                       output(wavenet, x), atol=1e-6)  # fmt: skip

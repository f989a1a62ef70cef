"""Slimmable training: width sampling, per-batch truncation, evaluation per width, NAM's loss."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.signal as ss
import torch
from auraloss.freq import MultiResolutionSTFTLoss

from leanamp.data import Clip
from leanamp.losses import NAMLoss, nam_pre_emphasis
from leanamp.models.slim import (
    container_submodels,
    make_slimmable,
    slimmable_layers,
)
from leanamp.models.wavenet import WaveNet, preset
from leanamp.models.widths import WidthSampler
from leanamp.train import TrainConfig, Trainer, evaluate, evaluate_by_width

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def tiny_layers() -> list[dict]:
    common = {"condition_size": 1, "kernel_size": 3, "activation": "Tanh", "gated": False}
    return [
        {"input_size": 1, "head_size": 2, "channels": 4, "dilations": [1, 2, 4],
         "head_bias": False, **common},
        {"input_size": 4, "head_size": 1, "channels": 2, "dilations": [1, 2],
         "head_bias": True, **common},
    ]  # fmt: skip


def tiny_slimmable(seed: int = 0, allowed=None) -> WaveNet:
    torch.manual_seed(seed)
    return WaveNet(slimmable_layers(tiny_layers(), allowed))


def test_sampler_is_uniform_over_the_widths_and_records_every_draw():
    sampler = WidthSampler(range(1, 17))
    rng = np.random.default_rng(0)
    draws = [sampler.draw(rng) for _ in range(4800)]
    assert sampler.history == draws
    counts = np.array(list(sampler.counts().values()))
    # chi-square with 15 degrees of freedom; 37.7 is its 0.999 quantile
    chi2 = ((counts - 300) ** 2 / 300).sum()
    assert chi2 < 37.7 and counts.min() > 0


def test_sampler_respects_an_allowed_set():
    sampler = WidthSampler([2, 5, 8])
    rng = np.random.default_rng(1)
    assert {sampler.draw(rng) for _ in range(200)} == {2, 5, 8}
    with pytest.raises(ValueError):
        WidthSampler([0, 3])


def test_slimmable_layers_write_nams_marker_with_per_array_widths():
    layers = slimmable_layers(preset("standard"), allowed_channels=[4, 8, 16])
    kwargs = [cfg["slimmable"]["kwargs"]["allowed_channels"] for cfg in layers]
    assert kwargs == [[4, 8, 16], [2, 4, 8]]
    assert all(cfg["slimmable"]["method"] == "slice_channels_uniform" for cfg in layers)
    model = WaveNet(layers)
    assert model.slimmable and model.widths == [4, 8, 16]
    assert model.array_widths(8) == (8, 4)
    with pytest.raises(ValueError, match="allowed_channels"):
        slimmable_layers(preset("standard"), allowed_channels=[4, 8])  # misses the full width


def test_reference_slimmable_nam_file_samples_its_allowed_widths(reference_models):
    import json

    data = json.loads((reference_models / "nam" / "slimmable_wavenet.nam").read_text())
    model = WaveNet(data["config"]["layers"], head_scale=data["config"]["head_scale"])
    assert model.slimmable and model.widths == [1, 2, 3]
    model.train()
    rng = np.random.default_rng(2)
    for _ in range(30):
        model.on_train_batch_start(rng)
    assert set(model.width_sampler.history) == {1, 2, 3}


def test_each_training_batch_runs_at_the_drawn_width_and_eval_at_the_set_width():
    model = tiny_slimmable(seed=1)
    x = torch.rand(2, 200, 1) * 2 - 1
    model.eval()
    with torch.no_grad():
        full = model(x)[0]
    model.train()
    rng = np.random.default_rng(3)
    for _ in range(12):
        model.on_train_batch_start(rng)
        width = model.width_sampler.history[-1]
        with torch.no_grad():
            torch.testing.assert_close(model(x)[0], model.sliced(width).eval()(x)[0])
    assert len(set(model.width_sampler.history)) > 1
    model.eval()  # evaluation never sees the last drawn width
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], full)
        model.set_width(2)
        torch.testing.assert_close(model(x)[0], model.sliced(2)(x)[0])


def test_a_plain_model_trains_at_full_width():
    torch.manual_seed(0)
    model = WaveNet(tiny_layers()).train()
    assert model.width_sampler is None
    model.on_train_batch_start(np.random.default_rng(0))
    assert model.width == (4, 2)


def test_a_step_at_a_narrow_width_only_moves_the_first_channels():
    model = tiny_slimmable(seed=2).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(5)
    model.on_train_batch_start(rng)
    while model.width_sampler.history[-1] != 1:
        model.on_train_batch_start(rng)
    y, _ = model(torch.rand(2, 100, 1))
    y.pow(2).mean().backward()
    optimizer.step()
    conv = dict(model.named_parameters())["arrays.0.convs.0.weight"]
    old = before["arrays.0.convs.0.weight"]
    assert not torch.equal(conv[:1, :1], old[:1, :1])
    assert torch.equal(conv[1:], old[1:]) and torch.equal(conv[:, 1:], old[:, 1:])


def test_the_trainer_samples_widths_batch_by_batch():
    rate = 8000
    rng = np.random.default_rng(0)
    x = ss.lfilter(*ss.butter(2, 1000 / (rate / 2)), rng.standard_normal(rate * 3))
    x = x.astype(np.float32)
    y = (0.5 * np.tanh(3 * x)).astype(np.float32)
    train = [Clip("train", x[: 2 * rate], y[: 2 * rate], rate)]
    val = [Clip("val", x[2 * rate :], y[2 * rate :], rate)]
    model = tiny_slimmable(seed=3)
    config = TrainConfig(
        segment_seconds=0.1, batch_size=2, learning_rate=4e-3, validate_every=1, max_epochs=1,
        accelerator="cpu", loss="mse",
    )  # fmt: skip
    Trainer(model, train, val, config, progress=False).fit()
    history = model.width_sampler.history
    assert len(history) == 10  # one draw per batch: 20 segments of 800 samples, batches of 2
    assert len(set(history)) >= 3
    # validation (and whatever follows the run) is at the set width, not the last drawn one
    x_val = torch.from_numpy(x[: 2 * rate : 10].copy()).reshape(1, -1, 1)
    assert model.width == (4, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x_val)[0], model.sliced(None).eval()(x_val)[0])


class Killed(Exception):
    pass


def test_a_resumed_slimmable_run_keeps_the_widths_it_trained_before(tmp_path):
    """The grid reports each run's width counts; a killed run resumed must count all its steps."""
    rate = 8000
    x = np.random.default_rng(1).standard_normal(3 * rate).astype(np.float32)
    y = (0.5 * np.tanh(3 * x)).astype(np.float32)
    train, val = [Clip("train", x[: 2 * rate], y[: 2 * rate], rate)], [Clip("val", x, y, rate)]
    config = TrainConfig(segment_seconds=0.1, batch_size=4, max_epochs=3, validate_every=1,
                         accelerator="cpu", loss="mse")  # fmt: skip
    reference = tiny_slimmable(seed=5)
    reference.width_sampler = WidthSampler(reference.widths, "sandwich")
    Trainer(reference, train, val, config, tmp_path / "a", progress=False).fit()

    killed = tiny_slimmable(seed=5)
    killed.width_sampler = WidthSampler(killed.widths, "sandwich")
    trainer = Trainer(killed, train, val, config, tmp_path / "b", progress=False)

    def kill_in_epoch_three(model):
        if trainer.epoch == 2 and len(killed.width_sampler.history) > 44:  # after epoch 2's save
            raise Killed

    trainer.after_step_hooks.append(kill_in_epoch_three)
    with pytest.raises(Killed):
        trainer.fit()
    resumed = tiny_slimmable(seed=5)
    resumed.width_sampler = WidthSampler(resumed.widths, "sandwich")
    Trainer(resumed, train, val, config, tmp_path / "b", progress=False).fit(resume=True)
    assert len(reference.width_sampler.history) == 3 * 5 * 4  # epochs x batches x widths a step
    assert resumed.width_sampler.history == reference.width_sampler.history


def test_evaluate_by_width_for_a_truncated_baseline():
    torch.manual_seed(4)
    model = WaveNet(tiny_layers())
    x = (np.random.default_rng(4).random((300, 1)) * 2 - 1).astype(np.float32)
    with torch.no_grad():
        target = model.eval()(torch.from_numpy(x)[None])[0][0].numpy()
    clips = [Clip("probe", x, target, 8000)]
    model.set_width(3)
    esr = evaluate_by_width(model, clips)
    assert set(esr) == {1, 2, 3, 4}
    assert esr[4] < 1e-12 and min(esr[1], esr[2], esr[3]) > 1e-4
    assert esr[2] == pytest.approx(evaluate(model.sliced(2), clips).overall, rel=1e-5)
    assert model.width == (3, 2)  # restored
    assert list(evaluate_by_width(model, clips, widths=[2])) == [2]


def test_make_slimmable_keeps_the_weights():
    torch.manual_seed(5)
    plain = WaveNet(tiny_layers()).eval()
    slim = make_slimmable(plain, allowed_channels=[2, 4]).eval()
    assert slim.slimmable and slim.widths == [2, 4]
    x = torch.rand(1, 100, 1)
    with torch.no_grad():
        torch.testing.assert_close(slim(x)[0], plain(x)[0])


def test_nam_loss_is_mse_plus_pre_emphasised_mrstft():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, 4096, generator=g)
    prediction = target + 0.1 * torch.randn(2, 4096, generator=g)
    got = NAMLoss()(prediction, target)
    pe = lambda s: (s[:, 1:] - 0.85 * s[:, :-1])[:, None]  # noqa: E731
    expected = torch.mean((prediction - target) ** 2) + 2e-4 * MultiResolutionSTFTLoss()(
        pe(prediction), pe(target)
    )
    torch.testing.assert_close(got, expected)
    mse, stft = NAMLoss().terms(prediction, target)  # the terms apart, as inplace_probe logs them
    torch.testing.assert_close(mse, torch.mean((prediction - target) ** 2))
    torch.testing.assert_close(mse + stft, got)
    assert NAMLoss(mrstft_weight=0).terms(prediction[:, :1000], target[:, :1000])[1] == 0
    assert got > torch.mean((prediction - target) ** 2)
    assert NAMLoss()(target, target) < 1e-6
    assert torch.equal(nam_pre_emphasis(torch.tensor([1.0, 2.0, 0.0])), torch.tensor([1.15, -1.7]))
    with pytest.raises(ValueError, match="at least 2049"):
        NAMLoss()(prediction[:, :1000], target[:, :1000])


def test_container_submodels_are_the_model_sliced_to_each_width():
    model = tiny_slimmable()
    submodels = container_submodels(model, [2, 4])
    assert [value for value, _ in submodels] == [0.5, 1.0]
    assert submodels[0][1].channels == model.sliced(2).channels == (2, 1)
    for bad in ([2, 3], [4, 2], []):
        with pytest.raises(ValueError, match="full width 4"):
            container_submodels(model, bad)


def test_sandwich_steps_train_the_largest_the_smallest_and_random_widths_between():
    rng = np.random.default_rng(0)
    for rule in ("sandwich", "inplace"):
        sampler = WidthSampler(range(1, 9), rule)
        steps = [sampler.draw_step(rng) for _ in range(300)]
        assert all(s[:2] == [8, 1] and len(s) == 4 for s in steps)
        assert {w for s in steps for w in s[2:]} == set(range(2, 8))
        assert len(sampler.history) == 4 * 300
    assert WidthSampler([3, 8], "sandwich").draw_step(rng) == [8, 3]
    uniform = WidthSampler([2, 4], "uniform")
    assert all(len(uniform.draw_step(rng)) == 1 for _ in range(10))
    with pytest.raises(ValueError):
        WidthSampler([2, 4], "random")


def _grad(p: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(p) if p.grad is None else p.grad.clone()


def _step_gradients(rule: str) -> tuple[dict, dict]:
    """Gradients of one trainer step (widths 4 then 1) and of the loss written out by hand."""
    rate = 8000
    rng = np.random.default_rng(2)
    x = rng.standard_normal(rate).astype(np.float32)
    y = (0.5 * np.tanh(3 * x)).astype(np.float32)
    clips = [Clip("c", x, y, rate)]
    model = tiny_slimmable(seed=6)
    model.width_sampler = WidthSampler(model.widths, rule, random_widths=0)
    reference = copy.deepcopy(model).train()
    config = TrainConfig(segment_seconds=0.1, batch_size=2, accelerator="cpu", loss="mse")
    trainer = Trainer(model, clips, clips, config, progress=False)
    trainer._update = lambda: None  # keep the accumulated gradients for inspection
    xb = torch.from_numpy(x[:1600].reshape(2, 800, 1))
    yb = torch.from_numpy(y[:1600].reshape(2, 800))
    model.train()
    passes = model.on_train_batch_start(np.random.default_rng(0))
    assert passes == 2
    trainer._train_batch(xb, yb, passes)
    got = {n: _grad(p) for n, p in model.named_parameters()}
    skip = trainer.skip_samples
    reference.width_sampler = None
    mse = torch.nn.functional.mse_loss
    reference._train_width = reference.array_widths(4)
    full = reference(xb)[0][:, skip:]
    reference._train_width = reference.array_widths(1)
    narrow = reference(xb)[0][:, skip:]
    target = full.detach() if rule == "inplace" else yb[:, skip:]
    (mse(full, yb[:, skip:]) + mse(narrow, target)).backward()
    want = {n: _grad(p) for n, p in reference.named_parameters()}
    return got, want


@pytest.mark.parametrize("rule", ["sandwich", "inplace"])
def test_a_sandwich_step_sums_the_losses_of_its_widths(rule):
    got, want = _step_gradients(rule)
    for name, grad in want.items():
        torch.testing.assert_close(got[name], grad, msg=name)


def test_the_cli_refuses_a_slim_rule_without_slimmable_training(tmp_path, run_cli):
    code, _, err = run_cli([
        "train", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "o"),
        "--architecture", "wavenet", "--slim-rule", "sandwich",
    ])  # fmt: skip
    assert code == 2 and "--slimmable" in err
    code, _, err = run_cli([
        "train", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "o"),
        "--architecture", "wavenet", "--slimmable", "--slim-rule", "biggest",
    ])  # fmt: skip
    assert code == 2 and "uniform, sandwich, inplace" in err


def test_a_slimmable_standard_sliced_to_a_width_is_the_standard_built_at_that_width():
    """Why one price serves both: the fixed WaveNets the slimmable rules are set against
    (preset("standard", channels=w)) are the very models the slimmable one runs as at width w."""
    slimmable = make_slimmable(WaveNet(preset("standard")), [1, 4, 8, 12, 16])
    for width in (1, 4, 8, 12):
        fixed = WaveNet(preset("standard", channels=width))
        assert slimmable.sliced(width).layer_configs == fixed.layer_configs
        assert fixed.channels == (width, max(1, width // 2))
    assert preset("standard", channels=16) == preset("standard")
    with pytest.raises(ValueError, match="at least 1 channel"):
        preset("standard", channels=0)

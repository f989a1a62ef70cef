import pytest
import torch

from leanamp.errors import LeanampError, ModelFileError
from leanamp.models import LSTMModel
from leanamp.prune import MaskEnforcer, PruningMasks, prunable_parameters
from leanamp.train import Trainer


def test_prunable_parameters_are_weights_only_unless_biases_asked():
    model = LSTMModel(hidden_size=4)
    assert sorted(prunable_parameters(model)) == ["head.weight", "lstm.weight_hh_l0",
                                                  "lstm.weight_ih_l0"]
    with_biases = prunable_parameters(model, include_biases=True)
    assert "lstm.bias_ih_l0" in with_biases and "head.bias" in with_biases


def test_pruning_pools_all_tensors_and_removes_the_smallest():
    torch.manual_seed(0)
    model = LSTMModel(hidden_size=6)
    with torch.no_grad():
        model.lstm.weight_hh_l0.mul_(1e-3)  # every recurrent weight smaller than any other weight
        model.lstm.weight_ih_l0.add_(torch.sign(model.lstm.weight_ih_l0))
        model.head.weight.add_(torch.sign(model.head.weight))
    full = PruningMasks.full(model)
    n_hh = model.lstm.weight_hh_l0.numel()
    fraction = 0.5 * n_hh / full.total  # fewer than the recurrent weights: all come from W_hh
    pruned = full.prune(model, fraction)
    removed = full.active - pruned.active
    assert removed == round(fraction * full.total)
    assert bool(pruned.masks["lstm.weight_ih_l0"].all()) and bool(pruned.masks["head.weight"].all())
    assert int((~pruned.masks["lstm.weight_hh_l0"]).sum()) == removed
    # Global magnitude order: every removed weight is at most as large as every kept one.
    params = prunable_parameters(model)
    kept = torch.cat([params[n].abs()[m].flatten() for n, m in pruned])
    gone = torch.cat([params[n].abs()[~m].flatten() for n, m in pruned])
    assert gone.max() <= kept.min()


def test_each_iteration_prunes_the_fraction_of_the_remaining_weights():
    model = LSTMModel(hidden_size=7)
    masks = PruningMasks.full(model)
    for _ in range(4):
        before = masks.active
        new = masks.prune(model, 0.3)
        assert new.active == before - round(0.3 * before)
        for name, mask in new:  # pruned weights never come back
            assert not bool((mask & ~masks.masks[name]).any())
        masks = new
        masks.apply(model)
    assert masks.sparsity == pytest.approx(1 - masks.active / masks.total)
    assert 1 - masks.sparsity == pytest.approx(0.7**4, abs=0.01)


def test_mask_distance_counts_differences_among_the_reference_active_entries():
    a = PruningMasks({"w": torch.tensor([1, 1, 1, 1, 0, 0, 0, 0], dtype=torch.bool)})
    b = PruningMasks({"w": torch.tensor([1, 1, 0, 0, 1, 1, 0, 0], dtype=torch.bool)})
    assert a.distance(b) == pytest.approx(4 / 8)
    assert a.distance(a) == 0.0
    reference = PruningMasks({"w": torch.tensor([1, 1, 1, 1, 1, 1, 0, 0], dtype=torch.bool)})
    assert a.distance(b, reference=reference) == pytest.approx(4 / 6)
    with pytest.raises(LeanampError):
        a.distance(PruningMasks({"v": torch.ones(8, dtype=torch.bool)}))


def test_pruned_weights_stay_exactly_zero_through_training(clips, small_config, fresh_model):
    train, val = clips
    model = fresh_model(hidden_size=6)
    masks = PruningMasks.full(model).prune(model, 0.6)
    before = {n: p.detach().clone() for n, p in prunable_parameters(model).items()}
    trainer = Trainer(model, train, val, small_config(learning_rate=2e-2), progress=False)
    MaskEnforcer(model, masks).attach(trainer)
    trainer.train_epoch()
    trainer.train_epoch()
    for name, param in prunable_parameters(model).items():
        mask = masks.masks[name]
        assert bool((param[~mask] == 0).all()), name
        assert not torch.equal(param[mask], before[name][mask]), name  # the rest did train
        # Adam never saw a gradient for a pruned weight, so it cannot move it.
        state = trainer.optimizer.state[param]
        assert bool((state["exp_avg"][~mask] == 0).all())


def test_detach_frees_the_weights_again(clips, small_config, fresh_model):
    train, val = clips
    model = fresh_model(hidden_size=6)
    masks = PruningMasks.full(model).prune(model, 0.5)
    trainer = Trainer(model, train, val, small_config(), progress=False)
    MaskEnforcer(model, masks).attach(trainer).detach()
    assert trainer.after_step_hooks == []
    trainer.train_epoch()
    w = model.lstm.weight_hh_l0
    assert bool((w[~masks.masks["lstm.weight_hh_l0"]] != 0).any())


def test_mask_file_round_trip_and_bad_files(tmp_path):
    model = LSTMModel(hidden_size=5)
    masks = PruningMasks.full(model).prune(model, 0.4)
    loaded = PruningMasks.load(masks.save(tmp_path / "mask.safetensors"))
    assert all(torch.equal(loaded.masks[n], m) for n, m in masks)
    (tmp_path / "junk.safetensors").write_bytes(b"not a mask")
    with pytest.raises(ModelFileError, match="junk.safetensors"):
        PruningMasks.load(tmp_path / "junk.safetensors")
    with pytest.raises(LeanampError, match="another size"):
        masks.apply(LSTMModel(hidden_size=6))

import json
import math

import numpy as np
import pytest
import torch

from leanamp.errors import LeanampError
from leanamp.formats.native import load_model
from leanamp.models import LSTMModel
from leanamp.prune import (
    PruningMasks,
    SearchConfig,
    choose_level,
    early_bird_stop,
    load_search,
    mask_search,
    one_shot_prune,
)
from leanamp.prune.search import MaskSearch


def test_early_bird_fires_on_the_first_window_of_small_distances():
    distances = [0.6, 0.3, 0.08, 0.2, 0.05, 0.09, 0.04, 0.01]
    fired = [early_bird_stop(distances[:n], window=3, threshold=0.1) for n in range(9)]
    # [0.05, 0.09, 0.04] after 7 distances is the first run of three below 0.1
    assert fired.index(True) == 7
    assert not early_bird_stop([0.01, 0.01], window=3, threshold=0.1)  # too few epochs yet
    assert not early_bird_stop([0.01, 0.01, 0.1], window=3, threshold=0.1)  # strictly below


def test_search_levels_follow_the_schedule_and_early_bird_ends_phases(
    clips, small_config, fresh_model, tmp_path
):
    train, val = clips
    model = fresh_model(hidden_size=8)
    # A threshold above any possible distance: every phase stops after exactly k + 1 epochs
    # (k distances need k + 1 candidate masks), which checks the early-bird wiring.
    search = SearchConfig(iterations=3, prune_fraction=0.4, distance_window=2,
                          distance_threshold=1.01, fully_train_first=False,
                          max_epochs_per_iteration=10)
    result = mask_search(model, train, val, tmp_path, search, small_config(), progress=False)
    assert [r["level"] for r in result.records] == [0, 1, 2, 3]
    previous = None
    for r in result.records:
        assert r["epochs"] == 3 and r["stopped_because"] == "early_bird"
        assert len(r["mask_distances"]) == 2
        assert r["sparsity"] == pytest.approx(search.sparsity(r["level"]), abs=0.01)
        saved, masks = result.load(r["level"])
        assert masks.sparsity == pytest.approx(r["sparsity"])
        for name, mask in masks:
            weights = dict(saved.named_parameters())[name]
            assert bool((weights[~mask] == 0).all())  # the saved model is the masked one
            if previous is not None:
                assert not bool((mask & ~previous.masks[name]).any())  # masks only shrink
        previous = masks
        assert math.isfinite(r["validation_loss"])
    assert json.loads((tmp_path / "search.json").read_text())["status"] == "finished"
    assert not (tmp_path / "phase.pt").exists()
    assert len(load_search(tmp_path).records) == 4
    with pytest.raises(LeanampError, match="--resume"):
        mask_search(fresh_model(8), train, val, tmp_path, search, small_config(), progress=False)


def two_level_search() -> SearchConfig:
    """Level 0 trained first, then two levels of 50%, each phase two epochs (one distance)."""
    return SearchConfig(iterations=2, prune_fraction=0.5, distance_window=1,
                        distance_threshold=1.01, fully_train_first=True, pretrain_epochs=2,
                        max_epochs_per_iteration=5)


def test_each_level_records_the_steps_it_skipped_for_a_gradient_that_was_not_finite(
    clips, small_config, fresh_model, tmp_path
):
    train, val = clips
    search = two_level_search()
    runner = MaskSearch(fresh_model(6), train, val, tmp_path, search, small_config(),
                        progress=False)
    finite_loss, tried = runner.trainer.loss_fn, {}

    def overflowing_every_other_step(prediction, target):  # as an exploding BPTT gradient does
        loss = finite_loss(prediction, target)
        if not torch.is_grad_enabled():  # validation
            return loss
        level = len(runner.records)
        tried[level] = tried.get(level, 0) + 1
        return loss * math.inf if tried[level] % 2 else loss

    runner.trainer.loss_fn = overflowing_every_other_step
    records = runner.run().records
    assert [r["skipped_steps"] for r in records] == [(tried[k] + 1) // 2 for k in range(3)]
    assert all(r["skipped_steps"] > 0 and math.isfinite(r["validation_loss"]) for r in records)


def test_each_phase_halves_the_learning_rate_on_a_validation_plateau(
    clips, small_config, fresh_model, tmp_path
):
    # The paper validates "during all training runs" and halves the rate after five validations
    # without improvement; in the search the count starts again with each phase's reset rate.
    train, val = clips
    search = SearchConfig(iterations=1, prune_fraction=0.5, distance_window=10,
                          fully_train_first=False, max_epochs_per_iteration=5)  # 5 epochs a phase
    runner = MaskSearch(fresh_model(6), train, val, tmp_path, search,
                        small_config(validate_every=1, lr_patience=2), progress=False)
    lr0, seen = runner.trainer.learning_rate, []
    losses = iter([1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 1.0, 0.5, 2.0, 2.0, 2.0, 3.0])

    def validate():
        seen.append(runner.trainer.learning_rate)
        loss = next(losses)
        return {"validation_loss": loss, "validation_esr": loss}

    runner.trainer.validate = validate
    runner.run()
    # level 0: the 3rd and 5th validations end plateaus of two; the 6th is the level's record;
    # level 1 starts afresh at the reset rate: best at its 2nd, halved after its 4th
    assert seen == [lr0, lr0, lr0, lr0 / 2, lr0 / 2, lr0 / 4, lr0, lr0, lr0, lr0, lr0 / 2, lr0 / 2]


class Killed(Exception):
    pass


def test_killed_search_resumes_in_the_iteration_it_was_in(
    clips, small_config, fresh_model, tmp_path
):
    train, val = clips
    search = two_level_search()
    reference = mask_search(fresh_model(6), train, val, tmp_path / "a", search, small_config(),
                            progress=False)

    runner = MaskSearch(fresh_model(6), train, val, tmp_path / "b", search, small_config(),
                        progress=False)
    steps = []

    def kill_in_the_second_epoch_of_level_two(model):
        in_level_two = len(runner.records) == 2
        if in_level_two and runner.trainer.epoch == runner.records[-1]["trainer_epoch"] + 1:
            steps.append(1)
            if len(steps) > 2:
                raise Killed

    runner.trainer.after_step_hooks.append(kill_in_the_second_epoch_of_level_two)
    with pytest.raises(Killed):
        runner.run()
    assert (tmp_path / "b" / "phase.pt").exists()
    assert len(load_search(tmp_path / "b").records) == 2

    resumed = mask_search(LSTMModel(hidden_size=6), train, val, tmp_path / "b", search,
                          small_config(), resume=True, progress=False)
    assert [r["level"] for r in resumed.records] == [0, 1, 2]
    for a, b in zip(reference.records, resumed.records, strict=True):
        assert a["epochs"] == b["epochs"] and a["active_weights"] == b["active_weights"]
        assert b["validation_loss"] == pytest.approx(a["validation_loss"], rel=1e-5)
    final_a, _ = load_model(reference.model_path(2))
    final_b, _ = load_model(resumed.model_path(2))
    for (name, pa), pb in zip(final_a.named_parameters(), final_b.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6), name
    # Running it again returns the finished search without training.
    again = mask_search(LSTMModel(hidden_size=6), train, val, tmp_path / "b", search,
                        small_config(), resume=True, progress=False)
    assert len(again.records) == 3
    changed = SearchConfig(**{**search.__dict__, "prune_fraction": 0.3})
    with pytest.raises(LeanampError, match="prune_fraction=0.5"):
        mask_search(LSTMModel(hidden_size=6), train, val, tmp_path / "b", changed,
                    small_config(), resume=True, progress=False)


def test_choose_level_takes_the_most_pruned_level_within_tolerance():
    losses = [0.10, 0.09, 0.115, 0.108, 0.2, 0.104, float("nan"), 0.3]
    records = [{"level": i, "validation_loss": v} for i, v in enumerate(losses)]
    assert choose_level(records, tolerance=0.1)["level"] == 5  # level 2's excess does not stop it
    assert choose_level(records, tolerance=0.0)["level"] == 1
    assert choose_level(records, tolerance=5.0)["level"] == 7  # NaN is never within
    with pytest.raises(LeanampError):
        choose_level([], 0.1)


def test_one_shot_prunes_to_the_target_and_retrains_under_the_mask(
    clips, small_config, fresh_model
):
    train, val = clips
    model = fresh_model(hidden_size=6)
    result = one_shot_prune(model, 0.8, train, val, epochs=2, train=small_config(),
                            progress=False)
    masks = PruningMasks.from_model(model)
    assert result.record["sparsity"] == pytest.approx(0.8, abs=0.005)
    assert masks.sparsity >= result.record["sparsity"] - 1e-9
    assert np.isfinite(result.record["validation_loss"])


def test_weight_rewinding_restarts_each_level_from_the_initial_weights(
    clips, small_config, fresh_model, tmp_path
):
    train, val = clips
    model = fresh_model(hidden_size=6)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    search = SearchConfig(iterations=1, prune_fraction=0.5, distance_window=1,
                          distance_threshold=1.01, pretrain_epochs=1, rewind_epoch=0)
    runner = MaskSearch(model, train, val, tmp_path, search, small_config(), progress=False)
    starts = []
    train_epoch = runner.trainer.train_epoch

    def recording_train_epoch():
        if len(runner.records) == 1 and not starts:  # the first epoch of level 1
            starts.append({k: v.clone() for k, v in model.state_dict().items()})
        return train_epoch()

    runner.trainer.train_epoch = recording_train_epoch
    runner.run()
    _, mask = load_search(tmp_path).load(1)
    start = starts[0]
    for name, kept in mask:
        assert torch.equal(start[name], initial[name] * kept)
    assert torch.equal(start["lstm.bias_ih_l0"], initial["lstm.bias_ih_l0"])

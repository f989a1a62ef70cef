"""Unit-aware pruning and head protection: whole hidden units die, the head never collapses."""

from __future__ import annotations

import pytest
import torch

from leanamp.errors import LeanampError
from leanamp.models import LSTMModel
from leanamp.prune import PruningMasks, SearchConfig, effective_hidden_size, mask_search


def _model(hidden: int = 16, head_scale: float = 1.0, seed: int = 0) -> LSTMModel:
    torch.manual_seed(seed)
    model = LSTMModel(hidden_size=hidden)
    with torch.no_grad():
        model.head.weight.mul_(head_scale)
    return model


def _prune_levels(model, levels: int, fraction: float, **options) -> list[int]:
    """Effective hidden size after each of `levels` pruning steps (masks applied each time)."""
    masks = PruningMasks.full(model)
    sizes = []
    for _ in range(levels):
        masks = masks.prune(model, fraction, **options)
        masks.apply(model)
        sizes.append(effective_hidden_size(model))
    return sizes


def test_unit_aware_pruning_removes_whole_units_where_magnitude_pruning_keeps_them_all():
    plain = _prune_levels(_model(), 3, 0.3)
    aware = _prune_levels(_model(), 3, 0.3, unit_aware=True)
    # 1 - 0.7^3 = 66% sparsity: random magnitudes leave every unit a weight; unit-aware, each
    # step takes the weakest units whole (the last one it reaches may stay partly)
    assert plain == [16, 16, 16]
    assert aware[0] <= 14 and aware[-1] <= 10
    assert aware == sorted(aware, reverse=True)


def test_unit_aware_pruning_takes_the_weakest_units_whole_and_keeps_the_rest_dense():
    model = _model(hidden=8)
    with torch.no_grad():  # units 2 and 5 are the weakest by pooled norm
        for unit in (2, 5):
            model.lstm.weight_ih_l0[unit::8].mul_(0.01)
            model.lstm.weight_hh_l0[unit::8].mul_(0.01)
            model.lstm.weight_hh_l0[:, unit].mul_(0.01)
            model.head.weight[0, unit].mul_(0.01)
    masks = PruningMasks.full(model)
    per_unit = 4 * 1 + 4 * 8 + 4 * 8 - 4 + 1  # W_ih rows, W_hh rows and column, head
    touched = 2 * per_unit - 8  # the recurrent entries linking units 2 and 5 are shared
    new = masks.prune(model, touched / masks.total, unit_aware=True)
    new.apply(model)
    kept = ~torch.isclose(model.head.weight[0], torch.zeros(8))
    assert kept.tolist() == [True, True, False, True, True, False, True, True]
    assert effective_hidden_size(model) == 6
    assert new.active == masks.total - touched  # every other unit's weights intact


def test_at_least_one_unit_always_stays():
    model = _model(hidden=4)
    masks = PruningMasks.full(model)
    for _ in range(10):
        masks = masks.prune(model, 0.9, unit_aware=True)
        masks.apply(model)
    assert effective_hidden_size(model) == 1


def test_a_global_threshold_takes_every_small_head_weight_unless_the_head_is_protected():
    # The residual path of a mild device: head weights far below the LSTM's
    collapsed = _prune_levels(_model(head_scale=1e-3), 2, 0.3)
    assert collapsed == [0, 0]
    protected = _model(head_scale=1e-3)
    masks = PruningMasks.full(protected)
    head_weights = []
    for _ in range(12):  # 98.6% sparsity
        masks = masks.prune(protected, 0.3, protect_head=True)
        masks.apply(protected)
        head_weights.append(int(masks.masks["head.weight"].sum()))
        assert effective_hidden_size(protected) >= 1
    # the head loses its own 30% per step (rounded), never all at once, never the last weight
    assert head_weights[:4] == [11, 8, 6, 4] and head_weights[-1] == 1


def test_the_protected_head_loses_its_share_per_step():
    model = _model(hidden=20, head_scale=1e-3)
    masks = PruningMasks.full(model).prune(model, 0.3, protect_head=True)
    assert int(masks.masks["head.weight"].sum()) == 14  # 20 - round(0.3 * 20)
    assert masks.sparsity == pytest.approx(0.3, abs=0.01)


def test_the_unit_aware_search_compresses_and_resumes_only_with_the_same_setting(
    clips, small_config, tmp_path
):
    train, val = clips
    search = SearchConfig(iterations=2, prune_fraction=0.4, distance_window=1,
                          distance_threshold=1.01, fully_train_first=False,
                          max_epochs_per_iteration=2, unit_aware=True, protect_head=True)
    result = mask_search(_model(hidden=8), train, val, tmp_path, search, small_config(),
                         progress=False)
    sizes = [r["effective_hidden_size"] for r in result.records]
    assert sizes[0] == 8 and sizes[1] <= 6 and sizes[2] <= 4
    plain = SearchConfig(**{**search.__dict__, "unit_aware": False})
    with pytest.raises(LeanampError, match="unit_aware"):
        mask_search(_model(hidden=8), train, val, tmp_path, plain, small_config(), resume=True,
                    progress=False)

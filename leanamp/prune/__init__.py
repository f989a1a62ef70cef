"""Pruning (Südholt et al. 2022): global magnitude masks, the early-bird mask search
(Algorithm 1), compression of pruned LSTMs into smaller dense ones, and settling time."""

from leanamp.prune.compress import (
    compress,
    constant_units,
    count_parameters,
    effective_hidden_size,
    removable_units,
    summarize,
)
from leanamp.prune.masks import MaskEnforcer, PruningMasks, prunable_parameters
from leanamp.prune.search import (
    MaskSearch,
    SearchConfig,
    SearchResult,
    choose_level,
    early_bird_stop,
    fine_tune_dense,
    load_search,
    mask_search,
    one_shot_prune,
)
from leanamp.prune.settling import impulse_response, settling_time

__all__ = [
    "MaskEnforcer",
    "MaskSearch",
    "PruningMasks",
    "SearchConfig",
    "SearchResult",
    "choose_level",
    "compress",
    "constant_units",
    "count_parameters",
    "early_bird_stop",
    "effective_hidden_size",
    "fine_tune_dense",
    "impulse_response",
    "load_search",
    "mask_search",
    "one_shot_prune",
    "prunable_parameters",
    "removable_units",
    "settling_time",
    "summarize",
]

# Structured lottery: trimming whole units by a global criterion (Esling et al. 2020).
from leanamp.prune.mutual_information import gaussian_copula_mi  # noqa: E402
from leanamp.prune.structured import (  # noqa: E402
    StructuredConfig,
    StructuredResult,
    mask_units,
    resources,
    score_units,
    select_units,
    structured_prune,
    trim,
    unit_groups,
)

__all__ += [
    "StructuredConfig",
    "StructuredResult",
    "gaussian_copula_mi",
    "mask_units",
    "resources",
    "score_units",
    "select_units",
    "structured_prune",
    "trim",
    "unit_groups",
]

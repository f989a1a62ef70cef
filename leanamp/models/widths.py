"""Training widths of a slimmable model: the rules of leanamp.models.slim, with their record.

"uniform" (Atkinson, Slimmable NAM): one width per step, drawn uniformly. "sandwich" (Yu & Huang
2019, "Universally Slimmable Networks and Improved Training Techniques"): the largest, the
smallest and `random_widths` widths in between per step. "inplace": the sandwich widths, the
smaller ones learning from the largest's output (the trainer reads `distills_in_place`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Width sampling rules of slimmable training (see leanamp.models.slim).
SLIM_RULES = ("uniform", "sandwich", "inplace")
# Yu & Huang train n = 2 random widths besides the largest and the smallest.
DEFAULT_RANDOM_WIDTHS = 2


class WidthSampler:
    """Chooses the training widths of every step by `rule` and records every width trained."""

    def __init__(
        self, widths: Sequence[int], rule: str = "uniform",
        random_widths: int = DEFAULT_RANDOM_WIDTHS,
    ):  # fmt: skip
        widths = [int(w) for w in widths]
        if not widths or any(w < 1 for w in widths) or len(set(widths)) != len(widths):
            raise ValueError(f"widths must be distinct positive integers, got {widths}")
        if rule not in SLIM_RULES:
            raise ValueError(f"unknown slimmable rule {rule!r}; choose one of {list(SLIM_RULES)}")
        if random_widths < 0:
            raise ValueError(f"random_widths must be >= 0, got {random_widths}")
        self.widths = sorted(widths)
        self.rule = rule
        self.random_widths = random_widths
        self.history: list[int] = []

    @property
    def distills_in_place(self) -> bool:
        """True when the widths below the largest learn from the largest's output."""
        return self.rule == "inplace"

    def draw(self, rng: np.random.Generator) -> int:
        """One width drawn uniformly (the paper's rule), recorded."""
        width = self.widths[int(rng.integers(len(self.widths)))]
        self.history.append(width)
        return width

    def draw_step(self, rng: np.random.Generator) -> list[int]:
        """The widths of one training step (the sandwich rules: largest first), recorded."""
        if self.rule == "uniform":
            return [self.draw(rng)]
        between = self.widths[1:-1]
        step = [self.widths[-1]] + ([self.widths[0]] if len(self.widths) > 1 else [])
        if between:
            step += [between[int(i)] for i in rng.integers(len(between), size=self.random_widths)]
        self.history.extend(step)
        return step

    def counts(self) -> dict[int, int]:
        """How many times each width was drawn so far."""
        return {w: self.history.count(w) for w in self.widths}

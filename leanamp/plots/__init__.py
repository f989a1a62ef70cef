"""Plots written to files (matplotlib without a display)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from leanamp.files import atomic_path  # noqa: E402


def save_figure(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_loss_curves(
    history: list[dict] | dict[str, list[dict]], path: str | os.PathLike, title: str = ""
) -> Path:
    """Training and validation loss against epoch, log scale.

    `history` is one run's records, or {label: records} to plot several runs together
    (e.g. from scratch versus transfer).
    """
    runs = history if isinstance(history, dict) else {"": history}
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, records in runs.items():
        prefix = f"{label} " if label else ""
        train = [(r["epoch"], r["train_loss"]) for r in records if r.get("train_loss") is not None]
        val = [(r["epoch"], r["validation_loss"]) for r in records if "validation_loss" in r]
        if train:
            ax.plot(*zip(*train, strict=True), alpha=0.6, label=f"{prefix}training loss")
        if val:
            ax.plot(
                *zip(*val, strict=True), marker="o", markersize=3, label=f"{prefix}validation loss"
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (0.75 pre-emphasised ESR + 0.25 DC)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return save_figure(fig, path)

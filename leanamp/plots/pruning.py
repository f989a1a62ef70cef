"""Pruning report: validation loss and effective hidden size against sparsity (the paper's Figs. 3
and 6), the impulse-response settling plot (Fig. 7), and a table like the paper's Table I.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from leanamp.plots import plt, save_figure


def plot_pruning_curve(
    records: list[dict], path: str | os.PathLike, title: str = "", chosen_level: int | None = None
) -> Path:
    """Validation loss (log) and effective hidden size against sparsity, one point per level."""
    sparsity = [100 * r["sparsity"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(sparsity, [r["validation_loss"] for r in records], "o-", color="C0",
            label="validation loss")
    ax.set_yscale("log")
    ax.set_xlabel("pruned weights [%]")
    ax.set_ylabel("validation loss", color="C0")
    twin = ax.twinx()
    twin.plot(sparsity, [r["effective_hidden_size"] for r in records], "s--", color="C1",
              label="effective hidden size")
    twin.set_ylabel("effective hidden size", color="C1")
    twin.set_ylim(bottom=0)
    if chosen_level is not None:
        chosen = next((r for r in records if r["level"] == chosen_level), None)
        if chosen is not None:
            ax.axvline(100 * chosen["sparsity"], color="grey", linestyle=":", label="chosen")
    ax.set_title(title or "Mask search")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_impulse_responses(
    responses: dict[str, object], path: str | os.PathLike, title: str = ""
) -> Path:
    """Deviation from steady state after an impulse (dB re peak), one curve per model."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, response in responses.items():
        deviation = np.asarray(response.deviation)
        peak = max(float(deviation.max()), 1e-30)
        t_ms = 1000 * np.arange(len(deviation)) / response.sample_rate
        db = 20 * np.log10(np.maximum(deviation / peak, 1e-12))
        settle = response.settling_seconds * 1000
        ax.plot(t_ms, db, label=f"{label} (settles in {settle:.1f} ms)")
    ax.axhline(next(iter(responses.values())).threshold_db, color="grey", linestyle=":")
    # Zoom on the settling: three times the slowest finite settling time, at least 5 ms.
    finite = [r.settling_seconds for r in responses.values() if np.isfinite(r.settling_seconds)]
    window_ms = max(1000 * len(r.deviation) / r.sample_rate for r in responses.values())
    ax.set_xlim(0, min(window_ms, max(5.0, 3000 * max(finite, default=window_ms))))
    ax.set_ylim(-120, 5)
    ax.set_xlabel("time after impulse [ms]")
    ax.set_ylabel("deviation from steady state [dB re peak]")
    ax.set_title(title or "Settling time")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"


def pruning_table(rows: list[dict]) -> str:
    """A markdown table like the paper's Table I.

    Each row: device, hidden_unpruned, hidden_pruned, params_unpruned, params_pruned,
    pruned_percent, test_esr_unpruned, test_esr_pruned (fractions; shown in %), rtf_unpruned,
    rtf_pruned, rtf_method.
    """
    header = (
        "| Device | Hidden size unpruned | Hidden size pruned | Parameters unpruned | "
        "Parameters pruned | Pruned weights [%] | Test ESR unpruned [%] | Test ESR pruned [%] | "
        "RTF unpruned | RTF pruned | RTF from |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"| {r['device']} | {r['hidden_unpruned']} | {r['hidden_pruned']} | "
            f"{r['params_unpruned']} | {r['params_pruned']} | {r['pruned_percent']:.1f} | "
            f"{100 * r['test_esr_unpruned']:.2f} | {100 * r['test_esr_pruned']:.2f} | "
            f"{_fmt(r.get('rtf_unpruned'))} | {_fmt(r.get('rtf_pruned'))} | "
            f"{r.get('rtf_method', 'n/a')} |"
        )
    return "\n".join(lines)


def search_table(records: list[dict]) -> str:
    """One markdown row per mask-search level."""
    lines = [
        "| Level | Pruned [%] | Effective hidden size | Non-zero parameters (compressed) | "
        "Epochs | Stopped | Validation loss | Validation ESR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['level']} | {100 * r['sparsity']:.2f} | {r['effective_hidden_size']} | "
            f"{r['compressed_nonzero_parameters']} | {r['epochs']} | {r['stopped_because']} | "
            f"{r['validation_loss']:.4g} | {r['validation_esr']:.4g} |"
        )
    return "\n".join(lines)

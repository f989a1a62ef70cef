"""Figures of the experiment report: ESR versus real-time factor with its Pareto front, and
target-versus-model spectra (like Fig. 5 of Südholt et al. 2022)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import signal

from leanamp.plots import plt, save_figure


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower is better on both),
    ordered by the first coordinate."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best_second = [], np.inf
    for i in order:
        if points[i][1] < best_second:
            front.append(i)
            best_second = points[i][1]
    return front


def plot_pareto(
    runs: list[dict], path: str | os.PathLike, title: str = "Accuracy versus speed"
) -> Path:
    """Test ESR (log) against real-time factor, one point per run, the Pareto front joined.

    Each run: {"label", "rtf", "test_esr", "group"}; groups (e.g. methods) get their own marker.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = sorted({r["group"] for r in runs})
    markers = "osD^v<>pPX*"
    for g, group in enumerate(groups):
        members = [r for r in runs if r["group"] == group]
        ax.scatter([r["rtf"] for r in members], [r["test_esr"] for r in members],
                   marker=markers[g % len(markers)], label=group, zorder=3)
    points = [(r["rtf"], r["test_esr"]) for r in runs]
    front = pareto_front(points)
    if front:
        ax.step([points[i][0] for i in front], [points[i][1] for i in front], where="post",
                color="grey", linestyle="--", label="Pareto front", zorder=2)
        for i in front:
            ax.annotate(runs[i]["label"], points[i], fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("real-time factor (processing time / audio time, lower is faster)")
    ax.set_ylabel("test ESR (lower is better)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def spectrum_db(x: np.ndarray, sample_rate: float, segment: int = 4096) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """Welch power spectral density in dB (frequencies, levels)."""
    x = np.asarray(x, dtype=np.float64)
    nperseg = min(segment, len(x))
    freqs, power = signal.welch(x, sample_rate, nperseg=nperseg)
    return freqs, 10 * np.log10(np.maximum(power, 1e-20))


def plot_spectra(
    target: np.ndarray,
    outputs: dict[str, np.ndarray],
    sample_rate: float,
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Spectrum of the target against each model's output on the same clip (paper, Fig. 5)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    freqs, level = spectrum_db(target, sample_rate)
    ax.semilogx(freqs[1:], level[1:], color="black", linewidth=1.5, label="target")
    for label, output in outputs.items():
        f, level = spectrum_db(output, sample_rate)
        ax.semilogx(f[1:], level[1:], linewidth=0.9, alpha=0.8, label=label)
    ax.set_xlim(20, sample_rate / 2)
    ax.set_xlabel("frequency [Hz]")
    ax.set_ylabel("power spectral density [dB]")
    ax.set_title(title or "Target versus model spectra")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)

"""The figures of the lean tables: each pedal's lean methods against its dense front, by size and
by CPU price (lean_<pedal>.png), and lean against dense per pedal and pooled
(lean_across_pedals.png).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from comparisons import blocked_log_ratio  # noqa: I001  (a sibling script)

SLIM_COLORS = {"uniform": "C5", "sandwich": "C6", "inplace": "C8"}  # apart from the methods'


def plot_across_pedals(groups: dict[tuple[str, int], dict], path: Path) -> None:
    """Forest plot: lean / dense with its 95% interval for each method and size, on each pedal
    (Student's t on log ESR, `blocked_log_ratio` of one pedal) and pooled (filled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = []  # (label, fit, pooled)
    for (method, size), pedals in groups.items():
        entries.append((f"{method}, {size} units, pooled", blocked_log_ratio(pedals), True))
        for pedal in sorted(pedals):
            entries.append((pedal, blocked_log_ratio({pedal: pedals[pedal]}), False))
    entries = [e for e in entries if e[1] is not None]
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(entries) + 1.2))
    for y, (_, fit, pooled) in enumerate(reversed(entries)):
        spread = [[fit["ratio"] - fit["low"]], [fit["high"] - fit["ratio"]]]
        ax.errorbar(fit["ratio"], y, xerr=spread, fmt="D" if pooled else "o",
                    color="C3" if pooled else "C0", markersize=6 if pooled else 4,
                    capsize=2)  # fmt: skip
    ax.set_yticks(range(len(entries)), [label for label, _, _ in reversed(entries)], fontsize=7)
    ax.axvline(1.0, color="grey", linewidth=1)
    ax.set_xscale("log")
    for y, (_, _, pooled) in enumerate(reversed(entries)):
        if pooled and y < len(entries) - 1:  # a line between one method's group and the next
            ax.axhline(y + 0.5, color="grey", linewidth=0.5, alpha=0.5)
    ax.set_xlabel("test ESR, lean / dense of its size (95% CI; below 1: lean better)")
    ax.set_title("Lean methods against dense models of their size, per pedal and pooled",
                 fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_device(device: str, rows: list[dict], front: dict[int, list[float]],
                points: list[dict], lean_points: list[dict], slim: dict[str, list[dict]],
                path: Path) -> None:
    """Left: the LSTM methods against the dense front by effective size. Right: the same
    accuracy against CPU price (tables.py's `cost_front`): the dense LSTMs, NAM's presets and
    the fixed WaveNets at their kernel's real-time factor, the lean models at the price of
    their effective size (`priced_lean_points`), and each slimmable rule's model across its
    widths (`slim_curves`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, (ax, cost_ax) = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    # Seeds spread over decades: each seed is a dot, the line joins geometric means (an
    # arithmetic mean's t-interval would reach below zero on this log scale).
    sizes = sorted(front)
    ax.plot(sizes, [statistics.geometric_mean(front[s]) for s in sizes], marker="o",
            color="C0", label="dense, converged (geometric mean; dots: seeds)")  # fmt: skip
    ax.scatter([s for s in sizes for _ in front[s]], [e for s in sizes for e in front[s]],
               color="C0", s=14, alpha=0.6, zorder=3)  # fmt: skip
    markers = {"prune": "s", "prune (unit-aware)": "v", "structured": "^"}
    methods = sorted({r["method"] for r in rows} - {"train"})
    for index, method in enumerate(methods):
        points_of = [r for r in rows if r["method"] == method]
        ax.scatter(
            [r["hidden_size"] or r["size"] for r in points_of],
            [r["test_esr"] for r in points_of],
            marker=markers.get(method, "D" if method.startswith("distill") else "o"), s=60,
            label=method, zorder=3,
            color=f"C{index + 1}", facecolors="none",
        )
    for row in rows:  # each pruning or trimming run's whole path, level by level
        levels = [lv for lv in row["levels"] if lv["hidden_size"] > 0]
        if levels and row["method"] != "train":
            index = methods.index(row["method"])
            ax.plot([lv["hidden_size"] for lv in levels], [lv["test_esr"] for lv in levels],
                    color=f"C{index + 1}", alpha=0.4, linewidth=1, marker=".")
            converged = row["converged"]
            ax.scatter([lv["hidden_size"] for lv in converged],
                       [lv["test_esr"] for lv in converged],
                       color=f"C{index + 1}", marker="*", s=90, zorder=4)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("LSTM hidden size (effective)")
    ax.set_ylabel("test ESR (guitar-funk2)")
    ax.set_title(f"{device}: lean methods against the dense front", fontsize=10)
    ax.scatter([], [], color="grey", marker="*", s=90, label="a level trained on to convergence")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)

    for architecture, color, marker, label in (
        ("lstm", "C0", "o", "dense LSTMs"), ("nam_preset", "C9", "s", "NAM WaveNet presets"),
        ("wavenet", "C7", "D", "WaveNets of the standard's dilations"),
    ):
        family = [p for p in points if p["architecture"] == architecture]
        if not family:  # not trained on this pedal: no legend entry either
            continue
        # no joining line: sizes of one price (4-16 units) would draw it up and down in place
        cost_ax.plot([p["rtf"] for p in family], [p["esr"] for p in family], marker=marker,
                     linestyle="none", color=color,
                     label=f"{label} (geometric mean; dots: seeds)")  # fmt: skip
        cost_ax.scatter([p["rtf"] for p in family for _ in p["esrs"]],
                        [e for p in family for e in p["esrs"]], color=color, s=12, alpha=0.5)
        for p in family:
            # presets' labels below, fixed WaveNets' to the left: "8 ch" sits on feather's point
            offset, align = {"lstm": ((3, 3), "left"), "nam_preset": ((3, -8), "left"),
                             "wavenet": ((-4, 3), "right")}[architecture]  # fmt: skip
            cost_ax.annotate(p["short"], (p["rtf"], p["esr"]), fontsize=6, xytext=offset,
                             ha=align, textcoords="offset points")
    on_front = [p for p in points if p["on_front"]]
    cost_ax.step([p["rtf"] for p in on_front], [p["esr"] for p in on_front], where="post",
                 color="black", linestyle="--", linewidth=1, label="the leanest for its ESR")
    for index, method in enumerate(methods):
        of_method = [p for p in lean_points if p["run_method"] == method and not p["as_kept"]]
        cost_ax.scatter([p["rtf"] for p in of_method], [p["esr"] for p in of_method],
                        color=f"C{index + 1}", marker="*", s=60, zorder=4)  # fmt: skip
    cost_ax.scatter([], [], color="grey", marker="*", s=60,
                    label="lean models (students, levels trained on), by method colour")
    kept = [p for p in lean_points if p["as_kept"]]
    for p in kept:
        cost_ax.scatter(p["rtf"], p["esr"], edgecolors=f"C{methods.index(p['run_method']) + 1}",
                        facecolors="none", marker="P", s=50, zorder=4)  # fmt: skip
    if kept:
        cost_ax.scatter([], [], edgecolors="grey", facecolors="none", marker="P", s=50,
                        label="levels as kept (geometric mean of 2+ runs), by method colour")
    for rule, curve in slim.items():  # one model per rule: its widths joined
        widths, seeds = f"{curve[0]['width']}-{curve[-1]['width']}", curve[0]["seeds"]
        cost_ax.plot([p["rtf"] for p in curve], [p["esr"] for p in curve], marker="x",
                     linestyle=":", color=SLIM_COLORS[rule],
                     label=f"slimmable WaveNet, {rule} rule, widths {widths} ({seeds} seeds)")
    cost_ax.set_xscale("log")
    # plain labels at the round prices within the data: the log axis's minor labels collided
    low, high = cost_ax.get_xlim()
    round_prices = (0.002, 0.003, 0.005, 0.007, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
    ticks = [t for t in round_prices if low <= t <= high]
    cost_ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    cost_ax.xaxis.set_minor_formatter(NullFormatter())
    cost_ax.set_xlabel("real-time factor, leanamp's kernel (thread CPU time / audio time)")
    cost_ax.set_title(f"{device}: accuracy against CPU price", fontsize=10)
    cost_ax.grid(True, which="both", alpha=0.3)
    cost_ax.legend(fontsize=7)
    low, high = cost_ax.get_ylim()
    cost_ax.set_ylim(low, high * 4)  # headroom (both panels): the legends above the data
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

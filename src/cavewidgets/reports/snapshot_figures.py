"""Figures of the snapshot reports (matplotlib on the Agg canvas, like the connectivity report's).

Each takes the report's table and returns a Figure; ``figures.png`` renders it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .figures import _figure, _laid_out

_COLORS = {"proofread": "#1b9e77", "typed": "#7570b3", "somatic": "#d95f02",
           "output": "#1f78b4", "input": "#e31a1c", "selected": "#1f78b4", "partners": "#a6cee3"}


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#444")


def status_counts(table: pd.DataFrame, version) -> Figure:
    """Horizontal stacked bars: bodies per proofreading status, selected neurons and partners."""
    fig, axes = _figure(8, 1.2 + 0.45 * max(len(table), 1))
    ax = axes[0, 0]
    y = np.arange(len(table))[::-1]
    left = np.zeros(len(table))
    for column in ("selected", "partners"):
        values = table[column].to_numpy(dtype=float)
        ax.barh(y, values, left=left, color=_COLORS[column], label=column)
        left += values
    for yi, total in zip(y, left):
        ax.text(total, yi, f" {int(total)}", va="center", fontsize=8)
    ax.set_yticks(y, table["status"].tolist())
    ax.set_xlabel("bodies")
    ax.set_title(f"Proofreading status of the selection and its partners (version {version})")
    if len(table):
        ax.legend(fontsize=8, loc="lower right")
        ax.set_xlim(0, float(left.max()) * 1.15 or 1)
    else:
        _empty(ax, "no bodies")
    return _laid_out(fig)


def captured_connectivity(table: pd.DataFrame, version) -> Figure:
    """Per direction: each neuron's captured fraction by partner status, neurons sorted per line."""
    fig, axes = _figure(12, 4.5, ncols=2)
    for ax, direction in zip(axes[0], ("output", "input")):
        part = table[table["direction"] == direction]
        drawn = False
        for name in ("proofread", "typed", "somatic"):
            values = part[name].dropna().to_numpy(dtype=float)
            if not len(values):
                continue
            values = np.sort(values)[::-1]
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, lw=1.4, color=_COLORS[name],
                    label=f"{name} partners (median {np.median(values):.2f})")
            drawn = True
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("selected neuron (sorted per line)")
        ax.set_ylabel(f"fraction of {direction} synapses")
        ax.set_title(f"{direction.capitalize()} synapses captured by partner status")
        if drawn:
            ax.legend(fontsize=8, loc="lower left")
        else:
            _empty(ax, "no synapses, or no table for any role")
    fig.suptitle(f"Connectivity captured by partner status (version {version})")
    return _laid_out(fig)


def cumulative_connectivity(table: pd.DataFrame, version) -> Figure:
    """Cumulative fraction of the selection's synapses over partners ranked by weight (log x)."""
    fig, axes = _figure(8, 5)
    ax = axes[0, 0]
    for direction in ("output", "input"):
        part = table[table["direction"] == direction]
        if len(part):
            ax.step(part["rank"], part["cumulative_fraction"], where="post", color=_COLORS[direction],
                    label=f"{direction}: {len(part)} partners, {part['cumulative_fraction'].iloc[-1]:.0%} of synapses")
            proofread = part["proofread"].fillna(False).astype(bool).to_numpy()
            if proofread.any():
                ax.scatter(part["rank"][proofread], part["cumulative_fraction"][proofread], s=10,
                           color=_COLORS[direction], edgecolor="black", linewidths=0.3, zorder=3)
    if len(table):
        ax.set_xscale("log")
        ax.legend(fontsize=8, loc="lower right", title="dots: proofread partners", title_fontsize=8)
    else:
        _empty(ax, "no partners")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("partner rank (by synapses with the selection)")
    ax.set_ylabel("cumulative fraction of the selection's synapses")
    ax.set_title(f"Cumulative connectivity by ranked partner (version {version})")
    return _laid_out(fig)


def downstream_capture(table: pd.DataFrame, capture: str, version) -> Figure:
    """Histogram of the captured fraction of each captured neuron's output synapses."""
    fig, axes = _figure(8, 4.5)
    ax = axes[0, 0]
    values = table["capture_frac"].dropna().to_numpy(dtype=float)
    if len(values):
        ax.hist(values, bins=np.linspace(0, 1, 21), color=_COLORS["proofread"], edgecolor="white")
        ax.axvline(float(np.median(values)), color="black", lw=1, ls="--",
                   label=f"median {np.median(values):.2f} ({len(values)} neurons)")
        ax.legend(fontsize=8)
    else:
        _empty(ax, f"no {capture} neuron in the selection, or no table for the role")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"fraction of output synapses onto {capture} partners")
    ax.set_ylabel(f"{capture} selected neurons")
    ax.set_title(f"Downstream capture, {capture} neurons (version {version})")
    return _laid_out(fig)

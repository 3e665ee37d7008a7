"""The report's figures: matplotlib ``Figure`` objects on the Agg canvas (no pyplot state).

Each function returns a Figure whose axes carry a title, axis labels and, where neurons are
grouped, tick labels that name the cell types. ``png(fig)`` renders one to PNG bytes.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .labels import UNKNOWN

UNKNOWN_COLOR = "#b0b0b0"
_MAX_LABELLED_ROWS = 80


def palette(labels) -> dict[str, str]:
    """One colour per label (seaborn 'tab20' / 'husl' for many), grey for 'unknown'.

    Example::

        palette(["23P", "BC", "unknown"])["unknown"]   # '#b0b0b0'
    """
    import seaborn as sns

    labels = [str(t) for t in dict.fromkeys(labels) if str(t) != UNKNOWN]
    colors = sns.color_palette("tab20" if len(labels) <= 20 else "husl", max(len(labels), 1))
    out = {t: to_hex(c) for t, c in zip(labels, colors)}
    out[UNKNOWN] = UNKNOWN_COLOR
    return out


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    # no layout engine: each builder calls fig.tight_layout() once when done; a layout engine
    # (or savefig's bbox_inches="tight") would lay out on every draw, 2-3x the cost on 2 cores
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _laid_out(fig: Figure) -> Figure:
    """Tight margins computed once; tight_layout() leaves a placeholder engine behind that would
    make every savefig draw the figure twice, so drop it."""
    fig.tight_layout()
    fig.set_layout_engine(None)
    return fig


def png(fig: Figure) -> bytes:
    """PNG bytes of ``fig`` (Agg).

    Example::

        Path("heatmap.png").write_bytes(png(report.figures["connectivity_matrix"]))
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def _neuron_labels(cells: pd.DataFrame, label: str) -> list[str]:
    return [f"{t} …{str(r)[-5:]}" for t, r in zip(cells[label], cells["root_id"])]


def _type_ticks(ax, cells: pd.DataFrame, label: str, axis: str, per_neuron: bool = True) -> None:
    """Tick labels naming each neuron's type (or one per type block: big selections, or asked)."""
    n = len(cells)
    if per_neuron and n <= _MAX_LABELLED_ROWS:
        positions, texts = np.arange(n) + 0.5, _neuron_labels(cells, label)
        size = 7 if n > 30 else 8
    else:
        groups = cells.groupby(label, sort=False).indices
        positions = [float(np.mean(idx)) + 0.5 for idx in groups.values()]
        texts, size = list(groups), 8
    if axis == "y":
        ax.set_yticks(positions, texts, fontsize=size)
    else:
        ax.set_xticks(positions, texts, fontsize=size, rotation=90)


def connectivity_matrix(connectome: pd.DataFrame, cells: pd.DataFrame, label: str, version) -> Figure:
    """Heatmap of log2 synapse counts between selected neurons, rows/columns ordered by type."""
    order = cells["root_id"].to_numpy()
    counts = pd.DataFrame(0, index=pd.Index(order, name="pre"), columns=pd.Index(order, name="post"),
                          dtype=np.int64)
    if len(connectome):
        pivot = connectome.pivot_table(index="pre_root_id", columns="post_root_id", values="n_synapses",
                                       aggfunc="sum", fill_value=0)
        counts = counts.add(pivot.reindex(index=order, columns=order, fill_value=0), fill_value=0)
    values = np.log2(counts.to_numpy(dtype=float), where=counts.to_numpy() > 0,
                     out=np.full(counts.shape, np.nan))
    side = min(4 + 0.16 * len(order), 16)
    fig, axes = _figure(side + 1.5, side)
    ax = axes[0, 0]
    n = len(order)
    image = ax.imshow(values, cmap="viridis", vmin=0, interpolation="nearest", aspect="equal",
                      extent=(0, n, n, 0))
    fig.colorbar(image, ax=ax, label="log2(synapse count)", shrink=0.8)
    ax.set_facecolor("#f4f4f4")
    _type_ticks(ax, cells, label, "y")
    _type_ticks(ax, cells, label, "x", per_neuron=False)  # rotated text is the costly part of a draw
    boundaries = np.flatnonzero(cells[label].to_numpy()[1:] != cells[label].to_numpy()[:-1]) + 1
    for b in boundaries:
        ax.axhline(b, color="white", lw=1.2)
        ax.axvline(b, color="white", lw=1.2)
    ax.set_xlabel(f"postsynaptic neuron (by {label})")
    ax.set_ylabel(f"presynaptic neuron (by {label})")
    ax.set_title(f"Connectivity matrix, log2 synapse count (version {version})")
    if not len(connectome):
        ax.text(0.5, 0.5, "no synapses between the selected neurons", transform=ax.transAxes,
                ha="center", va="center", color="#444")
    return _laid_out(fig)


def partners_by_type(outputs: pd.DataFrame, inputs: pd.DataFrame, cells: pd.DataFrame, label: str,
                     colors: dict[str, str]) -> Figure:
    """Stacked bars: each neuron's output (top) and input (bottom) synapses by partner type."""
    n = len(cells)
    width = min(6 + 0.22 * n, 24)
    fig, axes = _figure(width, 8.5, nrows=2)
    x = np.arange(n)
    for ax, table, title, ylabel in (
            (axes[0, 0], outputs, f"Outputs by target {label}", "output synapses"),
            (axes[1, 0], inputs, f"Inputs by source {label}", "input synapses")):
        _stacked_bars(ax, table, colors)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xlim(-0.6, n - 0.4)
        bottom_axes = ax is axes[1, 0]  # one set of neuron labels, under the lower panel
        ax.set_xticks(x, _neuron_labels(cells, label) if n <= _MAX_LABELLED_ROWS and bottom_axes else [""] * n,
                      rotation=90, fontsize=7 if n > 30 else 8)
        if bottom_axes:
            ax.set_xlabel(f"selected neuron (by {label})")
        if len(table.columns):
            handles = [Patch(color=colors.get(t, UNKNOWN_COLOR), label=t) for t in table.columns]
            ax.legend(handles=handles, title=f"partner {label}", fontsize=7, title_fontsize=8, ncols=2,
                      loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:
            ax.text(0.5, 0.5, "no synapses", transform=ax.transAxes, ha="center", va="center")
    return _laid_out(fig)


def _stacked_bars(ax, table: pd.DataFrame, colors: dict[str, str], width: float = 0.85) -> None:
    """One PolyCollection for all bar segments (ax.bar makes one Rectangle artist per segment)."""
    values = table.to_numpy(dtype=float)
    n, k = values.shape
    top = np.cumsum(values, axis=1)
    bottom = top - values
    x0 = np.repeat(np.arange(n) - width / 2, k)
    x1 = x0 + width
    y0, y1 = bottom.ravel(), top.ravel()
    verts = np.stack([np.stack([x0, y0], 1), np.stack([x0, y1], 1), np.stack([x1, y1], 1),
                      np.stack([x1, y0], 1)], axis=1)
    face = np.tile([colors.get(t, UNKNOWN_COLOR) for t in table.columns], n)
    keep = values.ravel() > 0
    ax.add_collection(PolyCollection(verts[keep], facecolors=face[keep], edgecolors="none"))
    ax.set_ylim(0, max(float(top[:, -1].max()) * 1.05, 1.0) if k and n else 1.0)


def synapse_sizes(outputs: pd.DataFrame, inputs: pd.DataFrame, type_of: pd.Series, label: str,
                  colors: dict[str, str]) -> Figure:
    """Synapse size histograms: outputs by the selected neuron's type, inputs by the source's type."""
    fig, axes = _figure(12, 4.5, ncols=2)
    for ax, synapses, column, title in (
            (axes[0, 0], outputs, "pre_pt_root_id", f"Output synapse sizes by presynaptic {label}"),
            (axes[0, 1], inputs, "pre_pt_root_id", f"Input synapse sizes by presynaptic {label}")):
        sizes = synapses["size"].to_numpy()
        no_size = bool(np.isnan(sizes.astype(float)).all()) if len(sizes) else False
        labels = pd.Categorical(synapses[column].map(type_of).fillna(UNKNOWN), categories=list(colors))
        keep = (sizes > 0) & (labels.codes >= 0)
        sizes, codes = sizes[keep], labels.codes[keep]
        if len(sizes):
            edges = np.geomspace(sizes.min(), sizes.max() * 1.0001, 41)
            for code in np.unique(codes):
                t = labels.categories[code]
                counts, _ = np.histogram(sizes[codes == code], bins=edges)
                ax.stairs(counts, edges, color=colors[t], label=t, linewidth=1.4)
            ax.set_xscale("log")
            ax.legend(title=label, fontsize=7, title_fontsize=8, ncols=2)
        else:
            ax.text(0.5, 0.5, "the synapse table has no size" if no_size else "no synapses",
                    transform=ax.transAxes, ha="center", va="center")
        ax.set_title(title)
        ax.set_xlabel("synapse size (voxels)")
        ax.set_ylabel("synapses")
    return _laid_out(fig)


def soma_depth_volume(cells: pd.DataFrame, all_types: pd.DataFrame, label: str,
                      colors: dict[str, str]) -> Figure:
    """Nucleus volume vs soma depth: the selection coloured by type over every typed nucleus."""
    import seaborn as sns

    fig, axes = _figure(7.5, 6)
    ax = axes[0, 0]
    context = _context_points(all_types)
    if context is not None and len(context):
        ax.scatter(context["volume"], context["depth"], s=8, color="#d9d9d9", label="all typed nuclei",
                   zorder=1, linewidths=0)
    shown = cells.dropna(subset=["soma_depth_um", "nucleus_volume_um3"])
    if len(shown):
        hue_order = [t for t in colors if t in set(shown[label])]
        sns.scatterplot(shown, x="nucleus_volume_um3", y="soma_depth_um", hue=label, hue_order=hue_order,
                        palette=colors, ax=ax, s=45, edgecolor="black", linewidth=0.4, zorder=2)
        ax.legend(title=label, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        ax.text(0.5, 0.5, "no soma positions for the selection", transform=ax.transAxes,
                ha="center", va="center")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()  # depth grows downwards, as in the cortex
    ax.set_xlabel("nucleus volume (µm³)")
    ax.set_ylabel("soma depth (µm)")
    ax.set_title(f"Soma depth vs nucleus volume by {label}")
    return _laid_out(fig)


def _context_points(all_types: pd.DataFrame) -> pd.DataFrame | None:
    """Depth (µm) and volume of every typed nucleus, when the cell-type table carries them."""
    if "volume" not in all_types.columns or "pt_position" not in all_types.columns:
        return None
    try:  # the report asks for the cell-type table in µm
        y = np.array([p[1] for p in all_types["pt_position"]], dtype=float)
    except (TypeError, IndexError, ValueError):
        return None
    return pd.DataFrame({"volume": all_types["volume"].astype(float).to_numpy(), "depth": y})

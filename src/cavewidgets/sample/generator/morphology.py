"""Cells of the sample: placement by cortical layer, cell types, and skeletons as capsules.

Every process is a chain of tapered capsules (``p0``, ``p1`` in nm, radii ``r0``, ``r1``) so that
rasterisation can be vectorised. Paths are smooth random walks folded back into the volume
(mirror reflection), so every cell stays whole inside the slab.

Example::

    cells, caps = make_cells(SCALES["tiny"], np.random.default_rng(0))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Scale

SOMA, DENDRITE, AXON, GLIA = 0, 1, 2, 3

# (cell_type, classification_system, layer, share of that layer's neurons)
_TYPES = {
    "L1": [("NGC", 1.0)],
    "L2/3": [("23P", 0.84), ("BC", 0.06), ("MC", 0.04), ("BPC", 0.03), ("NGC", 0.03)],
    "L4": [("4P", 0.86), ("BC", 0.06), ("MC", 0.04), ("BPC", 0.04)],
    "L5": [("5P-IT", 0.5), ("5P-ET", 0.22), ("5P-NP", 0.1), ("BC", 0.1), ("MC", 0.08)],
    "L6": [("6P-IT", 0.45), ("6P-CT", 0.43), ("BC", 0.07), ("MC", 0.05)],
}
_LAYER_DENSITY = {"L1": 0.12, "L2/3": 1.0, "L4": 1.2, "L5": 0.8, "L6": 0.9}
INHIBITORY = {"BC", "MC", "BPC", "NGC"}


@dataclass
class Cell:
    """One cell: label in the volume (1-based), type, soma geometry in nm."""

    label: int
    cell_type: str
    classification_system: str
    layer: str
    center: np.ndarray
    soma_r: float
    nucleus_r: float
    nucleus_center: np.ndarray


class Capsules:
    """Growing lists of capsules, concatenated at the end."""

    def __init__(self):
        self.parts: list[tuple] = []

    def add(self, pts: np.ndarray, r0: float, r1: float, label: int, kind: int):
        """A chain through ``pts`` (n, 3) nm, radius tapering linearly from r0 to r1."""
        n = len(pts) - 1
        if n < 1:
            return
        radii = np.linspace(r0, r1, n + 1)
        self.parts.append((pts[:-1], pts[1:], radii[:-1], radii[1:], np.full(n, label), np.full(n, kind)))

    def arrays(self) -> dict[str, np.ndarray]:
        cols = list(zip(*self.parts))
        return {
            "p0": np.concatenate(cols[0]).astype(np.float32), "p1": np.concatenate(cols[1]).astype(np.float32),
            "r0": np.concatenate(cols[2]).astype(np.float32), "r1": np.concatenate(cols[3]).astype(np.float32),
            "label": np.concatenate(cols[4]).astype(np.uint32), "kind": np.concatenate(cols[5]).astype(np.uint8),
        }


def _fold(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    # mirror-reflect coordinates into [lo, hi]: a path that hits a wall bounces back
    span = hi - lo
    t = np.mod(p - lo, 2 * span)
    return lo + span - np.abs(t - span)


class Walker:
    """Smooth random walks inside the volume (nm), with a flattening factor for the thin z."""

    def __init__(self, scale: Scale, rng: np.random.Generator):
        self.rng = rng
        res = np.array(scale.resolution, float)
        self.lo = res * 1.5
        self.hi = scale.size_nm - res * 1.5
        self.z_damp = np.array([1.0, 1.0, 0.35])

    def path(self, start, heading, length_um, step_um=2.0, wiggle=0.25, pull=None) -> np.ndarray:
        """Points of a random walk from ``start`` (nm) along ``heading``; ``pull`` biases the heading."""
        n = max(2, int(length_um / step_um))
        heading = np.asarray(heading, float) / (np.linalg.norm(heading) + 1e-9)
        noise = np.cumsum(self.rng.normal(0, wiggle, (n, 3)), axis=0)
        h = heading[None] + noise * self.z_damp
        if pull is not None:
            h = h + np.asarray(pull, float)[None] * np.linspace(0, 1, n)[:, None]
        h = h * self.z_damp
        h /= np.linalg.norm(h, axis=1, keepdims=True) + 1e-9
        pts = np.vstack([start, start + np.cumsum(h * step_um * 1000.0, axis=0)])
        return _fold(pts, self.lo, self.hi)

    def tree(self, caps, label, kind, start, heading, length_um, r0, r1, depth, n_branch,
             wiggle=0.25, pull=None, step_um=2.0):
        """A branch with ``n_branch`` children per level, ``depth`` levels, tapering radii."""
        pts = self.path(start, heading, length_um, step_um, wiggle, pull)
        caps.add(pts, r0, r1, label, kind)
        if depth <= 0:
            return
        n = len(pts)
        for _ in range(n_branch):
            i = int(self.rng.integers(n // 4, max(n // 4 + 1, n - 1)))
            frac = i / n
            rb = r0 + (r1 - r0) * frac
            d = pts[min(i + 1, n - 1)] - pts[i - 1]
            side = self.rng.normal(0, 1, 3)
            side -= side.dot(d) * d / (d.dot(d) + 1e-9)
            child_heading = d / (np.linalg.norm(d) + 1e-9) + 1.2 * side / (np.linalg.norm(side) + 1e-9)
            self.tree(caps, label, kind, pts[i], child_heading, length_um * 0.55, max(rb * 0.85, r1),
                      r1, depth - 1, n_branch, wiggle, None, step_um)


def _place_somata(scale: Scale, rng, n: int, radii: np.ndarray, depth_ranges) -> np.ndarray:
    """Non-overlapping soma centres (nm) at the requested depth ranges (um)."""
    size = scale.size_nm
    z_margin = np.maximum(radii * 1000 + scale.resolution[2] * 2, 0)
    centers = np.zeros((n, 3))
    for i in range(n):
        for attempt in range(400):
            y0, y1 = depth_ranges[i]
            c = np.array([
                rng.uniform(radii[i] * 1000 + 4000, size[0] - radii[i] * 1000 - 4000),
                rng.uniform(max(y0 * 1000, radii[i] * 1000 + 3000), min(y1 * 1000, size[1] - radii[i] * 1000 - 3000)),
                rng.uniform(z_margin[i], size[2] - z_margin[i]) if size[2] > 2 * z_margin[i] else size[2] / 2,
            ])
            if i == 0:
                break
            d = np.linalg.norm(centers[:i] - c, axis=1)
            if np.all(d > (radii[:i] + radii[i]) * 1000 + 2500):
                break
        centers[i] = c
    return centers


def make_cells(scale: Scale, rng: np.random.Generator) -> tuple[list[Cell], dict[str, np.ndarray]]:
    """All cells of ``scale`` and their capsules (dict of arrays, see :class:`Capsules`)."""
    layers = scale.layers
    weights = np.array([_LAYER_DENSITY[k] * (layers[k][1] - layers[k][0]) for k in layers])
    counts = np.floor(weights / weights.sum() * scale.n_neurons).astype(int)
    counts[np.argmax(weights)] += scale.n_neurons - counts.sum()
    plan = []  # (layer, type, classification)
    for (lname, c) in zip(layers, counts):
        types, shares = zip(*_TYPES[lname])
        picks = rng.choice(len(types), size=c, p=np.array(shares) / sum(shares))
        for p in picks:
            t = types[p]
            plan.append((lname, t, "inhibitory_neuron" if t in INHIBITORY else "excitatory_neuron"))
    n_astro = int(round(scale.n_glia * 0.6))
    for i in range(scale.n_glia):
        lname = list(layers)[int(rng.integers(1, len(layers)))] if i % 5 else "L1"
        plan.append((lname, "astrocyte" if i < n_astro else "microglia", "nonneuron"))

    radii = np.array([
        (4.3 if t == "astrocyte" else 3.6 if t == "microglia" else 5.2 if t in INHIBITORY else
         6.8 if t == "5P-ET" else 6.0) * rng.uniform(0.9, 1.1)
        for (_, t, _) in plan
    ])
    # z is thin: flatten somata a bit so they fit
    radii = np.minimum(radii, scale.size_nm[2] / 1000 / 2 - 2.0)
    centers = _place_somata(scale, rng, len(plan), radii, [layers[l] for (l, _, _) in plan])
    walker = Walker(scale, rng)
    caps = Capsules()
    cells = []
    top = 2000.0  # nm below the top of the volume, where apical tufts spread
    for i, ((lname, t, cls), c, r) in enumerate(zip(plan, centers, radii)):
        label = i + 1
        rn = r * rng.uniform(0.6, 0.7)
        nc = c + rng.normal(0, 0.4, 3) * np.array([1, 1, 0.3]) * 1000
        cells.append(Cell(label, t, cls, lname, c, float(r), float(rn), nc))
        # soma: a short vertical capsule (pyramidal somata point up)
        elong = 0.35 * r * 1000 if cls == "excitatory_neuron" else 0.1 * r * 1000
        caps.add(np.array([c + [0, elong, 0], c - [0, elong, 0]]), r * 1000, r * 1000 * 0.9, label, SOMA)
        _grow(walker, caps, rng, label, t, cls, c, r, top, scale)
    return cells, caps.arrays()


def _unit(v):
    v = np.asarray(v, float)
    return v / (np.linalg.norm(v) + 1e-9)


def _grow(w: Walker, caps: Capsules, rng, label, t, cls, c, r, top, scale):
    """Dendrites and axon (or glial processes) of one cell."""
    R = r * 1000
    depth_um = c[1] / 1000
    if cls == "nonneuron":
        n_proc = 12 if t == "astrocyte" else 7
        for _ in range(n_proc):
            h = _unit(rng.normal(0, 1, 3))
            w.tree(caps, label, GLIA, c + h * R * 0.8, h, rng.uniform(14, 26) if t == "astrocyte" else rng.uniform(18, 32),
                   0.9 if t == "astrocyte" else 0.65, 0.6, 1, 2, wiggle=0.45, step_um=1.5)
        return
    if cls == "excitatory_neuron":
        # apical dendrite up to the pia (shorter for 6P-CT and 4P), tuft at the end
        reach = depth_um - (top / 1000) - rng.uniform(5, 25)
        if t in ("4P", "6P-CT"):
            reach *= rng.uniform(0.45, 0.7)
        start = c - [0, R * 1.2, 0]
        apical = w.path(start, [0, -1, 0], max(reach, 20), wiggle=0.06)
        caps.add(apical, 1.7 * 1000, 0.9 * 1000, label, DENDRITE)
        n = len(apical)
        for j in range(int(rng.integers(2, 5))):  # obliques
            i = int(rng.integers(n // 6, max(n // 6 + 1, n - 2)))
            w.tree(caps, label, DENDRITE, apical[i], [rng.choice([-1, 1]), rng.uniform(-0.3, 0.3), rng.normal(0, .3)],
                   rng.uniform(25, 55), 1.0 * 1000, 0.6 * 1000, 0, 0)
        if t in ("23P", "5P-ET", "5P-IT"):
            for _ in range(int(rng.integers(2, 4))):  # tuft
                w.tree(caps, label, DENDRITE, apical[-1], [rng.normal(0, 1), 0.2, rng.normal(0, 0.3)],
                       rng.uniform(30, 60), 0.9 * 1000, 0.6 * 1000, 1, 1)
        n_basal = int(rng.integers(4, 7))
        for _ in range(n_basal):
            h = _unit([rng.normal(0, 1), abs(rng.normal(0.5, 0.5)), rng.normal(0, 0.4)])
            w.tree(caps, label, DENDRITE, c + h * R * 0.9, h, rng.uniform(35, 70), 1.3 * 1000, 0.6 * 1000, 1, 2)
        # axon: down toward the white matter, with horizontal collaterals
        ax_len = rng.uniform(260, 400) if t != "5P-ET" else rng.uniform(350, 500)
        main = w.path(c + [0, R * 1.1, 0], [0, 1, 0], ax_len, wiggle=0.08)
        caps.add(main, 0.62 * 1000, 0.6 * 1000, label, AXON)
        n = len(main)
        for _ in range(int(rng.integers(3, 6))):
            i = int(rng.integers(2, max(3, n // 2)))
            w.tree(caps, label, AXON, main[i], [rng.choice([-1, 1]), rng.uniform(-0.5, 0.2), rng.normal(0, 0.3)],
                   rng.uniform(50, 120), 0.6 * 1000, 0.6 * 1000, 1, 1, wiggle=0.15)
        return
    # inhibitory: multipolar dendrites and a local, bushy axon (MC: ascending to L1)
    for _ in range(int(rng.integers(4, 7))):
        h = _unit(rng.normal(0, 1, 3) * [1, 1, 0.5])
        w.tree(caps, label, DENDRITE, c + h * R * 0.9, h, rng.uniform(40, 80), 1.1 * 1000, 0.6 * 1000, 1, 1,
               wiggle=0.3)
    if t == "MC":
        up = w.path(c - [0, R * 1.1, 0], [0, -1, 0], max(depth_um - 30, 30), wiggle=0.08)
        caps.add(up, 0.6 * 1000, 0.6 * 1000, label, AXON)
        for _ in range(3):
            w.tree(caps, label, AXON, up[-1], [rng.choice([-1, 1]), 0, rng.normal(0, .3)], rng.uniform(80, 160),
                   600, 600, 1, 1, wiggle=0.15)
        start, n_br, length = c + [0, R * 1.1, 0], 3, 60
    elif t == "BPC":
        start, n_br, length = c + [0, R * 1.1, 0], 2, 150
    else:  # BC, NGC: dense local arbor
        start, n_br, length = c + [0, R * 1.1, 0], 4, 70
    for k in range(n_br):
        h = [0, 1, 0] if t == "BPC" else _unit(rng.normal(0, 1, 3))
        if t == "BPC" and k % 2:
            h = [0, -1, 0]
        w.tree(caps, label, AXON, start, h, length * rng.uniform(0.8, 1.3), 600, 600, 2, 2, wiggle=0.35)

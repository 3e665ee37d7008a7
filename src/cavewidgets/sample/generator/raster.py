"""Vectorised rasterisation of tapered capsules into a label volume, and the EM-like image.

Capsules are processed in batches: every voxel of every capsule's bounding box is enumerated
with ``np.repeat`` arithmetic, tested against the capsule's distance field, and written. Thicker
capsules are written first so that a thin process crossing a thick one notches it instead of
cutting it in two.

Example::

    labels = rasterize(caps, shape=(64, 64, 16), resolution=(512, 512, 640))
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_SPACING = 0.5  # distance between sphere stamps along a capsule, in finest voxel sides
_RADIUS_STEP = 50.0  # nm; radii are quantised to stencils of this step


def _stencil(radius_nm: float, res: np.ndarray, strides: np.ndarray) -> np.ndarray:
    """Flat offsets of the voxels whose centres lie within ``radius_nm`` of a voxel centre."""
    h = np.ceil(radius_nm / res).astype(int)
    g = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in h], indexing="ij"), -1).reshape(-1, 3)
    keep = ((g * res) ** 2).sum(1) <= radius_nm**2 + 1e-6
    return g[keep] @ strides


def rasterize(caps: dict, shape, resolution) -> np.ndarray:
    """Write ``caps['label']`` into a ``shape`` uint32 volume wherever a capsule covers a voxel.

    ``caps`` holds ``p0``, ``p1`` (n, 3) nm, ``r0``, ``r1`` (n,) nm and ``label`` (n,). Each
    capsule is drawn as spheres stamped densely along its axis (one precomputed stencil per
    quantised radius). Thick stamps go first, so a thin process crossing a thick one notches it
    rather than cutting it in two; crossings of equally thin processes do cut one of them
    (the chunkedgraph bridges such gaps, see :mod:`.graph`).
    """
    res = np.asarray(resolution, np.float64)
    p0, p1 = caps["p0"].astype(np.float64), caps["p1"].astype(np.float64)
    r0, r1, lab = caps["r0"].astype(np.float64), caps["r1"].astype(np.float64), caps["label"]
    pad = int(np.ceil(max(r0.max(), r1.max()) / res.min())) + 1
    pshape = np.array(shape) + 2 * pad
    strides = np.array([pshape[1] * pshape[2], pshape[2], 1], np.int64)
    vol = np.zeros(tuple(pshape), np.uint32)
    flat = vol.reshape(-1)
    length = np.linalg.norm(p1 - p0, axis=1)
    n = np.maximum(1, np.ceil(length / (res.min() * _SPACING)).astype(np.int64)) + 1
    rep = np.repeat(np.arange(len(n)), n)
    t = (np.arange(len(rep)) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n - 1, n)
    pts = p0[rep] + t[:, None] * (p1[rep] - p0[rep])
    rad = r0[rep] + t * (r1[rep] - r0[rep])
    rclass = np.round(rad / _RADIUS_STEP).astype(np.int64)
    base = (np.floor(pts / res).astype(np.int64) + pad) @ strides
    labels = lab[rep]
    for rc in np.unique(rclass)[::-1]:  # thick first, thin last
        sel = rclass == rc
        st = _stencil(rc * _RADIUS_STEP, res, strides)
        b, lb = base[sel], labels[sel]
        step = max(1, 4_000_000 // len(st))
        for k in range(0, len(b), step):
            flat[(b[k : k + step, None] + st[None, :]).ravel()] = np.repeat(lb[k : k + step], len(st))
    return np.ascontiguousarray(vol[pad:-pad, pad:-pad, pad:-pad])


def remove_specks(labels: np.ndarray, min_voxels: int = 4) -> np.ndarray:
    """Zero connected pieces smaller than ``min_voxels`` (crumbs left where processes cross)."""
    import cc3d

    cc = cc3d.connected_components(labels, connectivity=6)
    counts = np.bincount(cc.reshape(-1))
    small = counts < min_voxels
    small[0] = False
    labels[small[cc]] = 0
    return labels


def boundary_mask(labels: np.ndarray, one_sided: bool = False) -> np.ndarray:
    """Voxels whose label differs from one of their 6 neighbours (membranes); ``one_sided``
    marks only the lower side of each face, so membranes are one voxel thick."""
    b = np.zeros(labels.shape, bool)
    for ax in range(3):
        sl_a = [slice(None)] * 3
        sl_b = [slice(None)] * 3
        sl_a[ax], sl_b[ax] = slice(0, -1), slice(1, None)
        diff = labels[tuple(sl_a)] != labels[tuple(sl_b)]
        b[tuple(sl_a)] |= diff
        if not one_sided:
            b[tuple(sl_b)] |= diff
    return b


def em_image(labels: np.ndarray, nucleus: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An EM-like uint8 image: light cytoplasm, dark membranes and nuclear envelopes, darker
    nuclei, blotchy grey neuropil where nothing is segmented, and grain everywhere."""
    shape = labels.shape
    # blotchy neuropil: coarse noise blown up by repetition, then lightly smoothed
    f = (6, 6, 3)
    small = rng.normal(0, 1, tuple(-(-s // k) for s, k in zip(shape, f))).astype(np.float32)
    texture = small.repeat(f[0], 0).repeat(f[1], 1).repeat(f[2], 2)[: shape[0], : shape[1], : shape[2]]
    texture = ndimage.uniform_filter1d(ndimage.uniform_filter1d(texture, 5, axis=0), 5, axis=1)
    img = (128 + texture * 18).astype(np.int16)
    del texture
    img[labels > 0] = 178
    img[nucleus] = 112
    # one boundary pass over (cell, nucleus) pairs marks membranes and nuclear envelopes alike
    img[boundary_mask(labels.astype(np.uint32) * 2 + nucleus, one_sided=True)] = 60
    grain = rng.integers(-16, 17, size=(64, 64, 32), dtype=np.int16)  # tiled: cheap, looks the same
    reps = [-(-s // g) for s, g in zip(shape, grain.shape)]
    img += np.tile(grain, reps)[: shape[0], : shape[1], : shape[2]]
    return np.clip(img, 0, 255).astype(np.uint8)

"""L2 cache attributes computed from the voxels of each level-2 node.

``rep_coord_nm`` is the voxel (times resolution) of the node nearest its centroid, ``size_nm3``
its volume, ``area_nm2`` its boundary faces, ``max_dt_nm``/``mean_dt_nm`` from a Euclidean
distance transform of the L2 label volume, ``pca``/``pca_val`` the principal axes (rows, largest
first) and variances (nm^2) of its voxel coordinates.

All per-node reductions run on the foreground voxels sorted by label once (``reduceat``), which
is much cheaper than scattered ``ufunc.at`` updates.

Example::

    attrs = l2_attributes(h.l2_cc, len(h.l2_ids), resolution=(512, 512, 640))
"""

from __future__ import annotations

import edt
import numpy as np


def l2_attributes(l2_cc: np.ndarray, n_l2: int, resolution) -> dict[str, np.ndarray]:
    """Per dense L2 index (label - 1) attribute arrays, see the module docstring."""
    res = np.asarray(resolution, np.float64)
    shape = l2_cc.shape
    flat = l2_cc.reshape(-1)
    fg = np.flatnonzero(flat)
    lab = flat[fg]
    order = np.argsort(lab, kind="stable")
    fg, lab = fg[order], lab[order]
    del order
    starts = np.concatenate([[0], np.flatnonzero(np.diff(lab)) + 1])
    if len(starts) != n_l2:
        raise ValueError(f"expected labels 1..{n_l2} in the L2 volume, found {len(starts)}")
    cnt = np.diff(np.append(starts, len(lab)))
    seg = np.repeat(np.arange(n_l2), cnt)
    xyz = [c.astype(np.int64) for c in np.unravel_index(fg, shape)]  # voxel coordinates, exact sums

    mean = np.stack([np.add.reduceat(c, starts) for c in xyz], 1) / cnt[:, None]  # voxels
    # representative voxel: the first member nearest the centroid
    d2 = sum(((c - mean[seg, a]) * res[a]) ** 2 for a, c in enumerate(xyz))
    best = np.minimum.reduceat(d2, starts)
    pos = np.where(d2 == best[seg], np.arange(len(d2)), len(d2))
    rep_i = np.minimum.reduceat(pos, starts)
    rep = np.stack([c[rep_i] for c in xyz], 1) * res
    del d2, pos

    # covariance of voxel coordinates (nm) -> principal axes
    cov = np.empty((n_l2, 3, 3))
    for a in range(3):
        for b in range(a, 3):
            exy = np.add.reduceat(xyz[a] * xyz[b], starts) / cnt
            cov[:, a, b] = cov[:, b, a] = (exy - mean[:, a] * mean[:, b]) * res[a] * res[b]
    vals, vecs = np.linalg.eigh(cov)
    vals, vecs = np.maximum(vals[:, ::-1], 0), vecs[:, :, ::-1]
    pca = np.transpose(vecs, (0, 2, 1)).reshape(n_l2, 9)  # row k = k-th component

    # boundary faces: toward another label, background, or the volume's edge
    face = np.array([res[1] * res[2], res[0] * res[2], res[0] * res[1]])
    area = np.zeros(n_l2)
    for ax in range(3):
        sa = [slice(None)] * 3
        sb = [slice(None)] * 3
        sa[ax], sb[ax] = slice(0, -1), slice(1, None)
        a, b = l2_cc[tuple(sa)], l2_cc[tuple(sb)]
        diff = a != b
        for side in (a, b):
            s = side[diff]
            area += np.bincount(s, minlength=n_l2 + 1)[1:] * face[ax]
        for edge in (0, -1):
            sl = [slice(None)] * 3
            sl[ax] = edge
            area += np.bincount(l2_cc[tuple(sl)].reshape(-1), minlength=n_l2 + 1)[1:] * face[ax]

    dt = edt.edt(l2_cc, anisotropy=tuple(res), black_border=True, parallel=2).reshape(-1)[fg]
    return {
        "rep_coord_nm": rep.astype(np.float32),
        "size_nm3": (cnt * res.prod()).astype(np.float32),
        "area_nm2": area.astype(np.float32),
        "max_dt_nm": np.maximum.reduceat(dt, starts).astype(np.float32),
        "mean_dt_nm": (np.add.reduceat(dt.astype(np.float64), starts) / cnt).astype(np.float32),
        "pca": pca.astype(np.float32),
        "pca_val": vals.astype(np.float32),
    }

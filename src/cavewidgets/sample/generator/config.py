"""Sizes, resolutions and PyChunkedGraph id encoding of the sample datastack.

Three scales: ``"full"`` (the shipped sample: ~320 neurons in a cortex-like slab), ``"tiny"``
(a few cells, for quick iteration) and ``"fly"`` (the small second datastack shaped like a fly
datastack, FlyWire/FANC: other names, 4x4x40 nm viewer and table resolution, synapses with
neurotransmitter predictions, fly cell types, no soma table; see :mod:`.fly`). Volumes are indexed ``[x, y, z]``; depth below the pia is +y.

Example::

    cfg = SCALES["full"]
    sv = encode_ids(cfg, 1, chunk_x, chunk_y, chunk_z, segment)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DATASTACK = "minnie65_sample"  # the sample datastack (and aligned volume) name
FLY_DATASTACK = "flywire_sample"  # the fly-shaped sample datastack (and aligned volume) name

N_LAYERS = 12  # like minnie65: root ids start with 8646911... (layer 12 in the top 8 bits)
LAYER_ID_BITS = 8
SPATIAL_BITS = 10  # bits per dimension for layers 1 and 2, as PyChunkedGraph's SPATIAL_BITS


def spatial_bit_masks(n_layers: int = N_LAYERS, s_bits: int = SPATIAL_BITS) -> dict[int, int]:
    """Bits per chunk coordinate for each layer, as PyChunkedGraph's ``compute_bitmasks``.

    Example: ``spatial_bit_masks()[2] == 10`` and ``spatial_bit_masks()[12] == 1``.
    """
    masks = {}
    for layer in range(n_layers, 1, -1):
        masks[layer] = max(1, n_layers - layer)
    masks[2] = s_bits
    masks[1] = masks[2]
    return dict(sorted(masks.items()))


BIT_MASKS = spatial_bit_masks()


@dataclass(frozen=True)
class Scale:
    """Geometry and counts of one build scale."""

    name: str
    shape: tuple[int, int, int]  # voxels x, y, z at mip 0
    resolution: tuple[int, int, int]  # nm per voxel
    chunk_size: tuple[int, int, int]  # PyChunkedGraph chunk, voxels
    sv_block: tuple[int, int, int]  # supervoxels never cross these blocks (a few per chunk)
    precomputed_chunk: tuple[int, int, int]
    n_neurons: int
    n_glia: int
    n_synapses: int  # target number of synapse rows
    n_merge_errors: int  # initial false merges, fixed later by splits
    n_split_errors: int  # initial false splits, fixed later by merges
    n_proofread: int
    seed: int = 20250106
    kind: str = "minnie"  # "minnie" (MICrONS-shaped names and tables) or "fly" (see .fly)
    # cortical layer boundaries in um below the pia (top of the volume, y = 0)
    layers: dict = field(default_factory=dict)

    @property
    def size_nm(self) -> np.ndarray:
        return np.array(self.shape, float) * np.array(self.resolution, float)

    @property
    def chunk_grid(self) -> tuple[int, int, int]:
        return tuple(s // c for s, c in zip(self.shape, self.chunk_size))


_FULL_LAYERS = {"L1": (0, 90), "L2/3": (90, 300), "L4": (300, 420), "L5": (420, 580), "L6": (580, 721)}

SCALES = {
    "full": Scale(
        name="full", shape=(512, 1408, 64), resolution=(512, 512, 640), chunk_size=(16, 16, 8),
        sv_block=(8, 8, 4), precomputed_chunk=(64, 64, 32), n_neurons=320, n_glia=36,
        n_synapses=550_000, n_merge_errors=14, n_split_errors=14, n_proofread=40,
        layers=_FULL_LAYERS,
    ),
    "tiny": Scale(
        name="tiny", shape=(128, 384, 32), resolution=(512, 512, 640), chunk_size=(16, 16, 8),
        sv_block=(8, 8, 4), precomputed_chunk=(64, 64, 32), n_neurons=16, n_glia=4,
        n_synapses=5_000, n_merge_errors=2, n_split_errors=2, n_proofread=6,
        layers={"L1": (0, 20), "L2/3": (20, 70), "L4": (70, 110), "L5": (110, 150), "L6": (150, 197)},
    ),
    # smaller than "tiny": it is built on first use of client("fly") and in CI
    "fly": Scale(
        name="fly", shape=(96, 256, 32), resolution=(512, 512, 640), chunk_size=(16, 16, 8),
        sv_block=(8, 8, 4), precomputed_chunk=(64, 64, 32), n_neurons=12, n_glia=0,
        n_synapses=3_000, n_merge_errors=1, n_split_errors=1, n_proofread=0, seed=20250107,
        layers={"L1": (0, 15), "L2/3": (15, 50), "L4": (50, 80), "L5": (80, 105), "L6": (105, 131)},
        kind="fly",
    ),
}


def encode_ids(layer: int, x, y, z, segment) -> np.ndarray:
    """uint64 PyChunkedGraph ids: layer | chunk x | chunk y | chunk z | segment id.

    Example::

        encode_ids(12, 0, 0, 0, 7353549341)  # -> 864691135808684573
    """
    bits = BIT_MASKS[layer]
    layer_offset = 64 - LAYER_ID_BITS
    x_off, y_off, z_off = layer_offset - bits, layer_offset - 2 * bits, layer_offset - 3 * bits
    seg = np.asarray(segment, dtype=np.uint64)
    if np.any(seg >= np.uint64(1) << np.uint64(z_off)):
        raise ValueError(f"segment id too large for layer {layer}")
    u = np.uint64
    return (
        (u(layer) << u(layer_offset))
        | (np.asarray(x, dtype=np.uint64) << u(x_off))
        | (np.asarray(y, dtype=np.uint64) << u(y_off))
        | (np.asarray(z, dtype=np.uint64) << u(z_off))
        | seg
    )


def decode_ids(ids) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(layer, x, y, z, segment) of uint64 ids (inverse of :func:`encode_ids`, one layer or mixed).

    Example::

        layer, x, y, z, seg = decode_ids(np.array([864691135808684573], np.uint64))
    """
    ids = np.asarray(ids, dtype=np.uint64)
    layer = (ids >> np.uint64(64 - LAYER_ID_BITS)).astype(np.int64)
    bits = np.array([BIT_MASKS.get(int(l), 1) for l in range(N_LAYERS + 2)], dtype=np.uint64)[layer]
    layer_offset = np.uint64(64 - LAYER_ID_BITS)
    mask = (np.uint64(1) << bits) - np.uint64(1)
    x = ((ids >> (layer_offset - bits)) & mask).astype(np.int64)
    y = ((ids >> (layer_offset - 2 * bits)) & mask).astype(np.int64)
    z = ((ids >> (layer_offset - 3 * bits)) & mask).astype(np.int64)
    seg_mask = (np.uint64(1) << (layer_offset - np.uint64(3) * bits)) - np.uint64(1)
    return layer, x, y, z, (ids & seg_mask)

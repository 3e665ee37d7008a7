"""Mesh fragments of the sample generator: grouping by edit history, coverage, index."""

from __future__ import annotations

import json

import DracoPy
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cavewidgets.sample.generator.config import BIT_MASKS, N_LAYERS, encode_ids
from cavewidgets.sample.generator.meshes import INDEX_FILE, MESH_DIR, mesh_info, write_meshes

RES = (512, 512, 640)
CHUNK = (16, 16, 8)


def _sample(tmp_path):
    """Two tubes along x (cells 1 and 2) in a 64 x 64 x 16 volume; one L2 node per cell per
    chunk. Root A0 held both cells until a split made A1 (cell 1) and A2 (cell 2); cell 2's
    last L2 node was also split off into its own root B at the start."""
    shape = (64, 64, 16)
    xx, yy, zz = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    cells = np.zeros(shape, np.int64)
    cells[((yy - 20) ** 2 + (zz - 8) ** 2) <= 4] = 1
    cells[((yy - 44) ** 2 + (zz - 8) ** 2) <= 4] = 2
    chunk = np.stack([xx // CHUNK[0], yy // CHUNK[1], zz // CHUNK[2]], -1)
    keys = np.where(cells > 0, cells * 1000 + chunk[..., 0] * 100 + chunk[..., 1] * 10 + chunk[..., 2], 0)
    uniq, dense = np.unique(keys, return_inverse=True)
    l2_cc = dense.reshape(shape).astype(np.uint32)  # 0 = background (key 0 sorts first)
    uk = uniq[1:]
    l2_ids = encode_ids(2, (uk // 100) % 10, (uk // 10) % 10, uk % 10, np.arange(1, len(uk) + 1))
    cell_of = uk // 1000
    r = [int(encode_ids(N_LAYERS, 0, 0, 0, s)) for s in (11, 12, 13, 14)]  # A0, A1, A2, B
    last2 = int(l2_ids[cell_of == 2][-1])
    rows = [(r[0], int(x)) for x, c in zip(l2_ids, cell_of) if int(x) != last2]
    rows += [(r[1] if c == 1 else r[2], int(x)) for x, c in zip(l2_ids, cell_of) if int(x) != last2]
    rows += [(r[3], last2)]
    (tmp_path / "chunkedgraph").mkdir()
    pq.write_table(pa.table({"root_id": pa.array([a for a, _ in rows], pa.uint64()),
                             "l2_id": pa.array([b for _, b in rows], pa.uint64())}),
                   tmp_path / "chunkedgraph" / "root_l2.parquet")
    seg = tmp_path / "precomputed" / "segmentation"
    seg.mkdir(parents=True)
    (seg / "info").write_text(json.dumps({"scales": [{"resolution": list(RES), "voxel_offset": [0, 0, 0]}]}))
    (tmp_path / "datastack.json").write_text(json.dumps({"chunkedgraph": {
        "chunk_size": list(CHUNK), "n_layers": N_LAYERS, "n_bits_for_layer_id": 8,
        "spatial_bit_masks": {str(k): v for k, v in BIT_MASKS.items()}}}))
    return l2_cc, l2_ids, cell_of, last2, seg


def test_fragments_follow_history_and_cover_the_voxels(tmp_path):
    l2_cc, l2_ids, cell_of, last2, seg = _sample(tmp_path)
    n = write_meshes(tmp_path, progress=False, l2_cc=l2_cc, l2_ids=l2_ids, workers=1)
    index = pq.read_table(seg / MESH_DIR / INDEX_FILE).to_pandas()
    assert json.loads((seg / MESH_DIR / "info").read_text()) == mesh_info(CHUNK)
    assert sorted(index.l2_id.astype(np.uint64)) == sorted(l2_ids)  # every L2 node has a fragment
    # cell 1, cell 2 and the split-off L2 node were never all in the same roots: 3 fragments
    assert n == 3 and index.seg_id.nunique() == 3
    by_l2 = index.set_index(index.l2_id.astype(np.uint64))
    assert by_l2.loc[np.uint64(last2), "seg_id"] == last2
    seg_of_cell = {c: set(by_l2.loc[l2_ids[cell_of == c], "seg_id"]) for c in (1, 2)}
    assert len(seg_of_cell[1]) == 1 and len(seg_of_cell[2]) == 2
    # each fragment decodes to a surface around its cell's voxels (nm, voxel corners)
    for c in (1, 2):
        verts = []
        for _, row in index[index.l2_id.astype(np.uint64).isin(l2_ids[cell_of == c])].drop_duplicates("seg_id").iterrows():
            blob = (seg / MESH_DIR / "initial" / "2" / row.file).read_bytes()[row["offset"]:row["offset"] + row["size"]]
            verts.append(np.asarray(DracoPy.decode(blob).points))
        verts = np.concatenate(verts)
        vox = np.argwhere(np.isin(l2_cc, np.flatnonzero(cell_of == c) + 1))
        lo, hi = vox.min(0) * RES, (vox.max(0) + 1) * RES
        pad = np.array(RES) * 2  # x/y are meshed at half resolution
        assert (verts.min(0) >= lo - pad).all() and (verts.max(0) <= hi + pad).all()
        assert (verts.min(0) <= lo + pad).all() and (verts.max(0) >= hi - pad).all()

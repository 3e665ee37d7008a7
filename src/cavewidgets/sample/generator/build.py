"""The build pipeline: geometry -> volumes -> chunkedgraph -> L2 cache -> edits -> tables -> files.

Each step draws from its own seeded random stream, so changing one step leaves the others'
output unchanged.

Example::

    build_into(Path("/tmp/x"), scale="tiny", progress=False, t0=T0, version="1")
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .config import BIT_MASKS, DATASTACK, FLY_DATASTACK, LAYER_ID_BITS, N_LAYERS, SCALES
from .graph import add_bridges, build_hierarchy
from .history import make_history
from .l2attrs import l2_attributes
from .morphology import make_cells
from .precomputed import write_volume
from .raster import em_image, rasterize, remove_specks
from .tables import make_tables

PCG_TABLE = "sample_pcg"
# kind -> names and data paths. One service serves several datastacks (as real CAVE does), so the
# fly sample's precomputed files sit under a path that names it (the service picks the datastack
# of a request from its URL).
NAMES = {
    "minnie": {"datastack": DATASTACK, "aligned_volume": DATASTACK, "pcg_table": PCG_TABLE,
               "image_dir": "precomputed/image", "segmentation_dir": "precomputed/segmentation",
               "soma_table": "nucleus_detection_v0", "synapse_table": "synapses_pni_2", "viewer_resolution": None,
               "description": "Generated sample datastack shaped like MICrONS minnie65_public (cavewidgets CAVE in a box)."},
    "fly": {"datastack": FLY_DATASTACK, "aligned_volume": FLY_DATASTACK, "pcg_table": f"{FLY_DATASTACK}_pcg",
            "image_dir": f"precomputed/{FLY_DATASTACK}/image",
            "segmentation_dir": f"precomputed/{FLY_DATASTACK}/segmentation",
            "soma_table": None, "synapse_table": "synapses_nt_v1", "viewer_resolution": [4, 4, 40],
            "description": "Generated sample datastack shaped like a fly datastack (FlyWire/FANC: 4x4x40 nm "
                           "tables, neurotransmitter synapses, no soma table; cavewidgets CAVE in a box)."},
}
STEPS = ["cells", "rasterize", "chunkedgraph", "l2 cache", "edits", "tables", "image", "write volumes",
         "write tables", "meshes"]


def _u64(a) -> pa.Array:
    return pa.array(np.asarray(a, np.uint64), pa.uint64())


def _write(df_or_table, path: Path):
    table = df_or_table if isinstance(df_or_table, pa.Table) else pa.Table.from_pandas(df_or_table, preserve_index=False)
    # every timestamp as timestamp[us, UTC] (pandas would leave ns), as DATA_LAYOUT.md says
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f for f in table.schema
    ]
    table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    pq.write_table(table, path, compression="zstd")


def _nuclei(cells, scale):
    caps = {
        "p0": np.array([c.nucleus_center for c in cells], np.float32),
        "p1": np.array([c.nucleus_center for c in cells], np.float32),
        "r0": np.array([c.nucleus_r * 1000 for c in cells], np.float32),
        "r1": np.array([c.nucleus_r * 1000 for c in cells], np.float32),
        "label": np.array([c.label for c in cells], np.uint32),
    }
    return rasterize(caps, scale.shape, scale.resolution)


def build_into(out: Path, *, scale: str, progress: bool, t0: datetime, version: str) -> dict:
    """Write the whole sample (everything but ``COMPLETE``) into the empty directory ``out``;
    returns the seconds each step took."""
    sc = SCALES[scale]
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(sc.seed).spawn(8)]
    clock = _StepClock(progress)

    clock.step("cells")
    cells, caps = make_cells(sc, rngs[0])
    clock.step("rasterize")
    cells_vol = remove_specks(rasterize(caps, sc.shape, sc.resolution))
    nuc = _nuclei(cells, sc)
    nucleus_mask = (nuc > 0) & (nuc == cells_vol)
    del nuc
    clock.step("chunkedgraph")
    h = build_hierarchy(cells_vol, sc)
    # the image and both volumes are written in a worker thread while the main thread computes
    # the L2 cache, edits and tables: both sides spend their time in C code that releases the GIL
    pool = ThreadPoolExecutor(max_workers=1)
    volumes = pool.submit(_write_volumes, out, sc, cells_vol, nucleus_mask, h.sv_volume, rngs[3])
    try:
        clock.step("l2 cache")
        attrs = l2_attributes(h.l2_cc, len(h.l2_ids), sc.resolution)
        add_bridges(h, attrs["rep_coord_nm"])
        clock.step("edits")
        versions = [t0 + timedelta(days=7), t0 + timedelta(days=28)]
        neurons = {c.label for c in cells if c.classification_system != "nonneuron"}
        hist, edges = make_history(h, rngs[1], t0, sc.n_merge_errors, sc.n_split_errors, neurons,
                                   attrs["rep_coord_nm"] / np.array(sc.resolution, np.float64))
        clock.step("tables")
        frames, table_meta = _make_tables(sc, cells, caps, cells_vol, h, attrs, hist, t0, versions, rngs[2])
    finally:
        pool.shutdown(wait=True)  # never leave the worker writing into a directory being removed
    clock.step("image and volumes (rest)")
    clock.timings.update(volumes.result())  # re-raises the worker's exception, if any
    clock.step("write tables", done=2)
    _write_chunkedgraph(out / "chunkedgraph", h, attrs, edges, hist)
    _write_tables(out / "tables", frames, table_meta)
    (out / "datastack.json").write_text(json.dumps(_datastack(sc, versions, version, t0, len(h.l2_ids)), indent=1))
    clock.step("meshes")
    _write_meshes(out, progress)
    clock.step(None)
    return clock.timings


class _StepClock:
    """The build's progress bar and the seconds each named step took (a step ends when the next begins)."""

    def __init__(self, progress: bool):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=len(STEPS), desc="building sample", disable=not progress, unit="step")
        self.timings: dict[str, float] = {}
        self._start, self._name = time.perf_counter(), None

    def step(self, name: str | None, done: int = 1) -> None:
        """Begin step ``name`` (None: the build is over), counting ``done`` steps as finished."""
        now = time.perf_counter()
        if self._name is not None:
            self.timings[self._name] = round(now - self._start, 2)
            self.bar.update(done)
        self._start, self._name = now, name
        if name is None:
            self.bar.close()
        else:
            self.bar.set_postfix_str(name)


def _make_tables(sc, cells, caps, cells_vol, h, attrs, hist, t0: datetime, versions: list, rng) -> tuple[dict, dict]:
    """The annotation tables (MICrONS- or fly-shaped) and their metadata."""
    soma_l2 = {}

    def root_at_cell(label, ts):
        # root containing the cell's largest L2 node at time ts
        if label not in soma_l2:
            nodes = np.flatnonzero(h.l2_cell == label)
            soma_l2[label] = int(nodes[np.argmax(attrs["size_nm3"][nodes])])
        node = soma_l2[label]
        for r, m in hist.root_members.items():
            if hist.root_created[r] <= ts and (hist.root_expired[r] is None or hist.root_expired[r] > ts):
                if node in m:
                    return r
        raise AssertionError("every L2 node has a root at every time after T0")

    ctx = SimpleNamespace(scale=sc, res=np.array(sc.resolution, np.float64), cells=cells, caps=caps,
                          cells_vol=cells_vol, sv_volume=h.sv_volume, t0=t0, t_static=t0 - timedelta(days=3),
                          versions=versions, root_at_cell=root_at_cell)
    if sc.kind == "fly":
        from .fly import make_fly_tables

        return make_fly_tables(ctx, rng)
    return make_tables(ctx, rng)


def _write_chunkedgraph(cg: Path, h, attrs: dict, edges: np.ndarray, hist) -> None:
    """The chunkedgraph files: supervoxels, L2 nodes with their cache attributes, L2 edges, roots,
    root membership and the edit operations (DATA_LAYOUT.md)."""
    cg.mkdir(parents=True)
    _write(pa.table({"sv_id": _u64(h.sv_ids), "l2_id": _u64(h.l2_ids[h.sv_l2])}), cg / "supervoxels.parquet")
    l2 = {"l2_id": _u64(h.l2_ids)}
    for a, name in enumerate("xyz"):
        l2[f"chunk_{name}"] = pa.array(h.l2_chunk[:, a].astype(np.int32))
    for a, name in enumerate("xyz"):
        l2[f"rep_coord_nm_{name}"] = pa.array(attrs["rep_coord_nm"][:, a])
    for name in ("size_nm3", "area_nm2", "max_dt_nm", "mean_dt_nm"):
        l2[name] = pa.array(attrs[name])
    l2["pca"] = pa.FixedSizeListArray.from_arrays(pa.array(attrs["pca"].reshape(-1)), 9)
    l2["pca_val"] = pa.FixedSizeListArray.from_arrays(pa.array(attrs["pca_val"].reshape(-1)), 3)
    _write(pa.table(l2), cg / "l2.parquet")
    _write(pa.table({"l2_a": _u64(h.l2_ids[edges[:, 0]]), "l2_b": _u64(h.l2_ids[edges[:, 1]])}).sort_by("l2_a"),
           cg / "l2_edges.parquet")
    _write(pa.Table.from_pandas(hist.roots, preserve_index=False), cg / "roots.parquet")
    _write(pa.table({"root_id": _u64(hist.root_l2.root_id), "l2_id": _u64(hist.root_l2.l2_id)}), cg / "root_l2.parquet")
    _write(_operations_table(hist.operations), cg / "operations.parquet")


def _write_tables(tdir: Path, frames: dict, table_meta: dict) -> None:
    """One parquet file per annotation table, and their metadata."""
    tdir.mkdir()
    for name, df in frames.items():
        _write(df, tdir / f"{name}.parquet")
    (tdir / "metadata.json").write_text(json.dumps(table_meta, indent=1))


def _write_meshes(out: Path, progress: bool) -> None:
    """Mesh the sample; skipped when the meshes module is absent, an import error inside it is raised."""
    try:
        from . import meshes
    except ModuleNotFoundError as err:
        if err.name != f"{__package__}.meshes":
            raise
    else:
        meshes.write_meshes(out, progress)


def _write_volumes(out: Path, sc, cells_vol, nucleus_mask, sv_volume, rng) -> dict:
    """EM-like image and supervoxel segmentation as precomputed; returns the seconds taken."""
    t = time.perf_counter()
    img = em_image(cells_vol, nucleus_mask, rng)
    t_img = time.perf_counter()
    names = NAMES[sc.kind]
    write_volume(out / names["image_dir"], img, sc.resolution, "image", sc.precomputed_chunk)
    del img
    write_volume(out / names["segmentation_dir"], sv_volume, sc.resolution, "segmentation", sc.precomputed_chunk)
    return {"image (worker)": round(t_img - t, 2), "write volumes (worker)": round(time.perf_counter() - t_img, 2)}


def _operations_table(ops) -> pa.Table:
    u64list = pa.list_(pa.uint64())
    return pa.table({
        "operation_id": pa.array(ops.operation_id.astype(np.int64)),
        "timestamp": pa.array(ops.timestamp.dt.as_unit("us"), pa.timestamp("us", tz="UTC")),
        "is_merge": pa.array(ops.is_merge.astype(bool)),
        "user_id": pa.array(ops.user_id.astype(str)),
        "before_root_ids": pa.array([[int(x) for x in v] for v in ops.before_root_ids], u64list),
        "after_root_ids": pa.array([[int(x) for x in v] for v in ops.after_root_ids], u64list),
        "source_coords": pa.array(list(ops.source_coords), pa.list_(pa.list_(pa.float64()))),
        "sink_coords": pa.array(list(ops.sink_coords), pa.list_(pa.list_(pa.float64()))),
        "removed_edges": pa.array([[[int(a), int(b)] for a, b in v] for v in ops.removed_edges], pa.list_(u64list)),
        "added_edges": pa.array([[[int(a), int(b)] for a, b in v] for v in ops.added_edges], pa.list_(u64list)),
    })


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _datastack(sc, versions, version, t0, n_l2) -> dict:
    res = [int(r) for r in sc.resolution]
    names = NAMES[sc.kind]
    return {  # key order kept: the MICrONS-shaped build's datastack.json stays byte-identical
        "datastack": names["datastack"], "aligned_volume": names["aligned_volume"], "pcg_table": names["pcg_table"],
        "description": names["description"],
        "segmentation_resolution": res, "viewer_resolution": names["viewer_resolution"] or res,
        "image_dir": names["image_dir"], "segmentation_dir": names["segmentation_dir"],
        "soma_table": names["soma_table"], "synapse_table": names["synapse_table"],
        "volume_size": [int(s) for s in sc.shape],
        "chunkedgraph": {
            "chunk_size": [int(c) for c in sc.chunk_size], "n_layers": N_LAYERS,
            "n_bits_for_layer_id": LAYER_ID_BITS, "spatial_bit_masks": {str(k): v for k, v in BIT_MASKS.items()},
            "fan_out": 2, "bounding_box": [int(s) for s in sc.shape], "cv_mip": 0,
        },
        "versions": [
            {"version": i + 1, "time_stamp": _iso(ts), "expires_on": _iso(ts + timedelta(days=3650)), "valid": True}
            for i, ts in enumerate(versions)
        ],
        "initial_timestamp": _iso(t0),
        "generator_version": version, "scale": sc.name, "seed": sc.seed, "n_l2": n_l2,
    }

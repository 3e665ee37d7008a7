"""The skeleton service's output formats, encoded as SkeletonService encodes them.

Every format is built from one of our L2 skeletons (:func:`cavewidgets.morphology.skeleton_from_l2`,
nm) the way CAVEconnectome/SkeletonService ``skeletonservice/datasets/service.py``
``get_skeleton_by_datastack_and_rid`` encodes a meshparty skeleton:

- ``flatdict`` / ``jsoncompressed`` / ``arrayscompressed``: gzip of compact JSON
  (``compressDictToBytes``: ``json.dumps`` with every space removed) of ``_skeleton_to_flatdict``,
  ``_skeleton_to_json``, ``_skeleton_to_arrays``;
- ``json`` / ``arrays``: the same dicts as a JSON reply;
- ``swc`` (plain) / ``swccompressed`` (gzip): ``SkeletonIO.export_to_swc``;
- ``precomputed``: ``cloudvolume.Skeleton(...).to_precomputed()`` with the version's vertex
  attributes (``SKELETON_VERSION_PARAMS``).

Versions follow ``_finalize_return_skeleton_version``: every skeleton is made as v4; v2 turns
compartments into floats (neuroglancer reads float32 only) and v1-v3 drop ``lvl2_ids``.

Example::

    body, mimetype = encode(sk, "flatdict", 4, datastack="minnie65_sample")
"""

from __future__ import annotations

import gzip
import json

import numpy as np

#: SkeletonService ``service.py`` ``SKELETON_VERSION_PARAMS``: the vertex attributes per version
ATTRIBUTES = {
    1: [],
    2: [{"id": "radius", "data_type": "float32", "num_components": 1},
        {"id": "compartment", "data_type": "float32", "num_components": 1}],
    3: [{"id": "radius", "data_type": "float32", "num_components": 1},
        {"id": "compartment", "data_type": "uint8", "num_components": 1}],
}
ATTRIBUTES[4] = ATTRIBUTES[3]
_SWC_TYPE = {"soma": 1, "axon": 2, "dendrite": 3, "unknown": 0}
#: the formats ``get_skeleton_by_datastack_and_rid`` asserts, less the ones that need a bucket
#: or a meshwork (``h5``, ``meshwork``, ``meshwork_none``) and ``none`` (no body)
FORMATS = ("flatdict", "json", "jsoncompressed", "arrays", "arrayscompressed", "precomputed", "swc",
           "swccompressed")


def meta_json(sk, version: int, datastack: str) -> dict:
    """``_skeleton_metadata_to_json`` of our skeleton plus ``skeleton_version`` (as flatdict has it).

    Keys the sample's recipe does not set stay ``None``, as in a meshparty ``SkeletonMetadata``.

    Example::

        meta_json(sk, 4, "minnie65_sample")["root_id"]
    """
    soma = sk.soma_point
    return {
        "root_id": int(sk.root_id), "soma_pt_x": None if soma is None else float(soma[0]),
        "soma_pt_y": None if soma is None else float(soma[1]),
        "soma_pt_z": None if soma is None else float(soma[2]), "soma_radius": None,
        "collapse_soma": soma is not None, "collapse_function": None,
        "invalidation_d": sk.meta.get("invalidation_d"), "smooth_vertices": None, "compute_radius": None,
        "shape_function": None, "smooth_iterations": None, "smooth_neighborhood": None, "smooth_r": None,
        "cc_vertex_thresh": None, "remove_zero_length_edges": None, "collapse_params": None,
        "timestamp": None, "skeleton_type": "pcg_skel",
        "meta": {"datastack": datastack, "space": "l2cache"},
        "skeleton_version": version,
    }


def _compartments(sk, version: int) -> list:
    kinds = [_SWC_TYPE.get(c, 0) for c in sk.nodes.compartment]
    return [float(k) for k in kinds] if version == 2 else kinds


def _radius(sk) -> list:
    return np.nan_to_num(sk.nodes.radius.to_numpy(np.float64)).tolist()


def _edges(sk) -> np.ndarray:
    e = sk.edges
    return np.column_stack([e.child.to_numpy(np.int64), e.parent.to_numpy(np.int64)])


def flatdict(sk, version: int, datastack: str) -> dict:
    """``_skeleton_to_flatdict``: meta, edges, mesh_to_skel_map, root, vertices, the vertex
    properties (radius, compartment) at the top level, and ``lvl2_ids`` from v4 on.

    Example::

        flatdict(sk, 4, "minnie65_sample")["lvl2_ids"][:3]
    """
    nodes = sk.nodes
    out = {
        "meta": meta_json(sk, version, datastack),
        "edges": _edges(sk).tolist(),
        "mesh_to_skel_map": [int(v) for v in sk.node_of(sk.l2_ids)],
        "root": int(nodes.node_id[nodes.parent_id < 0].iloc[0]),
        "vertices": nodes[["x", "y", "z"]].to_numpy(np.float64).tolist(),
        "radius": _radius(sk),
        "compartment": _compartments(sk, version),
    }
    if version >= 4:
        out["lvl2_ids"] = [int(v) for v in sk.l2_ids]
    return out


def _meshparty(sk, version: int):
    from meshparty.skeleton import Skeleton

    nodes = sk.nodes
    # no zero-length-edge collapsing: vertex indices must stay those of flatdict and SWC
    return Skeleton(nodes[["x", "y", "z"]].to_numpy(np.float64), _edges(sk),
                    root=int(nodes.node_id[nodes.parent_id < 0].iloc[0]),
                    mesh_to_skel_map=np.asarray(sk.node_of(sk.l2_ids), dtype=np.int64),
                    vertex_properties={"radius": _radius(sk), "compartment": _compartments(sk, version)},
                    remove_zero_length_edges=False)


def _list(value):
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


def skeleton_json(sk, version: int, datastack: str) -> dict:
    """``_skeleton_to_json``: every meshparty skeleton property that is set, by its name.

    Example::

        skeleton_json(sk, 4, "minnie65_sample")["jsonification_version"]   # '1.0'
    """
    mp = _meshparty(sk, version)
    out = {"jsonification_version": "1.0"}
    for name in ("branch_points", "branch_points_undirected", "distance_to_root", "edges", "end_points",
                 "end_points_undirected", "hops_to_root", "indices_unmasked", "mesh_index",
                 "mesh_to_skel_map", "mesh_to_skel_map_base"):
        value = getattr(mp, name)
        if value is not None:
            out[name] = _list(value)
    out["meta"] = {k: v for k, v in meta_json(sk, version, datastack).items() if k != "skeleton_version"}
    for name in ("node_mask", "radius", "root", "root_position", "segment_map", "topo_points", "unmasked_size"):
        value = getattr(mp, name)
        if value is not None:
            out[name] = _list(value)
    out["vertex_properties"] = {k: _list(v) for k, v in mp.vertex_properties.items()}
    out["vertices"] = mp.vertices.tolist()
    return out


def skeleton_arrays(sk, version: int, datastack: str) -> dict:
    """``_skeleton_to_arrays``: vertices, vertex_properties and edges of the JSON form.

    Example::

        set(skeleton_arrays(sk, 4, "minnie65_sample"))   # {'vertices', 'vertex_properties', 'edges'}
    """
    full = skeleton_json(sk, version, datastack)
    return {"vertices": full["vertices"], "vertex_properties": full["vertex_properties"], "edges": full["edges"]}


def swc_text(sk) -> str:
    """``SkeletonIO.export_to_swc`` layout: ``id type x y z radius parent`` in µm, ids from 0.

    Example::

        swc_text(sk).splitlines()[0]     # '0 1 123.456 ... -1'
    """
    nodes = sk.nodes
    xyz = nodes[["x", "y", "z"]].to_numpy(np.float64) / 1000
    radius = np.nan_to_num(nodes.radius.to_numpy(np.float64)) / 1000
    kinds = [_SWC_TYPE.get(c, 0) for c in nodes.compartment]
    return "".join(f"{i} {t} {p[0]:.3f} {p[1]:.3f} {p[2]:.3f} {r:.3f} {q}\n"
                   for i, t, p, r, q in zip(nodes.node_id, kinds, xyz, radius, nodes.parent_id))


def precomputed(sk, version: int) -> bytes:
    """``cloudvolume.Skeleton(...).to_precomputed()`` with the version's vertex attributes, as
    the service builds it (vertices in nm, ``space="voxel"``).

    Example::

        cloudvolume.Skeleton.from_precomputed(precomputed(sk, 2), vertex_attributes=...)
    """
    import copy

    import cloudvolume

    attributes = ATTRIBUTES[version]
    props = {"radius": _radius(sk), "compartment": _compartments(sk, version)}
    cv = cloudvolume.Skeleton(vertices=sk.nodes[["x", "y", "z"]].to_numpy(np.float64), edges=_edges(sk),
                              space="voxel", radii=np.asarray(props["radius"]),
                              extra_attributes=copy.deepcopy(attributes))
    for item in attributes:
        cv.add_vertex_attribute(item["id"], np.array(props[item["id"]], dtype=item["data_type"]))
    return cv.to_precomputed()


def _compact_gzip(obj) -> bytes:
    # compressDictToBytes: json.dumps with every space removed (also inside strings), then gzip
    return gzip.compress(json.dumps(obj).replace(" ", "").encode())


def encode(sk, fmt: str, version: int, datastack: str) -> tuple[object, str]:
    """The reply body of ``fmt`` and its kind: bytes with ``"application/octet-stream"``, or a
    dict with ``"json"`` (the service ``jsonify``-s ``json`` and ``arrays``).

    Example::

        body, kind = encode(sk, "swccompressed", 4, "minnie65_sample")
    """
    if fmt == "flatdict":
        return _compact_gzip(flatdict(sk, version, datastack)), "application/octet-stream"
    if fmt in ("json", "arrays"):
        build = skeleton_json if fmt == "json" else skeleton_arrays
        return build(sk, version, datastack), "json"
    if fmt in ("jsoncompressed", "arrayscompressed"):
        build = skeleton_json if fmt == "jsoncompressed" else skeleton_arrays
        return _compact_gzip(build(sk, version, datastack)), "application/octet-stream"
    if fmt == "swc":
        return swc_text(sk).encode(), "application/octet-stream"
    if fmt == "swccompressed":
        return gzip.compress(swc_text(sk).encode()), "application/octet-stream"
    if fmt == "precomputed":
        return precomputed(sk, version), "application/octet-stream"
    raise ValueError(f"not a skeleton format: {fmt!r}")

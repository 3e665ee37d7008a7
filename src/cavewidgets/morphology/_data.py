"""Kernel-side fetching for the morphology panel: root id checks, the mesh through cloud-volume,
synapses through ``client.materialize.synapse_query``. Everything goes through the one
``caveclient.CAVEclient``; the token goes to cloud-volume as ``secrets`` and nowhere else.

Example::

    root = 864691135808684573
    check_root_is_valid(client, root, timestamp=None)
    mesh = fetch_mesh(client, root)                       # trimesh.Trimesh in nm
    syn = fetch_synapses(client, root, timestamp=None)    # id, direction, x, y, z (nm), size, ...
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd

from .._ids import parse_root_ids
from ..paging import refuse_truncated

__all__ = ["MorphologyError", "check_root_is_valid", "fetch_mesh", "fetch_synapses",
           "prepare_synapses"]


class MorphologyError(ValueError):
    """A root id the panel cannot show (unknown, outdated, without a mesh...), with the reason."""


def _first_line(err: Exception) -> str:
    text = str(err)
    response = getattr(err, "response", None)
    if response is not None:  # requests.HTTPError from caveclient: keep the service's message
        try:
            body = response.json()
            text = str(body.get("message") or body) if isinstance(body, dict) else str(body)
        except ValueError:
            text = (response.text or text).strip()
    return text.strip().splitlines()[0][:300] if text.strip() else type(err).__name__


def check_root_is_valid(client, root_id: int, timestamp=None) -> None:
    """Raise :class:`MorphologyError` unless ``root_id`` exists and is current (at ``timestamp``
    when given, else now). An outdated id's message names its latest root ids.

    Example::

        check_root_is_valid(client, root, timestamp=datetime.datetime(2025, 1, 10, tzinfo=datetime.timezone.utc))
    """
    cg = client.chunkedgraph
    kwargs = {} if timestamp is None else {"timestamp": timestamp}
    if bool(np.asarray(cg.is_latest_roots([root_id], **kwargs)).ravel()[0]):
        return
    try:
        created = cg.get_root_timestamps([root_id])[0]
        expired = cg.get_root_timestamps([root_id], latest=True)[0]
    except Exception as err:
        raise MorphologyError(f"root id {root_id} is unknown to the chunkedgraph: {_first_line(err)}") from None
    when = f" at {timestamp}" if timestamp is not None else ""
    if timestamp is not None and _as_utc(timestamp) < created:
        raise MorphologyError(f"root id {root_id} did not exist yet{when}: it was created at {created}")
    try:
        latest = [int(r) for r in cg.get_latest_roots(root_id, **kwargs)]
    except Exception:
        latest = []
    shown = ", ".join(map(str, latest[:5])) + (" …" if len(latest) > 5 else "")
    raise MorphologyError(
        f"root id {root_id} is outdated{when}: it was edited at {expired}"
        + (f"; its latest root id(s): {shown}" if shown else "")
        + ". Pass timestamp= (a time when it was valid) to see it as it was.")


def _as_utc(ts) -> datetime.datetime:
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def fetch_mesh(client, root_id: int, cloudvolume=None):
    """The full-resolution mesh of ``root_id`` (``trimesh.Trimesh``, nm) from the datastack's
    segmentation source through cloud-volume (graphene or precomputed), with the client's token.

    Example::

        mesh = fetch_mesh(client, root)
        len(mesh.faces)
    """
    import trimesh

    cv = cloudvolume if cloudvolume is not None else open_cloudvolume(client)
    try:
        got = cv.mesh.get(root_id, deduplicate_chunk_boundaries=False)
    except Exception as err:
        raise MorphologyError(f"no mesh for root id {root_id}: {_first_line(err)}") from None
    mesh = got.get(root_id) if isinstance(got, dict) else got
    if mesh is None or len(getattr(mesh, "faces", [])) == 0:
        raise MorphologyError(f"no mesh for root id {root_id}: the segmentation source returned no triangles")
    return trimesh.Trimesh(vertices=np.asarray(mesh.vertices, dtype=np.float64),
                           faces=np.asarray(mesh.faces, dtype=np.int64), process=False)


def open_cloudvolume(client):
    """A ``CloudVolume`` on the datastack's segmentation source; the token goes in as ``secrets``
    (nothing is read from or written to ``~/.cloudvolume``).

    Example::

        cv = open_cloudvolume(client); cv.mesh.get(root)
    """
    from cloudvolume import CloudVolume

    from .._libraries import size_cloudfiles_pool

    size_cloudfiles_pool()  # cloud-files fetches a mesh's fragments with more threads than its pool holds
    source = client.info.segmentation_source()
    token = getattr(client.auth, "token", None)
    kwargs = {"secrets": token} if token and source.startswith("graphene://") else {}
    return CloudVolume(source, progress=False, use_https=True, **kwargs)


def _materialized_time(client):
    try:
        return client.materialize.get_version_metadata()["time_stamp"]
    except Exception:
        return None


def fetch_synapses(client, root_id: int, timestamp=None) -> pd.DataFrame:
    """Input and output synapses of ``root_id``, positions in nm, with a ``direction`` column.

    At ``timestamp`` when given (a live query); otherwise at the client's materialization version,
    or live at the current time when the root id is newer than that version.

    Example::

        syn = fetch_synapses(client, root)
        syn.direction.value_counts()
    """
    mat = client.materialize
    kwargs: dict = {"desired_resolution": [1, 1, 1]}
    if timestamp is not None:
        kwargs["timestamp"] = timestamp
    else:
        mat_time = _materialized_time(client)
        in_version = mat_time is not None and bool(
            np.asarray(client.chunkedgraph.is_latest_roots([root_id], timestamp=mat_time)).ravel()[0])
        if not in_version:
            kwargs["timestamp"] = datetime.datetime.now(datetime.timezone.utc)
    # a neuron's synapses fit under the row cap; if not, say so rather than draw a part of them
    outputs = refuse_truncated(client, lambda: mat.synapse_query(pre_ids=root_id, **kwargs), f"output synapses of {root_id}")
    inputs = refuse_truncated(client, lambda: mat.synapse_query(post_ids=root_id, **kwargs), f"input synapses of {root_id}")
    return prepare_synapses(pd.concat([outputs, inputs], ignore_index=True) if len(outputs) or len(inputs)
                            else outputs, root_id, resolution=[1, 1, 1])


def prepare_synapses(df: pd.DataFrame, root_id: int, resolution=None) -> pd.DataFrame:
    """A synapse DataFrame made ready for the panel: rows of ``root_id`` only, a ``direction``
    column ('output' where it is presynaptic, else 'input'), every ``*_position`` column and the
    ``x, y, z`` in nm: ``ctr_pt_position`` where the synapse schema has one (MICrONS' ``synapse``),
    else the midpoint of ``pre_pt_position`` and ``post_pt_position`` (FlyWire's ``fly_nt_synapse``
    has no centre point).

    ``resolution`` (nm per voxel of the position columns) defaults to the frame's
    ``attrs["dataframe_resolution"]`` (set by caveclient), else nm.

    Example::

        prepare_synapses(client.materialize.synapse_query(pre_ids=root), root)
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"synapses must be True, False or a DataFrame, not {type(df).__name__}")
    has_ctr = "ctr_pt_position" in df.columns
    points = ("ctr_pt_position",) if has_ctr else ("pre_pt_position", "post_pt_position")
    need = [c for c in ("id", "pre_pt_root_id", "post_pt_root_id", *points) if c not in df.columns]
    if need:
        raise ValueError(f"the synapse DataFrame lacks column(s) {', '.join(need)} (as returned by "
                         "client.materialize.synapse_query; a position is ctr_pt_position or both "
                         "pre_pt_position and post_pt_position)")
    res = resolution if resolution is not None else df.attrs.get("dataframe_resolution", [1, 1, 1])
    res = np.asarray(res, dtype=np.float64).reshape(3)
    rid = np.uint64(root_id)
    pre = _id_array(df["pre_pt_root_id"]) == rid
    post = _id_array(df["post_pt_root_id"]) == rid
    keep = pre | post
    if len(df) and not keep.any():
        raise ValueError(f"none of the {len(df)} synapses has root id {root_id} as pre- or postsynaptic partner")
    out = df[keep].copy()
    out.insert(1, "direction", np.where(pre[keep], "output", "input"))
    for col in [c for c in out.columns if str(c).endswith("_position")]:
        out[col] = [np.asarray(v, dtype=np.float64).reshape(3) * res for v in out[col]]
    if not len(out):
        xyz = np.zeros((0, 3))
    elif has_ctr:
        xyz = np.stack(out["ctr_pt_position"].to_numpy())
    else:
        xyz = (np.stack(out["pre_pt_position"].to_numpy()) + np.stack(out["post_pt_position"].to_numpy())) / 2
    if not np.isfinite(xyz).all():
        raise ValueError(f"some synapses have no {' or '.join(points)}")
    out["x"], out["y"], out["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    out = out.reset_index(drop=True)
    out.attrs = {**df.attrs, "dataframe_resolution": [1.0, 1.0, 1.0]}
    return out


def _id_array(col: pd.Series) -> np.ndarray:
    # 0 is data here (a partner on no segment); anything that is not an id is an error
    return parse_root_ids(col, what=f"{col.name} values", allow_zero=True)

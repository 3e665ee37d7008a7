"""MorphologyPanel: one neuron's mesh, L2 skeleton and synapses in 3D (three.js), with picking
back to Python.

Data is fetched in the kernel (cloud-volume for the mesh, the chunkedgraph and L2 cache for the
skeleton, ``synapse_query`` for synapses) and sent as typed-array buffers after the view asks for
it, through the shared transport. Clicks come back as ``panel.picked`` / ``on_pick`` callbacks.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anywidget
import numpy as np
import pandas as pd
import traitlets as t
from ipywidgets import CallbackDispatcher

from .._ids import parse_root_id
from .._checks import check_callback, check_client, check_height, choice_trait
from .._libraries import quiet_libraries
from .._transport import RequestHandlerMixin
from . import _data
from ._data import MorphologyError
from ._geometry import build_payload, decimate
from .l2 import skeleton_from_l2
from .skeleton import Skeleton

__all__ = ["MorphologyPanel", "MorphologyError"]

STATIC = Path(__file__).resolve().parent.parent / "static"
log = logging.getLogger(__name__)
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


class MorphologyPanel(RequestHandlerMixin, anywidget.AnyWidget):
    """A 3D view of one neuron: mesh, L2 skeleton and synapses, with picking back to Python.

    ``show(root_id)`` fetches everything in the kernel (tqdm bar here, progress text in the
    panel) and sends geometry as binary buffers. The mesh is decimated for display above
    ``max_triangles``; ``panel.mesh`` keeps the full one. A click on a synapse, the skeleton or the
    mesh (in that priority) sets ``panel.picked`` and calls the ``on_pick`` callbacks. The mouse
    wheel scrolls the notebook until you click into the view (or hold Ctrl/⌘); ``wheel="always"``
    lets the view take it whenever the pointer is over it.

    Args:
        client: a ``caveclient.CAVEclient`` (``cavewidgets.sample.client()`` for the offline sample).
        height: pixels, at least 150 pixels (the same rule for every widget).
        timestamp: the default moment for ``show``: when its root id must be valid and synapses
            are queried (``None``: now).
        max_triangles: decimate the displayed mesh above this many triangles (``None``: never).
        wheel: ``"click"`` (the page scrolls until you click into the view) or ``"always"``.

    Example::

        client = cavewidgets.sample.client()
        panel = cavewidgets.MorphologyPanel(client, height=500)
        panel.show(864691135808684573)
        panel                                    # the 3D view
        panel.on_pick(lambda p: print(p["kind"], p.get("synapse_id")))
        panel.synapses.direction.value_counts(); panel.skeleton.cable_length_nm
        panel.color = "#ff7f0e"; panel.highlight_synapse(int(panel.synapses.id.iloc[0]))
    """

    _esm = STATIC / "morphology.js"
    _css = STATIC / "morphology.css"

    height = t.Int(500).tag(sync=True)
    #: mesh colour (hex "#rrggbb")
    color = t.Unicode("#1f77b4").tag(sync=True)
    input_color = t.Unicode("#2ca02c").tag(sync=True)
    output_color = t.Unicode("#d62728").tag(sync=True)
    opacity = t.Float(0.5).tag(sync=True)
    show_mesh = t.Bool(True).tag(sync=True)
    show_skeleton = t.Bool(True).tag(sync=True)
    show_synapses = t.Bool(True).tag(sync=True)
    #: skeleton colouring: "compartment" or a numeric node column
    color_by = t.Unicode("compartment").tag(sync=True)
    #: progress text while loading ("" when idle)
    status = t.Unicode("").tag(sync=True)
    #: the last error, shown over the view ("" when none)
    error = t.Unicode("").tag(sync=True)
    #: the root id shown, as decimal text (the exact int is ``root_id``)
    title = t.Unicode("").tag(sync=True)
    #: what the view says while no neuron is shown (a widget that embeds the panel says how to pick one)
    empty_text = t.Unicode("No neuron shown: call panel.show(root_id).").tag(sync=True)
    #: bumps whenever new geometry is ready: views then request it
    data_version = t.Int(0).tag(sync=True)
    #: row of ``synapses`` to mark and centre on (-1: none)
    highlight_index = t.Int(-1).tag(sync=True)
    #: mouse wheel: "click" (the page scrolls until you click into the view or hold Ctrl/⌘, as
    #: map widgets do) or "always" (the view zooms whenever the pointer is over it)
    wheel = choice_trait(["click", "always"], "click").tag(sync=True)

    def __init__(self, client, height: int = 500, timestamp=None, max_triangles: int | None = 300_000,
                 wheel: str = "click", **kwargs):
        client = check_client(client, "MorphologyPanel")
        height = check_height(height, "MorphologyPanel")
        if max_triangles is not None and (not isinstance(max_triangles, int) or max_triangles < 100):
            raise ValueError(f"max_triangles must be an integer ≥ 100 or None, not {max_triangles!r}")
        quiet_libraries()
        self._client = client
        self.timestamp = timestamp
        self.max_triangles = max_triangles
        self.root_id: int | None = None
        self.mesh = None
        self.skeleton: Skeleton | None = None
        self.synapses: pd.DataFrame | None = None
        self.picked: dict | None = None
        self._display_mesh: tuple[np.ndarray, np.ndarray] | None = None
        self._mesh_tree = None
        self._payload: tuple[dict, list[bytes]] | None = None
        self._cloudvolume = None
        self._pick_handlers = CallbackDispatcher()
        super().__init__(height=height, wheel=wheel, **kwargs)
        self._init_transport()

    # ---------- public API ----------
    @property
    def client(self):
        """The ``caveclient.CAVEclient`` used to fetch."""
        return self._client

    def show(self, root_id, mesh: bool = True, skeleton: bool = True, synapses=True, timestamp=None,
             progress: bool = True) -> MorphologyPanel:
        """Fetch and display ``root_id``; returns the panel.

        ``synapses``: True (query ``synapse_query`` for inputs and outputs), False, or a DataFrame
        already fetched (``id``, ``pre_pt_root_id``, ``post_pt_root_id``, ``ctr_pt_position``,
        optional ``size``; positions in units of ``attrs["dataframe_resolution"]``, else nm).
        ``timestamp`` (default: the panel's) selects when the root id must be valid and when
        synapses are queried. On error (unknown or outdated root id, no mesh) the panel keeps what
        it showed, displays the message and the exception is raised. ``progress=False`` hides the
        kernel's tqdm bar (the panel still shows its progress text).

        Example::

            panel.show(root, synapses=False)
            panel.show(root, synapses=client.materialize.synapse_query(post_ids=root))
        """
        from tqdm.auto import tqdm

        rid = parse_root_id(root_id)
        if not isinstance(synapses, (bool, pd.DataFrame)):
            raise TypeError(f"synapses must be True, False or a DataFrame, not {type(synapses).__name__}")
        ts = timestamp if timestamp is not None else self.timestamp
        steps = ["check"] + (["mesh"] if mesh else []) + (["skeleton"] if skeleton else []) + (["synapses"] if synapses is not False else [])
        self.error = ""
        try:
            with tqdm(total=len(steps) + 1, desc=f"root {rid}", leave=False, disable=not progress) as bar:
                done = [0]  # own count: a disabled tqdm bar does not count

                def step(text: str) -> None:
                    done[0] += 1
                    self.status = f"{text} ({done[0]}/{len(steps) + 1})…"
                    bar.set_postfix_str(text)

                client = self.client
                step("checking the root id")
                _data.check_root_is_valid(client, rid, ts)
                bar.update(1)
                full_mesh = None
                if mesh:
                    step("downloading the mesh")
                    if self._cloudvolume is None:
                        self._cloudvolume = _data.open_cloudvolume(client)
                    full_mesh = _data.fetch_mesh(client, rid, self._cloudvolume)
                    bar.update(1)
                sk = None
                if skeleton:
                    step("building the L2 skeleton")
                    # the soma lookup picks a moment when the root id is valid by itself: a
                    # timestamp older than every materialization would make it fail
                    sk = skeleton_from_l2(client, rid)
                    bar.update(1)
                syn = None
                if synapses is not False:
                    step("querying synapses")
                    syn = (_data.fetch_synapses(client, rid, ts) if synapses is True
                           else _data.prepare_synapses(synapses, rid))
                    if sk is not None and len(syn):
                        sk.label_compartments(syn, resolution=[1, 1, 1])
                    bar.update(1)
                step("preparing geometry")
                self._display(rid, full_mesh, sk, syn)
                bar.update(1)
        except Exception as err:
            self.status = ""
            self.error = f"Could not show root id {rid}: {err}"
            raise
        return self

    def _display(self, root_id, mesh, skeleton, synapses) -> None:
        """Decimate, pack and switch over to fetched data in one go (nothing half-updated when
        anything before this raised). ``mesh``: a ``trimesh.Trimesh`` in nm or None."""
        display = decimate(mesh.vertices, mesh.faces, self.max_triangles) if mesh is not None else None
        payload = build_payload(mesh=display, skeleton=skeleton, synapses=synapses,
                                full_triangles=len(mesh.faces) if mesh is not None else None)
        self.root_id, self.mesh, self.skeleton, self.synapses = root_id, mesh, skeleton, synapses
        self._display_mesh, self._mesh_tree, self._payload = display, None, payload
        self.picked = None
        with self.hold_trait_notifications():
            self.highlight_index = -1
            self.title = "" if root_id is None else str(root_id)
            self.status = ""
            self.error = ""
            self.data_version += 1

    def clear(self) -> MorphologyPanel:
        """Remove the neuron from the panel (and ``root_id``, ``mesh``, ``skeleton``, ``synapses``).

        Example::

            panel.clear()
        """
        self.root_id = self.mesh = self.skeleton = self.synapses = self.picked = None
        self._display_mesh = self._mesh_tree = self._payload = None
        with self.hold_trait_notifications():
            self.highlight_index = -1
            self.title = ""
            self.error = ""
            self.status = ""
            self.data_version += 1
        return self

    def on_pick(self, callback, remove: bool = False) -> None:
        """Call ``callback(pick)`` on every pick in the view (``remove=True`` unregisters it).

        ``pick["kind"]`` is "synapse" (``synapse_id``, ``direction``, ``row``), "skeleton"
        (``node_id``, ``l2_ids``) or "mesh" (``vertex``: index into ``panel.mesh.vertices``);
        all carry ``position_nm`` and ``root_id``. Ids are exact Python ints.

        Example::

            panel.on_pick(lambda p: print(p))
        """
        self._pick_handlers.register_callback(check_callback(callback, "MorphologyPanel", "on_pick"), remove=remove)

    def highlight_synapse(self, synapse_id) -> MorphologyPanel:
        """Mark synapse ``synapse_id`` (a value of ``panel.synapses.id``) and centre the view on it.

        Example::

            panel.highlight_synapse(int(panel.synapses.id.iloc[0]))
        """
        if self.synapses is None or not len(self.synapses):
            raise ValueError("no synapses are shown: call show(root_id, synapses=True) first")
        if isinstance(synapse_id, bool) or not isinstance(synapse_id, (int, np.integer)):
            raise TypeError(f"synapse_id must be an integer, not {type(synapse_id).__name__} {synapse_id!r}")
        sid = int(synapse_id)
        rows = np.flatnonzero(np.array([int(v) == sid for v in self.synapses["id"]], dtype=bool))
        if not len(rows):
            raise KeyError(f"synapse {sid} is not among the {len(self.synapses)} synapses shown")
        self.highlight_index = int(rows[0])
        return self

    # ---------- traits ----------
    @t.validate("color", "input_color", "output_color")
    def _valid_color(self, proposal):
        value = proposal["value"]
        if not isinstance(value, str) or not _HEX.match(value):
            raise t.TraitError(f"colours are hex strings like '#1f77b4', not {value!r}")
        return value.lower()

    @t.validate("opacity")
    def _valid_opacity(self, proposal):
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:
            raise t.TraitError(f"opacity must be between 0 and 1, not {value}")
        return value

    # ---------- requests from the front-end ----------
    def _rpc_geometry(self, data_version: int | None = None):
        if self._payload is None:
            return {"empty": True, "data_version": self.data_version}, []
        meta, buffers = self._payload
        return {**meta, "empty": False, "data_version": self.data_version, "title": self.title}, buffers

    def _rpc_pick(self, kind: str, index: int, point=None, data_version: int | None = None):
        if data_version is not None and data_version != self.data_version:
            raise ValueError("the view shows an older neuron; pick again")
        pick = self._resolve_pick(kind, int(index), point)
        self.picked = pick
        self._pick_handlers(pick)
        return _jsonable(pick)

    def _resolve_pick(self, kind: str, index: int, point) -> dict:
        base = {"kind": kind, "root_id": self.root_id}
        if kind == "synapse":
            syn = self.synapses
            if syn is None or not 0 <= index < len(syn):
                raise ValueError(f"no synapse at row {index}")
            row = syn.iloc[index]
            return {**base, "synapse_id": int(row["id"]), "row": index, "direction": str(row["direction"]),
                    "position_nm": [float(row.x), float(row.y), float(row.z)],
                    **({"size": float(row["size"])} if "size" in syn.columns else {})}
        if kind == "skeleton":
            sk = self.skeleton
            if sk is None or not 0 <= index < len(sk.nodes):
                raise ValueError(f"no skeleton node {index}")
            nd = sk.nodes.iloc[index]
            return {**base, "node_id": int(nd.node_id), "l2_ids": [int(x) for x in nd.l2_ids],
                    "compartment": str(nd.compartment), "position_nm": [float(nd.x), float(nd.y), float(nd.z)]}
        if kind == "mesh":
            if self.mesh is None or point is None:
                raise ValueError("no mesh to pick")
            p = np.asarray(point, dtype=np.float64).reshape(3)
            if self._mesh_tree is None:
                from scipy.spatial import cKDTree

                self._mesh_tree = cKDTree(self.mesh.vertices)
            _, vertex = self._mesh_tree.query(p)
            return {**base, "vertex": int(vertex), "position_nm": [float(x) for x in p],
                    "vertex_position_nm": [float(x) for x in self.mesh.vertices[vertex]]}
        raise ValueError(f"unknown pick kind {kind!r}")


def _jsonable(pick: dict) -> dict:
    """The pick for the front-end: ids as decimal strings (JS numbers would round them)."""
    out = {}
    for k, v in pick.items():
        if k in ("root_id", "synapse_id"):
            out[k] = None if v is None else str(v)
        elif k == "l2_ids":
            out[k] = [str(x) for x in v]
        else:
            out[k] = v
    return out

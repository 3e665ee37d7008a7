"""``flat_connectome(client, root_ids, out=dir)``: a selection's connectome as flat feather/parquet files.

The layout follows flyem-snapshot's flat connectome (``flyem_snapshot/outputs/flat.py``), adapted
to CAVE, where one synapse row already carries both partners:

==============================================  ==================================================
file (``<stem>-<datastack>-v<version>``)        columns
==============================================  ==================================================
``syn-points``                                  ``id``, ``pre_pt_root_id``, ``post_pt_root_id``
                                                (uint64), ``pre_/ctr_/post_`` ``x/y/z_nm``, ``size``
``syn-partners``                                ``id``, ``x_pre, y_pre, z_pre, body_pre``,
                                                ``x_post, y_post, z_post, body_post`` (nm, uint64)
``connectome-weights``                          ``body_pre, body_post, weight`` (root 0 left out)
``connectome-weights-…-significant-only``       the same with ``weight >= min_weight``, plus
                                                ``type_pre, type_post``
``body-stats``                                  per selected neuron: ``body, pre, post``
                                                (synapse counts), ``n_downstream_partners,
                                                n_upstream_partners``, then the annotations
``body-annotations``                            every body in the export: ``body, in_selection,
                                                type, class, status, proofread, n_somas,
                                                soma_x/y/z_nm``
==============================================  ==================================================

Each is written as ``.feather`` and ``.parquet``, with ``provenance.json`` (version, tables per
role and the roles left empty, filters, the provenance record of every query). Every query goes
through :func:`cavewidgets.paging.query_whole` (the service's row cap) and each reply is recorded
in ``cavewidgets.provenance()`` (``source="flat_connectome"``), so ``cavewidgets.export`` and its
``reproduce.py`` re-run exactly what was read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._storage import output_dir
from ..paging import query_whole
from ..reproducible.log import record_query, unwrap
from .annotations import body_annotations, cell_types, proofreading_status, soma_positions
from ..roles import discover_roles

SOURCE = "flat_connectome"
SCOPES = ("touching", "within")
FILES = {  # frame -> file stem (flyem-snapshot's names); {tag} is <datastack>-v<version>
    "points": "syn-points-{tag}", "partners": "syn-partners-{tag}", "weights": "connectome-weights-{tag}",
    "significant": "connectome-weights-{tag}-significant-only", "body_stats": "body-stats-{tag}",
    "body_annotations": "body-annotations-{tag}",
}
FORMATS = ("feather", "parquet")
_POINTS = ("pre", "ctr", "post")
_ROOT_COLUMNS = ("root_id", "pt_root_id", "valid_id", "body", "pre_pt_root_id")


@dataclass
class FlatConnectome:
    """The frames of a flat connectome export, its provenance (``meta``) and where it was written.

    Example::

        flat = cavewidgets.flat_connectome(client, roots, out="flat")
        flat.weights.head(); flat.meta["tables"]; flat.files["weights"]
        FlatConnectome.read("flat").body_stats
    """

    points: pd.DataFrame
    partners: pd.DataFrame
    weights: pd.DataFrame
    significant: pd.DataFrame
    body_stats: pd.DataFrame
    body_annotations: pd.DataFrame
    meta: dict
    directory: Path | None = None
    files: dict = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """``{name: frame}`` in file order (the keys of ``FILES``)."""
        return {name: getattr(self, name) for name in FILES}

    def __repr__(self) -> str:
        m = self.meta
        return (f"<FlatConnectome {m['n_neurons']} neurons, {len(self.points)} synapses, "
                f"{len(self.weights)} connections ({len(self.significant)} with weight >= {m['min_weight']}), "
                f"{m['datastack']} version {m['version']}{f' in {self.directory}' if self.directory else ''}>")

    @classmethod
    def read(cls, directory) -> FlatConnectome:
        """Load an export written by :func:`flat_connectome` (its ``provenance.json`` names the files).

        Example::

            flat = FlatConnectome.read("flat")
        """
        directory = Path(directory).expanduser()
        manifest = directory / "provenance.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"{directory} has no provenance.json: not a flat connectome export")
        meta = json.loads(manifest.read_text())
        files = meta["files"]
        frames = {name: pd.read_feather(directory / files[name]["feather"]) for name in FILES}
        return cls(**frames, meta=meta, directory=directory, files=files)


def flat_connectome(client, root_ids, *, version: int | None = None, out=None, min_weight: int = 5,
                    scope: str = "touching", remove_autapses: bool = True, include_zeros: bool = True,
                    cell_type_table: str | None = None,
                    proofreading_table: str | None = None, soma_table: str | None = None,
                    overwrite: bool = False, progress: bool = True) -> FlatConnectome:
    """Export the connectome of ``root_ids`` at one materialization version as flat files.

    ``root_ids``: ints (uint64-exact; str / float ids are refused) or a DataFrame with a
    ``root_id`` / ``pt_root_id`` / ``valid_id`` column. ``scope="touching"`` takes every synapse
    with a selected neuron on either side (their partners outside the selection included);
    ``"within"`` only those between selected neurons. ``min_weight`` splits off the "significant"
    connections. ``remove_autapses`` and ``include_zeros`` (synapses with an unsegmented side,
    root 0) mean what they mean in caveclient's ``synapse_query``, with the same defaults, so the
    synapses are the rows ``synapse_query(pre_ids=...)`` plus ``synapse_query(post_ids=...)``
    return. The synapse table comes from the datastack's info; cell-type, proofreading and
    soma tables are found by schema (see :mod:`cavewidgets.roles`) unless named here.
    With ``out``, the files are written there (a new or empty directory, or ``overwrite=True``);
    all of them appear at once or none does.

    Args:
        client: a ``caveclient.CAVEclient`` (tracked or not).
        root_ids: the selection.
        version: materialization version (default: the client's pinned one, else the latest).
        out: directory for the feather + parquet files and provenance.json (None: nothing written).
        min_weight: smallest synapse count of a "significant" connection.
        scope: ``"touching"`` or ``"within"``.
        remove_autapses: drop synapses whose pre and post root are the same (caveclient's default).
        include_zeros: keep synapses with root 0 on one side (caveclient's default).
        cell_type_table, proofreading_table, soma_table: override the discovered tables.
        overwrite: replace an existing export in ``out``.
        progress: show a progress bar per table load.

    Example::

        client = cavewidgets.sample.client()
        pr = client.materialize.query_table("proofreading_status_and_strategy")
        flat = cavewidgets.flat_connectome(client, pr["valid_id"], out="flat", min_weight=3)
        flat.significant.head()
    """
    from ..reports.connectivity import check_roots_exist, check_version, clean_root_ids

    t0 = time.perf_counter()
    _check_options(scope, min_weight)
    roots, dropped = clean_root_ids(_root_column(root_ids))
    target = _check_target(out, overwrite) if out is not None else None
    plain = unwrap(client)
    mat = plain.materialize
    version = check_version(mat, version)
    timestamp = mat.get_timestamp(version)
    check_roots_exist(plain, roots, version, timestamp)
    roles = discover_roles(plain, version, cell_type_table=cell_type_table,
                           proofreading_table=proofreading_table, soma_table=soma_table)
    loader = _Loader(plain, version, progress)

    synapses, resolution = loader.synapses(roles.synapse, roots, scope, remove_autapses=remove_autapses,
                                           include_zeros=include_zeros)
    annotations, soma_resolution = _load_annotations(loader, roles)
    query_seconds = time.perf_counter() - t0

    frames = build_frames(synapses, resolution, roots, annotations, min_weight)
    meta = {
        "datastack": plain.datastack_name, "server": getattr(plain, "server_address", None),
        "version": version, "timestamp": pd.Timestamp(timestamp).isoformat(), "scope": scope,
        "min_weight": int(min_weight), "n_neurons": len(roots), "duplicates_dropped": dropped,
        "root_ids": [str(int(r)) for r in roots],  # decimal strings: JSON readers parse numbers as float64
        "tables": roles.as_dict(), "voxel_resolution_nm": {roles.synapse: list(resolution)},
        "filters": loader.filters, "queries": loader.records,
        "rows": {name: len(frame) for name, frame in frames.items()},
        "query_seconds": round(query_seconds, 3), "seconds": round(time.perf_counter() - t0, 3),
    }
    if roles.soma:
        meta["voxel_resolution_nm"][roles.soma] = list(soma_resolution)
    flat = FlatConnectome(**frames, meta=meta)
    if target is not None:
        _write(flat, target)
    return flat


def _check_options(scope: str, min_weight) -> None:
    """Refuse a bad ``scope`` or ``min_weight`` before any query is sent."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if isinstance(min_weight, bool) or not isinstance(min_weight, (int, np.integer)) or min_weight < 1:
        raise ValueError(f"min_weight must be a positive int, got {min_weight!r}")


def _load_annotations(loader, roles) -> tuple[dict, list | None]:
    """The per-body annotation frames of the roles the datastack has, and the soma table's voxel
    resolution (None without one); cell types, proofreading, somas are queried in that order."""
    annotations, soma_resolution = {}, None
    if roles.cell_type:
        annotations["cell_types"] = cell_types(loader.table(roles.cell_type)[0])
    if roles.proofreading:
        annotations["proofreading"] = proofreading_status(loader.table(roles.proofreading)[0])
    if roles.soma:
        somas, soma_resolution = loader.table(roles.soma)
        annotations["somas"] = soma_positions(somas, soma_resolution)
    return annotations, soma_resolution


def _root_column(root_ids):
    if isinstance(root_ids, pd.DataFrame):
        column = next((c for c in _ROOT_COLUMNS if c in root_ids.columns), None)
        if column is None:
            raise ValueError(f"the DataFrame has no root id column (one of {list(_ROOT_COLUMNS)}); "
                             f"columns: {list(root_ids.columns)}")
        return root_ids[column]
    return root_ids


def _check_target(out, overwrite: bool) -> Path:
    return output_dir(out, overwrite=overwrite, names="out=")


class _Loader:
    """Whole-table loads through the row cap, each reply recorded in the provenance log."""

    def __init__(self, client, version: int, progress: bool):
        self.client, self.version, self.progress = client, version, progress
        self.records: list[dict] = []
        self.filters: dict = {}
        self._tables: dict = {}

    def _load(self, table: str, label: str, **kwargs) -> pd.DataFrame:
        bar = _bar(f"{label} (version {self.version})") if self.progress else None

        def on_page(page, kw):
            params = dict(kw)
            rec = record_query(self.client, method="query_table", table=table, params=params, result=page,
                               version=self.version, source=SOURCE)
            self.records.append({"record_id": rec.record_id, "table": table, "rows": len(page)})

        def report(loaded, total):
            if bar is not None:
                bar.total = total
                bar.update(loaded - bar.n)

        try:
            return query_whole(self.client, table, version=self.version, progress=report, on_page=on_page,
                               **kwargs)
        finally:
            if bar is not None:
                bar.close()

    def _resolution(self, table: str) -> list[float]:
        meta = self.client.materialize.get_table_metadata(table, version=self.version, log_warning=False)
        resolution = meta.get("voxel_resolution")
        if not resolution or any(r is None for r in resolution):
            raise ValueError(f"the metadata of {table!r} gives no voxel resolution ({resolution!r}); "
                             "positions cannot be converted to nm")
        return [float(r) for r in resolution]

    def table(self, table: str) -> tuple[pd.DataFrame, list[float]]:
        """The whole table at its own voxel resolution (positions split into _x/_y/_z).

        A reference table is loaded unjoined and joined here to its (whole) target table:
        caveclient's automatic join goes through a join query, which has no count to page by.
        """
        if table in self._tables:
            return self._tables[table]
        meta = self.client.materialize.get_table_metadata(table, version=self.version, log_warning=False)
        target = meta.get("reference_table")
        self.filters[table] = {}
        if target:
            rows = self._load(table, table, merge_reference=False)
            referenced, resolution = self.table(target)
            rows = rows.merge(referenced.drop(columns=[c for c in ("created", "superceded_id", "valid")
                                                       if c in referenced.columns]),
                              left_on="target_id", right_on="id", how="inner", suffixes=("", "_ref"))
        else:
            resolution = self._resolution(table)
            rows = self._load(table, table, desired_resolution=resolution, split_positions=True)
        self._tables[table] = (rows, resolution)
        return rows, resolution

    def synapses(self, table: str, roots: np.ndarray, scope: str, *, remove_autapses: bool,
                 include_zeros: bool) -> tuple[pd.DataFrame, list[float]]:
        """Synapses of the selection (both directions, each synapse once, by id)."""
        resolution = self._resolution(table)
        columns = list(self.client.materialize.query_table(
            table, materialization_version=self.version, limit=1, log_warning=False).columns)
        wanted = ["id", "pre_pt_root_id", "post_pt_root_id", *[f"{p}_pt_position" for p in _POINTS], "size"]
        select = [c for c in wanted if c in columns]
        missing = {"id", "pre_pt_root_id", "post_pt_root_id"} - set(select)
        if missing:
            raise ValueError(f"synapse table {table!r} has no column(s) {sorted(missing)}")
        ids = [int(r) for r in roots]
        kw = dict(desired_resolution=resolution, split_positions=True, select_columns=select)
        if not include_zeros:  # as synapse_query does it: on the server
            kw["filter_out_dict"] = {"pre_pt_root_id": [0], "post_pt_root_id": [0]}
        if scope == "within":
            filters = [("synapses within the selection", {"pre_pt_root_id": ids, "post_pt_root_id": ids})]
        else:
            filters = [("output synapses", {"pre_pt_root_id": ids}), ("input synapses", {"post_pt_root_id": ids})]
        self.filters[table] = {"scope": scope, "filter_in_dict": [sorted(f) for _, f in filters],
                               "select_columns": select, "remove_autapses": bool(remove_autapses),
                               "include_zeros": bool(include_zeros)}
        parts = [self._load(table, f"{table}: {label}", filter_in_dict=f, **kw) for label, f in filters]
        synapses = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        synapses = synapses.drop_duplicates("id").sort_values("id", kind="stable")
        if remove_autapses:  # as synapse_query does it: after the query
            synapses = synapses[synapses["pre_pt_root_id"] != synapses["post_pt_root_id"]]
        return synapses.reset_index(drop=True), resolution


def _bar(description: str):
    from tqdm.auto import tqdm

    return tqdm(total=None, desc=description, unit=" rows", leave=False)


def build_frames(synapses: pd.DataFrame, resolution, roots, annotations: dict, min_weight: int) -> dict:
    """The export's frames from the synapse rows (positions in voxels at ``resolution``) and the
    per-body annotations (outputs of :mod:`cavewidgets.connectome.annotations`).

    Example::

        frames = build_frames(syn, [4, 4, 40], roots, {}, min_weight=5)
        frames["weights"].head()
    """
    roots = np.asarray(roots, dtype=np.uint64)
    pre = synapses["pre_pt_root_id"].astype(np.uint64).to_numpy()
    post = synapses["post_pt_root_id"].astype(np.uint64).to_numpy()
    points = pd.DataFrame({"id": synapses["id"].astype(np.int64).to_numpy(), "pre_pt_root_id": pre,
                           "post_pt_root_id": post})
    nm = {}
    for kind in _POINTS:
        for axis, scale in zip("xyz", resolution):
            column = f"{kind}_pt_position_{axis}"
            if column in synapses.columns:
                nm[(kind, axis)] = synapses[column].to_numpy(dtype=float) * float(scale)
                points[f"{kind}_{axis}_nm"] = nm[(kind, axis)]
    if "size" in synapses.columns:
        points["size"] = synapses["size"].to_numpy()
    partners = pd.DataFrame({"id": points["id"]})
    for side in ("pre", "post"):
        for axis in "xyz":
            partners[f"{axis}_{side}"] = nm.get((side, axis), np.full(len(points), np.nan))
        partners[f"body_{side}"] = points[f"{side}_pt_root_id"]

    weights = weights_of(partners)
    bodies = np.unique(np.concatenate([roots, partners["body_pre"].to_numpy(), partners["body_post"].to_numpy()]))
    bodies = bodies[bodies != 0]
    ann = body_annotations(bodies, **annotations)
    ann.insert(0, "in_selection", np.isin(ann.index.to_numpy(), roots))
    significant = weights[weights["weight"] >= min_weight].reset_index(drop=True)
    for side in ("pre", "post"):
        significant[f"type_{side}"] = ann["type"].reindex(significant[f"body_{side}"].to_numpy()).to_numpy()
        significant[f"type_{side}"] = significant[f"type_{side}"].astype("string")
    return {"points": points, "partners": partners, "weights": weights, "significant": significant,
            "body_stats": body_stats(points, roots, ann), "body_annotations": ann.reset_index()}


def weights_of(partners: pd.DataFrame) -> pd.DataFrame:
    """``body_pre, body_post, weight`` (synapse count), strongest first; root 0 (no segment) left out.

    Example::

        weights_of(pd.DataFrame({"body_pre": np.array([1, 1], np.uint64), "body_post": np.array([2, 2], np.uint64)}))
    """
    keep = (partners["body_pre"] != 0) & (partners["body_post"] != 0)
    weights = (partners.loc[keep, ["body_pre", "body_post"]].value_counts().rename("weight").reset_index())
    weights = weights.astype({"body_pre": np.uint64, "body_post": np.uint64, "weight": np.int64})
    return weights.sort_values(["weight", "body_pre", "body_post"], ascending=[False, True, True],
                               kind="stable").reset_index(drop=True)


def body_stats(points: pd.DataFrame, roots: np.ndarray, annotations: pd.DataFrame) -> pd.DataFrame:
    """Per selected neuron: synapse counts as pre/post, distinct partners each way, annotations.

    Example::

        body_stats(flat.points, roots, flat.body_annotations.set_index("body"))
    """
    index = pd.Index(np.asarray(roots, dtype=np.uint64), name="body")
    pre, post = points["pre_pt_root_id"], points["post_pt_root_id"]
    stats = pd.DataFrame(index=index)
    stats["pre"] = pre.value_counts().reindex(index, fill_value=0).astype(np.int64).to_numpy()
    stats["post"] = post.value_counts().reindex(index, fill_value=0).astype(np.int64).to_numpy()
    down = points[post != 0].drop_duplicates(["pre_pt_root_id", "post_pt_root_id"])["pre_pt_root_id"]
    up = points[pre != 0].drop_duplicates(["pre_pt_root_id", "post_pt_root_id"])["post_pt_root_id"]
    stats["n_downstream_partners"] = down.value_counts().reindex(index, fill_value=0).astype(np.int64).to_numpy()
    stats["n_upstream_partners"] = up.value_counts().reindex(index, fill_value=0).astype(np.int64).to_numpy()
    ann = annotations.drop(columns=["in_selection"], errors="ignore").reindex(index)
    return pd.concat([stats, ann], axis=1).reset_index()


def _write(flat: FlatConnectome, target: Path) -> None:
    """All files into a sibling temporary directory, then moved into place together."""
    tag = f"{flat.meta['datastack']}-v{flat.meta['version']}"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        files = {}
        for name, frame in flat.frames().items():
            stem = FILES[name].format(tag=tag)
            frame.to_feather(staging / f"{stem}.feather")
            frame.to_parquet(staging / f"{stem}.parquet", index=False)
            files[name] = {fmt: f"{stem}.{fmt}" for fmt in FORMATS}
        flat.meta["files"] = files
        (staging / "provenance.json").write_text(json.dumps(flat.meta, indent=2, default=str) + "\n")
        if target.exists():
            for old in _own_files(target):
                old.unlink()
            for new in staging.iterdir():
                os.replace(new, target / new.name)
            staging.rmdir()
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    flat.directory, flat.files = target, files


def _own_files(directory: Path):
    """Files an earlier export wrote here (what overwrite=True replaces; nothing else is touched)."""
    manifest = directory / "provenance.json"
    if not manifest.is_file():
        return []
    try:
        files = json.loads(manifest.read_text()).get("files", {})
    except ValueError:
        return []
    own = [directory / f for entry in files.values() for f in entry.values()] + [manifest]
    return [p for p in own if p.is_file()]

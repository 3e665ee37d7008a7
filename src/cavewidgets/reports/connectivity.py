"""``connectivity_report(client, root_ids)``: the standard connectivity summary of a selection.

Four materialization queries, all at one version and all recorded in the provenance log
(``source="report"``): the output synapses of the selection, its input synapses (id, pre and
post root, size only), the cell-type table (reference tables are joined to their nucleus table by
caveclient) and the soma table (in µm). Table roles come from the datastack: the synapse and soma
tables from ``client.info``, the cell-type table from the table schemas (the one table with a
cell-type schema) unless named; a datastack without a soma table or a synapse table without
``size`` (FlyWire's ``fly_nt_synapse``) gives NaN depths, volumes and sizes, not an error. Everything else is pandas; the figures are matplotlib and
seaborn on the Agg canvas (never pyplot, so no global figure state and no ``plt.show``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .._ids import parse_root_ids
from ..paging import refuse_truncated
from ..reproducible.tracking import track
from ..roles import discover_roles
from .labels import UNKNOWN, type_order
from .report import ConnectivityReport

SYNAPSE_COLUMNS = ["id", "pre_pt_root_id", "post_pt_root_id", "size"]
_MAX_ROOT = 2**63 - 1  # CAVE stores root ids as BIGINT


def connectivity_report(client, root_ids, *, version: int | None = None, by: str = "cell_type",
                        cell_type_table: str | None = None, top: int = 5) -> ConnectivityReport:
    """Connectivity summary of ``root_ids`` at one materialization version, as a report object.

    ``by`` is the column of ``cell_type_table`` that groups neurons (``"cell_type"`` or
    ``"classification_system"``); ``version`` defaults to the client's pinned version, else the
    latest; ``top`` is the number of partners per neuron and direction in ``top_partners``.
    Duplicate ids are dropped (first occurrence kept). Root ids must be ints (not str or float:
    ids exceed 2**53) that exist and are current at that version.

    The report renders inline (``_repr_html_`` with embedded PNGs) and has ``connectome`` (pre
    root, post root, synapse count, summed size within the selection), ``cells``,
    ``outputs_by_type`` / ``inputs_by_type`` (synapses per neuron by partner type),
    ``top_partners``, ``figures`` (matplotlib Figures) and ``save(directory)`` (report.html, PNGs,
    CSVs).

    Args:
        client: a ``caveclient.CAVEclient``.
        root_ids: the selection (ints; duplicates dropped).
        version: the materialization version (default: the client's pinned one, else the latest).
        by: the column of ``cell_type_table`` that groups neurons.
        cell_type_table: the table the labels come from; by default the datastack's cell-type
            table as :func:`cavewidgets.roles.discover_roles` chooses it (a cell-type schema; of
            several, the one referencing the soma table, then the first by name: on MICrONS
            ``aibs_metamodel_celltypes_v661``); the report's ``meta`` lists the candidates. None:
            a ValueError asks for this argument.
        top: partners per neuron and direction in ``top_partners``.

    Example::

        client = cavewidgets.sample.client()
        pr = client.materialize.query_table("proofreading_status_and_strategy")
        report = cavewidgets.connectivity_report(client, pr["valid_id"])
        report.connectome.head()
        report.save("proofread_report")
    """
    t0 = time.perf_counter()
    roots, dropped = clean_root_ids(root_ids)
    _check_options(by, top)
    tracked = track(client, source="report")
    mat = tracked.materialize
    version = check_version(mat, version)
    timestamp = mat.get_timestamp(version)
    check_roots_exist(tracked, roots, version, timestamp)
    roots = roots.astype(np.int64)  # all below 2**63 now; int64 like the tables' columns (pandas
    # compares int64 with uint64 through float64, which loses ids above 2**53)

    synapse_table = tracked.info.get_datastack_info().get("synapse_table")
    soma_table = tracked.info.get_datastack_info().get("soma_table")
    if not synapse_table:
        raise ValueError("the datastack names no synapse table (info service 'synapse_table')")
    candidates = [cell_type_table]
    if cell_type_table is None:
        cell_type_table, candidates = find_cell_type_table(client, version)
    outputs, inputs, types, somas = _query_selection(client, tracked, roots, version, synapse_table,
                                                     soma_table, cell_type_table, by)
    query_seconds = time.perf_counter() - t0

    outputs = _drop_autapses(outputs)
    inputs = _drop_autapses(inputs)
    type_of = cell_types_by_root(types, by)
    tables = _report_tables(roots, type_of, types, somas, outputs, inputs, by, top)
    context = {"all_types": types, "by": by, "type_of": type_of, "outputs": outputs, "inputs": inputs}
    meta = {
        "datastack": getattr(client, "datastack_name", None), "version": version,
        "timestamp": pd.Timestamp(timestamp).isoformat(), "by": by, "cell_type_table": cell_type_table,
        "cell_type_candidates": candidates,
        "synapse_table": synapse_table, "soma_table": soma_table, "n_neurons": len(roots),
        "duplicates_dropped": dropped, "n_output_synapses": len(outputs), "n_input_synapses": len(inputs),
        "query_seconds": round(query_seconds, 3),
    }
    return ConnectivityReport(tables, context, meta, started=t0)


def _check_options(by, top) -> None:
    """Refuse a bad ``by`` or ``top`` before any query is sent."""
    if not isinstance(by, str) or not by:
        raise TypeError(f"by must be a column name such as 'cell_type', got {by!r}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive int, got {top!r}")


def _query_selection(client, tracked, roots, version: int, synapse_table: str, soma_table: str | None,
                     cell_type_table: str, by: str):
    """The four queries of a report, in the order the provenance log records them: output and
    input synapses, cell types, somas (None without a soma table)."""
    mat = tracked.materialize
    root_list = [int(r) for r in roots]
    columns = _synapse_columns(client, synapse_table)
    # a report built on the first QUERY_LIMIT_SIZE rows would be wrong without a sign: refuse
    outputs = _with_size(refuse_truncated(tracked, lambda: mat.query_table(
        synapse_table, filter_in_dict={"pre_pt_root_id": root_list}, select_columns=columns,
        materialization_version=version), "report outputs"))
    inputs = _with_size(refuse_truncated(tracked, lambda: mat.query_table(
        synapse_table, filter_in_dict={"post_pt_root_id": root_list}, select_columns=columns,
        materialization_version=version), "report inputs"))
    types = refuse_truncated(tracked, lambda: mat.query_table(
        cell_type_table, desired_resolution=[1000, 1000, 1000], materialization_version=version),
        f"cell types ({cell_type_table})")
    if by not in types.columns:
        raise ValueError(f"{cell_type_table!r} has no column {by!r}; choose one of "
                         f"{[c for c in types.columns if types[c].dtype == object]}")
    somas = None
    if soma_table:
        somas = mat.query_table(soma_table, filter_in_dict={"pt_root_id": root_list},
                                desired_resolution=[1000, 1000, 1000], split_positions=True,
                                materialization_version=version)
    return outputs, inputs, types, somas


def _report_tables(roots, type_of, types, somas, outputs, inputs, by: str, top: int) -> dict[str, pd.DataFrame]:
    """The report's tables, every per-neuron one in the order of ``cells``."""
    cells = _cells_table(roots, type_of, types, somas, outputs, inputs, by)
    order = cells["root_id"].to_numpy()
    return {
        "cells": cells,
        "connectome": flat_connectome(outputs, roots),
        "outputs_by_type": partners_by_type(outputs, "pre_pt_root_id", "post_pt_root_id", type_of, order),
        "inputs_by_type": partners_by_type(inputs, "post_pt_root_id", "pre_pt_root_id", type_of, order),
        "top_partners": top_partners(outputs, inputs, type_of, order, top),
    }


def find_cell_type_table(client, version: int | None = None) -> tuple[str, list[str]]:
    """The datastack's cell-type table at ``version`` and every candidate, as
    :func:`cavewidgets.roles.discover_roles` chooses them; a ValueError when there is none.

    Example::

        find_cell_type_table(cavewidgets.sample.client())        # ('aibs_metamodel_celltypes_v661', [...])
        find_cell_type_table(cavewidgets.sample.client("fly"))   # ('neuron_cell_types', ['neuron_cell_types'])
    """
    version = check_version(client.materialize, version)
    roles = discover_roles(client, version)
    if roles.cell_type is None:
        raise ValueError(f"no table with a cell-type schema in {client.datastack_name} at version "
                         f"{version}; say which table holds the labels with cell_type_table=...")
    return roles.cell_type, roles.candidates["cell_type"]


def _synapse_columns(client, synapse_table: str) -> list[str]:
    """SYNAPSE_COLUMNS that the synapse table has (``size`` is not in every synapse schema)."""
    schema = client.materialize.get_table_metadata(synapse_table).get("schema_type")
    fields = client.schema.schema_definition(schema)
    props = fields["definitions"][fields["$ref"].split("/")[-1]]["properties"]
    return [c for c in SYNAPSE_COLUMNS if c != "size" or "size" in props]


def _with_size(synapses: pd.DataFrame) -> pd.DataFrame:
    """``size`` as float, NaN where the table has none (summed sizes stay NaN then, never 0)."""
    synapses = synapses.copy()
    synapses["size"] = synapses["size"].astype(float) if "size" in synapses.columns else np.nan
    return synapses


def _summed_size(agg: pd.DataFrame, synapses: pd.DataFrame) -> pd.Series:
    # int64 as before where sizes exist; NaN (not a sum of nothing, 0) where the table has none
    if synapses["size"].isna().all():
        return pd.Series(np.nan, index=agg.index)
    return agg["summed_size"].astype(np.int64)


def clean_root_ids(root_ids) -> tuple[np.ndarray, int]:
    """``(uint64 array of unique ids in first-seen order, number of duplicates dropped)``.

    Ids follow :mod:`cavewidgets._ids` (an :class:`~cavewidgets._ids.IdError` for str that is
    not decimal, float, bool, 0, negative or >= 2**64 ids); an empty selection is a ``ValueError``.

    Example::

        clean_root_ids([864691135808682079, 864691135808682079])   # (array([8646...]), 1)
    """
    if root_ids is None:
        raise ValueError("root_ids is empty: give at least one root id")
    ids = parse_root_ids(root_ids).tolist()
    if not ids:
        raise ValueError("root_ids is empty: give at least one root id")
    unique = list(dict.fromkeys(ids))
    return np.array(unique, dtype=np.uint64), len(ids) - len(unique)


def check_version(mat, version):
    """``version`` as an int that exists (None: the client's pinned version, else the latest).

    Example::

        check_version(client.materialize, None)   # 2 on the sample
    """
    if version is None:
        return int(mat.version)
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)):
        raise TypeError(f"version must be an int materialization version, got {version!r}")
    versions = sorted(int(v) for v in mat.get_versions())
    if int(version) not in versions:
        raise ValueError(f"materialization version {version} does not exist (available: {versions})")
    return int(version)


def check_roots_exist(client, roots: np.ndarray, version: int, timestamp) -> None:
    """Raise ``ValueError`` naming the ids that are not roots of the datastack or not current at
    ``timestamp`` (the time of ``version``).

    Example::

        check_roots_exist(client, np.array([864691135808682079], np.uint64), 2, client.materialize.get_timestamp(2))
    """
    cg = client.chunkedgraph
    # CAVE stores root ids as BIGINT: an id at or above 2**63 cannot be one of its roots
    storable = roots <= _MAX_ROOT
    ids = [int(r) for r in roots[storable]]
    valid = np.zeros(len(roots), dtype=bool)
    valid[storable] = np.asarray(cg.is_valid_nodes(ids), dtype=bool) if ids else []
    if not valid.all():
        bad = roots[~valid]
        raise ValueError(f"{len(bad)} root id(s) are not in datastack {client.datastack_name!r}: "
                         f"{bad[:10].tolist()}{' ...' if len(bad) > 10 else ''}")
    ids = [int(r) for r in roots]
    current = np.asarray(cg.is_latest_roots(ids, timestamp=timestamp), dtype=bool)
    if not current.all():
        bad = roots[~current]
        raise ValueError(f"{len(bad)} root id(s) are not current at version {version} ({timestamp}): "
                         f"{bad[:10].tolist()}; map them with client.chunkedgraph.suggest_latest_roots "
                         "or pass the version they belong to")


def _drop_autapses(synapses: pd.DataFrame) -> pd.DataFrame:
    return synapses[synapses["pre_pt_root_id"] != synapses["post_pt_root_id"]].reset_index(drop=True)


def cell_types_by_root(types: pd.DataFrame, by: str) -> pd.Series:
    """One label per root id (the row with the lowest annotation id wins), indexed by root id.

    Example::

        cell_types_by_root(client.materialize.query_table("aibs_metamodel_celltypes_v661"), "cell_type")
    """
    if "pt_root_id" not in types.columns:
        raise ValueError("the cell-type table has no pt_root_id column (a bound point or a reference "
                         "to the nucleus table is needed)")
    frame = types[types["pt_root_id"] != 0]
    if "id" in frame.columns:
        frame = frame.sort_values("id", kind="stable")
    frame = frame.drop_duplicates("pt_root_id")
    labels = frame[by].astype(object).where(frame[by].notna(), UNKNOWN).astype(str)
    return pd.Series(labels.to_numpy(), index=frame["pt_root_id"].astype(np.int64).to_numpy(), name=by)


def _cells_table(roots, type_of, types, somas, outputs, inputs, by) -> pd.DataFrame:
    cells = pd.DataFrame({"root_id": roots})
    cells[by if by != "root_id" else "cell_type"] = [type_of.get(int(r), UNKNOWN) for r in roots]
    label = cells.columns[1]
    if "classification_system" in types.columns and by != "classification_system":
        system = types.drop_duplicates("pt_root_id").set_index("pt_root_id")["classification_system"]
        cells["classification_system"] = [system.get(int(r), UNKNOWN) for r in roots]
    cells["soma_depth_um"] = np.nan
    cells["nucleus_volume_um3"] = np.nan
    if somas is not None and len(somas):
        soma = somas[somas["pt_root_id"] != 0].drop_duplicates("pt_root_id").set_index("pt_root_id")
        if "pt_position_y" in soma.columns:
            cells["soma_depth_um"] = cells["root_id"].map(soma["pt_position_y"]).astype(float)
        if "volume" in soma.columns:
            cells["nucleus_volume_um3"] = cells["root_id"].map(soma["volume"]).astype(float)
    cells["n_output_synapses"] = cells["root_id"].map(outputs.groupby("pre_pt_root_id").size()).fillna(0).astype(np.int64)
    cells["n_input_synapses"] = cells["root_id"].map(inputs.groupby("post_pt_root_id").size()).fillna(0).astype(np.int64)
    order = type_order(types, by, cells[label])
    cells["_rank"] = cells[label].map({t: i for i, t in enumerate(order)})
    cells = cells.sort_values(["_rank", "root_id"], kind="stable").drop(columns="_rank")
    return cells.reset_index(drop=True)


def flat_connectome(outputs: pd.DataFrame, roots) -> pd.DataFrame:
    """Synapses between selected neurons: ``pre_root_id, post_root_id, n_synapses, summed_size``.

    Example::

        flat_connectome(synapses, roots).sort_values("n_synapses", ascending=False)
    """
    inside = outputs[outputs["post_pt_root_id"].isin(roots) & outputs["pre_pt_root_id"].isin(roots)]
    grouped = (inside.groupby(["pre_pt_root_id", "post_pt_root_id"])["size"]
               .agg(n_synapses="size", summed_size="sum").reset_index())
    grouped = grouped.rename(columns={"pre_pt_root_id": "pre_root_id", "post_pt_root_id": "post_root_id"})
    grouped = grouped.astype({"pre_root_id": np.int64, "post_root_id": np.int64, "n_synapses": np.int64})
    grouped["summed_size"] = _summed_size(grouped, outputs)
    return grouped.sort_values(["n_synapses", "pre_root_id", "post_root_id"],
                               ascending=[False, True, True], kind="stable").reset_index(drop=True)


def partners_by_type(synapses: pd.DataFrame, own: str, partner: str, type_of: pd.Series,
                     order) -> pd.DataFrame:
    """Synapse counts per selected neuron (rows, in ``order``) by partner label (columns)."""
    labels = synapses[partner].map(type_of).fillna(UNKNOWN)
    table = pd.crosstab(synapses[own], labels) if len(synapses) else pd.DataFrame()
    table = table.reindex(index=order, fill_value=0).fillna(0).astype(np.int64)
    table.index = pd.Index(np.asarray(order, dtype=np.int64), name="root_id")
    table.columns = pd.Index([str(c) for c in table.columns], name="partner_type")
    return table


def top_partners(outputs, inputs, type_of: pd.Series, order, top: int) -> pd.DataFrame:
    """The ``top`` strongest partners per neuron and direction (by synapse count, then size)."""
    frames = []
    for direction, synapses, own, partner in (("output", outputs, "pre_pt_root_id", "post_pt_root_id"),
                                              ("input", inputs, "post_pt_root_id", "pre_pt_root_id")):
        s = synapses[synapses[partner] != 0]
        agg = s.groupby([own, partner])["size"].agg(n_synapses="size", summed_size="sum").reset_index()
        agg = agg.sort_values([own, "n_synapses", "summed_size", partner], ascending=[True, False, False, True],
                              kind="stable")
        agg = agg.groupby(own, sort=False).head(top)
        agg["rank"] = agg.groupby(own).cumcount() + 1
        frames.append(pd.DataFrame({
            "root_id": agg[own].astype(np.int64), "direction": direction, "rank": agg["rank"].astype(np.int64),
            "partner_root_id": agg[partner].astype(np.int64),
            "partner_type": agg[partner].map(type_of).fillna(UNKNOWN).astype(str),
            "n_synapses": agg["n_synapses"].astype(np.int64), "summed_size": _summed_size(agg, synapses)}))
    out = pd.concat(frames, ignore_index=True)
    position = {int(r): i for i, r in enumerate(order)}
    out["_pos"] = out["root_id"].map(position)
    out = out.sort_values(["_pos", "direction", "rank"], ascending=[True, False, True], kind="stable")
    return out.drop(columns="_pos").reset_index(drop=True)

"""Edit history answers of the chunkedgraph service, shaped as PyChunkedGraph's
``SegmentHistory`` and ``lineage_graph`` produce them (no Flask here).

Example::

    graph = get_graph(data_dir)
    lineage_graph(graph, [root], timestamp_past=0.0, timestamp_future=time.time())
    tabular_change_log(graph, root)      # dict of columns, as DataFrame.to_json() writes
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from .graph import Graph, _NULL_TIME


def _seconds(us: int) -> float:
    return us / 1e6


def _op_ms(op: dict) -> int:
    ts = op["timestamp"]
    if isinstance(ts, _dt.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=_dt.timezone.utc)
        return int(round(ts.timestamp() * 1000))
    return int(ts)


def _root_info(graph: Graph, root: int) -> tuple[float, int, float | None]:
    """(created s, creating op or -1, expired s or None) of one root."""
    idx = graph._root_index(np.array([root], dtype=np.uint64))[0]
    expired = graph.root_expired[idx]
    return (
        _seconds(int(graph.root_created[idx])),
        int(graph.root_operation[idx]),
        None if expired == _NULL_TIME else _seconds(int(expired)),
    )


def _generation(frontier: list[int], seen: set[int], step, links: set, new_end: int) -> list[int]:
    """One round of a lineage walk: ``step(root)`` gives each unseen root's links (old, new); the
    link ends at ``new_end`` (0: the older root, walking back; 1: the newer) are the next round."""
    following = []
    for root in frontier:
        if root in seen:
            continue
        seen.add(root)
        for link in step(root):
            links.add(link)
            following.append(link[new_end])
    return following


def lineage_graph(graph: Graph, root_ids, timestamp_past: float, timestamp_future: float) -> dict:
    """networkx ``node_link_data`` of the lineage DiGraph (edges old -> new root), as PCG's
    ``lineage_graph``: walks back until a node older than ``timestamp_past`` and forward until
    a node newer than ``timestamp_future`` (those boundary nodes are kept, as PCG keeps them).

    Example::

        lineage_graph(g, [root], 0.0, time.time())["links"]  # [{"source": a, "target": b}, ...]
    """
    nodes: dict[int, dict] = {}
    links: set[tuple[int, int]] = set()

    def add(root: int) -> tuple[float, int, float | None]:
        created, op, expired = _root_info(graph, root)
        if root not in nodes:
            node = {"timestamp": created}
            if op >= 0:
                node["operation_id"] = op
            node["id"] = root
            nodes[root] = node
        return created, op, expired

    def older(root: int) -> list[tuple[int, int]]:
        created, op, _ = add(root)
        if created < timestamp_past or op < 0:  # the boundary node, or a root of the initial segmentation
            return []
        return [(parent, root) for parent in graph.parents_of(root)]

    def newer(root: int) -> list[tuple[int, int]]:
        created, _, expired = add(root)
        if created > timestamp_future or expired is None:  # the boundary node, or a latest root
            return []
        return [(root, child) for child in graph.children_of(root)]

    # one generation back, then one forward, per round: the order in which nodes are listed
    past = [int(r) for r in root_ids]
    future = list(past)
    seen_past: set[int] = set()
    seen_future: set[int] = set()
    while past or future:
        past = _generation(past, seen_past, older, links, new_end=0)
        future = _generation(future, seen_future, newer, links, new_end=1)
    for a, b in links:  # endpoints reached through a link are nodes too
        add(a)
        add(b)
    return {
        "directed": True,
        "multigraph": False,
        "graph": {},
        "nodes": list(nodes.values()),
        "links": [{"source": a, "target": b} for a, b in sorted(links)],
    }


def _degrees(lineage: dict) -> tuple[dict, dict, dict, dict]:
    ins = {n["id"]: 0 for n in lineage["nodes"]}
    outs = dict(ins)
    succ: dict[int, list[int]] = {k: [] for k in ins}
    pred: dict[int, list[int]] = {k: [] for k in ins}
    for link in lineage["links"]:
        outs[link["source"]] += 1
        ins[link["target"]] += 1
        succ[link["source"]].append(link["target"])
        pred[link["target"]].append(link["source"])
    return ins, outs, succ, pred


def _walk(start: int, step: dict) -> set[int]:
    seen, todo = set(), list(step[start])
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(step[n])
    return seen


def past_future_id_mapping(graph: Graph, root_ids, timestamp_past: float, timestamp_future: float) -> dict:
    """``past_id_mapping`` answer: for each root, the oldest ancestors reached at
    ``timestamp_past``; for each of those, its unique latest descendant when unambiguous
    (PCG's ``SegmentHistory.past_future_id_mapping``)."""
    lineage = lineage_graph(graph, root_ids, timestamp_past, timestamp_future)
    ins, outs, succ, pred = _degrees(lineage)
    past_map: dict[int, list[int]] = {}
    for root in (int(r) for r in root_ids):
        ancestors = _walk(root, pred)
        if not ancestors:
            past_map[root] = [root]
        else:
            past_map[root] = sorted(a for a in ancestors if ins[a] == 0)
    future_map: dict[int, int] = {}
    for past_id in sorted({p for ids in past_map.values() for p in ids}):
        desc = sorted(_walk(past_id, succ) | {past_id})
        out_deg = [outs[d] for d in desc]
        leaves = [d for d, o in zip(desc, out_deg) if o == 0]
        if 2 in out_deg or len(leaves) > 1:
            continue  # split somewhere downstream: no single successor
        singles = [d for d, o in zip(desc, out_deg) if o == 1]
        if singles and any(ins[succ[d][0]] == 1 for d in singles):
            continue  # mirrors PCG: a plain relabel chain is not reported
        future_map[past_id] = leaves[0]
    return {
        "past_id_map": {str(k): v for k, v in past_map.items()},
        "future_id_map": {str(k): v for k, v in future_map.items()},
    }


def _past_operations(graph: Graph, root: int) -> list[dict]:
    return graph.operations_touching(root)


def tabular_change_log(graph: Graph, root: int, filtered: bool = True) -> dict:
    """Columns of PCG's tabular change log of ``root`` (what ``DataFrame.to_json()`` writes:
    ``{column: {row_index: value}}``), timestamps in ms since the epoch."""
    ancestors = graph.ancestors(root)
    cols: dict[str, dict] = {k: {} for k in (
        "operation_id", "timestamp", "user_id", "before_root_ids", "after_root_ids", "is_merge")}
    if not filtered:
        cols["in_neuron"], cols["is_relevant"] = {}, {}
    cols["user_name"], cols["user_affiliation"] = {}, {}
    ops = sorted(_past_operations(graph, root), key=lambda o: int(o["operation_id"]))
    for i, op in enumerate(ops):
        key = str(i)
        after = [int(r) for r in op["after_root_ids"]]
        cols["operation_id"][key] = int(op["operation_id"])
        cols["timestamp"][key] = _op_ms(op)
        cols["user_id"][key] = str(op["user_id"])
        cols["before_root_ids"][key] = [int(r) for r in op["before_root_ids"]]
        # as PCG: only the new root that this object continues in
        cols["after_root_ids"][key] = [r for r in after if r in ancestors] or after
        cols["is_merge"][key] = bool(op["is_merge"])
        if not filtered:
            cols["in_neuron"][key] = True
            cols["is_relevant"][key] = True
        cols["user_name"][key] = f"sample user {op['user_id']}"
        cols["user_affiliation"][key] = "cavewidgets sample"
    return cols


def tabular_change_logs(graph: Graph, roots, filtered: bool = True) -> dict[int, dict]:
    """:func:`tabular_change_log` of each root, as PCG's ``common.tabular_change_logs`` answers
    one request: the ``user_name`` and ``user_affiliation`` columns come from looking up the
    editing users, so when no root of the request has any edit they are not there at all.

    Example::

        tabular_change_logs(g, [root])[root]["operation_id"]   # {"0": 17, ...}
    """
    logs = {int(r): tabular_change_log(graph, int(r), filtered) for r in roots}
    if not any(log["operation_id"] for log in logs.values()):
        for log in logs.values():
            del log["user_name"], log["user_affiliation"]
    return logs


def change_log_summary(graph: Graph, root: int) -> dict:
    """PCG's ``change_log_summary``: counts per user, operation ids and past root ids."""
    ops = _past_operations(graph, root)
    user_info: dict[str, dict] = {}
    n_splits = n_mergers = 0
    for op in ops:
        user = str(op["user_id"])
        info = user_info.setdefault(user, {"n_splits": 0, "n_mergers": 0})
        if op["is_merge"]:
            info["n_mergers"] += 1
            n_mergers += 1
        else:
            info["n_splits"] += 1
            n_splits += 1
    past_ids = [int(r) for op in ops for r in op["before_root_ids"]]
    return {
        "n_splits": n_splits,
        "n_mergers": n_mergers,
        "user_info": user_info,
        "operations_ids": [int(op["operation_id"]) for op in ops],
        "past_ids": past_ids,
    }


def operation_details(graph: Graph, operation_ids) -> dict:
    """``operation_details``: log entry of each known operation, keyed by str(operation id)."""
    out = {}
    for op_id in operation_ids:
        op = graph.op_by_id.get(int(op_id))
        if op is None:
            continue
        ts = op["timestamp"]
        entry = {
            "operation_id": int(op["operation_id"]),
            "roots": [int(r) for r in op["after_root_ids"]],
            "source_coords": op.get("source_coords") or [],
            "sink_coords": op.get("sink_coords") or [],
            "timestamp": ts.isoformat() if isinstance(ts, _dt.datetime) else str(ts),
            "user": str(op["user_id"]),
        }
        key = "added_edges" if op["is_merge"] else "removed_edges"
        edges = op.get(key) or []
        entry[key] = [[int(a) for a in e] for e in edges]
        out[str(int(op_id))] = entry
    return out


def delta_roots(graph: Graph, past_s: float, future_s: float) -> dict:
    """Roots that expired / were created by operations in ``[past, future)``; a root both
    created and expired inside the window is in neither list."""
    old, new = set(), set()
    for op in graph.operations:
        t = _op_ms(op) / 1000.0
        if past_s <= t < future_s:
            old.update(int(r) for r in op["before_root_ids"])
            new.update(int(r) for r in op["after_root_ids"])
    both = old & new
    return {"old_roots": sorted(old - both), "new_roots": sorted(new - both)}

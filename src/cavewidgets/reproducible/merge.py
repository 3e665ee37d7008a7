"""Merging a paper's queries: overlapping restrictions on one table and version become one query.

A query's *restriction* is the conjunction of its filter arguments. Two queries can be merged
into one caveclient call whose rows are the union of theirs only when that union is again a
conjunction of filters. Exactly these cases are merged:

- **same call**: identical filters (a query repeated by two analyses) is one query;
- **one restriction contains the other**: when every filter of A is also a filter of B with
  the same value (B only adds filters), A's rows include B's and A is kept — an unfiltered
  query absorbs every other query of its group;
- **one set of values differs**: all filters are identical except the values of one
  ``filter_in_dict`` / ``filter_equal_dict`` column (``{table: {column: ...}}`` nesting of
  ``live_live_query`` included), or ``synapse_query``'s ``pre_ids`` or ``post_ids``; the
  merged query asks for the union of the values (``filter_equal_dict`` becomes
  ``filter_in_dict`` with a list).

Merging repeats until no pair merges, so many queries by several analyses on one column fold
into one. Everything else stays a separate query (a separate preview row, with a note saying
why):

- different datastack, server, method, table, materialization version or timestamp (queries
  of one table at different versions/timestamps are flagged ``version_conflict``: their rows
  are different snapshots and must not be mixed);
- different non-filter arguments (``select_columns``, ``desired_resolution``,
  ``split_positions``, ``joins``, ``synapse_table``, ``remove_autapses``, ...);
- any ``limit``, ``offset`` or ``random_sample`` (the rows are an arbitrary subset: only the
  identical call merges);
- restrictions that differ in more than one filter, or in any other filter kind
  (``filter_out_dict``, ranges, ``filter_regex_dict``, ``filter_spatial_dict``,
  ``bounding_box``): the union of two such conjunctions is not one conjunction;
- ``join_query`` and results that were not queried (DataFrames handed in): never merged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from .log import REPLAYABLE, replay_call

MERGE_METHODS = {"query_table", "live_query", "live_live_query", "synapse_query"}
FILTER_KINDS = ("filter_in_dict", "filter_out_dict", "filter_equal_dict", "filter_greater_dict",
                "filter_less_dict", "filter_greater_equal_dict", "filter_less_equal_dict",
                "filter_spatial_dict", "filter_regex_dict", "pre_ids", "post_ids", "bounding_box")
SUBSET_ARGS = ("limit", "offset", "random_sample")
UNION_KIND = "filter_in_dict"


@dataclass
class MergedQuery:
    """One query of a paper's export: its call and the recorded queries it stands for.

    Example::

        merged = merge_entries(read_paper("v1_wiring_2026"))
        merged[0].replay()["kwargs"], [m["record_id"] for m in merged[0].members]
    """

    datastack: str | None
    server: str | None
    method: str
    table: str | None
    version: int | None
    timestamp: str | None
    params: dict
    members: list = field(default_factory=list)
    mergeable: bool = True
    note: str = ""
    version_conflict: bool = False

    @property
    def filters(self) -> dict:
        return {k: v for k, v in self.params.items() if k in FILTER_KINDS and v is not None}

    @property
    def analyses(self) -> list[str]:
        return sorted({m.get("analysis") or "" for m in self.members})

    def replay(self) -> dict | None:
        """``{"method", "kwargs"}`` in the JSON encoding of the log (None: not re-runnable)."""
        if self.method not in REPLAYABLE or not all(m.get("replay") for m in self.members):
            return None
        if len(self.members) == 1:
            return self.members[0]["replay"]
        ts = {"__datetime__": self.timestamp} if self.timestamp else None
        return replay_call(self.method, self.table, self.params, self.version, ts)

    def where(self) -> tuple:
        return (self.datastack, self.server, self.table, self.version, self.timestamp)


def _restriction(params: dict) -> dict:
    """``{(kind, *path): value}``: each filter leaf, ``filter_equal_dict`` leaves as one-value ins."""
    flat = {}

    def walk(kind, value, path):
        if isinstance(value, dict) and kind not in ("bounding_box",):
            for key, sub in value.items():
                walk(kind, sub, path + (str(key),))
        elif kind == "filter_equal_dict":
            flat[(UNION_KIND, *path)] = [value]
        elif kind in ("pre_ids", "post_ids"):
            flat[(kind,)] = list(value) if isinstance(value, list) else [value]
        else:
            flat[(kind, *path)] = value

    for kind in FILTER_KINDS:
        if params.get(kind) is not None:
            walk(kind, params[kind], ())
    return flat


def _params_from(restriction: dict, rest: dict) -> dict:
    params = dict(rest)
    for key, value in restriction.items():
        kind, path = key[0], key[1:]
        if kind in ("pre_ids", "post_ids") or not path:
            params[kind] = value
            continue
        node = params.setdefault(kind, {})
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return params


def _union(a: list, b: list) -> list:
    seen, out = set(), []
    for v in list(a) + list(b):
        key = json.dumps(v, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(v)
    try:
        return sorted(out)
    except TypeError:  # mixed types: keep first-seen order
        return out


def _unionable(key: tuple) -> bool:
    return key[0] in (UNION_KIND, "pre_ids", "post_ids")


def merge_pair(a: dict, b: dict) -> tuple[dict | None, str]:
    """The restriction whose rows are the union of ``a``'s and ``b``'s, or ``(None, why not)``.

    Example::

        merge_pair({("filter_in_dict", "pre_pt_root_id"): [1]},
                   {("filter_in_dict", "pre_pt_root_id"): [2]})[0]   # ... [1, 2]
    """
    if a == b:
        return a, "same restriction"
    if all(k in b and b[k] == v for k, v in a.items()):
        return a, "contains the other"
    if all(k in a and a[k] == v for k, v in b.items()):
        return b, "contains the other"
    if set(a) != set(b):
        return None, f"filters on different columns ({_keys(set(a) ^ set(b))})"
    differ = [k for k in a if a[k] != b[k]]
    if len(differ) > 1:
        return None, f"restrictions differ in more than one filter ({_keys(differ)})"
    key = differ[0]
    if not _unionable(key):
        return None, f"{_keys([key])} differs; only filter_in_dict/filter_equal_dict values are merged"
    merged = dict(a)
    merged[key] = _union(a[key], b[key])
    return merged, "union of values"


def _keys(keys) -> str:
    return ", ".join(sorted(".".join(k) for k in keys))


def _group_key(entry: dict) -> str:
    rest = _rest(entry.get("params") or {})
    return json.dumps([entry.get("datastack"), entry.get("server"), entry["method"], entry.get("table"),
                       entry.get("version"), entry.get("timestamp"), rest], sort_keys=True, default=str)


def merge_entries(entries: list[dict]) -> list[MergedQuery]:
    """The paper's query entries (from ``read_paper``) merged as the module docstring says.

    Example::

        [(m.table, len(m.members)) for m in merge_entries(read_paper("v1_wiring_2026"))]
    """
    groups: dict[str, list[dict]] = {}
    for entry in entries:
        if entry.get("kind") == "query":
            groups.setdefault(_group_key(entry), []).append(entry)
    out: list[MergedQuery] = []
    for members in groups.values():
        out.extend(_merge_group(members))
    _note_other_arguments(out)
    _flag(out)
    return out


def _rest(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in FILTER_KINDS}


def _note_other_arguments(queries: list[MergedQuery]) -> None:
    for q in queries:
        differ = set()
        for o in queries:
            if o is not q and o.where() == q.where() and o.method == q.method:
                a, b = _rest(q.params), _rest(o.params)
                differ |= {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
        if differ:
            note = f"kept apart from a query of this table with different arguments ({', '.join(sorted(differ))})"
            q.note = "; ".join(filter(None, [q.note, note]))


def _merge_group(members: list[dict]) -> list[MergedQuery]:
    first = members[0]

    def single(entry, mergeable, note=""):
        return MergedQuery(entry.get("datastack"), entry.get("server"), entry["method"], entry.get("table"),
                           entry.get("version"), entry.get("timestamp"), dict(entry.get("params") or {}),
                           [entry], mergeable, note)

    if first["method"] not in MERGE_METHODS or not first.get("replay"):
        why = "not re-runnable" if not first.get("replay") else f"{first['method']} is never merged"
        return _dedupe_identical(members, single, why)
    if any((first.get("params") or {}).get(k) is not None for k in SUBSET_ARGS):
        return _dedupe_identical(members, single, "limit/offset/random_sample: only identical calls merge")
    rest = _rest(first.get("params") or {})
    # [restriction, members, original params when the restriction is still one member's own]
    items = [[_restriction(m.get("params") or {}), [m], dict(m.get("params") or {})] for m in members]
    changed = True
    while changed:
        changed = False
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                merged, _ = merge_pair(items[i][0], items[j][0])
                if merged is None:
                    continue
                keep = items[i][2] if merged == items[i][0] else items[j][2] if merged == items[j][0] else None
                items[i] = [merged, items[i][1] + items[j][1], keep]
                del items[j]
                changed = True
                break
            if changed:
                break
    out = []
    for restriction, group, original in items:
        q = single(group[0], True)
        q.members = group
        q.params = original if original is not None else _params_from(restriction, rest)
        out.append(q)
    for q in out:
        others = [merge_pair(_restriction(q.params), _restriction(o.params))[1] for o in out if o is not q]
        if others:
            q.note = "kept apart from another query of this table: " + "; ".join(sorted(set(others)))
    return out


def _dedupe_identical(members, single, why) -> list[MergedQuery]:
    by_call: dict[str, MergedQuery] = {}
    for m in members:
        key = json.dumps(m.get("replay") or m.get("record_id"), sort_keys=True, default=str)
        if key in by_call and m.get("replay"):
            by_call[key].members.append(m)
        else:
            by_call[key] = single(m, False, why)
    return list(by_call.values())


def _flag(queries: list[MergedQuery]) -> None:
    snapshots: dict[tuple, set] = {}
    for q in queries:
        snapshots.setdefault((q.datastack, q.table), set()).add((q.version, q.timestamp))
    for q in queries:
        seen = snapshots[(q.datastack, q.table)]
        if len(seen) > 1 and q.table is not None:
            q.version_conflict = True
            other = ", ".join(f"version {v}" if t is None else f"timestamp {t}"
                              for v, t in sorted(seen, key=str) if (v, t) != (q.version, q.timestamp))
            q.note = "; ".join(filter(None, [q.note, f"also queried at {other}: kept apart"]))


def expected_rows(query: MergedQuery, client) -> tuple[int | None, str]:
    """``(rows, how)``: recorded when the query is one member's own call, else counted or queried.

    ``how`` is ``recorded`` (the member's recorded row count), ``counted`` (the server counted
    the merged ``query_table``), ``queried`` (the merged query ran) or ``unknown``.

    Example::

        expected_rows(merge_entries(read_paper("v1_wiring_2026"))[0], client)
    """
    own = [m for m in query.members if (m.get("params") or {}) == query.params and m.get("n_rows") is not None]
    if own:
        return int(own[0]["n_rows"]), "recorded"
    call = query.replay()
    if call is None or client is None:
        return None, "unknown"
    from ._reproduce_template import decode

    kwargs = decode(call["kwargs"])
    fn = getattr(client.materialize, call["method"])
    if call["method"] == "query_table":
        counted = fn(**kwargs, get_counts=True)
        if isinstance(counted, pd.DataFrame) and "count" in counted.columns:
            return int(counted["count"].sum()), "counted"
    return len(fn(**kwargs)), "queried"


def bytes_per_row(query: MergedQuery) -> float | None:
    """The largest in-memory size per row among the members' recorded results (an estimate)."""
    rates = [m["result_bytes"] / m["n_rows"] for m in query.members
             if m.get("n_rows") and m.get("result_bytes")]
    return max(rates) if rates else None

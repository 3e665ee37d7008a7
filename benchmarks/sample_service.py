"""Benchmark the local sample service through the unmodified caveclient.

Times: the sample build, the full synapse-table query (Arrow), ``filter_in_dict`` with 1,000 root
ids, ``get_l2data`` for 10,000 level-2 ids, and ``level2_chunk_graph`` of the largest neuron.
Prints a table and writes ``benchmarks/results/sample_service.json``.

Example::

    python benchmarks/sample_service.py              # uses (and if needed builds) the cached sample
    python benchmarks/sample_service.py --rebuild    # also times a fresh build into a temp dir
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import timed  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

RESULTS = Path(__file__).resolve().parent / "results" / "sample_service.json"




def build_time(rebuild: bool) -> dict:
    from cavewidgets.sample import generator

    if rebuild:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generator.build(Path(tmp) / "sample")
            return {"seconds": time.perf_counter() - start, "how": "fresh build into a temp dir"}
    start = time.perf_counter()
    path = Path(generator.ensure_built())
    elapsed = time.perf_counter() - start
    recorded = json.loads((path / "COMPLETE").read_text()).get("build_seconds")
    if recorded is not None:
        return {"seconds": float(recorded), "how": "recorded by the generator in COMPLETE"}
    return {"seconds": elapsed, "how": "ensure_built() (cached if already built)"}


def run(rebuild: bool = False) -> dict:
    import cavewidgets.sample as sample

    build = build_time(rebuild)
    with sample.serve(work_dir=tempfile.mkdtemp(prefix="cw-bench-")) as handle:
        client = sample.client(service=handle)
        syn_table = client.info.get_datastack_info()["synapse_table"]
        rows = {}

        client.materialize.query_table(syn_table, limit=1)  # builds the version snapshot once
        df, t = timed(lambda: client.materialize.query_table(syn_table, split_positions=True))
        rows["full synapse query (Arrow, split_positions)"] = (t, f"{len(df):,} rows")
        _, t = timed(lambda: client.materialize.query_table(syn_table), repeat=1)
        rows["full synapse query (Arrow, position arrays)"] = (t, "caveclient joins xyz in Python")

        # the sample has a few hundred cells: half of them plus root ids of no current cell
        # (well-formed, absent) make up 1,000 ids, as a notebook filtering a cell list would send
        cells = np.unique(df["pre_pt_root_id"].to_numpy())
        cells = cells[cells != 0][::2]
        absent = np.arange(1, 3001, dtype=np.int64) + int(cells.max())
        absent = absent[~np.isin(absent, df["pre_pt_root_id"].to_numpy())][: 1000 - len(cells)]
        roots = np.concatenate([cells, absent])
        sub, t = timed(lambda: client.materialize.query_table(
            syn_table, filter_in_dict={"pre_pt_root_id": roots.tolist()}, split_positions=True))
        rows[f"filter_in_dict, {len(roots):,} root ids"] = (t, f"{len(sub):,} rows")

        nuclei = client.materialize.query_table("nucleus_detection_v0")
        cells = np.unique(nuclei["pt_root_id"].to_numpy())
        cells = cells[cells != 0]
        sizes, l2_ids = {}, []
        for root in cells:
            leaves = client.chunkedgraph.get_leaves(int(root), stop_layer=2)
            sizes[int(root)] = len(leaves)
            if len(l2_ids) < 10_000:
                l2_ids.extend(int(x) for x in leaves)
        l2_ids = l2_ids[:10_000]
        data, t = timed(lambda: client.l2cache.get_l2data(l2_ids, attributes=["rep_coord_nm", "size_nm3"]))
        rows[f"get_l2data, {len(l2_ids):,} ids"] = (t, f"{len(data):,} records")

        largest = max(sizes, key=sizes.get)
        graph, t = timed(lambda: client.chunkedgraph.level2_chunk_graph(largest))
        rows["level2_chunk_graph, largest neuron"] = (t, f"{sizes[largest]:,} L2 nodes, {len(graph):,} edges")

    result = {
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "build": build,
        "timings": {name: {"median_s": statistics.median(t), "runs_s": t, "note": note}
                    for name, (t, note) in rows.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"{'measurement':48s} {'median s':>9s}  note")
    print(f"{'sample build':48s} {build['seconds']:9.2f}  {build['how']}")
    for name, rec in result["timings"].items():
        print(f"{name:48s} {rec['median_s']:9.3f}  {rec['note']}")
    print(f"written to {RESULTS}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="time a fresh build into a temp dir")
    run(parser.parse_args().rebuild)

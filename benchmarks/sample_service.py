"""Benchmark the local sample service through the unmodified caveclient.

Times: the sample build, the synapse-table query (Arrow; capped at 200,000 rows as on MICrONS),
``filter_in_dict`` with 1,000 root ids, ``get_l2data`` for 10,000 level-2 ids,
``level2_chunk_graph`` of the largest neuron, the whole 550,000-row synapse table loaded through
the cap the way the Explorer loads it (``cavewidgets.paging.query_whole``; wall time and peak
memory, against one uncapped query on a service without the cap), and posting 25,000 drafts
(time and requests); these two also give the process's CPU seconds (client and in-process
service), which a loaded machine inflates far less than the wall time. Prints a table and writes
``benchmarks/results/sample_service.json`` (with the machine's load average at start and end).

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


def _peak_rss(fn):
    """(result, wall seconds, CPU seconds, peak RSS above the start in MB), RSS sampled every 5 ms.

    CPU is the whole process's (caveclient and the in-process service together): on a shared,
    loaded machine it says what the work costs when the wall time mostly says how busy the machine was.
    """
    import threading

    import psutil

    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.wait(0.005):
            peak[0] = max(peak[0], proc.memory_info().rss)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        out = fn()
    finally:
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        done.set()
        watcher.join()
    return out, elapsed, cpu, (max(peak[0], proc.memory_info().rss) - base) / 2**20


def whole_table_through_cap() -> dict:
    """The 550,000-row synapse table: paged through the real 200,000-row cap vs one uncapped query."""
    import cavewidgets.sample as sample
    from cavewidgets.paging import query_whole

    out = {}
    for label, limit in (("through the 200,000-row cap (query_whole)", None), ("one uncapped query", 10**9)):
        with sample.serve(work_dir=tempfile.mkdtemp(prefix="cw-bench-"), query_limit=limit) as handle:
            client = sample.client(service=handle)
            client.materialize.query_table("synapses_pni_2", limit=1, log_warning=False)  # snapshot warm
            pages = []
            df, t, cpu, mb = _peak_rss(lambda: query_whole(client, "synapses_pni_2", version=2,
                                                           progress=lambda n, total: pages.append(n)))
            out[f"whole synapse table, {label}"] = ([t], f"{len(df):,} rows, {len(pages)} replies, "
                                                          f"peak RSS +{mb:.0f} MB, CPU {cpu:.1f} s")
    return out


def post_drafts(n: int) -> dict:
    """Post ``n`` drafts (batches of 10,000, the annotation engine's limit), counting requests."""
    import cavewidgets.sample as sample
    from cavewidgets.posting import AnnotationPoster, DraftStore, make_draft

    with sample.serve(work_dir=tempfile.mkdtemp(prefix="cw-bench-")) as handle:
        client = sample.client(service=handle)
        nuc = client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1])
        pos = np.stack(nuc["pt_position"].to_numpy())
        store = DraftStore(client.datastack_name, directory=tempfile.mkdtemp(prefix="cw-bench-drafts-"))
        store.add([make_draft(pos[i % len(pos)], fields={"tag": f"t{i}"}) for i in range(n)])
        poster = AnnotationPoster(client)
        poster.ensure_table("bench_post", create=True, schema="bound_tag", description="benchmark")
        calls = []
        hook = lambda r, *a, **k: calls.append(r.request.method)  # noqa: E731
        client.annotation.session.hooks["response"].append(hook)
        start, cpu = time.perf_counter(), time.process_time()
        posted = poster.post(store, "bench_post")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        client.annotation.session.hooks["response"].remove(hook)
    # the POSTs go through the poster's own retry-free session: one per batch
    return {f"post {n:,} drafts": ([elapsed], f"{len(posted):,} posted, {-(-n // 10_000)} POSTs, "
                                              f"{len(calls)} other annotation requests, CPU {cpu:.1f} s")}


def run(rebuild: bool = False) -> dict:
    import os

    import cavewidgets.sample as sample

    load_at_start = os.getloadavg()[0]

    build = build_time(rebuild)
    with sample.serve(work_dir=tempfile.mkdtemp(prefix="cw-bench-")) as handle:
        client = sample.client(service=handle)
        syn_table = client.info.get_datastack_info()["synapse_table"]
        rows = {}

        client.materialize.query_table(syn_table, limit=1, log_warning=False)  # builds the version snapshot once
        df, t = timed(lambda: client.materialize.query_table(syn_table, split_positions=True))
        rows["synapse query (Arrow, split_positions)"] = (t, f"{len(df):,} rows (the 200,000-row cap)")
        _, t = timed(lambda: client.materialize.query_table(syn_table), repeat=1)
        rows["synapse query (Arrow, position arrays)"] = (t, "caveclient joins xyz in Python")

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

    rows.update(whole_table_through_cap())
    rows.update(post_drafts(25_000))

    result = {
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "load_average_1min": [round(load_at_start, 1), round(os.getloadavg()[0], 1)]},
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

"""Benchmark ``cavewidgets.connectivity_report`` on the sample's proofread cells, against the
MICrONS tutorial recipe for the same pictures.

- ours: ``connectivity_report(client, proofread_roots)`` end to end (4 queries with selected
  columns, tables, 4 figures rendered to PNG, provenance records);
- peer, "tutorial recipe": what the MICrONS CAVE tutorial does by hand — ``synapse_query`` for
  outputs and inputs (all columns), the cell-type and nucleus tables, a pivot, and pyplot +
  seaborn (``sns.heatmap``, ``sns.histplot`` with hue, ``sns.scatterplot``, stacked
  ``DataFrame.plot.bar``) with constrained layout, saved as PNG.

Also times ``frame_hash`` (provenance hashing) on the 117k-row input synapse frame.
Prints a table and writes ``benchmarks/results/connectivity_report.json``.

Example::

    python benchmarks/connectivity_report.py --repeat 5
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _timing import timed  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

RESULTS = Path(__file__).resolve().parent / "results" / "connectivity_report.json"


def tutorial_recipe(client, roots):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    out = client.materialize.synapse_query(pre_ids=roots)
    inp = client.materialize.synapse_query(post_ids=roots)
    ct = client.materialize.query_table("aibs_metamodel_celltypes_v661")
    nuc = client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1000, 1000, 1000],
                                         split_positions=True)
    types = ct.drop_duplicates("pt_root_id").set_index("pt_root_id")["cell_type"]
    inside = out[out["post_pt_root_id"].isin(roots)]
    mat = inside.pivot_table(index="pre_pt_root_id", columns="post_pt_root_id", values="size",
                             aggfunc="count", fill_value=0)
    order = sorted(roots, key=lambda r: (types.get(r, "~"), r))
    mat = mat.reindex(index=order, columns=order, fill_value=0)
    pngs = []

    def save(fig):
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        pngs.append(buf.getvalue())

    fig, ax = plt.subplots(figsize=(11, 10), layout="constrained")
    sns.heatmap(np.log2(mat.replace(0, np.nan)), ax=ax, cmap="viridis",
                yticklabels=[f"{types.get(r, '?')} {str(r)[-5:]}" for r in order])
    save(fig)
    fig, axes = plt.subplots(2, 1, figsize=(14, 8.5), layout="constrained")
    for ax, df, own, other in ((axes[0], out, "pre_pt_root_id", "post_pt_root_id"),
                               (axes[1], inp, "post_pt_root_id", "pre_pt_root_id")):
        table = pd.crosstab(df[own], df[other].map(types).fillna("unknown")).reindex(order, fill_value=0)
        table.plot.bar(stacked=True, ax=ax, legend=True)
    save(fig)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for ax, df in ((axes[0], out), (axes[1], inp)):
        sns.histplot(df.assign(t=df["pre_pt_root_id"].map(types).fillna("unknown")), x="size", hue="t",
                     element="step", log_scale=True, ax=ax)
    save(fig)
    fig, ax = plt.subplots(figsize=(7.5, 6), layout="constrained")
    sel = nuc[nuc["pt_root_id"].isin(roots)].assign(t=lambda d: d["pt_root_id"].map(types))
    sns.scatterplot(sel, x="volume", y="pt_position_y", hue="t", ax=ax)
    ax.invert_yaxis()
    save(fig)
    return pngs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import cavewidgets
    from cavewidgets import reproducible
    from cavewidgets.reproducible import frame_hash

    client = cavewidgets.sample.client()
    roots = client.materialize.query_table("proofreading_status_and_strategy")["pt_root_id"].to_numpy()
    roots = np.unique(roots[roots != 0])
    cavewidgets.connectivity_report(client, roots)  # warm: service snapshots, imports
    tutorial_recipe(client, roots)

    cpu0 = time.process_time()
    report, ours = timed(lambda: cavewidgets.connectivity_report(client, roots), repeat=args.repeat)
    ours_cpu = (time.process_time() - cpu0) / args.repeat
    cpu0 = time.process_time()
    _, peer = timed(lambda: tutorial_recipe(client, roots), repeat=args.repeat)
    peer_cpu = (time.process_time() - cpu0) / args.repeat
    inputs = client.materialize.synapse_query(post_ids=roots)
    _, hashing = timed(lambda: frame_hash(inputs), repeat=args.repeat)
    reproducible.clear()

    results = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "load_average_1m_at_end": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
        "selection": {"neurons": int(len(roots)), "output_synapses": report.meta["n_output_synapses"],
                      "input_synapses": report.meta["n_input_synapses"],
                      "connections": int(len(report.connectome))},
        "connectivity_report_s": {"median": statistics.median(ours), "all": ours, "cpu_per_run": ours_cpu,
                                  "last_run_phases": {k: report.meta[k] for k in
                                                      ("query_seconds", "figure_seconds", "total_seconds")}},
        "tutorial_recipe_s": {"median": statistics.median(peer), "all": peer, "cpu_per_run": peer_cpu},
        "frame_hash_117k_rows_s": {"median": statistics.median(hashing), "rows": int(len(inputs))},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{len(roots)} proofread cells, {report.meta['n_output_synapses']} output / "
          f"{report.meta['n_input_synapses']} input synapses")
    print(f"{'':28}{'median s':>10}{'cpu s/run':>11}")
    print(f"{'connectivity_report':28}{statistics.median(ours):10.2f}{ours_cpu:11.2f}")
    print(f"{'tutorial recipe (peer)':28}{statistics.median(peer):10.2f}{peer_cpu:11.2f}")
    print(f"{'frame_hash, ' + str(len(inputs)) + ' rows':28}{statistics.median(hashing):10.3f}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

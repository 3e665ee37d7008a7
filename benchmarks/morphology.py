"""Benchmark morphology: (a) `skeleton_from_l2` against `pcg_skel.pcg_skeleton`; (b) the 3D panel against navis/plotly and K3D.

Part (a), skeletons (this file so far): on the largest neurons of the sample datastack and on a
synthetic 5,000-node L2-like graph.

- end to end through the real caveclient and the local sample service: both get the same soma
  point (nm), so pcg_skel makes no cloud-volume and we make no soma-table query; our time with
  the soma-table lookup is reported as well;
- core only, on the same arrays: ``skeletonize(ids, positions, edges, soma_point=...)`` against
  ``pcg_skel.pcg_skeleton_direct(vertices, edges, root_point=..., collapse_soma=True)``.

Both use invalidation 7,500 nm, soma collapse radius 7,500 nm. Prints a table and writes (merges
into) ``benchmarks/results/morphology.json`` under ``"skeleton"``; other keys are kept.

Part (b), the panel (``_morphology_panel.py``): a 1,000,000-triangle neuron mesh in real
JupyterLab + headless Chromium: bytes sent and time to first frame for ``MorphologyPanel``, for
``navis.plot3d(..., backend="plotly")`` and for K3D, in the same run; written under ``"panel"``.

Example::

    python benchmarks/morphology.py                 # both parts; needs pcg_skel, navis, plotly, k3d
    python benchmarks/morphology.py --part skeleton --repeat 3 --neurons 3
    python benchmarks/morphology.py --part panel --tools "cavewidgets.MorphologyPanel,k3d"
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import warnings
from pathlib import Path

import numpy as np
from _timing import timed  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

RESULTS = Path(__file__).resolve().parent / "results" / "morphology.json"
OPTS = dict(collapse_soma=True, collapse_radius=7500, invalidation_d=7500)




def synthetic_graph(n: int = 5000, seed: int = 0):
    """L2-like graph: a soma blob and branching processes at ~1 µm spacing, plus the extra edges
    between touching neighbours that make real L2 graphs cyclic. Returns (positions nm, edges, soma)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    n_soma = 80
    d = rng.normal(size=(n_soma, 3))
    soma = d / np.linalg.norm(d, axis=1)[:, None] * rng.uniform(0, 6000, size=(n_soma, 1))
    pos = list(soma)
    tips = []  # (index, direction)
    for _ in range(7):
        h = rng.normal(size=3)
        h /= np.linalg.norm(h)
        start = int(np.argmax(soma @ h))
        tips.append((start, h))
    edges = [tuple(p) for p in cKDTree(soma).query_pairs(2500)]
    while len(pos) < n:
        k = int(rng.integers(len(tips)))
        i, h = tips[k]
        h = h + rng.normal(scale=0.25, size=3)
        h /= np.linalg.norm(h)
        pos.append(pos[i] + h * 1000.0)
        j = len(pos) - 1
        edges.append((i, j))
        tips[k] = (j, h)
        if rng.random() < 0.02:  # branch
            tips.append((j, -h + rng.normal(scale=1.0, size=3)))
    pos = np.array(pos)
    extra = np.array(sorted(cKDTree(pos).query_pairs(1100)))  # touching neighbours: cycles
    edges = np.unique(np.sort(np.vstack([np.array(edges), extra]), axis=1), axis=0)
    return pos, edges, np.zeros(3)


def core_pair(ids, pos, edge_idx, soma, repeat):
    import pcg_skel

    from cavewidgets.morphology import skeletonize

    ours, t_ours = timed(lambda: skeletonize(ids, pos, ids[edge_idx], soma_point=soma), repeat)
    ref, t_ref = timed(lambda: pcg_skel.pcg_skeleton_direct(pos, edge_idx, root_point=soma, **OPTS), repeat)
    return {
        "n_l2": int(len(pos)), "n_edges": int(len(edge_idx)),
        "ours_median_s": statistics.median(t_ours), "pcg_skel_median_s": statistics.median(t_ref),
        "speedup": statistics.median(t_ref) / statistics.median(t_ours),
        "ours_runs_s": t_ours, "pcg_skel_runs_s": t_ref,
        "cable_ratio": ours.cable_length_nm / float(ref.path_length()),
        "branch_points": [int(len(ours.branch_points)), int(len(ref.branch_points))],
    }


def largest_neurons(client, k: int):
    """The k nucleus-bearing roots with the most level-2 nodes (one nucleus each), with soma nm."""
    nuc = client.materialize.query_table(client.info.get_datastack_info()["soma_table"], desired_resolution=[1, 1, 1])
    nuc = nuc[nuc.pt_root_id != 0]
    sizes = []
    for root in nuc.pt_root_id.unique():
        edges = np.asarray(client.chunkedgraph.level2_chunk_graph(int(root)), dtype=np.uint64)
        sizes.append((len(np.unique(edges)), int(root)))
    sizes.sort(reverse=True)
    out = []
    for n_l2, root in sizes[:k]:
        rows = nuc[nuc.pt_root_id == root]
        soma = np.asarray(rows.sort_values("volume", ascending=False).pt_position.iloc[0], dtype=np.float64)
        out.append((root, n_l2, soma))
    return out


def skeleton_benchmark(repeat: int = 7, n_neurons: int = 5) -> dict:
    import pcg_skel

    import cavewidgets.sample as sample
    from cavewidgets.morphology import skeleton_from_l2

    client = sample.client()
    neurons = []
    for root, n_l2, soma in largest_neurons(client, n_neurons):
        skeleton_from_l2(client, root)  # warm caches on both sides
        pcg_skel.pcg_skeleton(root, client, root_point=soma, root_point_resolution=[1, 1, 1], **OPTS)
        ours, t_ours = timed(lambda: skeleton_from_l2(client, root, soma=soma), repeat)
        _, t_lookup = timed(lambda: skeleton_from_l2(client, root), repeat)
        ref, t_ref = timed(lambda: pcg_skel.pcg_skeleton(root, client, root_point=soma, root_point_resolution=[1, 1, 1],
                                                         **OPTS), repeat)
        # core on the same arrays: the L2 graph as pcg_skel builds it
        mesh = pcg_skel.pcg_graph(root, client)
        pos = np.asarray(mesh.vertices, dtype=np.float64)
        edge_idx = np.asarray(mesh.link_edges, dtype=np.int64)
        ids = np.arange(len(pos), dtype=np.uint64) + np.uint64(2**60)
        neurons.append({
            "root_id": str(root), "n_l2": n_l2,
            "end_to_end": {
                "ours_median_s": statistics.median(t_ours),
                "ours_with_soma_lookup_median_s": statistics.median(t_lookup),
                "pcg_skel_median_s": statistics.median(t_ref),
                "speedup": statistics.median(t_ref) / statistics.median(t_ours),
                "ours_runs_s": t_ours, "pcg_skel_runs_s": t_ref,
                "cable_um": [ours.cable_length_nm / 1000, float(ref.path_length()) / 1000],
                "branch_points": [int(len(ours.branch_points)), int(len(ref.branch_points))],
            },
            "core": core_pair(ids, pos, edge_idx, soma, repeat),
        })
    pos, edge_idx, soma = synthetic_graph(5000)
    ids = np.arange(len(pos), dtype=np.uint64) + np.uint64(864691135808684573)
    synthetic = core_pair(ids, pos, edge_idx, soma, max(3, repeat // 2))
    return {
        "neurons": neurons,
        "synthetic_5000": synthetic,
        "summary": {
            "end_to_end_speedup_median": statistics.median(n["end_to_end"]["speedup"] for n in neurons),
            "core_speedup_median": statistics.median(n["core"]["speedup"] for n in neurons),
            "synthetic_core_speedup": synthetic["speedup"],
            "target": ">= 5x",
        },
        "options": {**OPTS, "repeat": repeat, "root_point": "nucleus position (nm) for both"},
        "pcg_skel_version": getattr(pcg_skel, "__version__", "unknown"),
    }


def save(key: str, value: dict) -> None:
    """Merge ``value`` under ``key`` into the results file (other keys are kept)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["machine"] = {"python": platform.python_version(), "processor": platform.machine(),
                       "cores": len(os.sched_getaffinity(0))}
    data[key] = value
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {RESULTS} [{key}]")


def run_skeleton_part(args) -> None:
    result = skeleton_benchmark(args.repeat, args.neurons)
    print(f"{'graph':<28}{'n_l2':>6}{'ours ms':>10}{'pcg_skel ms':>13}{'speedup':>9}  cable ratio  branch pts")
    for n in result["neurons"]:
        for kind in ("end_to_end", "core"):
            r = n[kind]
            ratio = r["cable_um"][0] / r["cable_um"][1] if kind == "end_to_end" else r["cable_ratio"]
            print(f"{n['root_id'] + ' ' + kind:<28}{n['n_l2']:>6}{r['ours_median_s'] * 1e3:>10.1f}"
                  f"{r['pcg_skel_median_s'] * 1e3:>13.1f}{r['speedup']:>8.1f}x  {ratio:>10.3f}  {r['branch_points']}")
    s = result["synthetic_5000"]
    print(f"{'synthetic 5000 core':<28}{s['n_l2']:>6}{s['ours_median_s'] * 1e3:>10.1f}{s['pcg_skel_median_s'] * 1e3:>13.1f}"
          f"{s['speedup']:>8.1f}x  {s['cable_ratio']:>10.3f}  {s['branch_points']}")
    print(json.dumps(result["summary"], indent=1))
    save("skeleton", result)


def run_panel_part(args) -> None:
    from _morphology_panel import TOOLS, panel_benchmark

    tools = args.tools.split(",") if args.tools else list(TOOLS)
    result = panel_benchmark(args.timeout, tools)
    print(f"\n{'tool':<50}{'first frame s':>14}{'websocket MB':>14}{'geometry MB':>13}")
    for name, r in result["tools"].items():
        ff = r.get("first_frame_s")
        print(f"{name:<50}{ff if ff is not None else 'failed':>14}{r.get('websocket_bytes', 0) / 1e6:>14.2f}"
              f"{(r.get('geometry_bytes_in_kernel') or 0) / 1e6:>13.2f}")
    print(json.dumps(result["summary"], indent=1))
    save("panel", result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "skeleton", "panel"], default="all",
                        help="(a) skeleton: skeleton_from_l2 vs pcg_skel; (b) panel: 1M-triangle mesh in "
                             "Chromium vs navis/plotly and K3D; all: both (default)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--neurons", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=240, help="part (b): seconds before a first frame counts as missing")
    parser.add_argument("--tools", default="", help="part (b): comma-separated subset of the tools")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    if args.part in ("all", "skeleton"):
        run_skeleton_part(args)
    if args.part in ("all", "panel"):
        run_panel_part(args)


if __name__ == "__main__":
    main()

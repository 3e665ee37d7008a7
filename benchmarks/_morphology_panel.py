"""Part (b) of ``benchmarks/morphology.py``: a 1,000,000-triangle neuron mesh shown in real
JupyterLab + headless Chromium (SwiftShader WebGL) by ``cavewidgets.MorphologyPanel``, by
``navis.plot3d(..., backend="plotly")`` and by K3D (``k3d.plot()`` + ``k3d.mesh``), in one run.

The mesh: the largest sample neuron's mesh (fetched through cloud-volume from the local sample
service), midpoint-subdivided until it has ≥ 1M triangles and cut to exactly 1,000,000. It is
saved once and loaded by every notebook (loading is not timed).

Per tool, in a fresh notebook (a fresh page and kernel: first-load costs such as the widget's
JavaScript are counted), the benchmark runs one new cell holding only the plotting code, as a
user would, and measures:

* time to first frame: from the page issuing ``notebook:run-cell`` until a screenshot of that
  cell's 3D canvas shows ≥ 300 pixels of the mesh colour (#ff7f0e for every tool, shaded or
  blended: an orange-hue test);
  screenshots are polled, so times carry up to ~0.3 s of polling granularity;
* bytes sent: everything the page receives on kernel websockets from the run until the first
  frame plus 2 s (widget state, JavaScript modules sent through the kernel, geometry, figure
  JSON). JavaScript that JupyterLab serves over HTTP from an installed labextension (plotly's
  renderer) is not websocket traffic and is reported separately where known;
* the geometry bytes each tool builds in the kernel (ours: the binary payload; plotly: the
  figure JSON; K3D: the mesh's vertex and index arrays).

MorphologyPanel decimates to its default budget (300,000 triangles) for display and keeps the
full mesh in Python; a second run with ``max_triangles=None`` (all 1M triangles sent) is
reported too. The panel is fed through its internal ``_display`` (what ``show`` calls after
fetching), since the 1M-triangle mesh is synthetic.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np

from cavewidgets.testing.lab import Browser, LabNotebook, LabServer

N_TRIANGLES = 1_000_000
MESH_PIXELS = 300

LOAD = """
import numpy as np, trimesh
_d = np.load({path!r})
mesh = trimesh.Trimesh(_d["v"], _d["f"], process=False)
"""
TOOLS = {
    "cavewidgets.MorphologyPanel": (
        "import cavewidgets\nfrom cavewidgets.morphology import MorphologyPanel",
        "panel = MorphologyPanel(height=500)\npanel.color = '#ff7f0e'\npanel._display(None, mesh, None, None)\npanel",
        "panel._payload[0]['bytes']"),
    "cavewidgets.MorphologyPanel (max_triangles=None)": (
        "import cavewidgets\nfrom cavewidgets.morphology import MorphologyPanel",
        "panel = MorphologyPanel(height=500, max_triangles=None)\npanel.color = '#ff7f0e'\npanel._display(None, mesh, None, None)\npanel",
        "panel._payload[0]['bytes']"),
    "navis.plot3d (plotly)": (
        "import navis, plotly.io as pio\nneuron = navis.MeshNeuron(mesh, units='nm')",
        "fig = navis.plot3d(neuron, backend='plotly', color='#ff7f0e', inline=False, width=1000, height=500)\nfig",
        "len(fig.to_json())"),
    "k3d": (
        "import k3d",
        "plot = k3d.plot(height=500)\nplot += k3d.mesh(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32), color=0xff7f0e)\nplot",
        "int(mesh.vertices.astype(np.float32).nbytes + mesh.faces.astype(np.uint32).nbytes)"),
}

RUN_NEW_CELL = """(code) => {
    const panel = window.jupyterapp.shell.currentWidget, model = panel.content.model;
    model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source: code});
    panel.content.activeCellIndex = model.cells.length - 1;
    window.__cwCell = panel.content.widgets[model.cells.length - 1].node;
    window.jupyterapp.commands.execute('notebook:run-cell');
}"""


def million_triangle_mesh(path: Path) -> dict:
    """Write the benchmark mesh to ``path`` (npz: v float64 nm, f int32); returns its description."""
    import trimesh

    import cavewidgets
    from cavewidgets.morphology._data import fetch_mesh

    client = cavewidgets.sample.client()
    nuc = client.materialize.query_table("nucleus_detection_v0")
    nuc = nuc[nuc.pt_root_id != 0]
    roots = [int(r) for r in nuc.pt_root_id.unique()]
    sizes = {r: len(client.chunkedgraph.get_leaves(r, stop_layer=2)) for r in roots}
    root = max(sizes, key=sizes.get)
    base = fetch_mesh(client, root)
    v, f = base.vertices, base.faces
    while len(f) < N_TRIANGLES:
        v, f = trimesh.remesh.subdivide(v, f)
    f = f[:N_TRIANGLES]
    used, f = np.unique(f, return_inverse=True)
    v, f = v[used], f.reshape(-1, 3)
    np.savez(path, v=v, f=f.astype(np.int32))
    return {"root_id": str(root), "source_triangles": int(len(base.faces)), "triangles": int(len(f)),
            "vertices": int(len(v))}


def mesh_pixels(png: bytes) -> int:
    """Pixels of the mesh colour #ff7f0e, shaded or blended over white (orange: r > g > b)."""
    from PIL import Image

    px = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    return int(((r > 150) & (r > g + 40) & (g > b + 30)).sum())


# the largest canvas in the new cell's output (the 3D view), in page coordinates
CANVAS_BOX = """() => {
    const out = window.__cwCell && window.__cwCell.querySelector('.jp-OutputArea');
    if (!out) return null;
    let best = null, area = 0;
    for (const c of out.querySelectorAll('canvas')) {
        const r = c.getBoundingClientRect();
        if (r.width * r.height > area) { area = r.width * r.height; best = r; }
    }
    if (!best || area < 10000) return null;
    best = best.toJSON ? best.toJSON() : best;
    return {x: best.x, y: best.y, width: best.width, height: best.height};
}"""


def run_tool(lab, browser, name: str, mesh_path: Path, timeout: float, received: list) -> dict:
    setup, code, data_expr = TOOLS[name]
    errors: list[str] = []
    nb = LabNotebook.open(lab, browser, f"bench_{abs(hash(name)) % 10**8}.ipynb",
                          [LOAD.format(path=str(mesh_path)), setup])
    page = nb.page
    page.on("pageerror", lambda e: errors.append(str(e)[:300]))
    out: dict = {}
    try:
        nb.run_all(timeout=600)
        time.sleep(1.0)
        start = time.perf_counter()
        page.evaluate(RUN_NEW_CELL, code)
        page.evaluate("() => window.__cwCell.scrollIntoView({block: 'start'})")
        first = None
        shots = 0
        while time.perf_counter() - start < timeout:
            try:
                # only the 3D canvas counts: tool bars and menus never look like the mesh
                box = page.evaluate(CANVAS_BOX)
                if box is None:
                    time.sleep(0.05)
                    continue
                shot = page.screenshot(clip=box, timeout=30_000)
                shots += 1
                if mesh_pixels(shot) >= MESH_PIXELS:
                    first = time.perf_counter() - start
                    break
            except Exception:  # the cell is still being laid out
                pass
            time.sleep(0.1)
        out["first_frame_s"] = round(first, 2) if first is not None else None
        if first is None:
            out["error"] = f"no frame with the mesh within {timeout:.0f} s"
        out["screenshots_polled"] = shots
        time.sleep(2.0)
        nb.wait_idle(timeout)
        cutoff = start + (first if first is not None else timeout) + 2.0
        out["websocket_bytes"] = int(sum(n for t, n in received if start <= t <= cutoff))
        out["websocket_bytes_until_idle"] = int(sum(n for t, n in received if t >= start))
        out["geometry_bytes_in_kernel"] = nb.py(data_expr)
        if name.startswith("cavewidgets"):
            out["triangles_sent"] = nb.py("panel._payload[0]['mesh']['triangles']")
            out["esm_bytes"] = nb.py("len(panel._esm) if isinstance(panel._esm, str) else panel._esm.stat().st_size")
        if name.startswith("navis"):
            out["plotly_renderer"] = nb.py("pio.renderers.default")
        if errors:
            out["js_errors"] = errors[:5]
    except Exception as err:
        out["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
    finally:
        try:
            nb.close()
        except Exception:
            pass
    return out


def panel_benchmark(timeout: float = 240.0, tools: list[str] | None = None) -> dict:
    """Run part (b); returns the result dict (``tools``, ``mesh``, ``summary``)."""
    tools = tools or list(TOOLS)
    results: dict = {"tools": {}}
    received: list[tuple[float, int]] = []  # (time, bytes) of every kernel-websocket frame the page receives

    def watch(page):  # before the page opens its kernel websocket
        page.on("websocket", lambda ws: "/api/kernels/" in ws.url
                and ws.on("framereceived", lambda p: received.append((time.perf_counter(), len(p)))))

    with LabServer() as lab, Browser() as browser:
        browser.context.on("page", watch)
        mesh_path = lab.root / "mesh_1m.npz"
        results["mesh"] = million_triangle_mesh(mesh_path)
        for name in tools:
            t0 = time.time()
            print(f"  {name} …", flush=True)
            results["tools"][name] = run_tool(lab, browser, name, mesh_path, timeout, received)
            results["tools"][name]["wall_s"] = round(time.time() - t0, 1)
            print("   ", json.dumps(results["tools"][name]), flush=True)
    ours = results["tools"].get("cavewidgets.MorphologyPanel", {})
    plotly = results["tools"].get("navis.plot3d (plotly)", {})
    k3d = results["tools"].get("k3d", {})
    summary: dict = {"target": "bytes <= 1/5 of plotly's"}
    if ours.get("websocket_bytes") and plotly.get("websocket_bytes"):
        summary["bytes_ratio_vs_plotly"] = round(ours["websocket_bytes"] / plotly["websocket_bytes"], 4)
        summary["bytes_le_one_fifth_of_plotly"] = ours["websocket_bytes"] * 5 <= plotly["websocket_bytes"]
    if ours.get("websocket_bytes") and k3d.get("websocket_bytes"):
        summary["bytes_ratio_vs_k3d"] = round(ours["websocket_bytes"] / k3d["websocket_bytes"], 4)
    for peer, res in (("plotly", plotly), ("k3d", k3d)):
        if ours.get("first_frame_s") and res.get("first_frame_s"):
            summary[f"first_frame_speedup_vs_{peer}"] = round(res["first_frame_s"] / ours["first_frame_s"], 2)
    results["summary"] = summary
    results["method"] = __doc__.split("\n\n", 1)[1].strip()
    return results

"""The files of an export bundle: its format, parquet results, JSON files, versions and ``reproduce.py``.

Shared by the plain export (``bundle``) and the paper export (``paper_export``), which
otherwise would import each other.

Example::

    write_result_parquet(df, Path("queries/0001_synapses.parquet"))["parquet_roundtrip_exact"]
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .hashing import frame_hash
from .params import jsonable

FORMAT = "cavewidgets-export"
FORMAT_VERSION = 1
PACKAGES = ("cavewidgets", "caveclient", "pandas", "pyarrow", "numpy", "matplotlib", "seaborn",
            "neuroglancer", "cloud-volume", "requests")


def viewer_state(viewer) -> dict:
    """``viewer`` (a Viewer, an object with ``.state``, a neuroglancer state or a dict) as a JSON-ready dict.

    Example::

        viewer_state({"layers": []})
    """
    state = viewer if isinstance(viewer, dict) else getattr(viewer, "state", None)
    if state is not None and not isinstance(state, dict) and hasattr(state, "to_json"):
        state = state.to_json()  # a neuroglancer.ViewerState
    if not isinstance(state, dict):
        raise TypeError(f"viewer must be a cavewidgets.Viewer, an object with a .state dict or a dict, "
                        f"got {type(viewer).__name__}")
    try:
        return json.loads(json.dumps(state))
    except (TypeError, ValueError) as err:
        raise TypeError(f"the viewer state is not JSON: {err}") from None


def slug(text: str | None) -> str:
    """``text`` as a short file-name part (``"result"`` when nothing is left).

    Example::

        slug("synapses pni/2")   # 'synapses_pni_2'
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text or "result")[:60].strip("_") or "result"


def jsonable_result(result):
    """A kept non-frame result as JSON-ready data (its ``repr`` when it has no JSON form).

    Example::

        jsonable_result({"n": 3})
    """
    try:
        return jsonable(result, "result")
    except TypeError:
        return {"__repr__": repr(result)[:10_000]}


def write_result_parquet(df: pd.DataFrame, path: Path) -> dict:
    """Write ``df`` as parquet and say how faithful it is.

    uint64 stays uint64; cells holding arrays/lists become list columns. Columns pyarrow cannot
    store (mixed objects, complex numbers) are written as JSON text and listed; non-text or
    duplicate column labels are renamed and listed. ``parquet_roundtrip_exact`` tells whether
    reading the file back gives the same content hash as ``df``.

    Example::

        write_result_parquet(df, Path("out.parquet"))["parquet_roundtrip_exact"]
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns, renamed, stringified, seen = {}, {}, [], set()
    for i in range(df.shape[1]):
        label = df.columns[i]
        name = str(label)
        while name in seen:
            name = f"{name}__{i}"
        seen.add(name)
        if not isinstance(label, str) or name != label:
            renamed[str(label) if isinstance(label, str) else repr(label)] = name
        column = df.iloc[:, i]
        if not _arrow_storable(column, pa):
            column = column.map(_json_cell).astype(object)
            stringified.append(name)
        columns[name] = column
    frame = pd.DataFrame(columns, index=df.index)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        table = pa.Table.from_pandas(frame, preserve_index=False)  # an index pyarrow cannot store
    pq.write_table(table, path)
    back = pd.read_parquet(path)
    exact = not renamed and not stringified and frame_hash(back) == frame_hash(df)
    return {"n_columns": int(df.shape[1]), "columns": list(columns), "renamed_columns": renamed,
            "stringified_columns": stringified, "parquet_roundtrip_exact": bool(exact)}


def _arrow_storable(column: pd.Series, pa) -> bool:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "c":
        return False
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "O":
        try:
            pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError,
                OverflowError):
            return False
    return True


def _json_cell(value) -> str:
    return json.dumps(jsonable_result(value) if not isinstance(value, complex)
                      else {"__complex__": [value.real, value.imag]}, sort_keys=True)


def package_versions() -> dict:
    """Python, platform and installed versions of the packages a bundle depends on.

    Example::

        package_versions()["caveclient"]
    """
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def reproduce_script() -> str:
    """The text of ``reproduce.py``: the template with the hashing module embedded.

    Example::

        Path("reproduce.py").write_text(reproduce_script())
    """
    here = Path(__file__).resolve().parent
    template = (here / "_reproduce_template.py").read_text()
    hashing = (here / "hashing.py").read_text()
    body = hashing.split("from __future__ import annotations\n", 1)[1]
    marker = next(line for line in template.splitlines() if line.endswith("# <<HASHING>>"))
    embedded = ("# ---- embedded from cavewidgets/reproducible/hashing.py (do not edit) ----\n"
                + body.strip() + "\n# ---- end of embedded hashing ----\n")
    return template.replace(marker, embedded, 1)


def write_json(path: Path, value) -> None:
    """``value`` as indented JSON text in ``path`` (non-JSON values as ``str``).

    Example::

        write_json(root / "versions.json", package_versions())
    """
    path.write_text(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def sample_services(entries: list[dict]) -> dict:
    """``{server: how to start it again}`` for the entries' servers that are cavewidgets samples.

    ``reproduce.py`` starts such a service itself (with cavewidgets installed) when the recorded
    one is gone: a sample service lives on a random port for as long as its kernel does.

    Example::

        sample_services([{"server": handle.url, "datastack": handle.datastack}])
    """
    from ..sample import service_record

    out = {}
    for entry in entries:
        server = entry.get("server")
        if server and server not in out:
            record = service_record(server, entry.get("datastack"))
            if record is not None:
                out[server] = record
    return out

"""Materialized views of the sample, answered as MaterializationEngine answers its views.

A view is a fixed selection of a table's columns. The sample has the one the MICrONS tutorials
query (``client.materialize.query_view('nucleus_detection_lookup_v1', ...)``), over the soma
table. Shapes follow ``materializationengine/blueprints/client/api2.py``:

- ``GET .../views`` (``AvailableViews``): ``{name: {"id", "description"}}`` (``AnalysisViewSchema``
  dumps ``id, table_name, description`` and the route pops ``table_name`` into the key);
- ``GET .../views/{name}/metadata`` (``ViewMetadata``): the ``AnalysisView`` row
  (DynamicAnnotationDB ``models.py``: ``id, table_name, description, datastack_name,
  voxel_resolution_x/y/z, notice_text, live_compatible``);
- ``GET .../views/{name}/schema`` and ``.../views/schemas`` (``get_table_schema``):
  ``{column: {"type": ...}}`` with ``SpatialPoint`` for positions, ``.../views/schemas`` 404
  with ``{}`` when a datastack has no views.

Example::

    views = ViewStore(get_store())
    views.snapshot("nucleus_detection_lookup_v1", version=2)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .app import ServiceError
from .query import logical_columns
from .tables import TableStore

# name -> (source table, columns of the source the view keeps, description)
VIEWS = {
    "nucleus_detection_lookup_v1": (
        "nucleus_detection_v0", ["id", "volume", "pt_position", "pt_supervoxel_id", "pt_root_id"],
        "Lookup view of nucleus_detection_v0: nucleus id, volume, position, supervoxel and root id "
        "(the sample's copy of the MICrONS view of the same name)."),
}


class ViewStore:
    """The sample's views over a :class:`TableStore`, quacking like one for :func:`.query.run_query`.

    Example::

        ViewStore(store).names()   # ['nucleus_detection_lookup_v1']
    """

    def __init__(self, store: TableStore):
        self.store = store

    def names(self) -> list[str]:
        """Views whose source table exists in this sample."""
        return [v for v, (src, _, _) in VIEWS.items() if src in self.store.sample_tables()]

    def check(self, name: str) -> str:
        """The source table of view ``name`` (404 for an unknown view, as the real ``scalar_one``)."""
        if name not in self.names():
            raise ServiceError(404, f"view '{name}' not found; views: {self.names()}")
        return VIEWS[name][0]

    def snapshot(self, name: str, version: int | None = None, timestamp=None) -> pa.Table:
        """The view's rows at ``version`` (its columns only, positions split as in tables)."""
        source = self.check(name)
        table = self.store.snapshot(source, version=version, timestamp=timestamp)
        keep = set(VIEWS[name][1])
        cols = [c for c in table.column_names
                if c in keep or (c[-2:] in ("_x", "_y", "_z") and c[:-2] in keep)]
        return table.select(cols)

    def voxel_resolution(self, name: str) -> np.ndarray:
        return self.store.voxel_resolution(self.check(name))

    def metadata(self, name: str, version: int | None = None) -> dict:
        """The ``AnalysisView`` row of view ``name``."""
        source = self.check(name)
        md = self.store.metadata(source, version)
        return {
            "id": self.names().index(name) + 1,
            "table_name": name,
            "description": VIEWS[name][2],
            "datastack_name": self.store.meta["datastack"],
            "voxel_resolution_x": md["voxel_resolution_x"],
            "voxel_resolution_y": md["voxel_resolution_y"],
            "voxel_resolution_z": md["voxel_resolution_z"],
            "notice_text": None,
            "live_compatible": False,
        }

    def schema(self, name: str, version: int) -> dict:
        """``get_table_schema`` of the view: ``{column: {"type": ...}}``."""
        table = self.snapshot(name, version=version)
        positions = {c[:-2] for c in table.column_names if c.endswith("_x")}
        out = {}
        for col in logical_columns(table):
            if col in positions:
                out[col] = {"type": "SpatialPoint"}
                continue
            kind = table.schema.field(col).type
            if pa.types.is_boolean(kind):
                out[col] = {"type": "boolean"}
            elif pa.types.is_integer(kind):
                out[col] = {"type": "integer"}
            elif pa.types.is_floating(kind):
                out[col] = {"type": "float"}
            elif pa.types.is_timestamp(kind):
                out[col] = {"type": "string", "format": "date-time"}
            else:
                out[col] = {"type": "string"}
        return out

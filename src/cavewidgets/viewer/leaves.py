"""Empty answers to neuroglancer's per-chunk graphene leaves requests, known in the kernel.

To draw a graphene segment in 2D, neuroglancer asks the chunkedgraph for the segment's
supervoxels in every chunkedgraph chunk in view (``GET .../node/<root>/leaves?bounds=...``), one
request per chunk and segment, whether or not the segment reaches that chunk. A segment change in
the sample's xy view makes about 900 of them, nearly all empty; each crosses the widget channel,
the kernel and the service, and together they keep the page's main thread, the kernel and the
service busy for seconds after every selection (a state from Python waits behind them).

A root's supervoxels all lie in the chunks of its level-2 nodes, and a root id never changes
(an edit makes new roots). So the kernel asks once per root for its L2 ids (one
``leaves?stop_layer=2``), reads each one's chunk from the id's bits (PyChunkedGraph's layout:
``n_bits_for_layer_id`` bits of layer, then ``spatial_bit_masks[2]`` bits each of x, y, z), and
answers ``{"leaf_ids": []}`` at once for a chunk none of them is in. Anything else, and anything
it cannot decide, goes to the server as before. The chunk test keeps one chunk of margin around
the requested bounds, so a rounding difference from the server's own bounding-box code can only
send a request to the server, never hide a supervoxel.

Example::

    shortcut = LeavesShortcut(proxy_fetch)
    shortcut.answer("http://127.0.0.1:9/segmentation/api/v1/table/t/node/864.../leaves?int64_as_str=1&bounds=0-16_0-16_0-8")
    # ({"status": 200, ...}, b'{"leaf_ids": []}') or None (ask the server)
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import numpy as np

log = logging.getLogger(__name__)

_LEAVES = re.compile(r"^(?P<base>.+/segmentation/api/v1/table/(?P<table>[^/?#]+))/node/(?P<node>\d{1,20})/leaves$")
#: roots whose L2 chunks are remembered (a few hundred kB each at most for big neurons)
KEPT_ROOTS = 256
EMPTY = b'{"leaf_ids": []}'


class _Layout:
    """A chunkedgraph's id layout and chunk grid, from its graphene ``info``."""

    def __init__(self, info: dict):
        graph = info["graph"]
        self.layer_bits = int(graph.get("n_bits_for_layer_id", 8))
        self.bits = {int(k): int(v) for k, v in graph["spatial_bit_masks"].items()}
        self.chunk_size = np.array(graph["chunk_size"], dtype=np.int64)
        scales = info.get("scales") or [{}]
        mip = int(graph.get("cv_mip", 0) or 0)
        scale = scales[mip] if mip < len(scales) else scales[0]
        self.voxel_offset = np.array(scale.get("voxel_offset", [0, 0, 0]), dtype=np.int64)

    def layer(self, node: int) -> int:
        return node >> (64 - self.layer_bits)

    def chunks(self, ids: np.ndarray) -> np.ndarray:
        """(n, 3) chunk coordinates of L2 ids."""
        bits = self.bits[2]
        ids = ids.astype(np.uint64)
        shift = 64 - self.layer_bits - bits
        mask = np.uint64((1 << bits) - 1)
        return np.stack([(ids >> np.uint64(shift - i * bits)) & mask for i in range(3)], axis=1).astype(np.int64)


class LeavesShortcut:
    """Answers the leaves requests of chunks a root does not reach, from the root's L2 chunks."""

    def __init__(self, fetch: Callable[..., tuple[dict, bytes]]):
        self._fetch = fetch
        self._lock = threading.Lock()
        self._layouts: dict[str, Future] = {}
        self._roots: OrderedDict[tuple[str, int], Future] = OrderedDict()
        self.answered = 0  # empty answers given without the server (tests, diagnostics)

    def answer(self, url: str, method: str = "GET", headers: dict | None = None) -> tuple[dict, bytes] | None:
        """``({status, statusText, headers}, body)`` for a leaves request of a chunk the root does
        not reach; None when the server must answer."""
        if method.upper() != "GET":
            return None
        parts = urlsplit(url)
        m = _LEAVES.match(f"{parts.scheme}://{parts.netloc}{parts.path}")
        if m is None:
            return None
        query = parse_qs(parts.query)
        bounds = _bounds(query.get("bounds", [""])[0])
        if bounds is None or query.get("stop_layer", ["1"])[0] != "1":
            return None
        try:
            layout = self._once(self._layouts, m["base"], lambda: self._layout(m["base"], headers))
            node = int(m["node"])
            if node >= 1 << 64 or layout.layer(node) <= 2:
                return None
            chunks = self._once(self._roots, (m["base"], node), lambda: self._root_chunks(m["base"], node, layout, headers))
        except Exception:  # cannot decide: the server answers, as without the shortcut
            log.debug("leaves shortcut unavailable for %s", url, exc_info=True)
            return None
        lo = np.floor((bounds[:, 0] - layout.voxel_offset) / layout.chunk_size).astype(np.int64) - 1
        hi = np.ceil((bounds[:, 1] - layout.voxel_offset) / layout.chunk_size).astype(np.int64) + 1
        if len(chunks) and np.any(np.all((chunks >= lo) & (chunks < hi), axis=1)):
            return None
        self.answered += 1
        return {"status": 200, "statusText": "OK", "headers": {"content-type": "application/json"}}, EMPTY

    def _once(self, cache: dict, key, compute: Callable):
        """``compute()`` once per key, shared by the threads asking at the same time; a failure
        is remembered too (the server then answers every request for that key)."""
        with self._lock:
            future = cache.get(key)
            mine = future is None
            if mine:
                future = cache[key] = Future()
                if isinstance(cache, OrderedDict) and len(cache) > KEPT_ROOTS:
                    cache.popitem(last=False)
            elif isinstance(cache, OrderedDict):
                cache.move_to_end(key)
        if mine:
            try:
                future.set_result(compute())
            except Exception as err:
                future.set_exception(err)
        return future.result()

    def _get_json(self, url: str, headers: dict | None):
        meta, data = self._fetch(url, method="GET", headers=dict(headers or {}), body=None)
        if meta.get("status") != 200:
            raise LookupError(f"{url}: {meta.get('status')}")
        return json.loads(data)

    def _layout(self, base: str, headers) -> _Layout:
        info_url = base.replace("/segmentation/api/v1/table/", "/segmentation/table/", 1) + "/info"
        return _Layout(self._get_json(info_url, headers))

    def _root_chunks(self, base: str, node: int, layout: _Layout, headers) -> np.ndarray:
        reply = self._get_json(f"{base}/node/{node}/leaves?int64_as_str=1&stop_layer=2", headers)
        l2 = np.array([int(x) for x in reply["leaf_ids"]], dtype=np.uint64)
        if len(l2) and not np.all((l2 >> np.uint64(64 - layout.layer_bits)) == 2):
            raise LookupError(f"node {node}: not all of its stop_layer=2 leaves are L2 nodes")
        return np.unique(layout.chunks(l2), axis=0) if len(l2) else np.zeros((0, 3), dtype=np.int64)


def _bounds(text: str) -> np.ndarray | None:
    """``x0-x1_y0-y1_z0-z1`` -> (3, 2) int64, or None."""
    try:
        box = np.array([part.split("-") for part in text.split("_")], dtype=np.int64)
    except (ValueError, OverflowError):
        return None
    return box if box.shape == (3, 2) else None

"""The chunkedgraph service through the real caveclient: roots, leaves, L2 graph, history."""

from __future__ import annotations

import datetime as dt

import networkx as nx
import numpy as np
import pytest
import requests
from _graph_support import cg_client, edited, graph, graph_service, http_get  # noqa: F401

pytestmark = pytest.mark.service


def _utc(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=int(us))


def test_info_and_versions(cg_client, graph):
    info = cg_client.chunkedgraph.segmentation_info
    assert info["app"]["supported_api_versions"] == [0, 1]
    assert info["graph"]["n_layers"] == graph.n_layers
    assert info["graph"]["chunk_size"] == graph.chunk_size
    assert info["data_dir"].endswith("/precomputed/segmentation")
    assert cg_client.chunkedgraph.base_resolution == graph.meta["segmentation_resolution"]
    assert cg_client.chunkedgraph.server_version is not None


def test_get_root_id_and_level2(cg_client, graph):
    root = int(graph.latest_roots()[0])
    l2 = graph.members(root)[0]
    sv = int(graph.supervoxels_of_l2([l2])[0])
    assert int(cg_client.chunkedgraph.get_root_id(sv)) == root
    assert int(cg_client.chunkedgraph.get_root_id(sv, level2=True)) == int(l2)
    assert root > 2**53


def test_get_roots_binary_is_exact_for_many_ids(cg_client, graph):
    rng = np.random.default_rng(0)
    svs = rng.choice(graph.sv_ids, size=min(20_000, len(graph.sv_ids)), replace=False)
    roots = cg_client.chunkedgraph.get_roots(svs)
    assert roots.dtype == np.uint64
    np.testing.assert_array_equal(roots, graph.root_ids_at(svs))
    assert (roots > np.uint64(2**53)).all()
    assert graph.is_latest(roots).all()


def test_roots_at_a_past_timestamp_give_the_old_root(cg_client, graph, edited):
    old, op, after = edited
    created = int(graph.created_us([old])[0])
    sv = graph.supervoxels_of_l2(graph.members(old))[:50]
    then = _utc(created + 1_000_000)  # one second after the old root was made
    past = cg_client.chunkedgraph.get_roots(sv, timestamp=then)
    assert (past == np.uint64(old)).all()
    now = cg_client.chunkedgraph.get_roots(sv)
    assert not (now == np.uint64(old)).any()
    assert int(cg_client.chunkedgraph.get_root_id(int(sv[0]), timestamp=then)) == old


def test_get_leaves_stop_layer_and_bounds(cg_client, graph):
    root = int(graph.latest_roots()[0])
    leaves = cg_client.chunkedgraph.get_leaves(root)
    np.testing.assert_array_equal(np.sort(leaves.astype(np.uint64)), graph.leaves(root))
    l2s = cg_client.chunkedgraph.get_leaves(root, stop_layer=2).astype(np.uint64)
    np.testing.assert_array_equal(np.sort(l2s), graph.members(root))
    # bounds: only nodes whose chunk intersects the box (one chunk of the first L2)
    chunk = graph.chunk_of(l2s[:1])[0]
    lo = chunk * np.array(graph.chunk_size) + graph.voxel_offset
    box = np.stack([lo, lo + np.array(graph.chunk_size)], axis=1)
    in_box = cg_client.chunkedgraph.get_leaves(root, stop_layer=2, bounds=box).astype(np.uint64)
    assert l2s[0] in in_box
    assert (graph.chunk_of(in_box) == chunk).all()


def test_level2_graph_of_every_latest_root_is_connected_with_positions(cg_client, graph):
    roots = graph.latest_roots()
    all_l2 = []
    for root in roots:
        edges = cg_client.chunkedgraph.level2_chunk_graph(int(root))
        members = graph.members(root)
        g = nx.Graph()
        g.add_nodes_from(int(m) for m in members)
        g.add_edges_from((int(a), int(b)) for a, b in edges)
        assert set(g.nodes) == {int(m) for m in members}, f"edges of {root} name non-members"
        assert nx.is_connected(g), f"L2 graph of latest root {root} is not connected"
        all_l2.extend(int(m) for m in members)
    data = cg_client.l2cache.get_l2data(all_l2, attributes=["rep_coord_nm"])
    missing = [l2 for l2 in all_l2 if len(data[str(l2)].get("rep_coord_nm", [])) != 3]
    assert not missing, f"{len(missing)} L2 nodes without rep_coord_nm, e.g. {missing[:3]}"


def test_is_latest_roots_and_timestamps(cg_client, graph, edited):
    old, op, after = edited
    assert cg_client.chunkedgraph.is_latest_roots([old]).tolist() == [False]
    latest = [int(r) for r in after if graph.is_latest([r])[0]]
    if latest:
        assert cg_client.chunkedgraph.is_latest_roots(latest).all()
    created = cg_client.chunkedgraph.get_root_timestamps([old] + after)
    assert created[0] < created[1]
    assert abs(created[1] - op["timestamp"]) < dt.timedelta(seconds=1)
    superseded = cg_client.chunkedgraph.get_root_timestamps([old], latest=True)[0]
    assert abs(superseded - op["timestamp"]) < dt.timedelta(seconds=1)
    # at a time when the old root was alive it was "latest"
    then = _utc(int(graph.created_us([old])[0]) + 1_000_000)
    assert cg_client.chunkedgraph.is_latest_roots([old], timestamp=then).tolist() == [True]


def test_tabular_change_log_and_change_log(cg_client, graph, edited):
    old, op, after = edited
    child = after[0]
    logs = cg_client.chunkedgraph.get_tabular_change_log([child])
    frame = logs[child]
    assert {"operation_id", "timestamp", "user_id", "before_root_ids", "after_root_ids",
            "is_merge"} <= set(frame.columns)
    assert int(op["operation_id"]) in frame["operation_id"].astype(int).tolist()
    row = frame[frame["operation_id"].astype(int) == int(op["operation_id"])].iloc[0]
    assert old in [int(r) for r in row["before_root_ids"]]
    assert bool(row["is_merge"]) == bool(op["is_merge"])
    summary = cg_client.chunkedgraph.get_change_log(child)
    assert old in summary["past_ids"]
    assert summary["n_splits"] + summary["n_mergers"] == len(frame)
    unedited = [int(r) for r in graph.latest_roots() if graph.root_operation[graph._root_index(np.array([r], np.uint64))][0] < 0]
    if unedited:
        assert len(cg_client.chunkedgraph.get_tabular_change_log([unedited[0]])[unedited[0]]) == 0


def test_lineage_graph_latest_roots_and_past_ids(cg_client, graph, edited):
    old, op, after = edited
    lineage = cg_client.chunkedgraph.get_lineage_graph(after[0], as_nx_graph=True)
    assert lineage.has_edge(old, after[0])
    latest_from_old = {int(r) for r in cg_client.chunkedgraph.get_latest_roots(old)}
    assert latest_from_old and all(graph.is_latest([r])[0] for r in latest_from_old)
    assert latest_from_old == {int(r) for r in graph.descendants(old) if graph.is_latest([r])[0]}
    suggestion = cg_client.chunkedgraph.suggest_latest_roots(old)
    assert int(suggestion) in latest_from_old
    ids, fractions = cg_client.chunkedgraph.suggest_latest_roots(old, return_all=True, return_fraction_overlap=True)
    assert abs(float(np.sum(fractions)) - 1.0) < 1e-6 and list(fractions) == sorted(fractions, reverse=True)
    then = _utc(int(graph.created_us([old])[0]) + 1_000_000)
    latest_child = next(iter(latest_from_old))
    past = cg_client.chunkedgraph.get_past_ids([latest_child], timestamp_past=then)
    # at `then` the old root was alive, so it is one of the child's ids of that moment
    assert old in [int(r) for r in past["past_id_map"][latest_child]]


def test_delta_roots_and_operation_details(cg_client, graph, edited):
    old, op, after = edited
    t = op["timestamp"]
    old_roots, new_roots = cg_client.chunkedgraph.get_delta_roots(t - dt.timedelta(seconds=1), t + dt.timedelta(seconds=1))
    assert old in old_roots.tolist()
    details = cg_client.chunkedgraph.get_operation_details([int(op["operation_id"])])
    entry = details[str(int(op["operation_id"]))]
    assert entry["roots"] == after
    assert ("added_edges" in entry) == bool(op["is_merge"])


def test_unknown_ids_and_tables_are_404(cg_client, graph, graph_service):
    unknown_sv = int(graph.sv_ids.max()) + 1
    with pytest.raises(requests.HTTPError) as err:
        cg_client.chunkedgraph.get_root_id(unknown_sv)
    assert err.value.response.status_code == 404
    assert str(unknown_sv) in err.value.response.json()["message"]
    with pytest.raises(requests.HTTPError) as err:
        cg_client.chunkedgraph.get_tabular_change_log([int(graph.root_ids.max()) + 1])
    assert err.value.response.status_code == 404
    resp = http_get(graph_service, "/segmentation/api/v1/table/no_such_table/node/1/root")
    assert resp.status_code == 404 and "no_such_table" in resp.json()["message"]
    resp = http_get(graph_service, "/segmentation/table/no_such_table/info")
    assert resp.status_code == 404


def test_malformed_input_is_400(cg_client, graph, graph_service):
    pcg = graph.meta["pcg_table"]
    for path in (f"/segmentation/api/v1/table/{pcg}/node/abc/root",
                 f"/segmentation/api/v1/table/{pcg}/node/-5/leaves",
                 f"/segmentation/api/v1/table/{pcg}/node/{int(graph.sv_ids[0])}/root?timestamp=yesterday",
                 f"/segmentation/api/v1/table/{pcg}/node/{int(graph.root_ids[0])}/leaves?bounds=1-2_3"):
        resp = http_get(graph_service, path)
        assert resp.status_code == 400, path
        assert resp.json()["message"]
    with pytest.raises(requests.HTTPError) as err:  # lvl2 graph of a supervoxel
        cg_client.chunkedgraph.level2_chunk_graph(int(graph.sv_ids[0]))
    assert err.value.response.status_code == 400
    session = cg_client.chunkedgraph.session
    url = f"{graph_service.url}/segmentation/api/v1/table/{pcg}/roots_binary"
    assert session.post(url, data=b"12345").status_code == 400  # not a multiple of 8 bytes
    url = f"{graph_service.url}/segmentation/api/v1/table/{pcg}/is_latest_roots"
    assert session.post(url, data=b"{not json").status_code == 400
    assert session.post(url, json={"node_ids": [1.5]}).status_code == 400
    assert session.post(url, json={"wrong": [1]}).status_code == 400


def test_neuroglancer_style_requests(graph_service, graph):
    """What neuroglancer's graphene datasource sends from a browser: token as query parameter
    or cookie, ids as strings (int64_as_str), CORS preflight."""
    pcg = graph.meta["pcg_table"]
    root = int(graph.latest_roots()[0])
    sv = int(graph.leaves(root)[0])
    base = f"{graph_service.url}/segmentation/api/v1/table/{pcg}"
    r = requests.get(f"{base}/node/{sv}/root?int64_as_str=1&middle_auth_token={graph_service.token}")
    assert r.status_code == 200 and r.json() == {"root_id": str(root)}
    r = requests.get(f"{base}/node/{sv}/root", cookies={"middle_auth_token": graph_service.token})
    assert r.status_code == 200 and r.json()["root_id"] == root
    assert requests.get(f"{base}/node/{sv}/root").status_code == 401
    chunk = graph.chunk_of([sv])[0] * np.array(graph.chunk_size) + graph.voxel_offset
    hi = chunk + np.array(graph.chunk_size)
    bounds = "_".join(f"{a}-{b}" for a, b in zip(chunk, hi))
    r = requests.post(f"{base}/node/leaves_many?int64_as_str=1&bounds={bounds}",
                      data=f'{{"node_ids": ["{root}"]}}',
                      headers={"Authorization": f"Bearer {graph_service.token}", "Origin": "http://localhost:8888"})
    assert r.status_code == 200
    assert str(sv) in r.json()[str(root)]
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:8888"
    pre = requests.options(f"{base}/node/leaves_many", headers={
        "Origin": "http://localhost:8888", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code in (200, 204)
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "authorization" in pre.headers["Access-Control-Allow-Headers"].lower()


def test_edits_are_refused_read_only(cg_client, graph):
    with pytest.raises(requests.HTTPError) as err:
        cg_client.chunkedgraph.do_merge([int(graph.sv_ids[0]), int(graph.sv_ids[1])], [[0, 0, 0], [1, 1, 1]])
    assert err.value.response.status_code == 403

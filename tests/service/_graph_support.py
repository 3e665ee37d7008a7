"""Shared fixtures of the graph-side service tests (chunkedgraph, l2cache, meshing, precomputed).

The service under test is conftest.py's real local service over the real sample build (or the
data directory named by ``CAVEWIDGETS_SAMPLE_DIR``), queried with the real caveclient. Ids to ask
about are picked from the sample's chunkedgraph files; answers come only through the service.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def graph_service(sample_service):
    """The session's running local service (``sample_service`` of conftest.py)."""
    return sample_service


@pytest.fixture(scope="session")
def cg_client(sample_client):
    """The real ``caveclient.CAVEclient`` pointed at the service (conftest's ``sample_client``)."""
    return sample_client


@pytest.fixture(scope="session")
def graph(graph_service):
    """The sample's chunkedgraph files, read directly, to choose ids to ask about."""
    from cavewidgets.sample.service.graph import Graph

    return Graph(graph_service.data_dir)


@pytest.fixture(scope="session")
def edited(graph):
    """(old root, its operation, the roots that operation created): a root edited away."""
    expired = graph.root_ids[graph.root_expired != np.iinfo(np.int64).max]
    assert len(expired), "the sample must contain edited (expired) roots"
    old = int(expired[0])
    op = next(o for o in graph.operations if old in [int(r) for r in o["before_root_ids"]])
    return old, op, [int(r) for r in op["after_root_ids"]]


def http_get(handle, path, **kwargs):
    """GET on the service with the token header (for routes caveclient does not wrap)."""
    import requests

    headers = kwargs.pop("headers", {})
    headers.setdefault("Authorization", f"Bearer {handle.token}")
    return requests.get(handle.url + path, headers=headers, timeout=30, **kwargs)

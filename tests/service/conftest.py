"""Fixtures: the real local sample service and a real caveclient pointed at it.

The service gets its own ``work_dir`` under pytest's tmp dir, so posted annotations and states
never touch the shared cache's annotation database. ``CAVEWIDGETS_SAMPLE_DIR`` may point the
tests at another finished sample build (default: the cached sample, built if needed).
"""

from __future__ import annotations

import os

import pytest



@pytest.fixture(scope="session")
def sample_service(tmp_path_factory):
    """A running sample service (handle with ``.url``, ``.token``, ``.stop()``)."""
    from cavewidgets.sample import serve

    handle = serve(data_dir=os.environ.get("CAVEWIDGETS_SAMPLE_DIR") or None,
                   work_dir=tmp_path_factory.mktemp("sample_work"))
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def sample_client(sample_service):
    """``cavewidgets.sample.client()`` bound to the session's test service."""
    from cavewidgets.sample import client

    return client(service=sample_service)


#: the row cap of ``capped_service`` (the real engine's QUERY_LIMIT_SIZE is 200,000): small, so
#: paging through the cap runs on the sample's small tables
CAPPED_QUERY_LIMIT = 100


@pytest.fixture(scope="session")
def capped_service(sample_service, tmp_path_factory):
    """A second sample service on the same data with a row cap of ``CAPPED_QUERY_LIMIT``."""
    from cavewidgets.sample import serve

    handle = serve(data_dir=sample_service.data_dir, work_dir=tmp_path_factory.mktemp("capped_work"),
                   query_limit=CAPPED_QUERY_LIMIT)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def capped(capped_service):
    """A caveclient on ``capped_service``."""
    from cavewidgets.sample import client

    return client(service=capped_service)


#: the annotation engine's rows per POST on ``real_errors_service`` (the real ``insertion_limit``
#: is 10,000): small, so a 413 needs no 10,001 rows
REAL_INSERT_LIMIT = 3


@pytest.fixture(scope="session")
def real_errors_service(sample_service, tmp_path_factory):
    """A sample service on the same data whose engines answer refusals as deployed CAVE does (a
    500, ``serve(errors="real")``), inserting at most ``REAL_INSERT_LIMIT`` rows per POST."""
    from cavewidgets.sample import serve

    handle = serve(data_dir=sample_service.data_dir, work_dir=tmp_path_factory.mktemp("real_errors_work"),
                   errors="real", insert_limit=REAL_INSERT_LIMIT)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def real_errors(real_errors_service):
    """A caveclient on ``real_errors_service``."""
    from cavewidgets.sample import client

    return client(service=real_errors_service)


@pytest.fixture()
def auth(sample_service):
    """Headers carrying the test service's token, for raw ``requests`` calls."""
    return {"Authorization": f"Bearer {sample_service.token}"}


@pytest.fixture()
def isolated_export_log(tmp_path, monkeypatch):
    """An empty provenance log, no active analysis and a private data dir (drafts, paper logs)."""
    from cavewidgets import reproducible

    monkeypatch.setenv("CAVEWIDGETS_DATA_DIR", str(tmp_path / "data"))
    reproducible.stop_export()
    reproducible.clear()
    yield
    reproducible.stop_export()
    reproducible.clear()

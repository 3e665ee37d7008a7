"""Posting against engines that answer their refusals as deployed CAVE does: with a 500.

The AnnotationEngine's Flask-RESTx namespace handles ``Exception`` before anything else
(``annotationengine/api.py`` ``unhandled_exception``), so ``Annotations.post``'s ``abort(413)``,
``abort(422)``, ``abort(401)`` and ``abort(404)`` reach the client as ``500 {"code": 500,
"message": "413 Request Entity Too Large: ...", "traceback": [...]}``, and a request for a
missing table crashes on DynamicAnnotationDB's ``None`` metadata (a 500 whose message names no
table). ``real_errors_service`` (conftest) is the sample in that mode, with an insertion limit
of ``REAL_INSERT_LIMIT`` rows so a 413 needs no 10,001 rows. A refusal must end in a clear
error naming it, with the drafts kept, nothing written and nothing re-sent; a genuine 500 (a
crash before or after the insert) is still reconciled and lands exactly once.
"""

from __future__ import annotations

import copy

import pytest
from conftest import REAL_INSERT_LIMIT

from cavewidgets.posting import (AnnotationPoster, DraftStore, DraftValidationError, MissingTableError,
                                 PostRefusedError, make_draft)

from _faulty_proxy import FaultyProxy


@pytest.fixture(scope="module")
def points(real_errors):
    df = real_errors.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1], limit=8)
    return [list(p) for p in df["pt_position"]]


def _drafts(points, n, prefix, tag=None):
    return [make_draft(points[i % len(points)], fields={"tag": tag if tag is not None else f"{prefix}{i}"})
            for i in range(n)]


def _proxied(proxy, service):
    from caveclient import CAVEclient

    return CAVEclient("minnie65_sample", server_address=proxy.url, auth_token=service.token,
                      write_server_cache=False, max_retries=0)


def _kept(client, table, tmp_path, drafts):
    """The table's drafts file holds exactly ``drafts`` (same uids, same fields), still pending."""
    kept = DraftStore(client.datastack_name, table, tmp_path).drafts()
    assert [d["uid"] for d in kept] == [d["uid"] for d in drafts]
    assert [d["fields"] for d in kept] == [d["fields"] for d in drafts]
    return kept


def test_a_post_lands_exactly_once_when_refusals_are_500s(real_errors, points, tmp_path):
    store = DraftStore(real_errors.datastack_name, directory=tmp_path)
    store.add(_drafts(points, REAL_INSERT_LIMIT, "ok"))
    posted = AnnotationPoster(real_errors).post(store, "real_ok", create=True, schema="bound_tag")
    assert len(posted) == REAL_INSERT_LIMIT and store.drafts() == []
    assert real_errors.annotation.get_annotation_count("real_ok") == REAL_INSERT_LIMIT
    rows = real_errors.annotation.get_annotation("real_ok", [int(i) for i in posted["annotation_id"]])
    assert sorted(r["tag"] for r in rows) == [f"ok{i}" for i in range(REAL_INSERT_LIMIT)]


def test_a_413_inside_a_500_ends_the_post_naming_it_and_sends_once(real_errors_service, points, tmp_path,
                                                                  monkeypatch):
    """A batch above the engine's insertion limit (our batch size set above it, as a smaller
    deployment limit would) is refused once, not re-sent as if the 500 were a crash."""
    from cavewidgets.posting import poster as poster_module

    monkeypatch.setattr(poster_module, "BATCH", REAL_INSERT_LIMIT + 1)
    proxy = FaultyProxy(real_errors_service.url)
    try:
        client = _proxied(proxy, real_errors_service)
        store = DraftStore(client.datastack_name, directory=tmp_path)
        drafts = _drafts(points, REAL_INSERT_LIMIT + 1, "big")
        store.add(drafts)
        poster = AnnotationPoster(client)
        with pytest.raises(PostRefusedError) as err:
            poster.post(store, "real_413", create=True, schema="bound_tag")
        assert err.value.status == 413
        assert "413 Request Entity Too Large" in str(err.value) and "insertion limit" in str(err.value)
        assert proxy.posts("/real_413/annotations") == 1  # refused once, never re-sent
        assert client.annotation.get_annotation_count("real_413") == 0
        assert {d["state"] for d in _kept(client, "real_413", tmp_path, drafts)} == {"pending"}
        # our own batch size again: the same drafts land once, in two batches
        monkeypatch.setattr(poster_module, "BATCH", REAL_INSERT_LIMIT)
        posted = poster.post(store, "real_413")
        assert len(posted) == len(drafts) and posted["annotation_id"].is_unique
        assert client.annotation.get_annotation_count("real_413") == len(drafts)
        assert proxy.posts("/real_413/annotations") == 3
    finally:
        proxy.close()


def _loose_tag(definition: dict) -> dict:
    """The schema with ``tag`` of any type: a schema service whose JSON schema is looser than
    the engine's own validation (they are separate deployments of EMAnnotationSchemas)."""
    loose = copy.deepcopy(definition)
    for spec in loose.get("definitions", {}).values():
        if "tag" in spec.get("properties", {}):
            spec["properties"]["tag"] = {}
    return loose


def test_a_422_inside_a_500_ends_the_post_naming_it(real_errors_service, real_errors, points, tmp_path,
                                                    monkeypatch):
    proxy = FaultyProxy(real_errors_service.url)
    try:
        client = _proxied(proxy, real_errors_service)
        poster = AnnotationPoster(client)
        poster.ensure_table("real_422", create=True, schema="bound_tag", description="422 test")
        loose = _loose_tag(client.schema.schema_definition("bound_tag"))
        monkeypatch.setattr(poster, "schema_definition", lambda schema: loose)
        store = DraftStore(client.datastack_name, directory=tmp_path)
        drafts = _drafts(points, 2, "x", tag=12345)  # a number where the engine wants a string
        store.add(drafts)
        with pytest.raises(PostRefusedError) as err:
            poster.post(store, "real_422")
        assert err.value.status == 422
        assert "422 Unprocessable Entity" in str(err.value) and "'tag'" in str(err.value)
        assert "kept" in str(err.value) and str(DraftStore(client.datastack_name, "real_422", tmp_path).path) in str(err.value)
        assert proxy.posts("/real_422/annotations") == 1
        assert real_errors.annotation.get_annotation_count("real_422") == 0
        _kept(client, "real_422", tmp_path, drafts)
    finally:
        proxy.close()


def test_a_missing_table_is_named_and_the_drafts_are_kept(real_errors, points, tmp_path, monkeypatch):
    """The real engine answers a missing table's routes with a 500 ("'NoneType' object ..."),
    naming no table: the poster finds out and says so."""
    store = DraftStore(real_errors.datastack_name, directory=tmp_path)
    drafts = _drafts(points, 2, "gone")
    store.add(drafts)
    with pytest.raises(MissingTableError, match="'real_never_made' does not exist"):
        AnnotationPoster(real_errors).post(store, "real_never_made")
    assert [d["uid"] for d in store.drafts()] == [d["uid"] for d in drafts]
    # a table deleted between the poster's look at it and the post
    poster = AnnotationPoster(real_errors)
    ensure = poster.ensure_table

    def ensure_then_delete(table, **kwargs):
        md = ensure(table, **kwargs)
        real_errors.annotation.delete_table(table)
        return md

    monkeypatch.setattr(poster, "ensure_table", ensure_then_delete)
    with pytest.raises(MissingTableError, match="'real_deleted' no longer exists"):
        poster.post(store, "real_deleted", create=True, schema="bound_tag")
    assert "real_deleted" not in real_errors.annotation.get_tables()
    _kept(real_errors, "real_deleted", tmp_path, drafts)


def test_a_genuine_500_before_or_after_the_insert_still_lands_once(real_errors_service, points, tmp_path):
    proxy = FaultyProxy(real_errors_service.url)
    try:
        client = _proxied(proxy, real_errors_service)
        poster = AnnotationPoster(client)
        poster.ensure_table("real_crash", create=True, schema="bound_tag", description="crash test")
        store = DraftStore(client.datastack_name, directory=tmp_path)
        store.add(_drafts(points, 2, "before"))
        proxy.faults.append(("POST", "/real_crash/annotations", "500"))  # crashed before the insert
        assert len(poster.post(store, "real_crash")) == 2
        assert proxy.posts("/real_crash/annotations") == 1  # the re-send; the first never arrived
        store.add(_drafts(points, 2, "after"))
        proxy.faults.append(("POST", "/real_crash/annotations", "crash_after"))  # crashed after its commit
        posted = poster.post(store, "real_crash")
        assert len(posted) == 2 and proxy.posts("/real_crash/annotations") == 2  # reconciled, not re-sent
        assert client.annotation.get_annotation_count("real_crash") == 4
    finally:
        proxy.close()


def test_errors_name_the_table_posted_to_not_its_segmentation_table(real_errors, points, tmp_path):
    """The engine's table metadata says ``<t>__<pcg>`` once the segmentation table exists."""
    poster = AnnotationPoster(real_errors)
    md = poster.ensure_table("real_named", create=True, schema="bound_tag", description="name test")
    assert md["table_name"] != "real_named"  # the segmentation table's name (flatten_join)
    store = DraftStore(real_errors.datastack_name, directory=tmp_path)
    store.add([make_draft(points[0], fields={})])  # no tag
    with pytest.raises(DraftValidationError, match="posting to 'real_named'"):
        poster.post(store, "real_named")


def test_review_decisions_land_once_and_a_vanished_table_is_named(real_errors, tmp_path):
    from cavewidgets.review import ReviewQueue

    df = real_errors.materialize.query_table("proofreading_status_and_strategy", limit=5)
    roots = [int(r) for r in df["pt_root_id"].drop_duplicates()[:2]]
    queue = ReviewQueue(real_errors, roots, "real_review", directory=tmp_path, show=False)
    queue.decide("clean")
    assert queue.decisions["posted"].all() and real_errors.annotation.get_annotation_count("real_review") == 1
    real_errors.annotation.delete_table("real_review")
    queue.decide("merge error")
    assert queue.post_pending(quiet=True) == 1  # still waiting, not lost
    assert "&#x27;real_review&#x27; does not exist" in queue._msg.value  # noqa: SLF001 - the message line (HTML)
    assert list(queue.decisions["posted"]) == [True, False]


def test_the_error_mode_is_one_setting_of_the_service(real_errors_service, sample_service):
    from cavewidgets.sample import client, serve

    assert real_errors_service.errors == "real" and sample_service.errors == "sample"
    assert client(service=real_errors_service, errors="real").datastack_name == "minnie65_sample"
    with pytest.raises(ValueError, match="'real' way, not 'sample'"):
        client(service=real_errors_service, errors="sample")
    with pytest.raises(ValueError, match="errors must be one of"):
        serve(data_dir=sample_service.data_dir, errors="strict")
    with pytest.raises(ValueError, match="insert_limit must be a positive integer"):
        serve(data_dir=sample_service.data_dir, insert_limit=0)


def test_batches_stay_below_the_ingress_body_limit(sample_service, points, tmp_path, monkeypatch):
    """CAVE's ingress refuses a body above 10 MiB with its own 413 (the sample too: its
    ``MAX_CONTENT_LENGTH``); long text fields cut a batch before 10,000 rows. Limits shrunk here
    to keep the test small: the service takes 4,000 bytes, the poster aims at 3,000."""
    from cavewidgets.posting import poster as poster_module
    from cavewidgets.sample import client, serve

    handle = serve(data_dir=sample_service.data_dir, work_dir=tmp_path / "work")
    try:
        handle.app.config["MAX_CONTENT_LENGTH"] = 4000
        small = client(service=handle)
        store = DraftStore(small.datastack_name, directory=tmp_path)
        drafts = [make_draft(points[i], fields={"tag": f"{i}" + "x" * 1200}) for i in range(5)]
        store.add(drafts)
        poster = AnnotationPoster(small)
        poster.ensure_table("long_tags", create=True, schema="bound_tag", description="body size test")
        with pytest.raises(PostRefusedError) as err:  # one batch of 5 x 1.2 kB: refused whole
            poster.post(store, "long_tags")
        assert err.value.status == 413 and small.annotation.get_annotation_count("long_tags") == 0
        monkeypatch.setattr(poster_module, "BODY_BYTES", 3000)
        posted = poster.post(store, "long_tags")
        assert len(posted) == 5 and small.annotation.get_annotation_count("long_tags") == 5
        assert sorted(r["tag"][0] for r in small.annotation.get_annotation("long_tags", list(posted["annotation_id"]))) \
            == list("01234")
    finally:
        handle.stop()

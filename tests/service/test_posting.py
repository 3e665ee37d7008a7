"""Posting drafts to the real annotation engine of the sample service: all-or-nothing, exactly once.

Faults are injected by a real HTTP proxy between caveclient and the service (``_faulty_proxy``)
and by stopping and restarting the service itself.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

import numpy as np
import pandas as pd
import pytest

from cavewidgets.posting import AnnotationPoster, DraftStore, DraftValidationError, PostError, make_draft, read_posted_log

from _faulty_proxy import FaultyProxy


@pytest.fixture(scope="module")
def nuclei(sample_client):
    df = sample_client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1])
    return df[df["pt_root_id"] > 0].head(8).reset_index(drop=True)


def _drafts(nuclei, n, prefix="d"):
    return [make_draft(nuclei["pt_position"][i], root_id=int(nuclei["pt_root_id"][i]), fields={"tag": f"{prefix}{i}"})
            for i in range(n)]


def _live(client, table):
    return client.materialize.live_live_query(table, dt.datetime.now(dt.timezone.utc), desired_resolution=[1, 1, 1],
                                              log_warning=False)


def test_post_to_new_table_round_trips_with_root_ids(sample_client, nuclei, tmp_path):
    store = DraftStore(sample_client.datastack_name, directory=tmp_path)
    store.add(_drafts(nuclei, 3))
    assert json.loads(store.path.read_text())["drafts"][0]["fields"] == {"tag": "d0"}  # on disk at once
    posted = AnnotationPoster(sample_client).post(store, "post_new", create=True, schema="bound_tag")
    assert list(posted["table"]) == ["post_new"] * 3
    assert posted["annotation_id"].is_unique
    assert store.drafts() == [] and not store.path.exists()
    live = _live(sample_client, "post_new").set_index("id").loc[posted["annotation_id"]]
    assert list(live["tag"]) == ["d0", "d1", "d2"]
    # the root id at each posted point is the nucleus' root id, exact as uint64
    assert [int(r) for r in live["pt_root_id"]] == [int(r) for r in nuclei["pt_root_id"][:3]]
    assert [int(r) for r in posted["root_id"]] == [int(r) for r in nuclei["pt_root_id"][:3]]
    np.testing.assert_allclose(np.stack(live["pt_position"]), np.stack(nuclei["pt_position"][:3]), atol=512)


def test_invalid_row_posts_nothing_and_names_the_row(sample_client, nuclei, tmp_path):
    store = DraftStore(sample_client.datastack_name, directory=tmp_path)
    good = _drafts(nuclei, 2)
    bad = make_draft(nuclei["pt_position"][2], fields={})  # bound_tag needs a tag
    store.add([good[0], bad, good[1]])
    with pytest.raises(DraftValidationError) as err:
        AnnotationPoster(sample_client).post(store, "post_invalid", create=True, schema="bound_tag")
    assert "row 1" in str(err.value) and "'tag'" in str(err.value) and bad["uid"] in str(err.value)
    assert sample_client.annotation.get_annotation_count("post_invalid") == 0
    assert [d["uid"] for d in store.drafts()] == [good[0]["uid"], bad["uid"], good[1]["uid"]]  # nothing moved
    wrong = make_draft(nuclei["pt_position"][0], fields={"tag": "x", "colour": "red"})
    other = DraftStore(sample_client.datastack_name, directory=tmp_path / "other")
    other.add([wrong])
    with pytest.raises(DraftValidationError, match="colour"):
        AnnotationPoster(sample_client).post(other, "post_invalid")
    assert sample_client.annotation.get_annotation_count("post_invalid") == 0


def test_missing_table_needs_create(sample_client, nuclei, tmp_path):
    store = DraftStore(sample_client.datastack_name, directory=tmp_path)
    store.add(_drafts(nuclei, 1))
    with pytest.raises(ValueError, match="create=True"):
        AnnotationPoster(sample_client).post(store, "no_such_table_here")
    with pytest.raises(ValueError, match="unknown schema"):
        AnnotationPoster(sample_client).post(store, "post_bad_schema", create=True, schema="not_a_schema")
    with pytest.raises(ValueError):
        AnnotationPoster(sample_client).post(store, "")
    assert len(store.drafts()) == 1


def test_hostile_drafts_are_refused_before_saving():
    for bad in ([1, 2], [1, 2, float("nan")], ["a", 2, 3], [1, 2, 3, 4]):
        with pytest.raises((ValueError, TypeError)):
            make_draft(bad)
    with pytest.raises(TypeError):
        make_draft([1, 2, 3], fields={"tag": object()})
    big = make_draft([1, 2, 3], root_id=2**64 - 1, fields={"tag": "x" * 100_000})
    assert int(big["root_id"]) == 2**64 - 1


def _proxied_client(proxy, sample_service):
    from caveclient import CAVEclient

    return CAVEclient("minnie65_sample", server_address=proxy.url, auth_token=sample_service.token,
                      write_server_cache=False, max_retries=0)


def test_500s_are_retried_and_a_lasting_failure_keeps_drafts_pending(sample_client, sample_service, nuclei, tmp_path):
    proxy = FaultyProxy(sample_service.url)
    try:
        client = _proxied_client(proxy, sample_service)
        store = DraftStore(client.datastack_name, directory=tmp_path)
        store.add(_drafts(nuclei, 2, "five"))
        poster = AnnotationPoster(client)
        poster.ensure_table("post_500", create=True, schema="bound_tag", description="500 test")
        proxy.faults += [("POST", "/post_500/annotations", "500")] * 3  # every attempt of the call fails
        with pytest.raises(PostError, match="pending"):
            poster.post(store, "post_500")
        table_store = DraftStore(client.datastack_name, "post_500", tmp_path)
        assert [d["state"] for d in table_store.drafts()] == ["pending", "pending"]
        assert proxy.posts("/post_500/annotations") == 0
        proxy.faults.append(("POST", "/post_500/annotations", "500"))  # one more: retried in the call
        posted = poster.post(store, "post_500")
        assert len(posted) == 2 and table_store.drafts() == []
        assert proxy.posts("/post_500/annotations") == 1
        assert sorted(_live(sample_client, "post_500")["tag"]) == ["five0", "five1"]
    finally:
        proxy.close()


def test_lost_response_is_reconciled_not_reposted(sample_service, nuclei, tmp_path):
    """The service writes the rows but the answer never arrives: the retry must find them."""
    proxy = FaultyProxy(sample_service.url)
    try:
        client = _proxied_client(proxy, sample_service)
        store = DraftStore(client.datastack_name, directory=tmp_path)
        drafts = _drafts(nuclei, 3, "lost")
        drafts.append(make_draft(nuclei["pt_position"][0], fields={"tag": "lost0"}))  # a deliberate twin
        store.add(drafts)
        poster = AnnotationPoster(client)
        poster.ensure_table("post_lost", create=True, schema="bound_tag", description="lost test")
        # the answer is lost, and the check of what landed fails too: the call gives up
        proxy.faults += [("POST", "/post_lost/annotations", "lost"), ("GET", "/post_lost/count", "pass"),
                         ("GET", "/post_lost/count", "down")]  # the count before the post passes
        with pytest.raises(PostError):
            poster.post(store, "post_lost")
        assert proxy.posts("/post_lost/annotations") == 1
        assert client.annotation.get_annotation_count("post_lost") == 4  # it did arrive
        # a new kernel: new poster, new store objects, same files
        posted = AnnotationPoster(client).post(DraftStore(client.datastack_name, directory=tmp_path), "post_lost")
        assert proxy.posts("/post_lost/annotations") == 1  # nothing re-sent
        assert len(posted) == 4 and posted["annotation_id"].is_unique
        assert client.annotation.get_annotation_count("post_lost") == 4
        assert DraftStore(client.datastack_name, "post_lost", tmp_path).drafts() == []
        logged = [d for d in read_posted_log(client.datastack_name, tmp_path) if d["table"] == "post_lost"]
        assert sorted(d["annotation_id"] for d in logged) == sorted(posted["annotation_id"])
        # a lost answer alone is recovered within the call
        store.add(_drafts(nuclei, 2, "again"))
        proxy.faults.append(("POST", "/post_lost/annotations", "lost"))
        again = poster.post(store, "post_lost")
        assert len(again) == 2 and proxy.posts("/post_lost/annotations") == 2
        assert client.annotation.get_annotation_count("post_lost") == 6
    finally:
        proxy.close()


def _shrunk_window(monkeypatch, margin):
    from cavewidgets.posting import poster as poster_module

    monkeypatch.setattr(poster_module, "POST_TIMEOUT", (2.0, 0.5))
    monkeypatch.setattr(poster_module, "LATE_WRITE_MARGIN", margin)


def test_a_post_written_after_the_client_gave_up_is_not_doubled(sample_service, nuclei, tmp_path, monkeypatch):
    """The proxy holds the POST past the client's read timeout, then forwards it: the service
    writes after the client gave up (a slow AnnotationEngine does, with no idempotency key). The
    call must not re-send; a retry while it is held refuses and says until when; once the late
    write is in, a retry finds it and sends nothing. (The protocol before this test re-sent at
    once: 6 rows for 3 drafts.)"""
    from cavewidgets.posting import PostPendingError

    _shrunk_window(monkeypatch, 60.0)  # the request is held until released, well inside the window
    proxy = FaultyProxy(sample_service.url, hold_seconds=60.0)
    try:
        client = _proxied_client(proxy, sample_service)
        poster = AnnotationPoster(client)
        poster.ensure_table("post_held", create=True, schema="bound_tag", description="held request test")
        store = DraftStore(client.datastack_name, directory=tmp_path)
        store.add(_drafts(nuclei, 3, "held"))
        proxy.faults.append(("POST", "/post_held/annotations", "hold"))
        with pytest.raises(PostPendingError, match=r"did not answer .*no answer within 0.5 s.* retry after") as err:
            poster.post(store, "post_held")
        table_store = DraftStore(client.datastack_name, "post_held", tmp_path)
        assert [d["state"] for d in table_store.drafts()] == ["pending"] * 3
        with pytest.raises(PostPendingError, match="safe and pending") as again:  # a new kernel, too early
            AnnotationPoster(client).post(DraftStore(client.datastack_name, directory=tmp_path), "post_held")
        assert again.value.retry_after == err.value.retry_after
        assert proxy.posts("/post_held/annotations") == 0 and proxy.holding == 1
        proxy.release()
        while proxy.holding:
            time.sleep(0.02)
        posted = AnnotationPoster(client).post(DraftStore(client.datastack_name, directory=tmp_path), "post_held")
        assert proxy.posts("/post_held/annotations") == 1  # the held one only
        assert len(posted) == 3 and table_store.drafts() == []
        assert sorted(_live(client, "post_held")["tag"]) == ["held0", "held1", "held2"]
    finally:
        proxy.close()


def test_a_late_row_landing_during_the_reconcile_scan_is_not_doubled(sample_service, nuclei, tmp_path,
                                                                    monkeypatch):
    """A retry's reconcile starts inside the window, the held row lands after the scan read its
    ids, and the window closes before the scan ends: the retry must look again, not send (the
    poster once did, found by the long fault schedules with two kernels)."""
    from cavewidgets.posting import PostPendingError

    _shrunk_window(monkeypatch, 6.0)  # 8.5 s, for the retry's scan to begin inside it; the held request waits
    proxy = FaultyProxy(sample_service.url, hold_seconds=60.0)
    try:
        client = _proxied_client(proxy, sample_service)
        AnnotationPoster(client).ensure_table("post_midscan", create=True, schema="bound_tag", description="mid-scan")
        DraftStore(client.datastack_name, directory=tmp_path).add(_drafts(nuclei, 2, "mid"))
        proxy.faults.append(("POST", "/post_midscan/annotations", "hold"))
        with pytest.raises(PostPendingError) as err:
            AnnotationPoster(client).post(DraftStore(client.datastack_name, directory=tmp_path), "post_midscan")
        retry = AnnotationPoster(client)
        real_scan, scans = retry._rows_above, []

        def scan_then_land(table, floor):
            began = dt.datetime.now(dt.timezone.utc)
            rows = real_scan(table, floor)
            if not scans:  # the first scan saw nothing; now the held row lands and the window ends
                assert rows == [] and began < err.value.retry_after
                proxy.release()
                while proxy.holding:
                    time.sleep(0.02)
                time.sleep(max(0.0, (err.value.retry_after - dt.datetime.now(dt.timezone.utc)).total_seconds()))
            scans.append(len(rows))
            return rows

        monkeypatch.setattr(retry, "_rows_above", scan_then_land)
        posted = retry.post(DraftStore(client.datastack_name, directory=tmp_path), "post_midscan")
        assert scans == [0, 2] and len(posted) == 2
        assert proxy.posts("/post_midscan/annotations") == 1
        assert sorted(_live(client, "post_midscan")["tag"]) == ["mid0", "mid1"]
    finally:
        proxy.close()


def test_an_unanswered_post_that_never_landed_is_sent_once_after_its_window(sample_service, nuclei, tmp_path,
                                                                            monkeypatch):
    """The connection drops before the service saw the POST: the client cannot know that, so the
    drafts wait out the window; ``wait=True`` sleeps until it ends, reconciles, sends once."""
    _shrunk_window(monkeypatch, 1.0)
    proxy = FaultyProxy(sample_service.url)
    try:
        client = _proxied_client(proxy, sample_service)
        AnnotationPoster(client).ensure_table("post_dropped", create=True, schema="bound_tag", description="dropped")
        DraftStore(client.datastack_name, directory=tmp_path).add(_drafts(nuclei, 2, "drop"))
        proxy.faults.append(("POST", "/post_dropped/annotations", "down"))
        with pytest.raises(PostError) as err:
            AnnotationPoster(client).post(DraftStore(client.datastack_name, directory=tmp_path), "post_dropped")
        assert proxy.posts("/post_dropped/annotations") == 0
        posted = AnnotationPoster(client).post(DraftStore(client.datastack_name, directory=tmp_path), "post_dropped",
                                               wait=True)
        assert dt.datetime.now(dt.timezone.utc) >= err.value.retry_after
        assert len(posted) == 2 and proxy.posts("/post_dropped/annotations") == 1
        assert sorted(_live(client, "post_dropped")["tag"]) == ["drop0", "drop1"]
        with pytest.raises(TypeError, match="wait must be True or False"):
            AnnotationPoster(client).post(DraftStore(client.datastack_name, directory=tmp_path), "post_dropped",
                                          wait="yes")
    finally:
        proxy.close()


def test_25000_drafts_land_exactly_once_under_a_fault_schedule(sample_service, nuclei, tmp_path):
    """Three batches (10,000 + 10,000 + 5,000: the engine's limit); a 500 before a batch, lost
    answers after the engine applied a batch, between and after batches: no loss, no doubles,
    never a 413."""
    proxy = FaultyProxy(sample_service.url)
    try:
        client = _proxied_client(proxy, sample_service)
        n = 25_000
        pos = np.stack(nuclei["pt_position"])
        drafts = [make_draft(pos[i % len(pos)], fields={"tag": f"t{i}"}) for i in range(n)]
        store = DraftStore(client.datastack_name, directory=tmp_path)
        store.add(drafts)
        poster = AnnotationPoster(client)
        poster.ensure_table("post_25k", create=True, schema="bound_tag", description="fault schedule")
        post = ("POST", "/post_25k/annotations")
        proxy.faults += [(*post, "500"), (*post, "lost"),  # batch 1: refused, then applied + lost
                         (*post, "lost"),                  # batch 2: applied + lost
                         (*post, "500"), (*post, "lost")]  # batch 3: refused, then applied + lost
        posted = poster.post(store, "post_25k")
        assert len(posted) == n and posted["annotation_id"].is_unique
        assert proxy.posts("/post_25k/annotations") == 3  # each batch reached the engine once
        assert client.annotation.get_annotation_count("post_25k") == n
        logged = [d for d in read_posted_log(client.datastack_name, tmp_path) if d["table"] == "post_25k"]
        assert len(logged) == n and len({d["annotation_id"] for d in logged}) == n
        assert DraftStore(client.datastack_name, "post_25k", tmp_path).drafts() == []
        by_id = {d["annotation_id"]: d["fields"]["tag"] for d in logged}
        rows = client.annotation.get_annotation("post_25k", [1, 10_000, 10_001, 25_000])
        assert all(by_id[r["id"]] == r["tag"] for r in rows)
    finally:
        proxy.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_service_down_mid_session_then_restarted(nuclei, tmp_path):
    """Stop the service with drafts pending; after restart each draft is in the table once."""
    from caveclient import CAVEclient

    from cavewidgets.sample import serve

    port = _free_port()
    work = tmp_path / "work"
    handle = serve(port=port, work_dir=work)
    try:
        client = CAVEclient("minnie65_sample", server_address=handle.url, auth_token=handle.token,
                            write_server_cache=False, max_retries=0)
        poster = AnnotationPoster(client)
        poster.ensure_table("post_down", create=True, schema="bound_tag", description="down test")
        store = DraftStore(client.datastack_name, directory=tmp_path / "drafts")
        store.add(_drafts(nuclei, 2, "down"))
        first = poster.post(store, "post_down")
        store.add(_drafts(nuclei, 3, "later"))
        handle.stop()
        with pytest.raises(PostError):
            poster.post(store, "post_down")
        kept = store.drafts() + DraftStore(client.datastack_name, "post_down", tmp_path / "drafts").drafts()
        assert sorted(d["fields"]["tag"] for d in kept) == ["later0", "later1", "later2"]
        handle = serve(port=port, work_dir=work, token=handle.token)
        second = AnnotationPoster(client).post(DraftStore(client.datastack_name, directory=tmp_path / "drafts"),
                                               "post_down")
        tags = sorted(_live(client, "post_down")["tag"])
        assert tags == ["down0", "down1", "later0", "later1", "later2"]
        assert set(first["annotation_id"]).isdisjoint(second["annotation_id"])
        assert DraftStore(client.datastack_name, "post_down", tmp_path / "drafts").drafts() == []
    finally:
        handle.stop()


def test_damaged_drafts_file_is_kept_not_overwritten(tmp_path):
    store = DraftStore("minnie65_sample", directory=tmp_path)
    store.add([make_draft([1, 2, 3], fields={"tag": "a"})])
    store.path.write_text("{not json")
    with pytest.raises(RuntimeError, match="moved to"):
        store.drafts()
    assert list(tmp_path.glob("*.json.damaged-*"))
    assert isinstance(pd.DataFrame(store.drafts()), pd.DataFrame)


def test_a_move_cut_short_by_a_crash_is_finished_not_posted_twice(tmp_path):
    """Killed between writing the table's drafts file and rewriting the unassigned one: the copy
    left behind is dropped at the next read (once the table's copy was posted it would look new)."""
    store = DraftStore("minnie65_sample", directory=tmp_path)
    draft = make_draft([1, 2, 3], fields={"tag": "a"})
    store.add([draft])
    table = DraftStore("minnie65_sample", "t", tmp_path)
    table.add([dict(draft, table="t")])  # the state the crash leaves: the draft in both files
    assert store.drafts() == []
    table.remove([draft["uid"]])  # posted and confirmed
    assert store.drafts() == [] and not store.path.exists()


def test_schema_is_read_once_per_poster_so_a_retry_does_not_depend_on_it(sample_service, nuclei, tmp_path):
    proxy = FaultyProxy(sample_service.url)
    try:
        client = _proxied_client(proxy, sample_service)
        poster = AnnotationPoster(client)
        poster.ensure_table("post_schema_down", create=True, schema="bound_tag", description="schema test")
        store = DraftStore(client.datastack_name, directory=tmp_path)
        store.add(_drafts(nuclei, 2, "s"))
        # the answer is lost and the schema service drops out before the retry reconciles
        proxy.faults += [("POST", "/post_schema_down/annotations", "lost")] + \
            [("GET", "/schema/api/v2/type/bound_tag", "pass")] + [("GET", "/schema/api/v2/type/bound_tag", "down")] * 5
        posted = poster.post(store, "post_schema_down")
        assert len(posted) == 2 and client.annotation.get_annotation_count("post_schema_down") == 2
    finally:
        proxy.close()


def test_two_posters_on_one_drafts_file_post_each_draft_once(sample_service, nuclei, tmp_path):
    """Two kernels (here two threads, each with its own poster and store objects) post the same
    drafts file at once: one waits for the other, nothing is sent twice."""
    import threading

    proxy = FaultyProxy(sample_service.url, slow_seconds=0.5)
    try:
        client = _proxied_client(proxy, sample_service)
        AnnotationPoster(client).ensure_table("post_two", create=True, schema="bound_tag", description="two kernels")
        DraftStore(client.datastack_name, directory=tmp_path).add(_drafts(nuclei, 3, "two"))
        proxy.faults.append(("POST", "/post_two/annotations", "slow"))  # the first post is in flight a while
        errors = []

        def kernel():
            try:
                AnnotationPoster(_proxied_client(proxy, sample_service)).post(
                    DraftStore(client.datastack_name, directory=tmp_path), "post_two")
            except Exception as err:  # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=kernel) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not errors
        assert sorted(_live(client, "post_two")["tag"]) == ["two0", "two1", "two2"]
        assert proxy.posts("/post_two/annotations") == 1
    finally:
        proxy.close()


def test_ensure_table_asks_once_for_a_table_that_is_there_and_names_a_missing_one(sample_client):
    """Every post asks for its table: one request (the metadata) when it is there; a missing
    table (real CAVE's metadata route then fails) is a ValueError naming it."""
    poster = AnnotationPoster(sample_client)
    poster.ensure_table("ensure_once", create=True, schema="bound_tag", description="ensure_table test")
    sent = []
    session = sample_client.annotation.session

    def hook(response, *args, **kwargs):
        sent.append(f"{response.request.method} {response.url}")

    session.hooks["response"].append(hook)
    try:
        md = poster.ensure_table("ensure_once", create=False, schema="bound_tag", description=None)
    finally:
        session.hooks["response"].remove(hook)
    assert md["schema_type"] == "bound_tag"
    assert len(sent) == 1 and sent[0].startswith("GET ") and sent[0].endswith("/table/ensure_once"), sent
    with pytest.raises(ValueError, match="'no_such_table' does not exist"):
        poster.ensure_table("no_such_table", create=False, schema=None, description=None)

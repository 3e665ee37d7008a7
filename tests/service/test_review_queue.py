"""ReviewQueue against the sample service: decisions posted once, resumed by a new kernel."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from cavewidgets.review import ReviewQueue


@pytest.fixture(scope="module")
def proofread_roots(sample_client):
    df = sample_client.materialize.query_table("proofreading_status_and_strategy")
    return [int(r) for r in df["pt_root_id"].drop_duplicates()[:5]]


def _table_rows(client, table):
    return client.materialize.live_live_query(table, dt.datetime.now(dt.timezone.utc), log_warning=False)


def test_interrupted_review_resumes_in_a_new_kernel(sample_service, sample_client, proofread_roots, tmp_path):
    """Three decisions in one process, then a new process resumes at the fourth."""
    script = textwrap.dedent(f"""
        from caveclient import CAVEclient
        import cavewidgets
        client = CAVEclient("minnie65_sample", server_address={sample_service.url!r},
                            auth_token={sample_service.token!r}, write_server_cache=False)
        q = cavewidgets.ReviewQueue(client, {proofread_roots!r}, "review_resume", directory={str(tmp_path)!r})
        assert q.position == 0
        for status in ["clean", "merge error", "clean"]:
            q.decide(status, notes="first kernel")
        print("POSITION", q.position)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "POSITION 3" in run.stdout

    queue = ReviewQueue(sample_client, proofread_roots, "review_resume", directory=tmp_path)
    assert queue.position == 3 and queue.current == proofread_roots[3]
    assert list(queue.decisions["status"]) == ["clean", "merge error", "clean"]
    assert queue.decisions["posted"].all()
    queue.decide("split error")
    queue.decide("needs work", notes="last one")
    assert queue.current is None  # stepped past the end
    decisions = queue.decisions
    assert [int(r) for r in decisions["root_id"]] == proofread_roots
    rows = _table_rows(sample_client, "review_resume")
    assert len(rows) == 5 and set(rows["id"]) == set(decisions["annotation_id"].astype(int))
    assert sorted(rows["tag"]) == sorted(["clean", "merge error", "clean", "split error", "needs work"])
    assert "5 of 5 reviewed" in queue._header.value  # noqa: SLF001 - the progress header
    # finished: the last neuron is not left on show as if it were still to review; going back shows it
    assert queue.wait_for_panel(180) is True
    assert queue.viewer.segments == set() and queue.panel.root_id is None
    assert "finished" in queue.panel.empty_text
    queue.previous()
    assert queue.wait_for_panel(180) is True
    assert queue.viewer.segments == {proofread_roots[-1]} and queue.panel.root_id == proofread_roots[-1]


def test_changed_decision_replaces_the_posted_row(sample_client, proofread_roots, tmp_path):
    queue = ReviewQueue(sample_client, proofread_roots[:2], "review_change", directory=tmp_path, show=False)
    queue.decide("clean", advance=False)
    first = int(queue.decisions["annotation_id"][0])
    queue.decide("merge error", advance=False)
    now = queue.decisions
    assert list(now["status"]) == ["merge error"] and int(now["annotation_id"][0]) != first
    rows = _table_rows(sample_client, "review_change")
    assert list(rows["tag"]) == ["merge error"]  # the superseded row is gone: one live row per neuron


def test_notes_go_to_a_second_text_field_when_the_schema_has_one(sample_client, proofread_roots, tmp_path):
    queue = ReviewQueue(sample_client, proofread_roots[:1], "review_notes", schema="bound_double_tag",
                        directory=tmp_path, show=False)
    assert (queue.status_field, queue.notes_field) == ("tag", "tag2")
    queue.decide("needs work", notes="soma merged with glia")
    rows = _table_rows(sample_client, "review_notes")
    assert list(rows["tag2"]) == ["soma merged with glia"]


def test_dataframe_input_positions_and_bad_input(sample_client, tmp_path):
    nuclei = sample_client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1])
    nuclei = nuclei[nuclei["pt_root_id"] > 0].head(2)
    queue = ReviewQueue(sample_client, nuclei, "review_df", directory=tmp_path, show=False)
    assert queue.root_ids == [int(r) for r in nuclei["pt_root_id"]]
    queue.decide("clean")
    rows = _table_rows(sample_client, "review_df")
    assert int(rows["pt_root_id"][0]) == queue.root_ids[0]  # the point posted at the nucleus
    for bad in ([], ["abc"], [-5], [1.5], pd.DataFrame({"x": [1]})):
        with pytest.raises(ValueError):
            ReviewQueue(sample_client, bad, "review_bad", directory=tmp_path, show=False)
    with pytest.raises(ValueError, match="distinct"):
        ReviewQueue(sample_client, queue.root_ids, "review_bad", statuses=("a", "a"), directory=tmp_path, show=False)
    with pytest.raises(ValueError, match="status must be one of"):
        queue.jump(0)
        queue.decide("maybe")
    assert len(_table_rows(sample_client, "review_df")) == 1


def test_a_decision_changed_before_it_was_posted_leaves_one_row(sample_service, proofread_roots, tmp_path):
    """The first decision cannot be posted (the count before the batch fails); the second replaces
    it: both drafts reach the server on the next post, so the first one's row must be deleted.
    A kernel that died after the server confirmed a decision is settled from the posted log."""
    from caveclient import CAVEclient

    from _faulty_proxy import FaultyProxy
    from cavewidgets.posting import read_posted_log

    proxy = FaultyProxy(sample_service.url)
    try:
        client = CAVEclient("minnie65_sample", server_address=proxy.url, auth_token=sample_service.token,
                            write_server_cache=False, max_retries=0)
        queue = ReviewQueue(client, proofread_roots[:1], "review_unposted_change", directory=tmp_path, show=False)
        proxy.faults.append(("GET", "/review_unposted_change/count", "500"))
        queue.decide("clean", advance=False)
        assert queue.decisions["posted"].tolist() == [False]  # kept on disk, waiting
        queue.decide("needs work", advance=False)
        assert queue.post_pending() == 0
        assert list(queue.decisions["status"]) == ["needs work"] and queue.decisions["posted"].all()
        assert client.annotation.get_annotation_count("review_unposted_change") == 1
        row = client.annotation.get_annotation("review_unposted_change", [int(queue.decisions["annotation_id"][0])])[0]
        assert row["tag"] == "needs work" and row["valid"]
        # a kernel killed between the poster's confirmation and the decisions file: the id is
        # in the posted log only; a new kernel's queue fills it in
        posted_id = int(queue.decisions["annotation_id"][0])
        decisions = queue._decisions  # noqa: SLF001
        root = proofread_roots[0]
        decisions.decisions[root]["annotation_id"] = None
        decisions.save()
        logged = read_posted_log("minnie65_sample", queue._drafts.directory)  # noqa: SLF001
        assert logged
        again = ReviewQueue(client, proofread_roots[:1], "review_unposted_change", directory=tmp_path, show=False)
        assert again.decisions["posted"].all() and int(again.decisions["annotation_id"][0]) == posted_id
    finally:
        proxy.close()

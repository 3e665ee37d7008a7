"""Editing a paper's log before export: drop an analysis or one query, rename an analysis or the paper."""

from __future__ import annotations

import pytest

import cavewidgets
from cavewidgets import reproducible
from cavewidgets.reproducible.papers import paper_log_path

pytestmark = [pytest.mark.service, pytest.mark.usefixtures("isolated_export_log")]

PAPER = "edit me"


@pytest.fixture()
def logged(sample_client):
    """PAPER with fig2 (two queries, one fetch) and fig3 (one query), logged on disk."""
    tracked = cavewidgets.track(sample_client)
    with cavewidgets.start_export(paper=PAPER, analysis="fig2"):
        tracked.materialize.query_table("nucleus_detection_v0", limit=3)
        tracked.materialize.query_table("nucleus_detection_v0", limit=4)
        reproducible.record_fetch(sample_client, kind="mesh", root_id=864691135808684573)
    with cavewidgets.start_export(paper=PAPER, analysis="fig3"):
        tracked.materialize.query_table("nucleus_detection_v0", limit=5)
    return [r.record_id for r in reproducible.LOG.records]


def kinds(paper=PAPER):
    return [(e["kind"], e.get("analysis"), e.get("record_id")) for e in reproducible.read_paper(paper)]


def test_drop_one_query_and_an_analysis(logged, sample_client, tmp_path):
    q1, q2, fetch, q3 = logged
    dropped = reproducible.drop_query(PAPER, q2)
    assert dropped["record_id"] == q2 and dropped["params"]["limit"] == 4
    assert kinds() == [("query", "fig2", q1), ("fetch", "fig2", fetch), ("query", "fig3", q3)]
    preview = cavewidgets.preview_export(paper=PAPER, count=False)
    assert sorted(sum(preview["record_ids"], [])) == sorted([q1, q3])

    with pytest.raises(KeyError, match=f"has no record 'nope'.*{q1}"):
        reproducible.drop_query(PAPER, "nope")

    assert reproducible.drop_analysis(PAPER, "fig2") == 2
    assert kinds() == [("query", "fig3", q3)]
    with pytest.raises(KeyError, match="no analysis 'fig2' \\(logged analyses: fig3\\)"):
        reproducible.drop_analysis(PAPER, "fig2")
    # the export reads the edited log: only fig3 is left
    import json

    bundle = cavewidgets.export(tmp_path / "bundle", paper=PAPER, client=sample_client)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert list(manifest["analyses"]) == ["fig3"]
    assert [m["record_id"] for q in manifest["queries"] for m in q["members"]] == [q3]


def test_rename_analysis_and_paper(logged, tmp_path):
    q1, q2, fetch, q3 = logged
    with pytest.raises(ValueError, match="already has an analysis 'fig3'"):
        reproducible.rename_analysis(PAPER, "fig2", "fig3")
    assert reproducible.rename_analysis(PAPER, "fig2", "fig2b") == 3
    assert [k[1] for k in kinds()] == ["fig2b", "fig2b", "fig2b", "fig3"]

    datastack = reproducible.read_paper(PAPER)[0]["datastack"]
    old_file = paper_log_path(PAPER, datastack)
    with old_file.open("a") as out:
        out.write('{"kind": "query", "torn')  # a crash mid-append: kept as it is, skipped when read
    assert reproducible.rename_paper(PAPER, "edited") == 4
    assert not old_file.exists()
    assert [k[2] for k in kinds("edited")] == [q1, q2, fetch, q3]
    assert all(e["paper"] == "edited" for e in reproducible.read_paper("edited"))
    assert paper_log_path("edited", datastack).read_text().endswith('{"kind": "query", "torn\n')
    with pytest.raises(KeyError, match="nothing is logged for paper 'edit me'"):
        reproducible.read_paper(PAPER)
    assert reproducible.papers() == ["edited"]


def test_refusals_leave_the_log_as_it_was(logged):
    before = paper_log_path(PAPER, reproducible.read_paper(PAPER)[0]["datastack"]).read_bytes()
    with cavewidgets.start_export(paper=PAPER, analysis="fig3"):
        with pytest.raises(RuntimeError, match="analysis 'fig3' of paper 'edit me' is being logged"):
            reproducible.drop_analysis(PAPER, "fig3")
        with pytest.raises(RuntimeError, match="stop_export\\(\\) before editing"):
            reproducible.rename_paper(PAPER, "other")
        reproducible.drop_analysis(PAPER, "fig2")  # another analysis of the paper is fine
    after_drop = paper_log_path(PAPER, reproducible.read_paper(PAPER)[0]["datastack"]).read_bytes()
    assert after_drop != before and b'"fig2"' not in after_drop

    with cavewidgets.start_export(paper="other", analysis="x"):
        pass  # nothing recorded: no log for "other"
    with pytest.raises(ValueError, match="new name must be a non-empty string"):
        reproducible.rename_analysis(PAPER, "fig3", " ")
    with pytest.raises(KeyError, match="no analysis 'fig9'"):
        reproducible.rename_analysis(PAPER, "fig9", "fig10")
    reproducible.rename_paper(PAPER, "second")
    with cavewidgets.start_export(paper=PAPER, analysis="again"):
        cavewidgets.track(reproducible.LOG.records[0]._client_ref()).materialize.query_table(
            "nucleus_detection_v0", limit=1)
    with pytest.raises(ValueError, match="paper 'second' already has a log"):
        reproducible.rename_paper(PAPER, "second")
    assert [k[1] for k in kinds()] == ["again"] and [k[1] for k in kinds("second")] == ["fig3"]


def test_explorer_and_review_queue_honour_the_active_analysis(sample_client, tmp_path):
    """Their records carry the analysis, and their status lines name it while it is active."""
    from cavewidgets import ReviewQueue

    roots = [int(r) for r in sample_client.materialize.query_table(
        "proofreading_status_and_strategy")["pt_root_id"].drop_duplicates()[:2]]
    queue = ReviewQueue(sample_client, roots, "review_tagged", directory=tmp_path / "review", show=False)
    ex = None
    try:
        assert "exporting:" not in queue._header.value  # noqa: SLF001 - the status header
        with cavewidgets.start_export(paper=PAPER, analysis="review & fig1"):
            # the queue's status line follows start_export without any call on it
            assert "exporting: edit me / review &amp; fig1" in queue._header.value  # noqa: SLF001
            ex = cavewidgets.Explorer(sample_client, "nucleus_detection_v0", version=1,
                                      drafts_dir=tmp_path / "drafts")
            assert "exporting: edit me / review &amp; fig1" in ex.header.value
            ex.select(roots[0])
            assert ex.wait_for_panel(180)
            queue.decide("clean")
        assert "exporting:" not in queue._header.value and "exporting:" not in ex.header.value  # noqa: SLF001
        entries = reproducible.read_paper(PAPER)
        assert {e["analysis"] for e in entries} == {"review & fig1"}
        posted = [e for e in entries if e["kind"] == "posted"]
        assert [e["table"] for e in posted] == ["review_tagged"]
        assert posted[0]["ids"] == [int(queue.decisions["annotation_id"][0])]
        queries = [e for e in entries if e["kind"] == "query"]
        assert [(e["source"], e["table"]) for e in queries] == [("explorer", "nucleus_detection_v0")]
        fetches = [e for e in entries if e["kind"] == "fetch"]
        assert fetches and {e["root_id"] for e in fetches} == {roots[0]}
    finally:
        if ex is not None:
            ex.wait_for_panel(180)
            ex.close()
        queue.close()

"""ReviewQueue keyboard shortcuts in real JupyterLab: keys pressed in the queue's box and keys
pressed inside the embedded neuroglancer both decide and move; typing notes decides nothing."""

from __future__ import annotations

import pytest
from test_viewer import browser_segments, ng_frame, wait_until

from cavewidgets.testing.lab import LabNotebook

SETUP = """
import tempfile
import cavewidgets
service = cavewidgets.sample.serve(work_dir=tempfile.mkdtemp())   # posts stay in this test
client = cavewidgets.sample.client(service)
roots = [int(r) for r in client.materialize.query_table("proofreading_status_and_strategy")["pt_root_id"].drop_duplicates()[:4]]
queue = cavewidgets.ReviewQueue(client, roots, "review_keys", directory=tempfile.mkdtemp(), height=360)
queue
"""


@pytest.fixture(scope="module")
def queue_nb(lab, isolated_browser):
    nb = LabNotebook.open(lab, isolated_browser, "review-keys-test.ipynb", [SETUP])
    nb.run_all(timeout=300)
    yield nb
    nb.close()


def decisions(nb):
    return nb.py("[(int(r), s, n) for r, s, n in zip(queue.decisions['root_id'], queue.decisions['status'], queue.decisions['notes'])]")


def test_keys_in_the_queue_box_decide_and_move_and_notes_take_digits(queue_nb):
    nb = queue_nb
    page = nb.page
    roots = nb.py("roots")
    header = page.locator(".cavewidgets-review .widget-html").first
    header.click()  # focus inside the queue's box
    page.keyboard.press("2")
    wait_until(lambda: decisions(nb) == [[roots[0], "needs work", ""]], what="key 2 decided the first neuron")
    assert nb.py("queue.position") == 1
    page.keyboard.press("ArrowLeft")
    wait_until(lambda: nb.py("queue.position") == 0, what="← back to the first neuron")
    notes = page.locator(".cavewidgets-review textarea").first
    notes.click()
    notes.type("axon 1 2 3")  # digits typed in the notes box are text, not decisions
    wait_until(lambda: nb.py("queue._notes.value") == "axon 1 2 3", what="the notes reached Python")
    assert decisions(nb) == [[roots[0], "needs work", ""]]
    header.click()
    page.keyboard.press("1")  # a changed decision, with the notes typed
    wait_until(lambda: decisions(nb) == [[roots[0], "clean", "axon 1 2 3"]], what="key 1 changed the decision")
    assert nb.py("queue.position") == 1
    page.keyboard.press("9")  # no ninth status: nothing happens
    page.keyboard.press("ArrowRight")
    wait_until(lambda: nb.py("queue.position") == 2, what="→ to the third neuron")
    assert len(decisions(nb)) == 1
    wait_until(lambda: nb.py("int(queue.decisions['posted'].sum())") == 1, what="the decision posted")


def press_in_viewer(nb, frame, key):
    """Press ``key`` with neuroglancer's data panel focused, as under a user's mouse. A state push
    from Python (every move to the next neuron) patches the viewer in place: the focus stays on
    the panel (neuroglancer's own client rebuilt the panels, leaving nothing focused for ~0.5 s)."""
    assert frame.evaluate("() => !!(document.activeElement && document.activeElement.closest("
                          "'.neuroglancer-rendered-data-panel'))"), "neuroglancer's panel lost the focus"
    nb.page.keyboard.press(key)


def showing(nb, frame):
    """Wait until neuroglancer shows the queue's current neuron (the push has reached the page)."""
    root = nb.py("queue.current")
    wait_until(lambda: browser_segments(frame) == [str(root)], timeout=60, what=f"neuroglancer showing {root}")


def test_keys_pressed_inside_neuroglancer_reach_the_queue(queue_nb):
    nb = queue_nb
    nb.exec("queue.jump(2)")
    roots = nb.py("roots")
    frame = ng_frame(nb.page)
    showing(nb, frame)
    frame.locator(".neuroglancer-rendered-data-panel").first.click()  # focus inside neuroglancer
    press_in_viewer(nb, frame, "3")
    wait_until(lambda: [r for r, s, _ in decisions(nb) if s == "merge error"] == [roots[2]], timeout=60,
               what="digit 3 pressed in neuroglancer decided the third neuron")
    assert nb.py("queue.position") == 3
    showing(nb, frame)
    press_in_viewer(nb, frame, "k")
    wait_until(lambda: nb.py("queue.position") == 2, what="k pressed in neuroglancer went back")
    showing(nb, frame)
    press_in_viewer(nb, frame, "j")
    wait_until(lambda: nb.py("queue.position") == 3, what="j pressed in neuroglancer went on")
    wait_until(lambda: nb.py("int(queue.decisions['posted'].sum())") == 2, what="both decisions posted")
    rows = nb.py("""[(int(r), t) for r, t in client.materialize.live_live_query('review_keys',
        __import__('datetime').datetime.now(__import__('datetime').timezone.utc), log_warning=False)[['pt_root_id', 'tag']].itertuples(index=False)]""")
    latest = nb.py(f"[bool(v) for v in client.chunkedgraph.is_latest_roots({roots[:3]})]")
    want = [[roots[0], "clean"], [roots[2], "merge error"]]
    assert len(rows) == 2 and all(w in rows for w, ok in zip(want, [latest[0], latest[2]]) if ok), rows

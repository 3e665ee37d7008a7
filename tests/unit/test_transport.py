"""The kernel side of the binary transport: requests answered, cancelled requests not computed."""

from __future__ import annotations

import pandas as pd

import cavewidgets
from cavewidgets._transport import MAX_CANCELLED


def _browser(widget):
    """Messages the widget sends, and a way to deliver the browser's messages to it."""
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers or []))
    return sent, lambda content: widget._on_request(widget, content, [])


def _counting_pages(widget):
    calls = []
    real = widget._rpc_page

    def page(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    widget._rpc_page = page
    return calls


def test_a_request_is_answered_with_its_buffers():
    browser = cavewidgets.TableBrowser(pd.DataFrame({"id": [1, 2, 3]}), height=200)
    sent, deliver = _browser(browser)
    deliver({"kind": "cw:req", "id": "a-1", "method": "page", "params": {"start": 0, "count": 3}})
    (content, buffers), = sent
    assert content["id"] == "a-1" and content["ok"] is True and len(buffers) == 1


def test_a_cancelled_request_is_not_computed_and_frees_the_channel():
    browser = cavewidgets.TableBrowser(pd.DataFrame({"id": [1, 2, 3]}), height=200)
    sent, deliver = _browser(browser)
    calls = _counting_pages(browser)
    deliver({"kind": "cw:cancel", "id": "a-1"})
    deliver({"kind": "cw:req", "id": "a-1", "method": "page", "params": {"start": 0, "count": 3}})
    assert calls == []
    assert sent == [({"kind": "cw:res", "id": "a-1", "ok": False, "cancelled": True, "error": "cancelled"}, [])]
    # the id is forgotten once used: a later request with it runs (ids are unique per view anyway)
    deliver({"kind": "cw:req", "id": "a-1", "method": "page", "params": {"start": 0, "count": 3}})
    assert len(calls) == 1 and sent[-1][0]["ok"] is True


def test_cancels_for_requests_that_already_ran_are_bounded():
    browser = cavewidgets.TableBrowser(pd.DataFrame({"id": [1]}), height=200)
    _sent, deliver = _browser(browser)
    for i in range(MAX_CANCELLED + 50):
        deliver({"kind": "cw:cancel", "id": f"x-{i}"})
    deliver({"kind": "cw:cancel", "id": 7})  # not an id the browser makes: ignored
    assert len(browser._cw_cancelled) == MAX_CANCELLED and "x-0" not in browser._cw_cancelled

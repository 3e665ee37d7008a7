"""Viewer.on_key: a key bound in neuroglancer's config reaches a Python callback through the
viewer's widget channel (the ``ng_action`` request the browser sends when the key is pressed)."""

from __future__ import annotations

import time

import pytest

from cavewidgets.testing.channel import ChannelClient
from cavewidgets.viewer.keys import check_key


@pytest.fixture
def viewer():
    import cavewidgets

    v = cavewidgets.Viewer(height=300)
    yield v
    v.close()


def press(viewer, action):
    """Send an action as the front-end does when a bound key is pressed."""
    ChannelClient(viewer).request("ng_action", action=action, state="{}")


def wait_for(cond, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def bindings(viewer):
    return viewer._ng.config_state.state.input_event_bindings.viewer.to_json()


def test_a_bound_key_calls_back_and_unbinding_restores_neuroglancer(viewer):
    pressed = []
    viewer.on_key("Digit1", pressed.append)
    viewer.on_key("shift+keyj", pressed.append)
    assert bindings(viewer) == {"digit1": "cw-key-digit1", "shift+keyj": "cw-key-shift-keyj"}
    press(viewer, "cw-key-digit1")
    press(viewer, "cw-key-shift-keyj")
    assert wait_for(lambda: pressed == ["digit1", "shift+keyj"])
    viewer.on_key("digit1", None)
    assert bindings(viewer) == {"shift+keyj": "cw-key-shift-keyj"}
    press(viewer, "cw-key-digit1")
    time.sleep(0.3)
    assert pressed == ["digit1", "shift+keyj"]
    viewer.on_key("digit1", None)  # unbinding twice is harmless


def test_rebinding_replaces_the_callback_and_a_failing_callback_is_contained(viewer):
    got = []
    viewer.on_key("keyk", lambda k: got.append("first"))
    viewer.on_key("keyk", lambda k: got.append("second"))
    viewer.on_key("keyl", lambda k: 1 / 0)
    press(viewer, "cw-key-keyl")
    press(viewer, "cw-key-keyk")
    assert wait_for(lambda: got == ["second"])


@pytest.mark.parametrize("bad", ["", "ctrl+1", "keyJJ", "digit", "shift+", "x" * 10_000, None, 5, "keyj; drop"])
def test_bad_keys_are_refused_and_nothing_is_bound(viewer, bad):
    with pytest.raises(ValueError, match="neuroglancer's spelling"):
        viewer.on_key(bad, print)
    assert bindings(viewer) == {}


def test_a_non_callable_is_refused(viewer):
    with pytest.raises(TypeError, match="callable"):
        viewer.on_key("keyj", "next")
    assert bindings(viewer) == {}


def test_check_key_normalises_case():
    assert check_key(" Shift+KeyN ") == "shift+keyn"

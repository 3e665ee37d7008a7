"""Every widget checks the arguments they share by one rule, with one wording (``cavewidgets._checks``)."""

from __future__ import annotations

import re
import types

import pandas as pd
import pytest

import cavewidgets
from cavewidgets._checks import MIN_HEIGHT, check_client, check_height


class Untouchable:
    """A client that fails the test if a constructor reaches for it before checking its arguments."""

    def __getattr__(self, name):
        raise AssertionError(f"client.{name} was used before the arguments were checked")


FRAME = pd.DataFrame({"id": [1, 2, 3]})
# (widget name, constructor taking (client, height)); the client is a stand-in that has the
# attributes the widget names, so only the argument checks can run before the error
WIDGETS = {
    "TableBrowser": lambda client, height: cavewidgets.TableBrowser(FRAME, height=height),
    "MorphologyPanel": lambda client, height: cavewidgets.MorphologyPanel(client, height=height),
    "Explorer": lambda client, height: cavewidgets.Explorer(client, FRAME, height=height),
    "ReviewQueue": lambda client, height: cavewidgets.ReviewQueue(client, [864691135808684573], "t", height=height),
    # the Viewer also works without a datastack (a plain neuroglancer state): its client may be None
    "Viewer": lambda client, height: cavewidgets.Viewer(client, height=height),
}
STAND_IN = {"TableBrowser": None, "MorphologyPanel": Untouchable(),
            "Explorer": types.SimpleNamespace(materialize=Untouchable()),
            "ReviewQueue": types.SimpleNamespace(annotation=Untouchable()), "Viewer": Untouchable()}


@pytest.mark.parametrize("widget", sorted(WIDGETS))
@pytest.mark.parametrize("height", [MIN_HEIGHT - 1, 20, 0, -400, True, 300.0, "500", None])
def test_every_widget_refuses_a_bad_height_with_the_same_words(widget, height):
    expected = f"{widget}: height must be a whole number of pixels, at least {MIN_HEIGHT}; got {height!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        WIDGETS[widget](STAND_IN[widget], height)


@pytest.mark.parametrize("widget", ["MorphologyPanel", "Explorer", "ReviewQueue"])
def test_a_widget_that_needs_a_client_refuses_none_and_never_starts_the_sample(widget, monkeypatch):
    from cavewidgets import sample

    monkeypatch.setattr(sample, "client", lambda *a, **k: pytest.fail("a widget started the sample on its own"))
    expected = f"{widget} needs a CAVEclient; got None. For the offline sample datastack pass cavewidgets.sample.client()"
    with pytest.raises(TypeError, match=re.escape(expected)):
        WIDGETS[widget](None, 400)


def test_the_smallest_height_is_accepted():
    assert cavewidgets.TableBrowser(FRAME, height=MIN_HEIGHT).height == MIN_HEIGHT
    assert check_height(MIN_HEIGHT, "X") == MIN_HEIGHT


def test_check_client_names_a_missing_service():
    with pytest.raises(TypeError, match=re.escape("Explorer needs a CAVEclient; got a str without .materialize")):
        check_client("minnie65_public", "Explorer", needs=("materialize",))
    client = types.SimpleNamespace(materialize=object())
    assert check_client(client, "Explorer", needs=("materialize",)) is client

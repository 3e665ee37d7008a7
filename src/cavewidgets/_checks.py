"""The arguments every widget shares, checked by one rule with one wording.

The rule (documented in ``docs/contributing.md``):

- ``height`` is a whole number of pixels, at least :data:`MIN_HEIGHT` (150): below that no
  widget has room for its controls. A bool or a float is refused, not rounded.
- A widget that needs a CAVEclient and gets ``None`` raises ``TypeError`` naming the widget and
  the way to get one; no widget starts the sample service on its own (starting it is always the
  caller's explicit ``cavewidgets.sample.client()``). The client is not probed beyond the
  attributes the widget names, so a bad argument fails before anything is fetched.

Example::

    height = check_height(height, "TableBrowser")
    client = check_client(client, "Explorer", needs=("materialize",))
"""

from __future__ import annotations

#: the smallest ``height`` (pixels) any widget accepts
MIN_HEIGHT = 150


def check_height(height, widget: str) -> int:
    """``height`` if it is a whole number of pixels ≥ :data:`MIN_HEIGHT`, else ``ValueError``.

    Example::

        check_height(420, "MorphologyPanel")   # 420
    """
    if isinstance(height, bool) or not isinstance(height, int) or height < MIN_HEIGHT:
        raise ValueError(f"{widget}: height must be a whole number of pixels, at least {MIN_HEIGHT}; "
                         f"got {height!r}")
    return int(height)


def check_client(client, widget: str, needs: tuple[str, ...] = ()):
    """``client`` unless it is ``None`` or lacks one of the ``needs`` attributes (then ``TypeError``).

    Example::

        check_client(cavewidgets.sample.client(), "ReviewQueue", needs=("annotation",))
    """
    missing = [name for name in needs if client is not None and not hasattr(client, name)]
    if client is None or missing:
        got = "None" if client is None else f"a {type(client).__name__} without .{missing[0]}"
        raise TypeError(f"{widget} needs a CAVEclient; got {got}. For the offline sample datastack "
                        "pass cavewidgets.sample.client()")
    return client


def choice_trait(values: list[str], default: str):
    """A ``traitlets.Enum`` of strings that refuses any other type by name first (a plain Enum
    compares an array with ``in`` and raises numpy's "truth value is ambiguous").

    Example::

        wheel = choice_trait(["click", "always"], "click").tag(sync=True)
    """
    import traitlets as t

    class Choice(t.Enum):
        def validate(self, obj, value):
            if not isinstance(value, str):
                self.error(obj, value)
            return super().validate(obj, value)

    return Choice(values, default_value=default)


def check_callback(callback, widget: str, method: str):
    """``callback`` if it can be called, else ``TypeError`` now (not at every later event).

    Example::

        check_callback(print, "Viewer", "on_select")   # print
    """
    if not callable(callback):
        raise TypeError(f"{widget}.{method}: callback must be a function, got {type(callback).__name__} "
                        f"{repr(callback)[:80]}")
    return callback

"""Three-way merge of neuroglancer states, so a browser edit and a Python push made at the same
time both survive.

neuroglancer's client sends each change with the generation it last saw (``pg``). When Python
set a new state in between, the stock server answers 412 and the client then *replaces* its
state with the server's: a point drawn, a segment clicked or a pan made in that window is lost.
Worse, when a Python push reaches the browser (event stream) before the answer to the browser's
own previous POST, the client keeps that older generation as its base; every later browser
edit then gets 412 and is dropped silently until Python happens to push again (seen in the
Explorer: points drawn after a selection never reached the kernel).
:class:`MergingViewer` keeps the last few states by generation and, on such a conflict, merges
the browser's change into the current state instead:

- layers are matched by ``name`` and annotations by ``id``, so added/removed/edited items
  from both sides are kept;
- ``segments`` (and ``hiddenSegments``) merge as sets: each side's additions and removals apply;
- any other value changed on both sides keeps Python's (it was set deliberately, and the
  browser shows it right after).

Example::

    merge_states(base, ours, theirs)        # pure; dicts of neuroglancer JSON state
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

from neuroglancer.random_token import make_random_token
from neuroglancer.viewer_base import ViewerBase
from neuroglancer.trackable_state import ConcurrentModificationError

log = logging.getLogger(__name__)

_MISSING = object()
#: lists whose items are identified by a key: merged item by item
_KEYED_LISTS = {"layers": "name", "annotations": "id"}
#: lists that are sets (order kept where possible)
_SET_LISTS = {"segments", "hiddenSegments"}


def merge_states(base: Any, ours: Any, theirs: Any, key: str | None = None) -> Any:
    """Merge ``theirs`` (the browser's edit of ``base``) into ``ours`` (the current state).

    Example::

        base = {"layers": [{"name": "seg", "segments": ["1"]}]}
        ours = {"layers": [{"name": "seg", "segments": ["1", "2"]}]}      # Python added 2
        theirs = {"layers": [{"name": "seg", "segments": []}]}           # the browser hid 1
        merge_states(base, ours, theirs)   # {"layers": [{"name": "seg", "segments": ["2"]}]}
    """
    if theirs == base or ours == theirs:
        return ours
    if ours == base:
        return theirs
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return _merge_dicts(base if isinstance(base, dict) else {}, ours, theirs)
    if isinstance(ours, list) and isinstance(theirs, list):
        base_list = base if isinstance(base, list) else []
        if key in _KEYED_LISTS and _all_keyed(_KEYED_LISTS[key], base_list, ours, theirs):
            return _merge_keyed(_KEYED_LISTS[key], base_list, ours, theirs)
        if key in _SET_LISTS and _all_hashable(base_list, ours, theirs):
            return _merge_sets(base_list, ours, theirs)
    return ours  # changed on both sides: Python's value


def _merge_dicts(base: dict, ours: dict, theirs: dict) -> dict:
    out = {}
    for k in list(ours) + [k for k in theirs if k not in ours]:
        b, o, t = base.get(k, _MISSING), ours.get(k, _MISSING), theirs.get(k, _MISSING)
        if t is _MISSING:
            if b is not _MISSING and _same(o, b, k):
                continue  # the browser removed it, Python left it alone
            out[k] = o
        elif o is _MISSING:
            if b is not _MISSING and _same(t, b, k):
                continue  # Python removed it, the browser left it alone
            if b is _MISSING:
                out[k] = t  # added by the browser
            # else: Python removed what the browser changed: removed
        else:
            out[k] = merge_states(None if b is _MISSING else b, o, t, key=k)
    return out


def _same(a: Any, b: Any, key: str | None = None) -> bool:
    """Unchanged, for deciding whether a deletion on the other side applies: segment lists are
    sets, so a reordered list (Python writes them sorted) is not an edit that blocks it."""
    if key in _SET_LISTS and isinstance(a, list) and isinstance(b, list) and _all_hashable(a, b):
        return len(a) == len(b) and set(a) == set(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], k) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _all_keyed(field: str, *lists: list) -> bool:
    return all(isinstance(item, dict) and field in item for lst in lists for item in lst)


def _all_hashable(*lists: list) -> bool:
    return all(isinstance(item, (str, int, float, bool)) for lst in lists for item in lst)


def _merge_keyed(field: str, base: list, ours: list, theirs: list) -> list:
    b = {item[field]: item for item in base}
    t = {item[field]: item for item in theirs}
    out = []
    for item in ours:
        k = item[field]
        if k not in t:
            if k in b and _same(item, b[k]):
                continue  # the browser deleted it
            out.append(item)
        else:
            out.append(merge_states(b.get(k), item, t[k]))
    seen = {item[field] for item in ours}
    for item in theirs:
        k = item[field]
        if k not in seen and k not in b:
            out.append(item)  # added in the browser
    return out


def _merge_sets(base: list, ours: list, theirs: list) -> list:
    b, t, o = set(base), set(theirs), set(ours)
    removed = b - t
    return [x for x in ours if x not in removed] + [x for x in theirs if x not in b and x not in o]


class MergingViewer(ViewerBase):
    """A neuroglancer viewer state (``neuroglancer.viewer_base.ViewerBase``: typed state, config
    state, actions, screenshots; no HTTP server) whose browser edits are merged into concurrent
    Python pushes instead of being dropped (see the module docstring). The widget channel
    (:mod:`.channel`) carries it to the browser.

    Example::

        ng = MergingViewer()
        ng.set_state({"layers": [], "layout": "xy"})
    """

    #: states kept by generation for merging: the browser is normally one or two behind, and
    #: a state with large annotation layers can take megabytes
    history_size = 8

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._history: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._history_lock = threading.Lock()
        self.merged_conflicts = 0
        self.shared_state.add_changed_callback(self._remember)
        self._remember()

    def _remember(self) -> None:
        # runs under shared_state's lock, right after each change: state and generation agree
        raw, gen = self.shared_state.raw_state_and_generation
        with self._history_lock:
            self._history[gen] = raw
            self._history.move_to_end(gen)
            while len(self._history) > self.history_size:
                self._history.popitem(last=False)

    def set_state(self, new_state, generation=None, existing_generation=None):
        shared = self.shared_state
        try:
            return shared.set_state(new_state, generation, existing_generation=existing_generation)
        except ConcurrentModificationError:
            if existing_generation is None:
                raise
            with shared._lock:
                with self._history_lock:
                    base = self._history.get(existing_generation)
                current, current_gen = shared.raw_state_and_generation
                if base is None:
                    # too old to merge: the browser's edit is lost (the stock 412), but re-send the
                    # current state under a new generation, or a browser whose base went stale
                    # (see below) would have every later edit refused too
                    shared.set_state(current, generation=make_random_token())
                    raise
                theirs = new_state.to_json() if hasattr(new_state, "to_json") else new_state
                merged = merge_states(base, current, theirs)
                self.merged_conflicts += 1
                log.debug("merged a browser edit (based on %s) into %s", existing_generation, current_gen)
                # a fresh generation, even when nothing of the browser's edit survived, so the
                # event stream sends the merged state back to that browser as well; not
                # "<client>/<n>" (the stream skips a client's own generations) but still with a
                # "/" so the widget sees a browser change
                return shared.set_state(merged, generation=f"merged/{make_random_token()}",
                                        existing_generation=current_gen)

"""Widget input fuzzing for the widgets whose constructors need the service (Explorer, ReviewQueue):
generated hostile arguments work, or raise a clear error naming the argument or the value and
leave the widget's state as it was; never a hang. The harness is ``tests/unit/test_widget_fuzz.py``'s.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_UNIT = Path(__file__).parents[1] / "unit"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, _UNIT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hyp = _load("hyp")
import sys  # noqa: E402

sys.modules.setdefault("hyp", hyp)  # the unit harness imports it by name
fuzz = _load("test_widget_fuzz")
HOSTILE, check_call, _traits = fuzz.HOSTILE, fuzz.check_call, fuzz._traits


def _examples(n: int):
    return settings(hyp.examples(n), suppress_health_check=[*settings.default.suppress_health_check,
                                                            HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def nuclei(sample_client):
    df = sample_client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1])
    return df[df["pt_root_id"] > 0].drop_duplicates("pt_root_id").head(4).reset_index(drop=True)


# ---------------------------------------------------------------------------- Explorer

@pytest.fixture(scope="module")
def explorer(sample_client, nuclei):
    from cavewidgets import Explorer

    ex = Explorer(sample_client, nuclei[["id", "pt_root_id", "pt_position"]],
                  drafts_dir=tempfile.mkdtemp(prefix="fuzz-drafts-"))
    ex.select([int(nuclei["pt_root_id"][0])])
    yield ex
    ex.close()


def _explorer_snapshot(ex) -> tuple:
    return (tuple(ex.selected_root_ids), tuple(ex.table.selection), repr(sorted(ex.viewer.segments)),
            tuple(sorted(_traits(ex.table).items())), len(ex._callbacks))


EXPLORER_CALLS = {
    "select": (lambda ex, v: ex.select(v), ("root id", "id", "segments")),
    "on_selection": (lambda ex, v: ex.on_selection(v), ("callback",)),
}


@_examples(30)
@given(which=st.sampled_from(sorted(EXPLORER_CALLS)), value=HOSTILE)
def test_explorer_methods(which, value, explorer):
    call, names = EXPLORER_CALLS[which]
    if which == "select" and fuzz._is_valid_root(value):
        return  # a valid id is selected: covered by the Explorer's own tests
    check_call(explorer, _explorer_snapshot, call, value, names)


def test_explorer_refuses_a_million_ids_without_a_half_selection(explorer):
    """More ids than the viewer shows at once: refused before the table, colours or viewer change."""
    big = list(range(1, 10**6 + 1))
    err = check_call(explorer, _explorer_snapshot, lambda ex, v: ex.select(v), big, ("segments", "ids"))
    assert err is not None


# ---------------------------------------------------------------------------- ReviewQueue

@pytest.fixture(scope="module")
def queue(sample_client, nuclei):
    from cavewidgets import ReviewQueue

    q = ReviewQueue(sample_client, nuclei[["pt_root_id", "pt_position"]], "fuzz_review", show=False,
                    directory=tempfile.mkdtemp(prefix="fuzz-review-"))
    yield q
    q.close()


def _queue_snapshot(q) -> tuple:
    return (q.position, q.decisions.to_json(), q._waiting())


QUEUE_CALLS = {
    "decide": (lambda q, v: q.decide(v), ("status",)),
    "decide notes": (lambda q, v: q.decide("clean", notes=v, advance=False), ("notes",)),
    "decide advance": (lambda q, v: q.decide("clean", advance=v), ("advance",)),
    "jump": (lambda q, v: q.jump(v), ("index",)),
}


@_examples(30)
@given(which=st.sampled_from(sorted(QUEUE_CALLS)), value=HOSTILE)
def test_review_queue_methods(which, value, queue):
    call, names = QUEUE_CALLS[which]
    queue.jump(0)  # a neuron to decide on (past the end, decide() refuses for that reason first)
    check_call(queue, _queue_snapshot, call, value, names)
    assert 0 <= queue.position <= len(queue.root_ids)


def _new_queue(client, nuclei, **kwargs):
    from cavewidgets import ReviewQueue

    args = {"root_ids_or_df": nuclei[["pt_root_id", "pt_position"]], "table": "fuzz_review", "show": False,
            "directory": tempfile.mkdtemp(prefix="fuzz-review-"), **kwargs}
    return ReviewQueue(client, **args).close()


QUEUE_NEW = {
    "root_ids_or_df": ("root_ids_or_df", ("root", "id", "dataframe")),
    "statuses": ("statuses", ("statuses",)),
    "height": ("height", ("height",)),
}


@_examples(20)
@given(which=st.sampled_from(sorted(QUEUE_NEW)), value=HOSTILE)
def test_review_queue_constructor(which, value, sample_client, nuclei):
    arg, names = QUEUE_NEW[which]
    if arg == "root_ids_or_df" and fuzz._is_valid_root(value):
        return
    check_call(None, lambda _w: None, lambda _w, v: _new_queue(sample_client, nuclei, **{arg: v}), value, names)


def test_review_queue_refuses_a_table_that_is_not_a_name(sample_client, nuclei):
    for bad in (None, 5, "", ["t"], float("nan")):
        with pytest.raises((ValueError, TypeError), match="table"):
            _new_queue(sample_client, nuclei, table=bad)

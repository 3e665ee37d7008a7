"""The three-way merge of a browser edit into a Python state (``viewer.merge.merge_states``) over
generated state pairs: both sides edit the same base (layout, position, layers added, removed
and changed, segments shown and hidden, annotations drawn, moved and deleted), and

- an edit made on one side only is never lost (compared unit by unit: a top-level value, a
  layer, a layer property, a segment's membership, an annotation and each of its fields),
  unless the other side removed or re-created what contains it, or edited inside what this
  side removed: those are conflicts, and Python's side wins, as documented;
- a value both sides changed differently keeps Python's;
- segments merge as sets: each side's additions and removals apply, no id twice;
- merging is idempotent: merging the same browser edit again changes nothing, and a side
  merged with itself is itself.
"""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from cavewidgets.viewer.merge import merge_states
from hyp import examples

SEGMENTS = ["1", "2", "3", "864691135808684573", "18446744073709551615"]
ANN_IDS = ["a", "b", "c", "d"]
NAMES = ["seg", "drafts", "other"]
_num = st.sampled_from([0.0, 1.5, 2.0, 1e6, -3.25])
_point = st.lists(_num, min_size=3, max_size=3)


def _annotation(draw, aid):
    return {"type": "point", "id": aid, "point": draw(_point), "description": draw(st.sampled_from(["", "spine", "é"]))}


@st.composite
def layers(draw, name):
    if draw(st.booleans()):
        return {"name": name, "type": "segmentation", "source": "precomputed://x",
                "segments": draw(st.lists(st.sampled_from(SEGMENTS), unique=True, max_size=4)),
                "visible": draw(st.booleans()), "objectAlpha": draw(_num)}
    ids = draw(st.lists(st.sampled_from(ANN_IDS), unique=True, max_size=3))
    return {"name": name, "type": "annotation", "annotations": [_annotation(draw, a) for a in ids],
            "visible": draw(st.booleans())}


@st.composite
def states(draw):
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3))
    return {"layout": draw(st.sampled_from(["xy", "3d", "xy-3d"])), "position": draw(_point),
            "crossSectionScale": draw(_num), "layers": [draw(layers(n)) for n in names]}


@st.composite
def edited(draw, base):
    """``base`` after 0-5 random user edits."""
    s = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["top", "add_layer", "remove_layer", "prop", "segment", "annotation"]))
        lys = s["layers"]
        if op == "top":
            key = draw(st.sampled_from(["layout", "position", "crossSectionScale"]))
            s[key] = draw({"layout": st.sampled_from(["xy", "3d", "4panel"]), "position": _point,
                           "crossSectionScale": _num}[key])
        elif op == "add_layer":
            free = [n for n in NAMES if n not in {ly["name"] for ly in lys}]
            if free:
                lys.insert(draw(st.integers(0, len(lys))), draw(layers(draw(st.sampled_from(free)))))
        elif not lys:
            continue
        elif op == "remove_layer":
            lys.pop(draw(st.integers(0, len(lys) - 1)))
        else:
            ly = draw(st.sampled_from(lys))
            if op == "prop":
                key = draw(st.sampled_from(["visible", "objectAlpha"] if "segments" in ly else ["visible"]))
                ly[key] = draw(st.booleans()) if key == "visible" else draw(_num)
            elif op == "segment" and "segments" in ly:
                sid = draw(st.sampled_from(SEGMENTS))  # a click toggles
                ly["segments"] = [x for x in ly["segments"] if x != sid] if sid in ly["segments"] else ly["segments"] + [sid]
            elif op == "annotation" and "annotations" in ly:
                aid = draw(st.sampled_from(ANN_IDS))
                anns = ly["annotations"]
                found = [a for a in anns if a["id"] == aid]
                what = draw(st.sampled_from(["move", "describe", "delete"]))
                if not found:
                    anns.append(_annotation(draw, aid))
                elif what == "delete":
                    anns.remove(found[0])
                elif what == "move":
                    found[0]["point"] = draw(_point)
                else:
                    found[0]["description"] = draw(st.sampled_from(["", "spine", "é", "shaft"]))
    return s


MISSING = "<missing>"


def units(state) -> dict:
    """The state cut into independent units: (unit, container) -> value."""
    out = {}
    for k, v in state.items():
        if k != "layers":
            out[("top", k)] = v
    for ly in state["layers"]:
        name = ly["name"]
        out[("layer", name)] = True
        for k, v in ly.items():
            if k not in ("segments", "annotations", "name"):
                out[("prop", name, k)] = v
        for sid in ly.get("segments", []):
            out[("seg", name, sid)] = True
        for a in ly.get("annotations", []):
            out[("ann", name, a["id"])] = True
            for k, v in a.items():
                out[("annf", name, a["id"], k)] = v
    return out


def containers(unit) -> list:
    """The units whose removal (or, for a layer's type, change) takes ``unit`` with them."""
    if unit[0] == "prop" and unit[2] == "type":
        return [("layer", unit[1])]
    if unit[0] in ("prop", "seg", "ann"):
        return [("layer", unit[1]), ("prop", unit[1], "type")]
    if unit[0] == "annf":
        return [("layer", unit[1]), ("prop", unit[1], "type"), ("ann", unit[1], unit[2])]
    return []


def pairs():
    return states().flatmap(lambda b: st.tuples(st.just(b), edited(b), edited(b)))


@examples(1000)
@given(pairs())
def test_merge_properties(case):
    """All three properties on each of 1,000 generated (base, ours, theirs) triples."""
    base, ours, theirs = case
    merged = merge_states(copy.deepcopy(base), copy.deepcopy(ours), copy.deepcopy(theirs))
    check_one_sided_edits_survive(base, ours, theirs, merged)
    check_segments_merge_as_sets(base, ours, theirs, merged)
    check_idempotent(base, ours, theirs, merged)


def check_one_sided_edits_survive(base, ours, theirs, merged):
    b, o, t, m = units(base), units(ours), units(theirs), units(merged)
    every = set(b) | set(o) | set(t)
    changed_o = {u for u in every if o.get(u, MISSING) != b.get(u, MISSING)}
    changed_t = {u for u in every if t.get(u, MISSING) != b.get(u, MISSING)}
    # a side "touched" a layer or an annotation when it changed it or anything in it
    touched_o = changed_o | {c for u in changed_o for c in containers(u)}
    touched_t = changed_t | {c for u in changed_t for c in containers(u)}
    for u in every:
        bv, ov, tv = b.get(u, MISSING), o.get(u, MISSING), t.get(u, MISSING)
        # a layer or annotation removed or created on either side is judged as a whole (its
        # own unit), not by the parts that went or came with it
        if any(c in changed_o or c in changed_t for c in containers(u)):
            continue
        if u in changed_t and u not in touched_o:
            assert m.get(u, MISSING) == tv, ("the browser's edit was lost", u, bv, ov, tv)
        if u in changed_o and u not in touched_t:
            assert m.get(u, MISSING) == ov, ("Python's edit was lost", u, bv, ov, tv)
        if u in changed_o and u in changed_t and ov != tv and u[0] in ("top", "prop", "annf"):
            assert m.get(u, MISSING) == ov, ("a conflict did not keep Python's value", u, bv, ov, tv)


def check_segments_merge_as_sets(base, ours, theirs, merged):
    by = lambda s: {ly["name"]: ly for ly in s["layers"]}  # noqa: E731
    lb, lo, lt, lm = by(base), by(ours), by(theirs), by(merged)
    for name in set(lb) & set(lo) & set(lt):
        if "segments" not in lb[name] or "segments" not in lo[name] or "segments" not in lt[name]:
            continue  # the layer changed kind on a side
        B, O, T = set(lb[name]["segments"]), set(lo[name]["segments"]), set(lt[name]["segments"])
        got = lm[name]["segments"]
        assert len(got) == len(set(got)), ("an id twice", got)
        assert set(got) == (B | (O - B) | (T - B)) - (B - O) - (B - T)


def check_idempotent(base, ours, theirs, merged):
    assert merge_states(base, merged, theirs) == merged  # the same browser edit again: nothing new
    assert merge_states(base, ours, ours) == ours
    assert merge_states(base, base, theirs) == theirs and merge_states(base, ours, base) == ours

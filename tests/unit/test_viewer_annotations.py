"""Annotations between DataFrames (nm, exact uint64) and neuroglancer's local annotation layers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cavewidgets.viewer import annotations as ann
from cavewidgets.viewer import state as st

BIG = 864691135808684573  # > 2^53
SCALES = [512.0, 512.0, 640.0]


def test_points_nm_to_voxels_and_back_with_exact_uint64():
    df = pd.DataFrame({"pt_position": [[512, 1024, 6400], np.array([0.0, 256.0, 320.0])], "pt_root_id": [BIG, BIG + 2], "note": ["a", None]})
    points = ann.points_from_frame(df, SCALES, description="note")
    assert points[0]["point"] == [1.0, 2.0, 10.0] and points[1]["point"] == [0.0, 0.5, 0.5]
    assert points[0]["segments"] == [[str(BIG)]] and points[0]["description"] == "a"
    assert "description" not in points[1]
    state = {"dimensions": st.dimensions_for(SCALES), "layers": [ann.annotation_layer("points", st.dimensions_for(SCALES), points, "seg", "#ff0")]}
    state = json.loads(json.dumps(state))  # what neuroglancer's JSON carries
    out = ann.frame(state, "points")
    assert list(out.columns) == ann.COLUMNS
    assert out.point.tolist() == [pytest.approx((512, 1024, 6400)), pytest.approx((0, 256, 320))]
    assert out.segments.tolist() == [[BIG], [BIG + 2]]
    assert all(type(i) is int for i in out.segments[0])
    assert out.type.tolist() == ["point", "point"]


def test_split_xyz_columns_and_lines_with_several_segment_columns():
    df = pd.DataFrame({"pre_x": [512], "pre_y": [512], "pre_z": [640], "post_pt_position": [(1024, 1024, 1280)], "a": [BIG], "b": [str(BIG + 1)]})
    lines = ann.lines_from_frame(df, SCALES, a="pre", b="post_pt_position", segment=["a", "b"])
    assert lines[0]["pointA"] == [1, 1, 1] and lines[0]["pointB"] == [2, 2, 2]
    assert lines[0]["segments"] == [[str(BIG), str(BIG + 1)]]
    state = {"layers": [ann.annotation_layer("l", st.dimensions_for(SCALES), lines)]}
    row = ann.rows(state, "l")[0]
    assert row["point"] == pytest.approx((512, 512, 640)) and row["point_b"] == pytest.approx((1024, 1024, 1280))


def test_layer_coordinates_come_from_the_annotation_source_dimensions():
    # an annotation layer drawn in the browser in 4 nm voxels while the viewer is in 512 nm
    layer = ann.annotation_layer("p", st.dimensions_for([4, 4, 40]), [{"type": "point", "id": "x", "point": [10, 20, 3], "tagIds": [1]}])
    layer["annotationProperties"] = [{"id": 1, "label": "soma"}]
    state = {"dimensions": st.dimensions_for(SCALES), "layers": [layer]}
    row = ann.rows(state, "p")[0]
    assert row["point"] == pytest.approx((40, 80, 120)) and row["tags"] == ["soma"] and row["segments"] == []


def test_bad_input_gives_clear_errors_naming_the_row():
    with pytest.raises(ValueError, match="no position column 'pt_position'.*has: where"):
        ann.points_from_frame(pd.DataFrame({"where": [1]}), SCALES)
    df = pd.DataFrame({"pt_position": [[1, 2, 3], [1, np.nan, 3]], "pt_root_id": [1, 2]}, index=["ok", "bad"])
    with pytest.raises(ValueError, match="row 'bad'.*NaN"):
        ann.points_from_frame(df, SCALES)
    with pytest.raises(ValueError, match="row 0.*3 coordinates"):
        ann.points_from_frame(pd.DataFrame({"pt_position": [[1, 2]]}), SCALES)
    with pytest.raises(ValueError, match="row 0.*float"):
        ann.points_from_frame(pd.DataFrame({"pt_position": [[1, 2, 3]], "pt_root_id": [float(BIG)]}), SCALES)
    with pytest.raises(ValueError, match="no segment column 'root'"):
        ann.points_from_frame(pd.DataFrame({"pt_position": [[1, 2, 3]]}), SCALES, segment="root")
    with pytest.raises(ValueError, match="no annotation layer 'nope'"):
        ann.rows({"layers": []}, "nope")
    with pytest.raises(ValueError, match="not an annotation layer"):
        ann.rows({"layers": [{"name": "seg", "type": "segmentation"}]}, "seg")


def test_diff_reports_added_removed_changed():
    a = {"p": {"1": "x", "2": "y"}}
    b = {"p": {"2": "z", "3": "w"}, "q": {}}
    assert ann.diff(a, b) == [{"layer": "p", "added": ["3"], "removed": ["1"], "changed": ["2"]}]


def test_viewer_add_points_lines_annotations_and_events():
    import cavewidgets

    client = cavewidgets.sample.client()
    v = cavewidgets.Viewer(client, height=400)
    events = []
    v.on_annotation(events.append)
    try:
        df = pd.DataFrame({"pt_position": [[5120, 5120, 6400]], "pt_root_id": [BIG]})
        ids = v.add_points(df, color="#ff0000")
        layer = next(l for l in v.state["layers"] if l["name"] == "points")
        assert layer["annotations"][0]["segments"] == [[str(BIG)]]
        assert layer["annotations"][0]["point"] == pytest.approx([10, 10, 10])
        assert layer["linkedSegmentationLayer"] == {"segments": "seg"} and layer["annotationColor"] == "#ff0000"
        out = v.annotations("points")
        assert out.id.tolist() == ids and out.point[0] == pytest.approx((5120, 5120, 6400)) and out.segments[0] == [BIG]
        v.add_points(pd.DataFrame({"p_x": [0], "p_y": [0], "p_z": [0]}), position="p")  # appends
        assert len(v.annotations("points")) == 2
        v.add_lines(pd.DataFrame({"pre_pt_position": [[0, 0, 0]], "post_pt_position": [[512, 512, 640]]}))
        assert v.annotations("lines").point_b[0] == pytest.approx((512, 512, 640))
        assert [(e["layer"], len(e["added"]), e["from_browser"]) for e in events] == [("points", 1, False), ("points", 1, False), ("lines", 1, False)]
        with pytest.raises(ValueError, match="row 0"):
            v.add_points(pd.DataFrame({"pt_position": [[np.nan, 0, 0]]}))
        assert len(v.annotations("points")) == 2  # nothing half-added
    finally:
        v.close()


def test_arm_tool_creates_selects_and_disarms():
    s = {"dimensions": st.dimensions_for(SCALES), "layers": [{"name": "seg", "type": "segmentation"}]}
    ann.arm_tool(s, "clicks", "line", "seg")
    layer = ann.find_annotation_layer(s, "clicks")
    assert layer["tool"] == "annotateLine" and layer["annotations"] == [] and layer["linkedSegmentationLayer"] == {"segments": "seg"}
    assert s["selectedLayer"] == {"layer": "clicks", "visible": True}
    ann.arm_tool(s, "clicks", None)
    assert "tool" not in layer
    with pytest.raises(ValueError, match="unknown annotation tool"):
        ann.arm_tool(s, "clicks", "lasso")
    with pytest.raises(ValueError, match="not an annotation layer"):
        ann.arm_tool(s, "seg", "point")

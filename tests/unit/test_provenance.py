"""Provenance log, result hashing and the export bundle, without a service.

``record_query`` only reads ``datastack_name``/``server_address`` from the client it is given,
so a plain namespace stands in for a client here; everything that talks to CAVE is in
tests/service/test_provenance_*.py and test_export_*.py.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

from cavewidgets import reproducible
from cavewidgets.reproducible import export, frame_hash, provenance, record_fetch, record_query, row_hashes
from cavewidgets.reproducible.bundle import write_result_parquet

BIG = 864691135808684573  # > 2**53: a float64 detour would change it
CLIENT = types.SimpleNamespace(datastack_name="minnie65_sample", server_address="http://127.0.0.1:1")


@pytest.fixture(autouse=True)
def empty_log():
    reproducible.clear()
    yield
    reproducible.clear()


def synapse_like(n=50, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "pre_pt_root_id": (BIG + rng.integers(0, 5, n)).astype(np.uint64),
        "post_pt_root_id": (BIG + rng.integers(5, 10, n)).astype(np.int64),
        "size": rng.integers(10, 5000, n),
        "ctr_pt_position": [rng.integers(0, 1000, 3) for _ in range(n)],
        "created": pd.date_range("2025-01-06", periods=n, freq="h", tz="UTC"),
        "superceded_id": np.nan,
        "cell_type": pd.Categorical(rng.choice(["23P", "BC", "MC"], n)),
    })


# ---------------------------------------------------------------- hashing


def test_hash_ignores_row_column_order_and_index():
    df = synapse_like()
    shuffled = df.sample(frac=1, random_state=3)[df.columns[::-1]]
    assert frame_hash(df) == frame_hash(shuffled)
    assert frame_hash(df) == frame_hash(df.set_axis(np.arange(len(df)) * 7))
    assert frame_hash(df) == frame_hash(synapse_like())  # same content built twice


def test_hash_sees_one_unit_in_a_uint64_id_and_any_value():
    df = synapse_like()
    changed = df.copy()
    changed.loc[3, "pre_pt_root_id"] = np.uint64(int(df.loc[3, "pre_pt_root_id"]) + 1)
    assert float(df.loc[3, "pre_pt_root_id"]) == float(changed.loc[3, "pre_pt_root_id"])  # float can't tell
    assert frame_hash(df) != frame_hash(changed)
    moved = df.copy()
    moved.at[4, "ctr_pt_position"] = df.at[4, "ctr_pt_position"] + np.array([0, 0, 1])
    assert frame_hash(df) != frame_hash(moved)
    assert frame_hash(df) != frame_hash(df.iloc[:-1])
    assert frame_hash(df) != frame_hash(df.rename(columns={"size": "size2"}))
    assert frame_hash(df) != frame_hash(pd.concat([df, df.iloc[:1]]))  # a duplicated row counts


def test_hash_is_value_based_across_representations():
    ids = np.array([BIG, BIG + 1], dtype=np.uint64)
    assert frame_hash(pd.DataFrame({"a": ids})) == frame_hash(pd.DataFrame({"a": ids.astype(np.int64)}))
    as_arrays = pd.DataFrame({"p": [np.array([1, 2, 3]), np.array([4, 5, 6])]})
    as_lists = pd.DataFrame({"p": [[1, 2, 3], [4, 5, 6]]})
    assert frame_hash(as_arrays) == frame_hash(as_lists)
    assert frame_hash(pd.DataFrame({"f": [0.0, np.nan]})) == frame_hash(pd.DataFrame({"f": [-0.0, float("nan")]}))
    naive = pd.DataFrame({"t": pd.to_datetime(["2025-01-06 12:00"])})
    aware = pd.DataFrame({"t": pd.to_datetime(["2025-01-06 13:00"]).tz_localize("Europe/Berlin")})
    assert frame_hash(naive) == frame_hash(aware)  # naive is taken as UTC
    assert frame_hash(pd.DataFrame({"o": [1, None]})) != frame_hash(pd.DataFrame({"o": ["1", None]}))
    assert row_hashes(as_lists).dtype == np.uint64 and len(row_hashes(as_lists)) == 2


def weird_frame() -> pd.DataFrame:
    df = pd.DataFrame({
        "nullable": pd.array([1, None, 3], dtype="Int64"),
        "complex": np.array([1 + 2j, 0j, -1j]),
        "mixed": [1, "one", None],
        "dicts": [{"a": 1}, {}, {"b": [1, 2]}],
        "bytes": [b"\x00\x01", b"", b"z"],
        "sets": [{1, 2}, set(), {3}],
        "span": pd.to_timedelta([1, 2, 3], unit="s"),
        "period": pd.period_range("2025-01", periods=3, freq="M"),
        "text": pd.array(["a", None, "c"], dtype="string"),
        "ragged": [[1, 2], [3], []],
        "empty_vec": [np.array([]), np.array([]), np.array([])],
    })
    df[7] = [BIG, BIG + 1, BIG + 2]  # a non-string column label
    return df


def test_weird_dtypes_hash_deterministically():
    df = weird_frame()
    assert frame_hash(df) == frame_hash(weird_frame())
    assert frame_hash(df) == frame_hash(df.iloc[::-1])
    other = weird_frame()
    other.at[1, "dicts"] = {"c": 1}
    assert frame_hash(df) != frame_hash(other)
    assert frame_hash(pd.DataFrame()) == frame_hash(pd.DataFrame())
    assert frame_hash(pd.DataFrame({"a": []})) != frame_hash(pd.DataFrame({"b": []}))


# ---------------------------------------------------------------- parquet


def test_parquet_round_trip_is_exact_for_query_shaped_frames(tmp_path):
    df = synapse_like()
    df["valid_id"] = np.array([2**64 - 1] * len(df), dtype=np.uint64)  # the largest uint64
    info = write_result_parquet(df, tmp_path / "r.parquet")
    assert info["parquet_roundtrip_exact"] and not info["stringified_columns"]
    back = pd.read_parquet(tmp_path / "r.parquet")
    assert back["valid_id"].dtype == np.uint64 and int(back["valid_id"].iloc[0]) == 2**64 - 1
    assert back["pre_pt_root_id"].dtype == np.uint64
    assert back["pre_pt_root_id"].tolist() == df["pre_pt_root_id"].tolist()
    assert [list(p) for p in back["ctr_pt_position"]] == [list(p) for p in df["ctr_pt_position"]]
    assert frame_hash(back) == frame_hash(df)


def test_parquet_of_weird_dtypes_says_what_it_changed(tmp_path):
    info = write_result_parquet(weird_frame(), tmp_path / "w.parquet")
    assert set(info["stringified_columns"]) >= {"complex", "mixed"}
    assert info["renamed_columns"] == {"7": "7"}
    assert info["parquet_roundtrip_exact"] is False
    back = pd.read_parquet(tmp_path / "w.parquet")
    assert json.loads(back["complex"].iloc[0]) == {"__complex__": [1.0, 2.0]}
    assert back["nullable"].dtype == "Int64" and back["7"].tolist() == [BIG, BIG + 1, BIG + 2]


# ---------------------------------------------------------------- recording API


def test_record_query_resolves_fields_and_provenance_columns():
    df = synapse_like()
    ts = dt.datetime(2025, 2, 1, 12, tzinfo=dt.timezone.utc)
    rec = record_query(CLIENT, method="live_query", table="synapses_pni_2", result=df, timestamp=ts,
                       params={"filter_in_dict": {"pre_pt_root_id": np.array([BIG], dtype=np.uint64)},
                               "select_columns": ["id", "size"], "auth_token": "SECRET-TOKEN-123"})
    assert rec.replayable and rec.version is None and rec.timestamp == ts
    assert "auth_token" not in rec.params  # never keep anything that looks like a credential
    assert rec.params["filter_in_dict"]["pre_pt_root_id"] == [BIG]
    fetch = record_fetch(CLIENT, kind="skeleton", root_id=np.uint64(BIG))
    log = provenance()
    assert list(log.index) == [rec.n, fetch.n]
    row = log.loc[rec.n]
    assert row["table"] == "synapses_pni_2" and row["n_rows"] == len(df) and row["result_hash"] == frame_hash(df)
    assert row["filters"] == {"filter_in_dict": {"pre_pt_root_id": [BIG]}}
    assert row["select_columns"] == ["id", "size"] and bool(row["result_kept"])
    assert str(log["timestamp"].dtype) == "datetime64[ns, UTC]" and pd.isna(row["version"])
    assert log.loc[fetch.n, "root_id"] == BIG and log.loc[fetch.n, "kind"] == "fetch"
    assert provenance(source="nope").empty and list(provenance(source="nope").columns) == list(log.columns)


def test_same_result_object_is_recorded_once():
    df = synapse_like()
    first = record_query(CLIENT, method="query_table", table="t", result=df, version=2)
    again = record_query(CLIENT, method="query_table", table="t", result=df, version=2, source="explorer")
    assert again is first and len(provenance()) == 1
    record_query(CLIENT, method="query_table", table="t", result=df.copy(), version=2)
    assert len(provenance()) == 2


def test_log_txn_holds_new_records_back_until_it_ends():
    import threading

    from cavewidgets.reproducible.log import LOG

    done = threading.Event()
    with LOG.txn() as log:
        log.tags = ("paper_a", "fig1")
        worker = threading.Thread(target=lambda: (record_query(CLIENT, method="query_table", table="t",
                                                               version=1), done.set()))
        worker.start()
        assert not done.wait(0.3), "a record was added while the log was held"
        log.tags = ("paper_b", "fig2")
    worker.join(10)
    LOG.tags = None
    assert done.is_set() and (LOG.records[-1].paper, LOG.records[-1].analysis) == ("paper_b", "fig2")
    reproducible.record_posted_annotations(CLIENT, "t", [BIG])
    entries = LOG.posted_entries()
    entries[0]["ids"] = []  # a copy: the log keeps its own
    assert [str(i) for i in LOG.posted_entries()[0]["ids"]] == [str(BIG)]


def test_recording_api_rejects_bad_input():
    with pytest.raises(ValueError, match="method"):
        record_query(CLIENT, method="")
    with pytest.raises(TypeError, match="params"):
        record_query(CLIENT, method="query_table", table="t", params=[1, 2])
    with pytest.raises(ValueError, match="not both"):
        record_query(CLIENT, method="query_table", table="t", version=1, timestamp=dt.datetime.now())
    with pytest.raises(TypeError, match="root id"):
        record_fetch(CLIENT, kind="mesh", root_id="864691135808684573x")
    with pytest.raises(TypeError, match="root id"):
        record_fetch(CLIENT, kind="mesh", root_id=float(BIG))
    with pytest.raises(ValueError, match="table"):
        reproducible.record_posted_annotations(CLIENT, "", [1])
    rec = record_query(CLIENT, method="query_table", table="t", params={"filter": object()}, version=1)
    assert not rec.replayable and "cannot be stored" in rec.replay_problem
    assert not record_query(CLIENT, method="live_query", table="t", version=1).replayable  # no timestamp


def test_kept_results_are_bounded(monkeypatch):
    from cavewidgets.reproducible import log

    monkeypatch.setattr(log, "MAX_KEPT_RESULTS", 3)
    frames = [synapse_like(seed=i) for i in range(5)]
    for f in frames:
        record_query(CLIENT, method="dataframe", result=f)
    kept = provenance()["result_kept"].tolist()
    assert kept == [False, False, True, True, True]
    assert log.LOG.records[-1].result is frames[-1]  # a reference, not a copy


# ---------------------------------------------------------------- export (hostile input)


def test_export_refuses_bad_targets_and_empty_logs(tmp_path):
    with pytest.raises(ValueError, match="no query has been recorded"):
        export(tmp_path / "none")
    assert not (tmp_path / "none").exists()
    record_query(CLIENT, method="dataframe", result=synapse_like())
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    with pytest.raises(NotADirectoryError, match="is a file"):
        export(a_file)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        export(tmp_path / "busy")
    with pytest.raises(FileExistsError, match="not a cavewidgets export"):
        export(tmp_path / "busy", overwrite=True)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine" and a_file.read_text() == "keep me"
    with pytest.raises(KeyError, match="no recorded query"):
        export(tmp_path / "x", queries=[5])
    with pytest.raises(TypeError, match="record numbers or record ids"):
        export(tmp_path / "x", queries=[True])
    with pytest.raises(TypeError, match="viewer"):
        export(tmp_path / "x", viewer=42)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "file.txt"]  # nothing half-written


def test_export_of_weird_handed_in_frames_and_overwrite(tmp_path):
    record_query(CLIENT, method="dataframe", result=weird_frame(), source="explorer")
    rec = record_query(CLIENT, method="query_table", table="synapses_pni_2", result=synapse_like(), version=2)
    viewer = types.SimpleNamespace(state={"layers": [{"type": "segmentation", "segments": [str(BIG)]}]})
    out = export(tmp_path / "bundle", viewer=viewer)
    manifest = json.loads((out / "manifest.json").read_text())
    weird, synapses = manifest["queries"]
    assert weird["replay"] is None and weird["stringified_columns"]
    assert synapses["replay"]["kwargs"]["materialization_version"] == 2
    assert synapses["replay"]["kwargs"]["table"] == "synapses_pni_2" and synapses["parquet_roundtrip_exact"]
    assert json.loads((out / "viewer_state.json").read_text())["layers"][0]["segments"] == [str(BIG)]
    assert manifest["packages"]["pandas"] == pd.__version__
    compile((out / "reproduce.py").read_text(), "reproduce.py", "exec")
    # narrowing by record id, and replacing an earlier bundle
    export(out, queries=[rec.record_id], overwrite=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [q["record_id"] for q in manifest["queries"]] == [rec.record_id]
    assert len(list((out / "queries").glob("*.parquet"))) == 1 and not (out / "viewer_state.json").exists()


def test_result_changed_in_place_is_flagged(tmp_path):
    df = synapse_like()
    record_query(CLIENT, method="query_table", table="t", result=df, version=1)
    df.loc[0, "size"] = -1
    with pytest.warns(UserWarning, match="changed in place"):
        out = export(tmp_path / "b")
    assert json.loads((out / "manifest.json").read_text())["queries"][0]["result_modified_after_query"]


def test_reproduce_script_runs_without_cavewidgets_on_the_path(tmp_path):
    """The bundle's script embeds the hashing code: it must not import cavewidgets."""
    record_query(CLIENT, method="dataframe", result=synapse_like())
    out = export(tmp_path / "b")
    code = ("import sys, builtins\n"
            "real = builtins.__import__\n"
            "def guard(name, *a, **k):\n"
            "    if name.startswith('cavewidgets'): raise ImportError('cavewidgets must not be needed')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = guard\n"
            f"sys.argv = ['reproduce.py']\n"
            f"exec(compile(open({str(out / 'reproduce.py')!r}).read(), 'reproduce.py', 'exec'), "
            "{'__name__': '__main__', '__file__': " + repr(str(out / "reproduce.py")) + "})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[SKIP ]" in proc.stdout and "0 identical, 0 differ, 0 failed, 1 not re-run" in proc.stdout

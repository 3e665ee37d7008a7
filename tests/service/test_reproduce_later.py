"""A sample bundle re-runs later, in a new shell: no token in the environment, its service gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

import cavewidgets
from cavewidgets import reproducible
from cavewidgets.sample import client as sample_client_for
from cavewidgets.sample import serve

pytestmark = [pytest.mark.service, pytest.mark.usefixtures("isolated_export_log")]

PAPER = "later"


def new_shell_env(home, keep_path=True):
    """The environment of a user's new shell: another HOME, no token.

    ``keep_path``: keep ``PYTHONPATH`` (the checkout under test); a fresh venv must use its own.
    """
    drop = ("CAVE_TOKEN", "CLOUD_VOLUME_DIR") + (() if keep_path else ("PYTHONPATH",))
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["HOME"] = str(home)
    return env


def run_reproduce(bundle, home, python=sys.executable, timeout=300):
    env = new_shell_env(home, keep_path=python == sys.executable)
    return subprocess.run([python, "reproduce.py"], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=bundle)


def sample_bundle(tmp_path):
    """Export a paper made on a service of this process, then stop that service.

    Returns the bundle, the user table the paper queried and a position to post a late row at.
    """
    work = tmp_path / "work"
    handle = serve(work_dir=work)
    try:
        client = sample_client_for(service=handle)
        table = f"later_tags_{uuid.uuid4().hex[:8]}"
        res = client.materialize.get_table_metadata("nucleus_detection_v0")["voxel_resolution"]
        client.annotation.create_table(table, "bound_tag", "reproduce-later test tags", res)
        nuclei = client.materialize.query_table("nucleus_detection_v0", limit=2)
        positions = [list(map(int, p)) for p in nuclei["pt_position"]]
        client.annotation.post_annotation(table, [{"pt": {"position": positions[0]}, "tag": "a"}])
        tracked = cavewidgets.track(client)
        with cavewidgets.start_export(paper=PAPER, analysis="fig1"):
            tracked.materialize.query_table(table)
            tracked.materialize.query_table("nucleus_detection_v0", limit=5)
        bundle = cavewidgets.export(tmp_path / "bundle", paper=PAPER, client=client)
    finally:
        handle.stop()
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["sample_services"] == {handle.url: {
        "kind": "cavewidgets.sample", "datastack": handle.datastack,
        "data_dir": str(handle.data_dir.resolve()), "work_dir": str(work.resolve()), "more_datastacks": []}}
    return bundle, manifest, table, positions[1], work


def test_sample_bundle_reproduces_in_a_new_shell_after_its_service_is_gone(tmp_path):
    bundle, manifest, table, late_position, work = sample_bundle(tmp_path)
    home = tmp_path / "home"
    home.mkdir()

    proc = run_reproduce(bundle, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 identical, 0 differ, 0 failed" in proc.stdout
    assert "started the cavewidgets sample service at http://127.0.0.1:" in proc.stdout
    # the token went where caveclient looks, and is gone again with the service
    assert not list((home / ".cloudvolume" / "secrets").glob("*"))

    # the sample's table gains a row (through a service on the same work directory)
    with serve(work_dir=work) as later:
        sample_client_for(service=later).annotation.post_annotation(
            table, [{"pt": {"position": late_position}, "tag": "late"}])
    proc = run_reproduce(bundle, home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    n = next(q["n"] for q in manifest["queries"] if q["table"] == table)
    assert f"Differ: #{n} {table}" in proc.stdout
    assert "1 rows recorded, 2 now (+1 -0 rows)" in proc.stdout


def test_a_running_sample_with_a_saved_token_is_found(tmp_path, monkeypatch):
    """The recorded service still runs and saved its token: reproduce.py uses it, starts nothing."""
    from cavewidgets.sample.generator import ensure_built

    data_dir = ensure_built()  # the cached sample, found before HOME moves
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # save_token writes under this process's HOME
    monkeypatch.delenv("CLOUD_VOLUME_DIR", raising=False)
    with serve(data_dir=data_dir, work_dir=tmp_path / "work", save_token=True) as handle:
        tracked = cavewidgets.track(sample_client_for(service=handle))
        tracked.materialize.query_table("nucleus_detection_v0", limit=3)
        bundle = cavewidgets.export(tmp_path / "bundle")
        assert json.loads((bundle / "manifest.json").read_text())["sample_services"][handle.url]["work_dir"]
        proc = run_reproduce(bundle, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 identical, 0 differ" in proc.stdout and "started" not in proc.stdout


def test_a_bundle_of_another_server_is_not_taken_for_the_sample(sample_service):
    assert reproducible.bundle.sample_services([{"server": "https://minnie.microns-daf.com",
                                                  "datastack": "minnie65_sample"}]) == {}
    assert cavewidgets.sample.service_record("http://127.0.0.1:1", "minnie65_public") is None
    assert cavewidgets.sample.service_record("http://127.0.0.1:1", "minnie65_sample")["work_dir"] is None


def source_tree():
    """The checkout cavewidgets is imported from (None when it is an installed wheel)."""
    from pathlib import Path

    root = Path(cavewidgets.__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


@pytest.mark.venv
@pytest.mark.skipif(source_tree() is None, reason="needs a source checkout to build the cavewidgets wheel")
def test_sample_bundle_reproduces_in_a_fresh_virtual_environment(tmp_path):
    """``pip install -r requirements.txt`` in a new venv, then ``python reproduce.py`` there: exit 0.

    cavewidgets is on no index: its wheel is built from this checkout and found with
    ``--find-links``, as docs/how-to/paper-exports.md tells a reader to do.
    """
    bundle, _, _, _, _ = sample_bundle(tmp_path)
    wheels, env = tmp_path / "wheels", tmp_path / "env"

    def run(*cmd, timeout=900):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=bundle,
                              env=new_shell_env(tmp_path / "home", keep_path=False))
        assert proc.returncode == 0, " ".join(map(str, cmd)) + "\n" + proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    (tmp_path / "home").mkdir()
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source_tree()))
    run(sys.executable, "-m", "venv", str(env))
    python = str(env / "bin" / "python")
    # the pinned set is complete (every requirement of every pin is pinned): --no-deps skips the
    # resolver; pip check proves the set complete; --no-compile skips byte-compiling ~1 GB
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--prefer-binary",
        "--find-links", str(wheels), "-r", "requirements.txt")
    run(python, "-m", "pip", "check")
    where = run(python, "-c", "import cavewidgets, caveclient; print(cavewidgets.__file__, caveclient.__file__)")
    assert all(path.startswith(str(env)) for path in where.stdout.split()), where.stdout
    # the wheel also enables the server extension (kernel websockets without Nagle's delay)
    switch = env / "etc" / "jupyter" / "jupyter_server_config.d" / "cavewidgets.json"
    assert json.loads(switch.read_text())["ServerApp"]["jpserver_extensions"] == {"cavewidgets": True}

    proc = run_reproduce(bundle, tmp_path / "home", python=python)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 identical, 0 differ, 0 failed" in proc.stdout

"""The tutorials' bare ``CloudVolume(client.info.segmentation_source(), use_https=True)`` on the sample.

On MICrONS it works because the user saved a token (``~/.cloudvolume/secrets/cave-secret.json``);
on the sample the token is the service's own, found per host, never in the user's files. The
cross-process case runs in subprocesses with a temporary HOME: nothing here touches the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np


def test_bare_cloudvolume_finds_the_sample_token_in_process(sample_service, sample_client):
    from cloudvolume import CloudVolume
    from cloudvolume.secrets import cave_credentials

    cv = CloudVolume(sample_client.info.segmentation_source(), use_https=True, progress=False)
    nuc = sample_client.materialize.query_table("nucleus_detection_v0")
    root = int(nuc["pt_root_id"][nuc["pt_root_id"] > 0].iloc[0])
    mesh = cv.mesh.get(root)[root]
    assert len(mesh.vertices) > 0 and np.isfinite(mesh.vertices).all()
    # the token is the sample host's only: other hosts see what the user saved (or nothing)
    assert cave_credentials("minnie.microns-daf.com") != {"token": sample_service.token}


_CHILD = textwrap.dedent("""
    import json, os, subprocess, sys
    from pathlib import Path
    from cavewidgets.sample import serve
    from cavewidgets.sample.credentials import token_file

    home = Path(os.environ["HOME"])
    user = home / ".cloudvolume" / "secrets" / "cave-secret.json"
    handle = serve(data_dir=sys.argv[1], work_dir=sys.argv[2], save_token=True)
    path = token_file(handle.url)
    saved = json.loads(path.read_text())
    grandchild = (
        "import sys; from caveclient import CAVEclient; from cloudvolume import CloudVolume\\n"
        "c = CAVEclient(sys.argv[1], server_address=sys.argv[2], auth_token=sys.argv[3], write_server_cache=False)\\n"
        "cv = CloudVolume(c.info.segmentation_source(), use_https=True, progress=False)\\n"
        "print(cv.info['graph']['chunk_size'])\\n")
    run = subprocess.run([sys.executable, "-c", grandchild, handle.datastack, handle.url, handle.token],
                         capture_output=True, text=True, timeout=300)
    handle.stop()
    print(json.dumps({"saved_token_ok": saved.get("token") == handle.token, "name": path.name,
                      "cv_rc": run.returncode, "cv_err": run.stderr[-800:],
                      "removed": not path.exists(), "user_file": user.read_text()}))
""")


def test_other_processes_find_it_in_a_per_server_file_and_the_users_token_is_untouched(sample_service, tmp_path):
    home = tmp_path / "home"
    secrets = home / ".cloudvolume" / "secrets"
    secrets.mkdir(parents=True)
    user_secret = json.dumps({"token": "f" * 32})  # the user's token for real datastacks
    (secrets / "cave-secret.json").write_text(user_secret)
    env = {k: v for k, v in os.environ.items() if k != "CLOUD_VOLUME_DIR"}
    env["HOME"] = str(home)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(sample_service.data_dir), str(tmp_path / "work")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["cv_rc"] == 0, report["cv_err"]
    assert report["saved_token_ok"] and report["name"].startswith("127.0.0.1:")
    assert report["name"].endswith("-cave-secret.json") and report["removed"]
    assert report["user_file"] == user_secret

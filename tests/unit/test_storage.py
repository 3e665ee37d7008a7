"""The one storage home: atomic writes leave the old file or the new one, never a temp file."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from cavewidgets._storage import atomic_write, data_dir, file_lock, safe_name


def test_atomic_write_replaces_text_and_bytes(tmp_path):
    path = tmp_path / "a.json"
    atomic_write(path, "first\n")
    atomic_write(path, "second ✓\n")
    assert path.read_text(encoding="utf-8") == "second ✓\n"
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # tokens and drafts are the user's alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


class _Boom:
    """Not str or bytes-encodable half way: the write fails after the temp file exists."""

    def encode(self, _encoding):
        raise RuntimeError("disk full")


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path):
    path = tmp_path / "a.json"
    atomic_write(path, "old")
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, _Boom())  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_safe_name_and_data_dir(tmp_path, monkeypatch):
    assert safe_name("minnie65 public/v1") == "minnie65_public_v1"
    with pytest.raises(ValueError, match="cannot make a file name"):
        safe_name("../")
    monkeypatch.setenv("CAVEWIDGETS_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path


def _hold(path: str, seconds: float, started) -> None:
    with file_lock(Path(path)):
        started.set()
        time.sleep(seconds)


@pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")
def test_file_lock_excludes_another_process(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Event()
    child = ctx.Process(target=_hold, args=(str(tmp_path / "x.json"), 1.0, started))
    child.start()
    try:
        assert started.wait(60)
        t = time.perf_counter()
        with file_lock(tmp_path / "x.json"):
            waited = time.perf_counter() - t
    finally:
        child.join(60)
    assert waited > 0.5, f"the lock was taken after {waited:.2f} s while another process held it"

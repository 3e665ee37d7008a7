"""User-data storage in one place: where it lives, safe file names, locks and atomic writes.

Drafts (``posting``), review decisions (``review``), paper logs (``reproducible``), SWC files
(``morphology``), the sample's build lock and token file all go through these helpers, so a
crash never leaves a half-written file and two kernels on one machine never interleave writes.

Example::

    path = data_dir() / "drafts" / safe_name("minnie65 sample") / "_unassigned.json"
    with file_lock(path):
        atomic_write(path, '{"format": 1, "drafts": []}\\n')
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# One kernel's threads wait on this before the advisory lock: flock does not exclude
# threads that share a process, and the lock is re-entrant for nested helpers.
_THREAD_LOCK = threading.RLock()


def data_dir() -> Path:
    """Where cavewidgets keeps user data (``$CAVEWIDGETS_DATA_DIR`` or the platform's user data dir).

    Example::

        data_dir() / "drafts"
    """
    env = os.environ.get("CAVEWIDGETS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("cavewidgets"))


def safe_name(name: str) -> str:
    """``name`` as a file name: runs of other characters become ``_``; raises ``ValueError`` if nothing is left.

    Example::

        safe_name("minnie65 public/v1")   # 'minnie65_public_v1'
    """
    text = _UNSAFE.sub("_", str(name)).strip("._")
    if not text:
        raise ValueError(f"cannot make a file name from {name!r}")
    return text[:120]


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on the file ``lock_path`` (``flock``; ``msvcrt`` on Windows).

    Threads of one process are not excluded from each other: use :func:`file_lock` for that.

    Example::

        with exclusive_lock(Path("/tmp/sample.lock")):
            ...  # only one process builds at a time
    """
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: msvcrt locks a byte range and gives up after ~10 s
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.5)
            yield  # closing the handle releases the lock
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold the lock of ``path``'s folder (a ``.lock`` file there) against other threads and processes.

    Example::

        with file_lock(store.path):
            drafts = read(store.path); write(store.path, drafts + new)
    """
    with _THREAD_LOCK:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(path.parent / ".lock"):
            yield


def atomic_write(path, data: str | bytes, *, prefix: str = ".tmp-") -> None:
    """Replace ``path`` with ``data`` all at once: a temporary file in the same folder, fsync, ``os.replace``.

    Readers see the old file or the new one, never half of it; on any failure the temporary
    file is removed and ``path`` is untouched. The file is created owner-only (``0o600``).

    Example::

        atomic_write(data_dir() / "reviews" / "q.json", json.dumps(decisions))
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data if isinstance(data, bytes) else data.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def output_dir(path, *, overwrite: bool, names: str = "save()") -> Path:
    """``path`` as a directory to write an export or a report into: refused if it is a file, or
    a non-empty directory unless ``overwrite`` (``names`` says which argument, for the message).
    Not created here (some writers build a sibling first and move it in).

    Example::

        target = output_dir("flat", overwrite=False, names="out=")
    """
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} is a file; {names} writes a directory")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(f"{target} is not empty; choose a new directory or pass overwrite=True")
    return target

"""Deterministic builder of the sample datastack ("CAVE in a box"), see ``../DATA_LAYOUT.md``.

Example::

    from cavewidgets.sample.generator import ensure_built
    data_dir = ensure_built()          # builds once into the user cache, then reuses it
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ..._storage import exclusive_lock

GENERATOR_VERSION = "1"
ENV_DIR = "CAVEWIDGETS_SAMPLE_DIR"
_T0 = datetime(2025, 1, 6, tzinfo=timezone.utc)  # initial segmentation; fixed so builds are identical


def default_data_dir(scale: str = "full") -> Path:
    """Where the sample lives: ``$CAVEWIDGETS_SAMPLE_DIR`` or the user cache dir, per version.

    The fly-shaped datastack (``scale="fly"``) has its own directory beside the default one.

    Example: ``default_data_dir()`` -> ``~/.cache/cavewidgets/sample/1``;
    ``default_data_dir("fly")`` -> ``~/.cache/cavewidgets/sample/fly-1``
    """
    env = os.environ.get(ENV_DIR)
    if env:
        base = Path(env)
        return base.with_name(f"{base.name}-fly") if scale == "fly" else base
    import platformdirs

    name = f"fly-{GENERATOR_VERSION}" if scale == "fly" else GENERATOR_VERSION
    return Path(platformdirs.user_cache_dir("cavewidgets")) / "sample" / name


def is_built(out_dir: Path, scale: str | None = None) -> bool:
    """True when ``out_dir`` holds a finished build of this generator version (and ``scale``).

    Example: ``is_built(default_data_dir())``
    """
    marker = Path(out_dir) / "COMPLETE"
    if not marker.exists():
        return False
    try:
        info = json.loads(marker.read_text())
    except ValueError:
        return False
    return info.get("generator_version") == GENERATOR_VERSION and scale in (None, info.get("scale"))


def build(out_dir=None, *, force: bool = False, progress: bool = True, scale: str = "full") -> Path:
    """Build the sample into ``out_dir`` (default :func:`default_data_dir`); returns the path.

    Everything is written into a temporary directory beside ``out_dir`` that is renamed into
    place at the end, ``COMPLETE`` last, so a crash never leaves a half-built sample behind.

    Example::

        build("/tmp/sample", scale="tiny", force=True)
    """
    from .build import build_into

    out_dir = Path(out_dir) if out_dir is not None else default_data_dir(scale)
    if is_built(out_dir, scale) and not force:
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        t = time.perf_counter()
        timings = build_into(tmp, scale=scale, progress=progress, t0=_T0, version=GENERATOR_VERSION)
        complete = {"generator_version": GENERATOR_VERSION, "scale": scale,
                    "build_seconds": round(time.perf_counter() - t, 1), "step_seconds": timings}
        (tmp / "COMPLETE").write_text(json.dumps(complete))
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def ensure_built(out_dir=None, progress: bool = True, scale: str = "full") -> Path:
    """The sample directory, built first if missing or from another generator version.

    Safe when several processes call it at once: they take a lock file beside the directory
    and the later ones find the finished build.

    Example::

        data_dir = ensure_built()
    """
    out_dir = Path(out_dir) if out_dir is not None else default_data_dir(scale)
    if is_built(out_dir, scale):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir.with_name(f".{out_dir.name}.lock")):
        if not is_built(out_dir, scale):
            build(out_dir, force=True, progress=progress, scale=scale)
    return out_dir


__all__ = ["GENERATOR_VERSION", "default_data_dir", "build", "ensure_built", "is_built"]

"""The sample service's token, found by cloud-volume the way a saved CAVE token is found.

A MICrONS user saves a token once (``client.auth.save_token``) and the tutorials' bare
``CloudVolume(client.info.segmentation_source(), use_https=True)`` then works: cloud-volume's
graphene source asks ``cloudvolume.secrets.cave_credentials(fqdn)``, which reads
``~/.cloudvolume/secrets/<host>-cave-secret.json`` first, then ``cave-secret.json``.

The sample's host is ``127.0.0.1:<port>``, so its token belongs under that host's own name and
never in ``cave-secret.json`` (which holds the user's token for real datastacks):

- :func:`share_with_cloudvolume` puts it in cloud-volume's per-host credential cache of this
  process (nothing on disk: the token changes with every service);
- :func:`save_token_file` writes the per-server file caveclient's ``save_token`` writes
  (``auth.py`` ``server_token_filename``), for a service used from other processes; it refuses
  to overwrite a file it did not write and :func:`remove_token_file` deletes it again.

Example::

    handle = cavewidgets.sample.serve()
    share_with_cloudvolume(handle.url, handle.token)
    CloudVolume(client.info.segmentation_source(), use_https=True)   # no secrets= needed
"""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

from .._storage import atomic_write

_MARK = "written by cavewidgets.sample for its local service"


def _host(url: str) -> str:
    """``127.0.0.1:8000`` for ``http://127.0.0.1:8000`` (cloud-volume's ``fqdn``, caveclient's netloc)."""
    return urllib.parse.urlparse(url).netloc


def share_with_cloudvolume(url: str, token: str) -> None:
    """Let cloud-volume in this process find ``token`` for the service at ``url`` (and only there).

    Example::

        share_with_cloudvolume("http://127.0.0.1:8000", handle.token)
    """
    from cloudvolume import secrets

    secrets.CAVE_CREDENTIALS_CACHE[_host(url)] = {"token": token}


def forget_in_cloudvolume(url: str) -> None:
    """Drop the token of ``url`` from cloud-volume's cache (a stopped service's token is void).

    Example::

        forget_in_cloudvolume(handle.url)
    """
    try:
        from cloudvolume import secrets
    except ImportError:
        return
    secrets.CAVE_CREDENTIALS_CACHE.pop(_host(url), None)


def token_file(url: str) -> Path:
    """The per-server secrets file of ``url`` (under cloud-volume's ``CLOUD_VOLUME_DIR``).

    Example::

        token_file("http://127.0.0.1:8000")   # ~/.cloudvolume/secrets/127.0.0.1:8000-cave-secret.json
    """
    base = os.environ.get("CLOUD_VOLUME_DIR") or os.path.join(os.path.expanduser("~"), ".cloudvolume")
    return Path(base) / "secrets" / f"{_host(url)}-cave-secret.json"


def save_token_file(url: str, token: str) -> Path:
    """Write the per-server secrets file of ``url`` (never ``cave-secret.json``); returns its path.

    Example::

        save_token_file(handle.url, handle.token)
    """
    path = token_file(url)
    if path.exists():
        try:
            ours = json.loads(path.read_text()).get("note") == _MARK
        except (ValueError, AttributeError):
            ours = False
        if not ours:
            raise FileExistsError(f"{path} exists and was not written by cavewidgets; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"token": token, "note": _MARK}), prefix=".token-")  # owner-only: a token
    return path


def remove_token_file(url: str) -> None:
    """Delete the per-server file of ``url`` if cavewidgets wrote it.

    Example::

        remove_token_file(handle.url)
    """
    path = token_file(url)
    try:
        if json.loads(path.read_text()).get("note") == _MARK:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass

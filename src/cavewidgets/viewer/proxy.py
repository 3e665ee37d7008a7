"""Data requests of the embedded neuroglancer that the kernel answers.

A service the kernel runs on its loopback (the sample datastack) is out of the browser's reach
on Colab, JupyterHub, Binder and VS Code remote. The front-end sends such requests over the
widget channel (``ng_fetch`` batches, :mod:`.fetching`); :class:`KernelProxy` answers them: in process, without a socket,
for a sample service running in this kernel (its Flask app), else with an HTTP request made by
the kernel. Which requests the kernel takes: loopback hosts, the origins the viewer registered,
and, with ``via_kernel=True``, every request (real CAVE included, so the token never reaches
the browser).

The token: the browser is given a placeholder for kernel-answered origins; the kernel puts the
CAVEclient's real token on the request it makes.

Example::

    proxy = KernelProxy(["http://127.0.0.1:8000"], via_kernel=False)
    meta, body = proxy.fetch("http://127.0.0.1:8000/info/version")
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Iterable
from urllib.parse import urlsplit

from . import credentials as creds
from .fetching import FETCH_THREADS

log = logging.getLogger(__name__)

#: what the browser holds instead of a token for origins the kernel answers
PLACEHOLDER_TOKEN = "cavewidgets-kernel-adds-the-token"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "te", "trailer", "upgrade", "set-cookie"}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
# accept-encoding: the kernel picks the encoding of its own fetch (requests asks for gzip and decodes;
# the in-process app then answers plain), and the browser gets decoded bytes either way
_DROP_REQUEST = {"host", "cookie", "content-length", "connection", "origin", "referer", "accept-encoding"}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (lower case), or ``""``.

    Example::

        origin_of("graphene://middleauth+http://127.0.0.1:9/segmentation/x")   # "http://127.0.0.1:9"
    """
    url = str(url or "").strip()
    m = _SCHEME.match(url)
    while m and m.group(1).lower() not in ("http", "https"):  # neuroglancer's layered URLs
        scheme, rest = m.groups()
        url = f"{scheme.rsplit('+', 1)[1]}://{rest}" if scheme.lower().endswith(("+http", "+https")) else rest
        m = _SCHEME.match(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine's loopback (unreachable from a remote browser)."""
    host = urlsplit(origin_of(url)).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KernelProxy:
    """Answers the data requests (``ng_fetch``) and ``ng_credentials`` of one viewer."""

    def __init__(self, origins: Iterable[str], via_kernel: bool = False):
        self.origins = {o for o in (origin_of(x) for x in origins) if o}
        self.via_kernel = via_kernel
        self.served: dict[str, int] = {}  # requests answered per origin (tests and diagnostics)
        self.bytes_served = 0

    def routed(self, url: str) -> bool:
        """Whether the kernel answers requests for ``url``."""
        origin = origin_of(url)
        return bool(origin) and (self.via_kernel or origin in self.origins or is_loopback(origin))

    def browser_origins(self) -> list[str]:
        """What the front-end routes to this kernel besides loopback hosts (``"*"``: everything)."""
        return ["*"] if self.via_kernel else sorted(self.origins)

    # ---------- data ----------
    def fetch(self, url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None) -> tuple[dict, bytes]:
        """Make the request for the browser; ``({status, statusText, headers}, body)``."""
        if not self.routed(url):
            raise PermissionError(f"the kernel does not answer requests for {origin_of(url) or url!r}")
        origin = origin_of(url)
        out_headers = {k: v for k, v in (headers or {}).items() if k.lower() not in _DROP_REQUEST}
        out_headers = {k: v for k, v in out_headers.items() if not (k.lower() == "authorization" and PLACEHOLDER_TOKEN in v)}
        token = creds.token_for(origin)
        if token:
            out_headers["Authorization"] = f"Bearer {token}"
        from cavewidgets.sample import in_process_app

        app = in_process_app(origin)
        if app is not None:
            status, reason, resp_headers, data = _in_process(app, url, method, out_headers, body)
        else:
            status, reason, resp_headers, data = _over_http(url, method, out_headers, body)
        self.served[origin] = self.served.get(origin, 0) + 1
        self.bytes_served += len(data)
        clean = {k.lower(): v for k, v in resp_headers if k.lower() not in _HOP_BY_HOP}
        return {"status": status, "statusText": reason, "headers": clean}, data

    # ---------- credentials ----------
    def credentials(self, key: str, parameters=None, invalid=None) -> dict:
        """neuroglancer's ``{generation, credentials}`` for a credentials request from the browser.

        For an origin the kernel answers, a placeholder (the kernel adds the token); otherwise the
        CAVEclient's token through neuroglancer's credentials providers (:mod:`.credentials`)."""
        if not isinstance(key, str):
            raise ValueError("credentials key must be a string")
        if key in ("middleauthapp", "middleauth") and self.routed(str(parameters or "")):
            origin = origin_of(str(parameters))
            return {"generation": 0, "credentials": {"tokenType": "Bearer", "accessToken": PLACEHOLDER_TOKEN, "url": origin, "appUrls": [origin]}}
        creds.install()
        from neuroglancer.default_credentials_manager import default_credentials_manager

        try:
            provider = default_credentials_manager.get(key, parameters)
        except KeyError:
            raise ValueError(f"no credentials for {key!r}") from None
        return provider.get(invalid).result(timeout=60)


def _in_process(app, url: str, method: str, headers: dict, body: bytes | None):
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    with app.test_client() as client:
        # the service writes its own URLs (graphene info, mesh manifests) from the request's host
        resp = client.open(path, base_url=f"{parts.scheme}://{parts.netloc}", method=method, headers=headers, data=body)
        data = resp.get_data()
        return resp.status_code, resp.status.split(" ", 1)[-1], list(resp.headers.items()), data


_session = None


def _http_session():
    """One pooled session for every viewer: a chunk request must not open a new connection."""
    global _session
    if _session is None:
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=FETCH_THREADS)  # one connection per fetch thread
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _session = session
    return _session


def _over_http(url: str, method: str, headers: dict, body: bytes | None):
    import requests

    try:
        resp = _http_session().request(method, url, headers=headers, data=body, timeout=60)
    except requests.RequestException as err:
        log.debug("kernel fetch of %s failed", url, exc_info=True)
        return 502, "Bad Gateway", [("content-type", "text/plain")], f"the kernel could not reach {origin_of(url)}: {type(err).__name__}".encode()
    return resp.status_code, resp.reason or "", list(resp.headers.items()), resp.content

"""CAVE in a box: the generated sample datastack and the local CAVE-compatible service.

``client()`` builds the sample on first use (cached in the user cache directory), starts one
shared service per process on 127.0.0.1 in a background thread and returns an unmodified
``caveclient.CAVEclient`` pointed at it. Nothing is written to ``~/.cloudvolume``: the token is
passed directly and ``write_server_cache=False``; cloud-volume in the same process is told the
token for the sample's host only (:mod:`.credentials`), so the tutorials' bare ``CloudVolume``
calls work as they do for a MICrONS user who saved a token.

Example::

    import cavewidgets
    client = cavewidgets.sample.client()
    client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1000, 1000, 1000])

    fly = cavewidgets.sample.client("fly")   # the fly-shaped datastack, from the same service
    fly.info.get_datastack_info()["synapse_table"]   # 'synapses_nt_v1'

    handle = cavewidgets.sample.serve(port=8000)   # a separate service you control
    print(handle.url); handle.stop()
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from . import credentials
from .service.app import new_token

__all__ = ["client", "serve", "ServiceHandle", "in_process_app", "service_record"]

#: short names of the sample datastacks: the MICrONS-shaped default and the fly-shaped one
#: (FlyWire/FANC-like: 4x4x40 nm tables, neurotransmitter synapses, no soma table)
DATASTACKS = {"minnie": "minnie65_sample", "fly": "flywire_sample"}
_SCALE_OF = {"flywire_sample": "fly"}  # generator scale that builds a datastack other than the default

_SHARED: dict = {}  # error mode -> the process-wide service of client() in that mode
_SHARED_LOCK = threading.Lock()
#: services running in this process, by origin: the Viewer answers the browser's requests for
#: them in process (the browser may not reach the kernel's loopback at all)
_IN_PROCESS: dict = {}


def in_process_app(origin: str):
    """The Flask app of a service this process runs at ``origin`` (``None`` if none).

    Example::

        handle = serve(); in_process_app(handle.url).test_client().get("/info/version")
    """
    return _IN_PROCESS.get(origin.rstrip("/").lower())



def service_record(url: str, datastack: str | None = None) -> dict | None:
    """How to start the sample service at ``url`` again, or None when ``url`` is not one.

    A service of this process is known by its app (its sample builds and work directories, which
    hold the user tables and posted annotations); one of another process on the loopback
    serving a sample datastack is recognised by name, without directories (the defaults).
    ``datastack``/``data_dir``/``work_dir`` are the service's first datastack; the others it
    serves (e.g. the fly one) are in ``more_datastacks``. An export bundle keeps this so
    ``reproduce.py`` can start the service again later.

    Example::

        handle = serve(); service_record(handle.url)
        # {'kind': 'cavewidgets.sample', 'datastack': 'minnie65_sample', 'data_dir': ..., 'work_dir': ...,
        #  'more_datastacks': []}
    """
    import urllib.parse

    app = in_process_app(url)
    if app is not None:
        first, *more = [{"datastack": st.meta["datastack"], "data_dir": str(st.data_dir.resolve()),
                         "work_dir": str(st.work_dir.resolve())} for st in app.config["STACKS"]]
        return {"kind": "cavewidgets.sample", **first, "more_datastacks": more}
    host = urllib.parse.urlparse(url).hostname
    if datastack in DATASTACKS.values() and host in ("127.0.0.1", "localhost", "::1"):
        default = DATASTACKS["minnie"]
        more = [] if datastack == default else [{"datastack": datastack, "data_dir": None, "work_dir": None}]
        return {"kind": "cavewidgets.sample", "datastack": default, "data_dir": None, "work_dir": None,
                "more_datastacks": more}
    return None

class ServiceHandle:
    """A running local service: ``.url``, ``.token``, ``.data_dir``, ``.stop()``.

    Example::

        with serve() as handle:
            requests.get(handle.url + "/info/version", headers={"Authorization": f"Bearer {handle.token}"})
    """

    def __init__(self, server, thread: threading.Thread, token: str, data_dir: Path, work_dir: Path, app=None):
        self._server = server
        self.app = app
        self._thread = thread
        self.token = token
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.port = server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.datastack = json.loads((data_dir / "datastack.json").read_text())["datastack"]
        self._token_file = None
        if app is not None:
            _IN_PROCESS[self.url] = app

    @property
    def datastacks(self) -> list[str]:
        """Names of the datastacks this service serves (the default first).

        Example::

            handle = serve(); handle.add_datastack("fly"); handle.datastacks
            # ['minnie65_sample', 'flywire_sample']
        """
        if self.app is None:
            return [self.datastack]
        return [st.meta["datastack"] for st in self.app.config["STACKS"]]

    def add_datastack(self, datastack: str = "fly", data_dir=None, work_dir=None) -> str:
        """Serve one more datastack from this service, as a real CAVE server serves several.

        ``datastack`` is a short name of :data:`DATASTACKS` or a datastack name; its cached
        sample is built first if needed (the fly sample takes a few seconds), unless ``data_dir``
        names a finished build. Returns the datastack name; adding one twice is a no-op.

        Example::

            handle = serve(); handle.add_datastack("fly")   # 'flywire_sample'
        """
        from . import generator
        from .service.app import add_datastack

        name = DATASTACKS.get(datastack, datastack)
        if name in self.datastacks:
            return name
        if data_dir is None:
            if name not in _SCALE_OF:
                raise ValueError(f"unknown sample datastack {datastack!r}; choose one of "
                                 f"{sorted(DATASTACKS)} or {sorted(DATASTACKS.values())}")
            data_dir = generator.ensure_built(scale=_SCALE_OF[name])
        if self.app is None:
            raise RuntimeError("this service handle has no app to add a datastack to")
        return add_datastack(self.app, resolve_data_dir(data_dir), work_dir)

    @property
    def errors(self) -> str:
        """How the engines answer their refusals: ``"sample"`` or ``"real"`` (see :func:`serve`).

        Example::

            serve(errors="real").errors   # 'real'
        """
        return self.app.config["ENGINE_ERRORS"] if self.app is not None else "sample"

    @property
    def running(self) -> bool:
        """Whether the server thread is still serving.

        Example::

            handle = serve(); handle.running   # True until handle.stop()
        """
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and wait for the server thread to end."""
        if _IN_PROCESS.get(self.url) is self.app:
            del _IN_PROCESS[self.url]
        credentials.forget_in_cloudvolume(self.url)  # the token dies with the service
        if self._token_file is not None:
            credentials.remove_token_file(self.url)
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout)
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:  # never show the token
        state = "running" if self.running else "stopped"
        return f"<cavewidgets sample service {self.url} ({state})>"


def resolve_data_dir(data_dir) -> Path:
    """``data_dir`` checked to be a finished sample build; ``None`` builds (once) and returns the cached one.

    Example::

        resolve_data_dir(None)   # ~/.cache/cavewidgets/sample/1
    """
    from . import generator

    if data_dir is None:
        return Path(generator.ensure_built())
    path = Path(data_dir)
    if not (path / "COMPLETE").exists():
        raise FileNotFoundError(f"{path} is not a finished sample build (no COMPLETE file)")
    return path


def make_server(data_dir: Path, token: str, port: int | None = None, work_dir=None, quiet: bool = False,
                query_limit: int | None = None, insert_limit: int | None = None, errors: str = "sample"):
    """The werkzeug server of the service app (bound to 127.0.0.1, threaded), not started.

    ``quiet`` drops the per-request access log (a background service must not flood a notebook);
    the other options are :func:`serve`'s.
    """
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server as _make_server

    from .service.app import create_app

    class _Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    app = create_app(data_dir, token, work_dir=work_dir, query_limit=query_limit, insert_limit=insert_limit,
                     errors=errors)
    handler = _Quiet if quiet else None
    return _make_server("127.0.0.1", port or 0, app, threaded=True, request_handler=handler), app


def serve(port: int | None = None, data_dir=None, token: str | None = None, work_dir=None,
          query_limit: int | None = None, save_token: bool = False, *, insert_limit: int | None = None,
          errors: str = "sample") -> ServiceHandle:
    """Start a local service in a daemon thread and return its handle.

    ``data_dir`` defaults to the cached sample (built if needed); ``token`` to a fresh random
    hex token; ``port`` to a free one; ``work_dir`` (annotation database, posted states) to
    ``data_dir/service``; ``query_limit`` is the materialization row cap (default 200,000, the
    real MaterializationEngine's ``QUERY_LIMIT_SIZE``); ``insert_limit`` the annotation rows one
    POST may insert (default 10,000, DynamicAnnotationDB's ``insertion_limit``).

    ``errors="real"`` makes the MaterializationEngine and AnnotationEngine routes answer their
    refusals (a missing table, more rows than ``insert_limit``, rows that do not validate, a
    forbidden write, a bad request) as the deployed engines do: status **500**,
    ``{"code": 500, "message": "413 Request Entity Too Large: ...", "traceback": [...]}``. The
    default ``"sample"`` answers them with the status each refusal names (404, 413, 422, ...).

    cloud-volume in this process finds the token for the service's host by itself, as it finds
    a saved CAVE token (the tutorials' bare ``CloudVolume(client.info.segmentation_source())``
    works); ``save_token=True`` also writes the per-server secrets file for other processes
    (``~/.cloudvolume/secrets/127.0.0.1:<port>-cave-secret.json``, removed at ``stop()``; the
    user's ``cave-secret.json`` is never touched). See :mod:`.credentials`.

    Example::

        handle = serve()
        client = caveclient.CAVEclient(handle.datastack, server_address=handle.url,
                                       auth_token=handle.token, write_server_cache=False)
    """
    path = resolve_data_dir(data_dir)
    token = token or new_token()
    server, app = make_server(path, token, port, work_dir, quiet=True, query_limit=query_limit,
                              insert_limit=insert_limit, errors=errors)
    # stop() waits for the serving loop to look at its flag: every 0.1 s, not socketserver's 0.5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"cavewidgets-sample-{server.server_port}", daemon=True)
    thread.start()
    handle = ServiceHandle(server, thread, token, path, Path(app.config["WORK_DIR"]), app=app)
    credentials.share_with_cloudvolume(handle.url, token)
    if save_token:
        handle._token_file = credentials.save_token_file(handle.url, token)
    return handle


def shared_service(errors: str = "sample") -> ServiceHandle:
    """The process-wide service ``client()`` uses (started on first call), one per error mode
    (both on the same sample and work directory, so they see the same tables).

    Example::

        shared_service().url            # 'http://127.0.0.1:40123'
        shared_service("real").url      # another port, the same data
    """
    with _SHARED_LOCK:
        handle = _SHARED.get(errors)
        if handle is None or not handle.running:
            handle = _SHARED[errors] = serve(errors=errors)
        return handle


def client(datastack: str | None = None, service: ServiceHandle | None = None, errors: str | None = None,
           **kwargs):
    """A ``caveclient.CAVEclient`` for a sample datastack (service started if needed).

    ``datastack`` is ``None`` (the service's default, the MICrONS-shaped ``minnie65_sample``),
    ``"fly"`` (``flywire_sample``, shaped like FlyWire/FANC; built on first use and served by the
    same service) or a datastack name. ``errors="real"`` uses a service that answers the
    engines' refusals with a 500, as real CAVE does (see :func:`serve`). Keyword arguments go to
    ``CAVEclient`` (e.g. ``version=1``, ``desired_resolution=...``).

    Example::

        client = client()
        client.materialize.get_versions()
        fly = client("fly")
        fly.materialize.synapse_query(pre_ids=root)   # with gaba, ach, glut, ... columns
        strict = client(errors="real")                 # refusals arrive as 500s, as on MICrONS
    """
    from caveclient import CAVEclient

    if isinstance(datastack, ServiceHandle):  # client(handle): the older positional form
        datastack, service = None, datastack
    if service is not None and errors is not None and service.errors != errors:
        raise ValueError(f"this service answers errors the {service.errors!r} way, not {errors!r}")
    handle = service or shared_service(errors or "sample")
    kwargs.setdefault("write_server_cache", False)
    datastack = datastack or kwargs.pop("datastack_name", None)
    name = handle.add_datastack(datastack) if datastack else handle.datastack
    return CAVEclient(name, server_address=handle.url, auth_token=handle.token, **kwargs)

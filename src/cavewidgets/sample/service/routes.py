"""Every route of the local service, in one place.

Each CAVE service module exposes a blueprint ``bp``; URL prefixes mirror caveclient's
``endpoints.py`` so that the unmodified client works against this service.
"""

from __future__ import annotations

import importlib

from flask import Flask

# module name -> URL prefix (the same prefixes caveclient's endpoints use)
SERVICES = {
    "info": "/info",
    "schema": "/schema",
    "json_state": "/nglstate",
    "materialize": "/materialize",
    "annotation": "/annotation",
    "chunkedgraph": "/segmentation",
    "l2cache": "/l2cache",
    "meshing": "/meshing",
    "precomputed": "/precomputed",
    "skeleton": "/skeletoncache",
    "skeleton_cache": "/skeletoncache",
}


def register(app: Flask) -> None:
    """Register every service module's blueprint under its prefix.

    A module that is missing or fails to import raises here, when the app is built: a service
    that silently lacks a route would answer 404 to caveclient and hide the real fault.

    Example::

        register(Flask(__name__))
    """
    for name, prefix in SERVICES.items():
        module = importlib.import_module(f"{__package__}.{name}")
        app.register_blueprint(module.bp, url_prefix=prefix)

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
    "state": "/nglstate",
    "materialize": "/materialize",
    "annotation": "/annotation",
    "chunkedgraph": "/segmentation",
    "l2cache": "/l2cache",
    "meshing": "/meshing",
    "precomputed": "/precomputed",
    "skeleton": "/skeletoncache",
}


def register(app: Flask) -> None:
    """Register every service module that exists so far."""
    for name, prefix in SERVICES.items():
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"{__package__}.{name}":
                continue  # service not written yet
            raise
        app.register_blueprint(module.bp, url_prefix=prefix)

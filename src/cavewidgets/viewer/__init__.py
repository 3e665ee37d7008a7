"""Viewer: neuroglancer embedded in the notebook with two-way state sync (exact uint64 ids)."""

from .widget import Viewer

__all__ = ["Viewer"]

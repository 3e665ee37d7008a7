"""TableBrowser widget and its kernel-side query engine."""

from .widget import TableBrowser

__all__ = ["TableBrowser"]

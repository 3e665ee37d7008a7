"""Flat connectome exports: a selection's synapses, weights and per-neuron statistics as files.

``flat_connectome(client, root_ids, out=dir)`` (also ``cavewidgets.flat_connectome``) writes
flyem-snapshot's flat-connectome layout as feather and parquet, with a ``provenance.json``;
:class:`FlatConnectome` holds the frames and reads an export back.

Example::

    flat = cavewidgets.flat_connectome(client, roots, out="flat", min_weight=5)
    FlatConnectome.read("flat").weights
"""

from .flat import FILES, FlatConnectome, flat_connectome
from ..roles import Roles, discover_roles

__all__ = ["flat_connectome", "FlatConnectome", "discover_roles", "Roles", "FILES"]

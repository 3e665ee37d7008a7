"""Cell labels shared by the report's tables, figures and colours (one home, no import cycle).

Example::

    type_order(types, "cell_type", ["23P", "BC", UNKNOWN])   # excitatory first, unknown last
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

#: the label of a neuron the cell-type table says nothing about
UNKNOWN = "unknown"


def type_order(types: pd.DataFrame, by: str, present: Iterable[str]) -> list[str]:
    """Labels ordered by classification system (excitatory, inhibitory, other), then name.

    Example::

        type_order(client.materialize.query_table("aibs_metamodel_celltypes_v661"), "cell_type", ["BC", "23P"])
    """
    present = list(dict.fromkeys(present))
    rank = {}
    if "classification_system" in types.columns and by != "classification_system":
        for system, label in types[["classification_system", by]].dropna().itertuples(index=False):
            rank.setdefault(str(label), str(system))
    return sorted(present, key=lambda t: (t == UNKNOWN, rank.get(t, "~"), t))

"""Which table of a datastack plays which part: synapses, cell types, proofreading, somas.

Nothing here names a MICrONS table. The synapse and soma tables come from the info service
(``synapse_table``, ``soma_table``, as the real InfoService serves them); the others are found by
their schema, the way CAVE itself types tables (``cell_type_local``, ``cell_type_reference``...
for cell types; ``proofread_status``, ``compartment_proofread_status_strategy``,
``proofreading_boolstatus_user``... for proofreading; ``nucleus_detection`` for somas). Several
candidates for one role: the one referencing the soma table wins (it covers every nucleus), then
the name order; every candidate is listed so the choice can be overridden.

Example::

    roles = discover_roles(client, version=2)
    roles.cell_type, roles.notes
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: info-service fields that name a role's table (None / missing on many datastacks)
_INFO_FIELDS = {"synapse": "synapse_table", "soma": "soma_table",
                "proofreading": "proofreading_status_table", "cell_type": "cell_identification_table"}


@dataclass
class Roles:
    """The table chosen for each role (None: the datastack has none), with the candidates seen.

    Example::

        Roles(synapse="synapses_pni_2", cell_type=None, proofreading=None, soma=None).as_dict()
    """

    synapse: str
    cell_type: str | None = None
    proofreading: str | None = None
    soma: str | None = None
    candidates: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def as_dict(self) -> dict:
        """The roles as JSON-ready data (what the export's provenance stores)."""
        return {"synapse_table": self.synapse, "cell_type_table": self.cell_type,
                "proofreading_table": self.proofreading, "soma_table": self.soma,
                "candidates": self.candidates, "notes": list(self.notes)}


def _schema_role(schema: str) -> str | None:
    schema = (schema or "").lower()
    if schema == "synapse" or schema.endswith("_synapse") or schema.startswith("synapse"):
        return "synapse"
    if "cell_type" in schema:
        return "cell_type"
    if "proofread" in schema:
        return "proofreading"
    if schema.startswith("nucleus_detection"):
        return "soma"
    return None


def discover_roles(client, version: int, *, cell_type_table: str | None = None,
                   proofreading_table: str | None = None, soma_table: str | None = None) -> Roles:
    """Choose the table for each role at ``version``; explicit names win and are checked.

    A role with no table is None and gets a line in ``notes`` (the export leaves its columns
    empty). A missing synapse table is an error: there is nothing to export without it.

    Example::

        roles = discover_roles(cavewidgets.sample.client(), 2)
        roles.synapse, roles.cell_type, roles.proofreading, roles.soma
    """
    mat = client.materialize
    meta = mat.get_tables_metadata(version=version, log_warning=False)
    schema_of = {m["table_name"]: m.get("schema_type") or m.get("schema") for m in meta}
    reference_of = {m["table_name"]: m.get("reference_table") for m in meta}
    info = client.info.get_datastack_info() or {}
    candidates: dict[str, list[str]] = {"synapse": [], "cell_type": [], "proofreading": [], "soma": []}
    for name in sorted(schema_of):
        role = _schema_role(schema_of[name])
        if role:
            candidates[role].append(name)
    chosen: dict[str, str | None] = {}
    notes: list[str] = []
    explicit = {"cell_type": cell_type_table, "proofreading": proofreading_table, "soma": soma_table}
    for role in ("synapse", "soma", "cell_type", "proofreading"):
        given = explicit.get(role)
        if given is not None:
            if not isinstance(given, str) or given not in schema_of:
                raise ValueError(f"{role.replace('_', '-')} table {given!r} is not a table of "
                                 f"{client.datastack_name} at version {version} (tables: {sorted(schema_of)})")
            chosen[role] = given
            continue
        named = info.get(_INFO_FIELDS[role])
        if named and named in schema_of:
            chosen[role] = named
            continue
        found = candidates[role]
        soma = chosen.get("soma")
        found = sorted(found, key=lambda t: (reference_of.get(t) != soma or soma is None, t))
        chosen[role] = found[0] if found else None
        if len(found) > 1:
            notes.append(f"{role.replace('_', '-')}: chose {found[0]!r} of {found}; pass "
                         f"{role}_table= to use another")
        if not found:
            notes.append(f"{role.replace('_', '-')}: no table in {client.datastack_name} at version "
                         f"{version} (info field {_INFO_FIELDS[role]!r} unset, no table with a "
                         f"{role.replace('_', ' ')} schema); its columns are left empty")
    if not chosen["synapse"]:
        raise ValueError(f"{client.datastack_name} names no synapse table (info service 'synapse_table') "
                         "and has no table with the 'synapse' schema")
    return Roles(synapse=chosen["synapse"], cell_type=chosen["cell_type"],
                 proofreading=chosen["proofreading"], soma=chosen["soma"],
                 candidates=candidates, notes=notes)

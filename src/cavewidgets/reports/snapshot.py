"""Snapshot reports: flyem-snapshot's connectivity reports, computed on a flat connectome export.

Four tables, each a pure function of the export's frames (``partners``, ``body_annotations``,
``body_stats``), so they can be checked by hand on a tiny frame:

- :func:`status_counts`: bodies per proofreading status, selected neurons and their partners.
- :func:`captured_by_partner_status`: per selected neuron and direction, the fraction of its
  synapses whose partner is proofread / typed / has a soma (flyem-snapshot's "captured
  connectivity by status").
- :func:`cumulative_connectivity`: partners ranked by synapse count with the selection, and the
  fraction of the selection's synapses the top N of them hold (its "cumulative connectivity by
  ranked body").
- :func:`downstream_capture`: per captured (e.g. proofread) selected neuron, its output synapses
  onto captured vs not captured partners (its "downstream capture").

A partner is the body on the other side of a synapse; root 0 (no segment) is a partner that is
never captured. Synapses of a neuron count whatever its partner, so the fractions say how much of
each neuron's connectivity is on partners one can trust.

Example::

    reports = cavewidgets.snapshot_reports(flat)      # a FlatConnectome or its directory
    reports                                           # renders all four inline
    reports.save("snapshot_reports")                  # HTML + PNG + CSV + feather per report
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: what makes a partner count as "captured", by annotation column
CAPTURE = {"proofread": "proofread", "typed": "type", "somatic": "n_somas"}
NOT_LISTED = "not in proofreading table"
NO_TABLE = "no proofreading table"
_SIDES = {"output": ("body_pre", "body_post"), "input": ("body_post", "body_pre")}


def captured_flags(annotations: pd.DataFrame, missing=()) -> pd.DataFrame:
    """``proofread`` / ``typed`` / ``somatic`` per body (index: body, uint64).

    A column is all NA for a role the datastack has no table for: ``proofread`` and ``somatic``
    say so themselves (the export leaves them NA), ``typed`` is named in ``missing`` (an
    untyped body and a missing cell-type table both have no type).

    Example::

        captured_flags(flat.body_annotations)["proofread"].sum()
    """
    ann = annotations.set_index("body") if "body" in annotations.columns else annotations
    out = pd.DataFrame(index=pd.Index(ann.index.to_numpy(dtype=np.uint64), name="body"))
    out["proofread"] = ann["proofread"].astype("boolean").to_numpy()
    out["typed"] = ann["type"].notna().astype("boolean").to_numpy()
    out["somatic"] = (ann["n_somas"].astype("Int64") >= 1).astype("boolean").to_numpy()
    for name in missing:
        out[name] = pd.array([pd.NA] * len(out), dtype="boolean")
    return out


def status_counts(annotations: pd.DataFrame) -> pd.DataFrame:
    """Bodies per proofreading status: ``status, selected, partners, total`` (best status first).

    Example::

        status_counts(flat.body_annotations)
    """
    ann = annotations.reset_index() if "body" not in annotations.columns else annotations
    if ann["proofread"].isna().all() and len(ann):
        status = pd.Series(NO_TABLE, index=ann.index)
    else:
        status = ann["status"].astype(object).where(ann["status"].notna(), NOT_LISTED)
    table = pd.crosstab(status, ann["in_selection"].astype(bool)).reindex(columns=[True, False], fill_value=0)
    table.columns = ["selected", "partners"]
    table["total"] = table["selected"] + table["partners"]
    from ..connectome.annotations import COMPARTMENT_STATUSES

    order = sorted(table.index, key=lambda s: (s in (NOT_LISTED, NO_TABLE),
                                               COMPARTMENT_STATUSES.index(s) if s in COMPARTMENT_STATUSES else 99, s))
    table = table.loc[order].astype(np.int64)
    table.index.name = "status"
    return table.reset_index()


def captured_by_partner_status(partners: pd.DataFrame, annotations: pd.DataFrame, roots,
                               missing=()) -> pd.DataFrame:
    """Per selected neuron and direction: ``n_synapses`` and the fraction onto (from) proofread,
    typed and somatic partners (NaN for a role the datastack lacks, or a neuron with no synapses).

    Example::

        captured_by_partner_status(flat.partners, flat.body_annotations, flat.body_stats["body"])
    """
    flags = captured_flags(annotations, missing)
    roots = np.asarray(roots, dtype=np.uint64)
    frames = []
    for direction, (own, other) in _SIDES.items():
        syn = partners[np.isin(partners[own].to_numpy(), roots)]
        out = pd.DataFrame({"body": roots, "direction": direction})
        n = syn.groupby(own).size()
        out["n_synapses"] = n.reindex(roots, fill_value=0).astype(np.int64).to_numpy()
        for name in CAPTURE:
            flag = flags[name]
            if flag.isna().all():
                out[name] = np.nan
                continue
            hit = pd.Series(_hits(syn[other], flag), index=syn.index)  # root 0: never captured
            captured = hit.groupby(syn[own]).sum().reindex(roots, fill_value=0).to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(out["n_synapses"] > 0, captured / out["n_synapses"].to_numpy(), np.nan)
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def cumulative_connectivity(partners: pd.DataFrame, annotations: pd.DataFrame, roots) -> pd.DataFrame:
    """Partners of the selection ranked by synapse count, per direction, with the running total:
    ``direction, rank, body, weight, cumulative_weight, cumulative_fraction, proofread, type``.

    The fraction is of all the selection's synapses in that direction, root-0 partners included
    (they can never be captured, so the curve ends below 1 when there are any).

    Example::

        curve = cumulative_connectivity(flat.partners, flat.body_annotations, flat.body_stats["body"])
        curve[curve["cumulative_fraction"] >= 0.5].groupby("direction")["rank"].min()
    """
    ann = annotations.set_index("body") if "body" in annotations.columns else annotations
    roots = np.asarray(roots, dtype=np.uint64)
    frames = []
    for direction, (own, other) in _SIDES.items():
        syn = partners[np.isin(partners[own].to_numpy(), roots)]
        total = len(syn)
        weights = syn.loc[syn[other] != 0, other].value_counts()
        weights = weights.rename_axis("body").reset_index(name="weight")
        weights = weights.sort_values(["weight", "body"], ascending=[False, True], kind="stable").reset_index(drop=True)
        cumulative = weights["weight"].cumsum().to_numpy()
        frames.append(pd.DataFrame({
            "direction": direction, "rank": np.arange(1, len(weights) + 1, dtype=np.int64),
            "body": weights["body"].to_numpy(dtype=np.uint64), "weight": weights["weight"].to_numpy(dtype=np.int64),
            "cumulative_weight": cumulative.astype(np.int64),
            "cumulative_fraction": cumulative / total if total else np.zeros(len(weights)),
            "proofread": ann["proofread"].reindex(weights["body"].to_numpy()).astype("boolean").array,
            "type": ann["type"].reindex(weights["body"].to_numpy()).astype("string").array}))
    return pd.concat(frames, ignore_index=True)


def downstream_capture(partners: pd.DataFrame, annotations: pd.DataFrame, roots, capture: str = "proofread",
                       missing=()) -> pd.DataFrame:
    """Per selected neuron that is itself captured: output synapses onto ``captured`` and
    ``not_captured`` partners, ``downstream`` (their sum) and ``capture_frac``.

    ``capture`` is ``"proofread"``, ``"typed"`` or ``"somatic"``. Empty when no selected neuron
    is captured, or the datastack has no table for that role (``missing``, see :func:`captured_flags`).

    Example::

        downstream_capture(flat.partners, flat.body_annotations, flat.body_stats["body"])["capture_frac"].median()
    """
    if capture not in CAPTURE:
        raise ValueError(f"capture must be one of {list(CAPTURE)}, got {capture!r}")
    flag = captured_flags(annotations, missing)[capture]
    roots = np.asarray(roots, dtype=np.uint64)
    columns = ["body", "captured", "not_captured", "downstream", "capture_frac"]
    if flag.isna().all():
        return pd.DataFrame(columns=columns)
    upstream = roots[flag.reindex(roots).fillna(False).astype(bool).to_numpy()]
    syn = partners[np.isin(partners["body_pre"].to_numpy(), upstream)]
    hit = pd.Series(_hits(syn["body_post"], flag), index=syn.index)
    captured = hit.groupby(syn["body_pre"]).sum().reindex(upstream, fill_value=0).astype(np.int64)
    downstream = syn.groupby("body_pre").size().reindex(upstream, fill_value=0).astype(np.int64)
    out = pd.DataFrame({"body": upstream, "captured": captured.to_numpy(),
                        "not_captured": (downstream - captured).to_numpy(), "downstream": downstream.to_numpy()})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["capture_frac"] = np.where(out["downstream"] > 0, out["captured"] / out["downstream"], np.nan)
    return out[columns]


def _hits(bodies: pd.Series, flag: pd.Series) -> np.ndarray:
    """Whether each body is flagged (bodies the flag does not list, root 0 among them: False)."""
    flagged = flag.index.to_numpy(dtype=np.uint64)[flag.fillna(False).to_numpy(dtype=bool)]
    return np.isin(bodies.to_numpy(dtype=np.uint64), flagged)

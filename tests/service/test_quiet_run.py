"""A normal run prints nothing: the MorphologyPanel and Explorer paths of the getting-started
notebook against the sample leave no WARNING record and no stderr text, while a real failure still
raises one clear error."""

from __future__ import annotations

import logging
import re

import pytest

import cavewidgets
from cavewidgets._libraries import LIBRARY_LOG, size_cloudfiles_pool

pytestmark = pytest.mark.service

# tqdm bars (stderr outside a notebook, a widget inside) are progress, not noise
_BAR = re.compile(r"\d+/\d+ \[|rows/s|it/s|\d+ rows \[")


def stderr_lines(text: str) -> list[str]:
    return [part for part in re.split(r"[\r\n]+", text) if part.strip() and not _BAR.search(part)]


@pytest.fixture()
def everything(caplog):
    caplog.set_level(logging.DEBUG)  # every record of every logger, chatter routed to DEBUG included
    return caplog


def big_neuron(client) -> int:
    """The root of the largest nucleus: its mesh has the most fragments to download in parallel."""
    nuc = client.materialize.query_table("nucleus_detection_v0")
    return int(nuc[nuc.pt_root_id != 0].sort_values("volume", ascending=False).pt_root_id.iloc[0])


def loud(records) -> list[str]:
    return [f"{r.name} {r.levelname}: {r.getMessage()}" for r in records if r.levelno >= logging.WARNING]


def test_panel_and_explorer_are_silent(sample_client, tmp_path, everything, capfd):
    root = big_neuron(sample_client)
    panel = cavewidgets.MorphologyPanel(sample_client, height=420)
    panel.show(root)
    assert panel.root_id == root and panel.error == ""
    explorer = cavewidgets.Explorer(sample_client, "nucleus_detection_v0", drafts_dir=tmp_path)
    try:
        explorer.select([root])
        assert explorer.wait_for_panel(180) and explorer.panel.root_id == root and explorer.panel.error == ""
    finally:
        explorer.close()
    assert loud(everything.records) == []
    # the pool is sized for cloud-files' threads: not even the DEBUG log saw a discarded connection
    assert not [r for r in everything.records if "Connection pool is full" in r.getMessage()]
    assert stderr_lines(capfd.readouterr().err) == []


def test_cloudfiles_pool_holds_one_connection_per_thread():
    import inspect

    from cloudfiles import CloudFiles
    from cloudfiles.interfaces import HttpInterface

    threads = inspect.signature(CloudFiles).parameters["num_threads"].default
    assert size_cloudfiles_pool() >= threads
    assert HttpInterface.adaptor._pool_maxsize >= threads


def test_expected_chatter_goes_to_the_quiet_logger(sample_client, everything, capfd):
    import datetime

    cavewidgets.MorphologyPanel(sample_client)  # installs the routing
    sample_client.materialize.live_live_query("nucleus_detection_v0", datetime.datetime.now(datetime.timezone.utc))
    assert loud(everything.records) == []
    routed = [r for r in everything.records if r.name == LIBRARY_LOG.name]
    assert routed and routed[0].levelno == logging.DEBUG and "beta testing" in routed[0].getMessage()
    assert stderr_lines(capfd.readouterr().err) == []


def test_real_failures_still_surface_once(sample_client, tmp_path, everything):
    with pytest.raises(ValueError, match="no table 'no_such_table'"):
        cavewidgets.Explorer(sample_client, "no_such_table", drafts_dir=tmp_path)
    panel = cavewidgets.MorphologyPanel(sample_client)
    missing = 864691135808684573  # a well-formed root id the sample does not have
    with pytest.raises(cavewidgets.morphology.MorphologyError, match=f"root id {missing} is unknown"):
        panel.show(missing, progress=False)
    assert panel.error.startswith(f"Could not show root id {missing}")
    # a warning-level library record that is not expected chatter passes through untouched
    logging.getLogger("urllib3.connectionpool").warning("Retrying after connection broken")
    assert loud(everything.records) == ["urllib3.connectionpool WARNING: Retrying after connection broken"]

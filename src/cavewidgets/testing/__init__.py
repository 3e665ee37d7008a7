"""Test harness: real JupyterLab in headless Chromium (needs the ``test`` extra)."""

"""mkdocs hook: the notebooks in ``notebooks/`` become docs pages under ``notebooks/``.

They live outside ``docs/`` (users open them from the repository root, and Colab links point
there), so they are added to the site's files here instead of being copied or symlinked into
``docs/``. mkdocs-jupyter then renders them with their saved outputs (``execute: false``).

Example (mkdocs.yml)::

    hooks:
      - scripts/mkdocs_hooks.py
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns .ipynb files into pages
def on_files(files, config):
    """Add ``notebooks/*.ipynb`` (beside mkdocs.yml) to the site as ``notebooks/<name>.ipynb``.

    Example::

        files = on_files(files, config)   # mkdocs calls it once per build
    """
    root = Path(config.config_file_path).parent
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(root), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files

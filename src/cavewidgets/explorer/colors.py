"""One colour per root id, the same in the table, the viewer and the 3D panel.

Example::

    book = ColorBook()
    book.color(864691135808684573)   # '#4363d8', and the same answer every time after
"""

from __future__ import annotations

# Sasha Trubetskoy's distinct colours, minus the ones that vanish on neuroglancer's black. The
# first ones are neither the 3D panel's synapse colours (inputs green, outputs red: a red mesh hid
# its outputs) nor pale on the panel's white background.
PALETTE = ("#4363d8", "#f58231", "#911eb4", "#f032e6", "#008080", "#9a6324", "#46f0f0", "#e6194b",
           "#3cb44b", "#ffe119", "#bcf60c", "#fabebe", "#e6beff", "#fffac8", "#aaffc3", "#ffd8b1")


class ColorBook:
    """Assigns palette colours to ids in order of first use (wrapping after 16)."""

    def __init__(self, palette=PALETTE):
        self.palette = tuple(palette)
        self.colors: dict[int, str] = {}

    def color(self, root_id: int) -> str:
        root_id = int(root_id)
        if root_id not in self.colors:
            self.colors[root_id] = self.palette[len(self.colors) % len(self.palette)]
        return self.colors[root_id]

    def colors_for(self, root_ids) -> dict[int, str]:
        return {int(r): self.color(r) for r in root_ids}
